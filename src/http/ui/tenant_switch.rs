//! `POST /tenant`: the operator's tenant switcher.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::layout::{local_path, redirect};
use super::session::{blocking, Ctx};
use crate::service::Herald;

/// Switches the session's tenant and returns to the section it came from
/// (its list page: a detail page of the old tenant is not in the new one).
pub async fn switch(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "").await?;
    let form = ctx.form(&req, payload).await?;
    let tenant = form.text("tenant");
    let next = local_path(form.get("next"));
    let caller = ctx.caller.clone();
    blocking(&h, move |h| h.select_tenant(&caller, &tenant))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let section = next
        .split(['/', '?'])
        .find(|s| !s.is_empty())
        .map_or_else(|| "/".to_string(), |s| format!("/{s}"));
    Ok(redirect(&local_path(Some(&section))))
}
