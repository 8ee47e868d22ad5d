//! `/api/v1/webhooks`: a tenant's endpoints.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::api::json::{AcceptedView, EndpointView, HealthView, PageView};
use crate::http::error::ApiError;
use crate::http::extract::{call, caller, json_body, ListQuery, MANAGEMENT_BODY_LIMIT};
use crate::service::{EndpointPatch, Herald, NewEndpoint};
use serde::Deserialize;

/// `POST /api/v1/webhooks` → 201 with `secret`.
pub async fn create(
    req: HttpRequest,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let input: NewEndpoint = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let ep = call(&h, move |h| h.create_endpoint(&c, input)).await?;
    Ok(HttpResponse::Created().json(EndpointView::with_secret(&ep)))
}

/// `GET /api/v1/webhooks`.
pub async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let page = q.page()?;
    let p = call(&h, move |h| h.list_endpoints(&c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, EndpointView::new)))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let (ep, health) = call(&h, move |h| h.get_endpoint_with_health(&c, &id)).await?;
    let mut view = EndpointView::new(&ep);
    view.health = Some(HealthView::new(&health));
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /api/v1/webhooks/{id}`.
pub async fn update(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let patch: EndpointPatch = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let ep = call(&h, move |h| h.update_endpoint(&c, &id, patch)).await?;
    Ok(HttpResponse::Ok().json(EndpointView::new(&ep)))
}

/// `DELETE /api/v1/webhooks/{id}` → 204.
pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    call(&h, move |h| h.delete_endpoint(&c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/webhooks/{id}/rotate-secret` → the new secret.
pub async fn rotate_secret(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let ep = call(&h, move |h| h.rotate_secret(&c, &id)).await?;
    Ok(HttpResponse::Ok().json(EndpointView::with_secret(&ep)))
}

/// `POST /api/v1/webhooks/{id}/replay` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// RFC 3339: re-queue failed deliveries created since then.
    pub since: String,
}

/// `POST /api/v1/webhooks/{id}/replay` → 202 `{replayed: n}`.
pub async fn replay(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let b: ReplayBody = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let n = call(&h, move |h| h.replay(&c, &id, &b.since)).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "replayed": n })))
}

/// `POST /api/v1/webhooks/{id}/test` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// The event type to sample.
    #[serde(alias = "event_type")]
    pub event: String,
}

/// `POST /api/v1/webhooks/{id}/test` → 202 `{id, deliveries}`.
pub async fn test(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let b: TestBody = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let out = call(&h, move |h| h.send_test(&c, &id, &b.event)).await?;
    let view = out.events.first().map(|e| AcceptedView::new(&e.event));
    Ok(HttpResponse::Accepted().json(view))
}
