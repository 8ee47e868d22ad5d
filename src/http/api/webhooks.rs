//! `/api/v1/webhooks`: a tenant's endpoints.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::http::api::json::{AcceptedView, EndpointView, HealthView, PageView};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json, JsonOrEmpty, Paging};
use crate::service::{EndpointPatch, NewEndpoint};

/// `POST /api/v1/webhooks` → 201 with `secret`.
pub async fn create(api: ApiCaller, Json(input): Json<NewEndpoint>) -> ApiResult {
    let ep = api.call(move |h, c| h.create_endpoint(c, input)).await?;
    Ok(HttpResponse::Created().json(EndpointView::with_secret(&ep)))
}

/// `GET /api/v1/webhooks`.
pub async fn list(api: ApiCaller, Paging(page): Paging) -> ApiResult {
    let p = api.call(move |h, c| h.list_endpoints(c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, EndpointView::new)))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let (ep, health) = api
        .call(move |h, c| h.get_endpoint_with_health(c, &id))
        .await?;
    let mut view = EndpointView::new(&ep);
    view.health = Some(HealthView::new(&health));
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /api/v1/webhooks/{id}`.
pub async fn update(
    api: ApiCaller,
    id: web::Path<String>,
    Json(patch): Json<EndpointPatch>,
) -> ApiResult {
    let ep = api
        .call(move |h, c| h.update_endpoint(c, &id, patch))
        .await?;
    Ok(HttpResponse::Ok().json(EndpointView::new(&ep)))
}

/// `DELETE /api/v1/webhooks/{id}` → 204.
pub async fn delete(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.delete_endpoint(c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/webhooks/{id}/rotate-secret` → the new secret.
pub async fn rotate_secret(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let ep = api.call(move |h, c| h.rotate_secret(c, &id)).await?;
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
pub async fn replay(api: ApiCaller, id: web::Path<String>, Json(b): Json<ReplayBody>) -> ApiResult {
    let n = api.call(move |h, c| h.replay(c, &id, &b.since)).await?;
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
pub async fn test(api: ApiCaller, id: web::Path<String>, Json(b): Json<TestBody>) -> ApiResult {
    let out = api.call(move |h, c| h.send_test(c, &id, &b.event)).await?;
    let view = out.events.first().map(|e| AcceptedView::new(&e.event));
    Ok(HttpResponse::Accepted().json(view))
}

/// `POST /api/v1/webhooks/{id}/retry` body (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// RFC 3339: also re-queue failed deliveries created since then.
    #[serde(default)]
    pub failed_since: Option<String>,
}

/// `POST /api/v1/webhooks/{id}/retry` ("retry now") → 202
/// `{retrying: n, failed: m}`: the endpoint's retrying deliveries (and
/// with `failed_since` its failed ones) are due at once.
pub async fn retry(
    api: ApiCaller,
    id: web::Path<String>,
    JsonOrEmpty(b): JsonOrEmpty<RetryBody>,
) -> ApiResult {
    let r = api
        .call(move |h, c| h.retry_now(c, &id, b.failed_since.as_deref()))
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "retrying": r.retrying,
        "failed": r.failed,
    })))
}
