//! `POST /tenant`: the operator's tenant switcher.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::UiError;
use super::form::trimmed;
use super::layout::{local_path, redirect};
use super::session::{blocking, Ctx};
use crate::service::Herald;

/// `POST /tenant` form.
#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    #[serde(default, deserialize_with = "trimmed")]
    tenant: String,
    /// The page the switcher was on.
    #[serde(default)]
    next: Option<String>,
}

/// Switches the session's tenant and returns to the section it came from
/// (its list page: a detail page of the old tenant is not in the new one).
pub async fn switch(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "").await?;
    let SwitchForm { tenant, next } = ctx.form(&req, payload).await?;
    let next = local_path(next.as_deref());
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
