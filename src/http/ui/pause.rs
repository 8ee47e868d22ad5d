//! `POST /resume` (operators): the paused banner's button.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::layout::redirect;
use super::session::{blocking, Ctx};
use crate::service::Herald;

/// `POST /resume`: deliveries and alerts go out again; back to the
/// dashboard, where the banner is gone.
pub async fn resume(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    blocking(&h, move |h| h.resume_deliveries(&caller))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(redirect("/"))
}
