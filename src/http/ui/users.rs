//! `GET/POST /users`, `POST /users/{name}/password`, `…/disable`,
//! `…/enable`, `…/remove`: admin panel users (operators): create an
//! operator or a tenant-bound user, set passwords, disable, enable and
//! remove users (never the last enabled operator: the service refuses).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::error::UiError;
use super::form::{trimmed, Query};
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
use super::view::{Errors, When};
use crate::domain::user::Role;
use crate::service::{Herald, NewUser, PageRequest, ServiceError};

/// One user.
pub struct UserRow {
    username: String,
    tenant: Option<String>,
    created: When,
    is_me: bool,
    disabled: Option<When>,
    last_login: Option<When>,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    tenants: Vec<String>,
    errors: Errors,
    error_user: String,
    new_username: String,
    new_tenant: String,
    notice: Option<Notice>,
}

/// `POST /users` form.
#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    #[serde(default, deserialize_with = "trimmed")]
    username: String,
    #[serde(default)]
    password: String,
    /// Empty for an operator.
    #[serde(default, deserialize_with = "trimmed")]
    tenant_id: String,
}

/// `POST /users/{name}/password` form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

#[derive(Default)]
struct Extra {
    errors: Errors,
    /// Whose password form the errors belong to.
    error_user: String,
    new_username: String,
    new_tenant: String,
    notice: Option<Notice>,
}

async fn render(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    status: StatusCode,
    extra: Extra,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let (users, tenants) = blocking(h, move |h| {
        let users = h.list_users(&caller)?;
        let tenants = h.list_tenants(&caller, &PageRequest::parse(Some("100"), None)?)?;
        Ok::<_, ServiceError>((users, tenants))
    })
    .await?
    .map_err(|e| ctx.fail(req, e))?;
    let users = users
        .into_iter()
        .map(|info| {
            let u = info.user;
            UserRow {
                is_me: ctx
                    .user
                    .as_ref()
                    .is_some_and(|me| me.username == u.username),
                tenant: match u.role {
                    Role::Operator => None,
                    Role::Tenant(t) => Some(t),
                },
                username: u.username,
                created: When::new(u.created_at),
                disabled: When::opt(u.disabled_at),
                last_login: When::opt(info.last_login_at),
            }
        })
        .collect();
    Ok(page(
        req,
        status,
        UsersPage {
            layout: ctx.layout,
            users,
            tenants: tenants.items.into_iter().map(|t| t.id).collect(),
            errors: extra.errors,
            error_user: extra.error_user,
            new_username: extra.new_username,
            new_tenant: extra.new_tenant,
            notice: extra.notice,
        },
    ))
}

/// `GET /users`.
pub async fn list(
    req: HttpRequest,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "users").await?;
    let extra = Extra {
        notice: notice.on(NoticePage::Users),
        ..Default::default()
    };
    render(&req, &h, ctx, StatusCode::OK, extra).await
}

/// `POST /users`: `username`, `password`, `tenant_id` (empty: operator).
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "users").await?;
    let form: NewUserForm = ctx.form(&req, payload).await?;
    let (username, tenant) = (form.username, form.tenant_id);
    let input = NewUser {
        username: username.clone(),
        password: form.password,
        tenant_id: (!tenant.is_empty()).then(|| tenant.clone()),
    };
    let caller = ctx.caller.clone();
    match blocking(&h, move |h| h.create_user(&caller, input)).await? {
        Ok(_) => Ok(Notice::UserCreated.redirect("/users")),
        Err(ServiceError::Invalid(f)) => {
            let mut errors = Errors::default();
            errors.add(f.field, f.message);
            let extra = Extra {
                errors,
                new_username: username,
                new_tenant: tenant,
                ..Default::default()
            };
            render(&req, &h, ctx, StatusCode::UNPROCESSABLE_ENTITY, extra).await
        }
        Err(e) => Err(ctx.fail(&req, e)),
    }
}

/// `POST /users/{name}/password`: `password`.
pub async fn set_password(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "users").await?;
    let PasswordForm { password } = ctx.form(&req, payload).await?;
    let caller = ctx.caller.clone();
    let user = name.into_inner();
    let u = user.clone();
    match blocking(&h, move |h| h.set_password(&caller, &u, &password)).await? {
        Ok(()) => Ok(Notice::UserPasswordSet.redirect("/users")),
        Err(ServiceError::Invalid(f)) => {
            let mut errors = Errors::default();
            errors.add("set_password", f.message);
            let extra = Extra {
                errors,
                error_user: user,
                ..Default::default()
            };
            render(&req, &h, ctx, StatusCode::UNPROCESSABLE_ENTITY, extra).await
        }
        Err(e) => Err(ctx.fail(&req, e)),
    }
}

/// What an operator does to a user from its row.
#[derive(Debug, Clone, Copy)]
enum Change {
    Disable,
    Enable,
    Remove,
}

async fn change(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
    what: Change,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "users").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    let user = name.into_inner();
    let done = blocking(&h, move |h| match what {
        Change::Disable => h.disable_user(&caller, &user).map(|_| Notice::UserDisabled),
        Change::Enable => h.enable_user(&caller, &user).map(|_| Notice::UserEnabled),
        Change::Remove => h.remove_user(&caller, &user).map(|()| Notice::UserRemoved),
    })
    .await?;
    match done {
        Ok(notice) => Ok(notice.redirect("/users")),
        // The operator's own session may have ended (they disabled or
        // removed themselves): the login page says so.
        Err(e) => Err(ctx.fail(&req, e)),
    }
}

/// `POST /users/{name}/disable`.
pub async fn disable(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    change(req, name, payload, h, Change::Disable).await
}

/// `POST /users/{name}/enable`.
pub async fn enable(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    change(req, name, payload, h, Change::Enable).await
}

/// `POST /users/{name}/remove`.
pub async fn remove(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    change(req, name, payload, h, Change::Remove).await
}
