//! `GET/POST /account`: the logged-in user changes their own password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::error::UiError;
use super::form::Query;
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
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
    notice: Option<Notice>,
}

/// `POST /account` form.
#[derive(Debug, Deserialize)]
pub struct PasswordChange {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: Option<String>,
}

fn render(
    req: &HttpRequest,
    ctx: Ctx,
    status: StatusCode,
    errors: Errors,
    notice: Option<Notice>,
) -> HttpResponse {
    let bound = match ctx.user.as_ref().map(|u| &u.role) {
        Some(Role::Tenant(t)) => Some(t.clone()),
        Some(Role::Operator) | None => None,
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
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "account").await?;
    let notice = notice.on(NoticePage::Account);
    Ok(render(&req, ctx, StatusCode::OK, Errors::default(), notice))
}

/// `POST /account`: `current_password`, `new_password`, `confirm_password`.
pub async fn change_password(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "account").await?;
    let form: PasswordChange = ctx.form(&req, payload).await?;
    let (current, new) = (form.current_password, form.new_password);
    if form.confirm_password.as_deref() != Some(new.as_str()) {
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
        Ok(()) => Ok(Notice::OwnPasswordChanged.redirect("/account")),
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
