//! The Svix-compatible API: the open-source Svix server's paths under
//! `/api/v1/app…` and `/api/v1/health`, so the official Svix SDKs work
//! against Herald by setting their server URL. This is its route table;
//! one file per resource (`apps`, `endpoints`, `messages`, `attempts`),
//! `shapes` its JSON models, `error` Svix's error shapes, `extract` its
//! extractors, `idempotency` the `idempotency-key` middleware. Every rule
//! of the mapping is `service::svix`'s.
//!
//! Every path answers with and without a trailing slash (Svix trims it),
//! and every non-2xx under these prefixes is JSON in Svix's shapes,
//! unknown paths (404) and methods (405) included.
//!
//! Its path prefixes are `crate::http::openapi::NOT_NATIVE` (the native
//! API's document leaves them out).
//!
//! Svix's event types (`/api/v1/event-type…`, `event_types`) are a scope
//! of their own beside `/api/v1/app`, with the same [`resource`] helper,
//! idempotency and default service; that scope does not catch the native
//! `/api/v1/event-types`.
//!
//! `/api/v1/auth/app-portal-access/{app_id}` (`auth`) answers Svix's app
//! portal link with Herald's one-time tenant portal link.

mod apps;
mod attempts;
mod auth;
mod endpoints;
pub mod error;
mod event_types;
mod extract;
mod idempotency;
mod messages;
pub mod shapes;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::time::Timestamp;
use crate::service::svix::ListPage;
use crate::service::ServiceError;
use error::{SvixError, SvixResult};

/// 404 in Svix's shape: the default service of every Svix scope.
pub async fn not_found() -> SvixResult {
    Err(SvixError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
    ))
}

/// 405 in Svix's shape: the default service of every [`resource`].
pub async fn method_not_allowed() -> SvixResult {
    Err(SvixError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    ))
}

/// `GET /api/v1/health` → 204, no key needed (as Svix).
async fn health() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// A resource at `path` and at `path/`, answering 405 in Svix's shape for
/// any other method.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource([path.to_string(), format!("{path}/")])
        .default_service(web::to(method_not_allowed))
}

/// `?limit&iterator&order` of the application and endpoint lists.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Page size.
    pub limit: Option<String>,
    /// Where to resume.
    pub iterator: Option<String>,
    /// `ascending` or `descending`.
    pub order: Option<String>,
}

impl ListQuery {
    /// Validated.
    pub fn page(&self) -> Result<ListPage, SvixError> {
        Ok(ListPage::parse(
            self.limit.as_deref(),
            self.iterator.as_deref(),
            self.order.as_deref(),
        )?)
    }
}

/// An RFC 3339 query parameter.
pub fn time(param: &'static str, v: Option<&str>) -> Result<Option<Timestamp>, SvixError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse_rfc3339(s).ok_or_else(|| {
                SvixError::from(ServiceError::bad_query(
                    param,
                    format!("{param} must be an RFC 3339 time"),
                ))
            })
        })
        .transpose()
}

/// An RFC 3339 body field.
pub fn body_time(field: &'static str, v: &str) -> Result<Timestamp, SvixError> {
    Timestamp::parse_rfc3339(v).ok_or_else(|| {
        SvixError::from(ServiceError::invalid(
            field,
            format!("{field} must be an RFC 3339 time"),
        ))
    })
}

/// A comma-separated list parameter.
pub fn list_param(v: Option<&str>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Svix-compatible routes; registered before the native `/api/v1`
/// scope, whose paths they do not share.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use actix_web::middleware::from_fn;
    cfg.service(
        resource("/api/v1/health")
            .route(web::get().to(health))
            .route(web::head().to(health)),
    )
    .service(
        resource("/api/v1/health/ping")
            .route(web::get().to(health))
            .route(web::head().to(health)),
    )
    .service(
        web::scope("/api/v1/auth")
            .wrap(from_fn(idempotency::idempotent))
            .service(
                resource("/app-portal-access/{app_id}")
                    .route(web::post().to(auth::app_portal_access)),
            )
            .default_service(web::to(not_found)),
    )
    .service(
        web::scope("/api/v1/event-type")
            .wrap(from_fn(idempotency::idempotent))
            .service(
                resource("")
                    .route(web::get().to(event_types::list))
                    .route(web::post().to(event_types::create)),
            )
            .service(
                resource("/{event_type_name}")
                    .route(web::get().to(event_types::get))
                    .route(web::put().to(event_types::put))
                    .route(web::patch().to(event_types::patch))
                    .route(web::delete().to(event_types::delete)),
            )
            .default_service(web::to(not_found)),
    )
    .service(
        web::scope("/api/v1/app")
            .wrap(from_fn(idempotency::idempotent))
            .service(
                resource("")
                    .route(web::get().to(apps::list))
                    .route(web::post().to(apps::create)),
            )
            .service(
                resource("/{app_id}")
                    .route(web::get().to(apps::get))
                    .route(web::put().to(apps::put))
                    .route(web::patch().to(apps::patch))
                    .route(web::delete().to(apps::delete)),
            )
            .service(
                resource("/{app_id}/endpoint")
                    .route(web::get().to(endpoints::list))
                    .route(web::post().to(endpoints::create)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}")
                    .route(web::get().to(endpoints::get))
                    .route(web::put().to(endpoints::put))
                    .route(web::patch().to(endpoints::patch))
                    .route(web::delete().to(endpoints::delete)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/secret")
                    .route(web::get().to(endpoints::secret)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/secret/rotate")
                    .route(web::post().to(endpoints::rotate)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/headers")
                    .route(web::get().to(endpoints::headers))
                    .route(web::put().to(endpoints::put_headers))
                    .route(web::patch().to(endpoints::patch_headers)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/recover")
                    .route(web::post().to(endpoints::recover)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/send-example")
                    .route(web::post().to(endpoints::send_example)),
            )
            .service(
                resource("/{app_id}/endpoint/{endpoint_id}/stats")
                    .route(web::get().to(endpoints::stats)),
            )
            .service(
                resource("/{app_id}/msg")
                    .route(web::get().to(messages::list))
                    .route(web::post().to(messages::create)),
            )
            .service(resource("/{app_id}/msg/{msg_id}").route(web::get().to(messages::get)))
            .service(
                resource("/{app_id}/msg/{msg_id}/attempt/{attempt_id}")
                    .route(web::get().to(attempts::get)),
            )
            .service(
                resource("/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend")
                    .route(web::post().to(messages::resend)),
            )
            .service(
                resource("/{app_id}/attempt/endpoint/{endpoint_id}")
                    .route(web::get().to(attempts::by_endpoint)),
            )
            .service(
                resource("/{app_id}/attempt/msg/{msg_id}")
                    .route(web::get().to(attempts::by_message)),
            )
            .default_service(web::to(not_found)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_params_split_on_commas() {
        assert_eq!(list_param(Some("a.b, c.d,,")), ["a.b", "c.d"]);
        assert!(list_param(None).is_empty());
    }

    #[test]
    fn times_are_rfc3339() {
        assert!(time("before", Some("2024-01-15T10:30:00Z"))
            .unwrap()
            .is_some());
        assert!(time("before", Some("2024-01-15T10:30:00.123456+00:00"))
            .unwrap()
            .is_some());
        assert!(time("before", None).unwrap().is_none());
        let e = time("before", Some("yesterday")).unwrap_err();
        assert_eq!(e.loc, ["query", "before"]);
        assert_eq!(
            body_time("since", "nope").unwrap_err().loc,
            ["body", "since"]
        );
    }
}
