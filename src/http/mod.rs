//! The HTTP edge: the route table, request extraction and error answers.
//!
//! [`api`] is the JSON API (one file per resource, [`api::json`] its
//! shapes), [`ui`] the admin panel; [`extract`] the API's extractors and
//! blocking calls, [`ingest`] the ingest path's async commit, [`error`]
//! `ApiError` (the only place API statuses are chosen), `health` the
//! probes, [`security`] the headers middleware, [`tls`] the HTTPS
//! listener's certificate (reloaded on SIGHUP) and [`openapi`] the API's
//! OpenAPI document, completed from the route table ([`table`]). Nothing here names the
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
pub mod openapi;
pub mod security;
pub mod svix;
pub mod tls;
pub mod ui;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use error::ApiError;
use openapi::Doc;

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

/// One route of the table: its method, full path, handler and how the
/// OpenAPI document describes it.
pub struct Route {
    /// The method.
    pub method: Method,
    /// The full path pattern (`/api/v1/webhooks/{id}`).
    pub path: &'static str,
    /// Its place in the document: in the native API with the error codes
    /// its handler can answer, or in another API.
    pub doc: Doc,
    /// The handler, as an actix route without its method.
    handler: fn() -> actix_web::Route,
}

fn route(method: Method, path: &'static str, doc: Doc, handler: fn() -> actix_web::Route) -> Route {
    Route {
        method,
        path,
        doc,
        handler,
    }
}

/// The API's routes: the one table that registers them ([`routes`]) and
/// completes the OpenAPI document ([`openapi`]), whose test compares the
/// two. A native route needs its `#[utoipa::path]` on the handler, listed
/// in `openapi::NativeApi`.
pub fn table() -> Vec<Route> {
    use api::{
        admin, alerts, backup, deliveries, event_types, events, keys, metrics, portal, streams,
        tenants, users, webhooks,
    };
    use openapi::fault::*;
    use Doc::Native as N;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    const PATCH: Method = Method::PATCH;
    const DELETE: Method = Method::DELETE;
    vec![
        route(GET, "/healthz", N(&[]), || web::route().to(health::healthz)),
        route(GET, "/readyz", N(&[]), || web::route().to(health::readyz)),
        route(GET, "/metrics", N(&[AUTH, PLATFORM]), || {
            web::route().to(metrics::prometheus)
        }),
        route(GET, "/api/v1/openapi.json", N(&[]), || {
            web::route().to(openapi::serve)
        }),
        route(GET, "/api/v1/event-types", N(&[AUTH]), || {
            web::route().to(event_types::list)
        }),
        route(
            POST,
            "/api/v1/event-types",
            N(&[AUTH, PLATFORM, BODY, TYPE_EXISTS]),
            || web::route().to(event_types::create),
        ),
        route(GET, "/api/v1/event-types/{name}", N(&[AUTH, FOUND]), || {
            web::route().to(event_types::get)
        }),
        route(
            PATCH,
            "/api/v1/event-types/{name}",
            N(&[AUTH, PLATFORM, FOUND, BODY, BUILT_IN, CONFLICT]),
            || web::route().to(event_types::update),
        ),
        route(
            DELETE,
            "/api/v1/event-types/{name}",
            N(&[AUTH, PLATFORM, FOUND, BUILT_IN]),
            || web::route().to(event_types::delete),
        ),
        route(
            POST,
            "/api/v1/events",
            N(&[AUTH, TENANT, BODY, EVENT_TYPES, SCHEMA, INGEST]),
            || web::route().to(events::create),
        ),
        route(
            POST,
            "/api/v1/events/batch",
            N(&[AUTH, TENANT, BODY, EVENT_TYPES, SCHEMA, INGEST, BATCH]),
            || web::route().to(events::create_batch),
        ),
        route(
            GET,
            "/api/v1/events/{id}",
            N(&[AUTH, TENANT, FOUND]),
            || web::route().to(events::get),
        ),
        route(
            POST,
            "/api/v1/tenants",
            N(&[AUTH, PLATFORM, BODY, TENANT_EXISTS]),
            || web::route().to(tenants::create),
        ),
        route(
            POST,
            "/api/v1/portal-sessions",
            N(&[AUTH, PLATFORM, BODY, TENANT_ID]),
            || web::route().to(portal::create),
        ),
        route(GET, "/api/v1/tenants", N(&[AUTH, PLATFORM, QUERY]), || {
            web::route().to(tenants::list)
        }),
        route(
            GET,
            "/api/v1/tenants/{id}",
            N(&[AUTH, PLATFORM, FOUND]),
            || web::route().to(tenants::get),
        ),
        route(
            PATCH,
            "/api/v1/tenants/{id}",
            N(&[AUTH, PLATFORM, FOUND, BODY, CONFLICT]),
            || web::route().to(tenants::update),
        ),
        route(POST, "/api/v1/keys", N(&[AUTH, PLATFORM, BODY]), || {
            web::route().to(keys::create)
        }),
        route(GET, "/api/v1/keys", N(&[AUTH, PLATFORM, QUERY]), || {
            web::route().to(keys::list)
        }),
        route(
            DELETE,
            "/api/v1/keys/{id}",
            N(&[AUTH, PLATFORM, FOUND]),
            || web::route().to(keys::revoke),
        ),
        route(GET, "/api/v1/users", N(&[AUTH, PLATFORM]), || {
            web::route().to(users::list)
        }),
        route(
            DELETE,
            "/api/v1/users/{name}",
            N(&[AUTH, PLATFORM, FOUND, LAST_OPERATOR]),
            || web::route().to(users::remove),
        ),
        route(
            POST,
            "/api/v1/users/{name}/reset-password",
            N(&[AUTH, PLATFORM, FOUND]),
            || web::route().to(users::reset_password),
        ),
        route(
            POST,
            "/api/v1/users/{name}/disable",
            N(&[AUTH, PLATFORM, FOUND, LAST_OPERATOR]),
            || web::route().to(users::disable),
        ),
        route(
            POST,
            "/api/v1/users/{name}/enable",
            N(&[AUTH, PLATFORM, FOUND]),
            || web::route().to(users::enable),
        ),
        route(POST, "/api/v1/admin/pause", N(&[AUTH, PLATFORM]), || {
            web::route().to(admin::pause)
        }),
        route(POST, "/api/v1/admin/resume", N(&[AUTH, PLATFORM]), || {
            web::route().to(admin::resume)
        }),
        route(
            POST,
            "/api/v1/webhooks",
            N(&[AUTH, TENANT, BODY, EVENT_TYPES, UNIQUE]),
            || web::route().to(webhooks::create),
        ),
        route(GET, "/api/v1/webhooks", N(&[AUTH, TENANT, QUERY]), || {
            web::route().to(webhooks::list)
        }),
        route(
            GET,
            "/api/v1/webhooks/{id}",
            N(&[AUTH, TENANT, FOUND]),
            || web::route().to(webhooks::get),
        ),
        route(
            PATCH,
            "/api/v1/webhooks/{id}",
            N(&[AUTH, TENANT, FOUND, BODY, EVENT_TYPES, UNIQUE, CONFLICT]),
            || web::route().to(webhooks::update),
        ),
        route(
            DELETE,
            "/api/v1/webhooks/{id}",
            N(&[AUTH, TENANT, FOUND]),
            || web::route().to(webhooks::delete),
        ),
        route(
            POST,
            "/api/v1/webhooks/{id}/rotate-secret",
            N(&[AUTH, TENANT, FOUND, CONFLICT]),
            || web::route().to(webhooks::rotate_secret),
        ),
        route(
            POST,
            "/api/v1/webhooks/{id}/replay",
            N(&[AUTH, TENANT, FOUND, BODY]),
            || web::route().to(webhooks::replay),
        ),
        route(
            POST,
            "/api/v1/webhooks/{id}/retry",
            N(&[AUTH, TENANT, FOUND, BODY]),
            || web::route().to(webhooks::retry),
        ),
        route(
            POST,
            "/api/v1/webhooks/{id}/test",
            N(&[AUTH, TENANT, FOUND, BODY, EVENT_TYPES, SCHEMA, INGEST]),
            || web::route().to(webhooks::test),
        ),
        route(
            GET,
            "/api/v1/webhooks/{id}/stream",
            N(&[AUTH, TENANT, PLATFORM, FOUND, QUERY, STREAM, CONFLICT]),
            || web::route().to(streams::poll),
        ),
        route(
            POST,
            "/api/v1/webhooks/{id}/stream/{delivery_id}/ack",
            N(&[AUTH, TENANT, PLATFORM, FOUND, BODY, STREAM, ACK, CONFLICT]),
            || web::route().to(streams::ack),
        ),
        route(
            GET,
            "/api/v1/metrics",
            N(&[AUTH, TENANT_OPTIONAL, QUERY]),
            || web::route().to(metrics::get),
        ),
        route(GET, "/api/v1/alerts", N(&[AUTH, TENANT_OPTIONAL]), || {
            web::route().to(alerts::list)
        }),
        route(GET, "/api/v1/backup", N(&[AUTH, PLATFORM]), || {
            web::route().to(backup::get)
        }),
        route(GET, "/api/v1/deliveries", N(&[AUTH, TENANT, QUERY]), || {
            web::route().to(deliveries::list)
        }),
        route(
            GET,
            "/api/v1/deliveries/{id}",
            N(&[AUTH, TENANT, FOUND]),
            || web::route().to(deliveries::get),
        ),
        route(
            POST,
            "/api/v1/deliveries/{id}/resend",
            N(&[AUTH, TENANT, FOUND, STATE, CONFLICT]),
            || web::route().to(deliveries::resend),
        ),
    ]
}

/// The whole route table: [`table`] (one resource per path, in the
/// table's order, so `/events/batch` comes before `/events/{id}`), then
/// the admin panel.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(query_error));
    // The Svix-compatible API: its own prefixes, Svix's shapes.
    cfg.configure(svix::routes);
    let mut by_path: Vec<(&'static str, Vec<actix_web::Route>)> = Vec::new();
    for r in table() {
        let route = (r.handler)().method(r.method);
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, routes)) => routes.push(route),
            None => by_path.push((r.path, vec![route])),
        }
    }
    for (path, routes) in by_path {
        cfg.service(
            routes
                .into_iter()
                .fold(resource(path), |res, r| res.route(r)),
        );
    }
    cfg.configure(ui::routes)
        .default_service(web::to(not_found));
}
