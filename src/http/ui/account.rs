//! `GET/POST /account`: the logged-in user changes their own password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::error::UiError;
use super::layout::{page, redirect, Layout};
use super::session::{blocking, Ctx};
use super::view::Errors;
use crate::domain::user::Role;
use crate::service::{Herald, ServiceError};

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    bound: Option<String>,
    errors: Errors,
    notice: Option<&'static str>,
}

/// `GET /account` query.
#[derive(Debug, Deserialize)]
pub struct ShowQuery {
    notice: Option<String>,
}

fn render(
    req: &HttpRequest,
    ctx: Ctx,
    status: StatusCode,
    errors: Errors,
    notice: Option<&'static str>,
) -> HttpResponse {
    let bound = match &ctx.user.role {
        Role::Operator => None,
        Role::Tenant(t) => Some(t.clone()),
    };
    page(
        req,
        status,
        AccountPage {
            layout: ctx.layout,
            bound,
            errors,
            notice,
        },
    )
}

/// `GET /account`.
pub async fn show(
    req: HttpRequest,
    q: web::Query<ShowQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "account").await?;
    let notice = match q.notice.as_deref() {
        Some("password") => Some("Password changed. Your other sessions were logged out."),
        _ => None,
    };
    Ok(render(&req, ctx, StatusCode::OK, Errors::default(), notice))
}

/// `POST /account`: `current_password`, `new_password`, `confirm_password`.
pub async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "account").await?;
    let form = ctx.form(&req, payload).await?;
    let current = form.get("current_password").unwrap_or_default().to_string();
    let new = form.get("new_password").unwrap_or_default().to_string();
    if form.get("confirm_password") != Some(new.as_str()) {
        let mut errors = Errors::default();
        errors.add("confirm_password", "the two new passwords differ");
        return Ok(render(
            &req,
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors,
            None,
        ));
    }
    let caller = ctx.caller.clone();
    match blocking(&h, move |h| h.change_own_password(&caller, &current, &new)).await? {
        Ok(()) => Ok(redirect("/account?notice=password")),
        Err(ServiceError::Invalid(f)) => {
            let mut errors = Errors::default();
            errors.add(f.field, f.message);
            Ok(render(
                &req,
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                None,
            ))
        }
        Err(e) => Err(ctx.fail(&req, e)),
    }
}
