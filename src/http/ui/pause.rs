//! `POST /pause` (the dashboard's button) and `POST /resume` (the paused
//! banner's), operators only.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::layout::redirect;
use super::session::{blocking, Ctx};
use crate::service::Herald;

async fn set_paused(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
    paused: bool,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    blocking(&h, move |h| {
        if paused {
            h.pause_deliveries(&caller)
        } else {
            h.resume_deliveries(&caller)
        }
    })
    .await?
    .map_err(|e| ctx.fail(&req, e))?;
    Ok(redirect("/"))
}

/// `POST /pause`: nothing is delivered or alerted until resumed; back to
/// the dashboard, under the paused banner.
pub async fn pause(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_paused(req, payload, h, true).await
}

/// `POST /resume`: deliveries and alerts go out again; back to the
/// dashboard, where the banner is gone.
pub async fn resume(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_paused(req, payload, h, false).await
}
