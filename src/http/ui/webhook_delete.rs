//! `GET/POST /webhooks/{id}/delete`: delete an endpoint after an explicit
//! confirmation page (which works without JavaScript).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::error::UiError;
use super::layout::{page, Layout};
use super::notice::Notice;
use super::session::{blocking, Ctx};
use crate::service::Herald;

/// The confirmation page.
#[derive(Template, WebTemplate)]
#[template(path = "webhook_delete.html")]
struct ConfirmPage {
    layout: Layout,
    id: String,
    url: String,
}

/// `GET /webhooks/{id}/delete`.
pub async fn confirm(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    ctx.require_write(&req)?;
    let caller = ctx.caller.clone();
    let ep = blocking(&h, move |h| h.get_endpoint(&caller, &id))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(page(
        &req,
        StatusCode::OK,
        ConfirmPage {
            layout: ctx.layout,
            id: ep.id.to_string(),
            url: ep.url,
        },
    ))
}

/// `POST /webhooks/{id}/delete`.
pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    blocking(&h, move |h| h.delete_endpoint(&caller, &id))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(Notice::EndpointDeleted.redirect("/webhooks"))
}
