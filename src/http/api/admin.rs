//! `/api/v1/admin/pause` and `/resume` (platform key only): deliveries and
//! alerts held back or let go (`herald serve --paused` starts held).

use actix_web::HttpResponse;

use crate::http::api::json::PausedView;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `POST /api/v1/admin/pause` → 200 `{"paused": true}`.
#[utoipa::path(post, path = "/api/v1/admin/pause", tag = "admin",
    summary = "Pause deliveries and alerts (events are still accepted)",
    responses((status = 200, description = "Paused.", body = PausedView)))]
pub async fn pause(api: ApiCaller) -> ApiResult {
    let paused = api.call(|h, c| h.pause_deliveries(c)).await?;
    Ok(HttpResponse::Ok().json(PausedView { paused }))
}

/// `POST /api/v1/admin/resume` → 200 `{"paused": false}`.
#[utoipa::path(post, path = "/api/v1/admin/resume", tag = "admin",
    summary = "Resume deliveries and alerts",
    responses((status = 200, description = "Resumed.", body = PausedView)))]
pub async fn resume(api: ApiCaller) -> ApiResult {
    let paused = api.call(|h, c| h.resume_deliveries(c)).await?;
    Ok(HttpResponse::Ok().json(PausedView { paused }))
}
