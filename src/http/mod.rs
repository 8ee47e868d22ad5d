//! The HTTP edge: the route table, request extraction and error answers.
//!
//! [`api`] is the JSON API (one file per resource, [`api::json`] its
//! shapes), [`ui`] the admin panel; [`extract`] the API's extractors and
//! blocking calls, [`ingest`] the ingest path's async commit, [`error`]
//! `ApiError` (the only place API statuses are chosen), `health` the
//! probes, [`security`] the headers middleware and [`tls`] the HTTPS
//! listener's certificate (reloaded on SIGHUP). Nothing here names the
//! store: service errors say what the edge needs to know.
//!
//! **Architecture invariant:** only this module knows about HTTP. Handlers
//! translate a request into a service call and its result into JSON (the
//! API) or a page (the admin panel, `ui`); they hold no business rules and
//! never touch the store.

pub mod api;
pub mod error;
pub mod extract;
mod health;
pub mod ingest;
pub mod security;
pub mod svix;
pub mod tls;
pub mod ui;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use error::ApiError;

async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    if req.path().starts_with("/api/") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into());
    }
    Err(ui::error::UiError::not_found(None).into())
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    ))
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", err.to_string()).into()
}

/// The routes of the `--metrics-listen` listener: Prometheus, open.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").route(web::get().to(api::metrics::prometheus_open)))
        .default_service(web::to(not_found));
}

/// The whole route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use api::{
        admin, alerts, backup, deliveries, event_types, events, keys, metrics, tenants, users,
        webhooks,
    };
    cfg.app_data(web::QueryConfig::default().error_handler(query_error))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/metrics").route(web::get().to(metrics::prometheus)))
        .configure(svix::routes)
        .service(
            web::scope("/api/v1")
                .service(
                    resource("/event-types")
                        .route(web::get().to(event_types::list))
                        .route(web::post().to(event_types::create)),
                )
                .service(
                    resource("/event-types/{name}")
                        .route(web::get().to(event_types::get))
                        .route(web::patch().to(event_types::update))
                        .route(web::delete().to(event_types::delete)),
                )
                .service(resource("/events").route(web::post().to(events::create)))
                .service(resource("/events/batch").route(web::post().to(events::create_batch)))
                .service(resource("/events/{id}").route(web::get().to(events::get)))
                .service(
                    resource("/tenants")
                        .route(web::post().to(tenants::create))
                        .route(web::get().to(tenants::list)),
                )
                .service(
                    resource("/tenants/{id}")
                        .route(web::get().to(tenants::get))
                        .route(web::patch().to(tenants::update)),
                )
                .service(
                    resource("/keys")
                        .route(web::post().to(keys::create))
                        .route(web::get().to(keys::list)),
                )
                .service(resource("/keys/{id}").route(web::delete().to(keys::revoke)))
                .service(resource("/users").route(web::get().to(users::list)))
                .service(resource("/users/{name}").route(web::delete().to(users::remove)))
                .service(
                    resource("/users/{name}/reset-password")
                        .route(web::post().to(users::reset_password)),
                )
                .service(resource("/users/{name}/disable").route(web::post().to(users::disable)))
                .service(resource("/users/{name}/enable").route(web::post().to(users::enable)))
                .service(resource("/admin/pause").route(web::post().to(admin::pause)))
                .service(resource("/admin/resume").route(web::post().to(admin::resume)))
                .service(
                    resource("/webhooks")
                        .route(web::post().to(webhooks::create))
                        .route(web::get().to(webhooks::list)),
                )
                .service(
                    resource("/webhooks/{id}")
                        .route(web::get().to(webhooks::get))
                        .route(web::patch().to(webhooks::update))
                        .route(web::delete().to(webhooks::delete)),
                )
                .service(
                    resource("/webhooks/{id}/rotate-secret")
                        .route(web::post().to(webhooks::rotate_secret)),
                )
                .service(resource("/webhooks/{id}/replay").route(web::post().to(webhooks::replay)))
                .service(resource("/webhooks/{id}/retry").route(web::post().to(webhooks::retry)))
                .service(resource("/webhooks/{id}/test").route(web::post().to(webhooks::test)))
                .service(resource("/metrics").route(web::get().to(metrics::get)))
                .service(resource("/alerts").route(web::get().to(alerts::list)))
                .service(resource("/backup").route(web::get().to(backup::get)))
                .service(resource("/deliveries").route(web::get().to(deliveries::list)))
                .service(resource("/deliveries/{id}").route(web::get().to(deliveries::get)))
                .service(
                    resource("/deliveries/{id}/resend").route(web::post().to(deliveries::resend)),
                ),
        )
        .configure(ui::routes)
        .default_service(web::to(not_found));
}
