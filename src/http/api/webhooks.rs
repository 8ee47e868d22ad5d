//! `/api/v1/webhooks`: a tenant's endpoints.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::http::api::json::{AcceptedView, EndpointView, HealthView, PageView};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json, JsonOrEmpty, Paging};
use crate::service::{EndpointPatch, NewEndpoint};

/// `POST /api/v1/webhooks` → 201 with `secret`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    summary = "Register an endpoint (the answer holds its signing secret)",
    request_body = NewEndpoint,
    responses((status = 201, description = "Created, with `secret`.", body = EndpointView)))]
pub async fn create(api: ApiCaller, Json(input): Json<NewEndpoint>) -> ApiResult {
    let ep = api.call(move |h, c| h.create_endpoint(c, input)).await?;
    Ok(HttpResponse::Created().json(EndpointView::with_secret(&ep)))
}

/// `GET /api/v1/webhooks`.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", summary = "List endpoints",
    params(crate::http::extract::ListQuery),
    responses((status = 200, description = "A page of endpoints.", body = PageView<EndpointView>)))]
pub async fn list(api: ApiCaller, Paging(page): Paging) -> ApiResult {
    let h = api.herald.clone();
    let p = api.call(move |h, c| h.list_endpoints(c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, |e| {
        EndpointView::new(e).connected(h.stream_connected(e))
    })))
}

/// `GET /api/v1/webhooks/{id}`.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    summary = "Read an endpoint with its health",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    responses((status = 200, description = "The endpoint, with `health`.", body = EndpointView)))]
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let api_herald = api.herald.clone();
    let (ep, health) = api
        .call(move |h, c| h.get_endpoint_with_health(c, &id))
        .await?;
    let mut view = EndpointView::new(&ep).connected(api_herald.stream_connected(&ep));
    view.health = Some(HealthView::new(&health));
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /api/v1/webhooks/{id}`.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    summary = "Change an endpoint (only the fields sent)",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    request_body = EndpointPatch,
    responses((status = 200, description = "The endpoint as changed.", body = EndpointView)))]
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
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    summary = "Delete an endpoint",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.delete_endpoint(c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/webhooks/{id}/rotate-secret` → the new secret.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    summary = "New signing secret; the old one keeps signing for the overlap",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    responses((status = 200, description = "The endpoint with its new `secret`.", body = EndpointView)))]
pub async fn rotate_secret(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let ep = api.call(move |h, c| h.rotate_secret(c, &id)).await?;
    Ok(HttpResponse::Ok().json(EndpointView::with_secret(&ep)))
}

/// `POST /api/v1/webhooks/{id}/replay` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// RFC 3339: re-queue failed deliveries created since then.
    pub since: String,
}

/// `POST /api/v1/webhooks/{id}/replay` → 202.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayedView {
    /// Failed deliveries queued again.
    pub replayed: usize,
}

/// `POST /api/v1/webhooks/{id}/replay` → 202 `{replayed: n}`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/replay", tag = "webhooks",
    summary = "Queue again the endpoint's failed deliveries since a time",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    request_body = ReplayBody,
    responses((status = 202, description = "Queued.", body = ReplayedView)))]
pub async fn replay(api: ApiCaller, id: web::Path<String>, Json(b): Json<ReplayBody>) -> ApiResult {
    let n = api.call(move |h, c| h.replay(c, &id, &b.since)).await?;
    Ok(HttpResponse::Accepted().json(ReplayedView { replayed: n }))
}

/// `POST /api/v1/webhooks/{id}/test` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// The event type to sample.
    #[serde(alias = "event_type")]
    pub event: String,
}

/// `POST /api/v1/webhooks/{id}/test` → 202 `{id, deliveries}`.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks",
    summary = "Send a sample event (`evt_test_…`) of a type to this endpoint",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    request_body = TestBody,
    responses((status = 202, description = "Accepted, with its delivery.", body = AcceptedView)))]
pub async fn test(api: ApiCaller, id: web::Path<String>, Json(b): Json<TestBody>) -> ApiResult {
    let out = api.call(move |h, c| h.send_test(c, &id, &b.event)).await?;
    let view = out.events.first().map(|e| AcceptedView::new(&e.event));
    Ok(HttpResponse::Accepted().json(view))
}

/// `POST /api/v1/webhooks/{id}/retry` body (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// RFC 3339: also re-queue failed deliveries created since then.
    #[serde(default)]
    pub failed_since: Option<String>,
}

/// `POST /api/v1/webhooks/{id}/retry` → 202.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RetryingView {
    /// Retrying deliveries made due now.
    pub retrying: usize,
    /// Failed deliveries queued again (with `failed_since`).
    pub failed: usize,
}

/// `POST /api/v1/webhooks/{id}/retry` ("retry now") → 202
/// `{retrying: n, failed: m}`: the endpoint's retrying deliveries (and
/// with `failed_since` its failed ones) are due at once.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/retry", tag = "webhooks",
    summary = "Retry now: the endpoint's retrying deliveries are due at once",
    params(("id" = String, Path, description = "The endpoint id, `ep_…`.")),
    request_body(content = Option<RetryBody>, description = "Optional; may be left out."),
    responses((status = 202, description = "Made due.", body = RetryingView)))]
pub async fn retry(
    api: ApiCaller,
    id: web::Path<String>,
    JsonOrEmpty(b): JsonOrEmpty<RetryBody>,
) -> ApiResult {
    let r = api
        .call(move |h, c| h.retry_now(c, &id, b.failed_since.as_deref()))
        .await?;
    Ok(HttpResponse::Accepted().json(RetryingView {
        retrying: r.retrying,
        failed: r.failed,
    }))
}
