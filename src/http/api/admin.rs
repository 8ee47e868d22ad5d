//! `/api/v1/admin/pause` and `/resume` (platform key only): deliveries and
//! alerts held back or let go (`herald serve --paused` starts held).

use actix_web::HttpResponse;

use crate::http::api::json::PausedView;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `POST /api/v1/admin/pause` → 200 `{"paused": true}`.
pub async fn pause(api: ApiCaller) -> ApiResult {
    let paused = api.call(|h, c| h.pause_deliveries(c)).await?;
    Ok(HttpResponse::Ok().json(PausedView { paused }))
}

/// `POST /api/v1/admin/resume` → 200 `{"paused": false}`.
pub async fn resume(api: ApiCaller) -> ApiResult {
    let paused = api.call(|h, c| h.resume_deliveries(c)).await?;
    Ok(HttpResponse::Ok().json(PausedView { paused }))
}
