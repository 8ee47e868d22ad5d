//! `GET/POST /tenants`, `POST /tenants/suspend|resume` (the tenant in the
//! form) and `POST /tenants/{id}/suspend|resume` (operators).

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
use super::view::{Badge, Errors, When};
use crate::service::{Herald, NewTenant, PageRequest, ServiceError, TenantPatch};

/// One tenant.
pub struct TenantRow {
    id: String,
    name: String,
    suspended: bool,
    badge: Badge,
    created: When,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<TenantRow>,
    next_cursor: Option<String>,
    errors: Errors,
    new_id: String,
    new_name: String,
    notice: Option<Notice>,
}

/// `GET /tenants` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `POST /tenants` form.
#[derive(Debug, Deserialize)]
pub struct NewTenantForm {
    #[serde(default, deserialize_with = "trimmed")]
    id: String,
    /// Empty for the id as the name.
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
}

#[allow(clippy::too_many_arguments)]
async fn render(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    cursor: Option<String>,
    status: StatusCode,
    errors: Errors,
    (new_id, new_name): (String, String),
    notice: Option<Notice>,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let p = blocking(h, move |h| {
        h.list_tenants(
            &caller,
            &PageRequest::parse(Some("100"), cursor.as_deref())?,
        )
    })
    .await?
    .map_err(|e| ctx.fail(req, e))?;
    let tenants = p
        .items
        .iter()
        .map(|t| TenantRow {
            id: t.id.clone(),
            name: t.name.clone(),
            suspended: t.suspended,
            badge: Badge::tenant(t.suspended),
            created: When::new(t.created_at),
        })
        .collect();
    Ok(page(
        req,
        status,
        TenantsPage {
            layout: ctx.layout,
            tenants,
            next_cursor: p.next_cursor,
            errors,
            new_id,
            new_name,
            notice,
        },
    ))
}

/// `GET /tenants`.
pub async fn list(
    req: HttpRequest,
    Query(q): Query<ListQuery>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "tenants").await?;
    let notice = notice.on(NoticePage::Tenants);
    let cursor = q.cursor;
    render(
        &req,
        &h,
        ctx,
        cursor,
        StatusCode::OK,
        Errors::default(),
        Default::default(),
        notice,
    )
    .await
}

/// `POST /tenants`: `id`, `name`.
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "tenants").await?;
    let NewTenantForm { id, name } = ctx.form(&req, payload).await?;
    let input = NewTenant {
        id: id.clone(),
        name: (!name.is_empty()).then(|| name.clone()),
        metadata: Default::default(),
    };
    let caller = ctx.caller.clone();
    match blocking(&h, move |h| h.create_tenant(&caller, input)).await? {
        Ok(_) => Ok(Notice::TenantCreated.redirect("/tenants")),
        Err(e) => {
            let mut errors = Errors::default();
            match &e {
                ServiceError::Invalid(f) if matches!(f.field, "id" | "name") => {
                    errors.add(f.field, f.message.clone())
                }
                ServiceError::TenantExists(_) => errors.add("id", "a tenant with this id exists"),
                _ => return Err(ctx.fail(&req, e)),
            }
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(&req, &h, ctx, None, status, errors, (id, name), None).await
        }
    }
}

/// `POST /tenants/suspend|resume` form: the tenant travels in the body,
/// so any stored id works, even `..`, which a URL path cannot carry
/// (browsers remove dot segments before sending).
#[derive(Debug, Deserialize)]
pub struct TenantForm {
    #[serde(default, deserialize_with = "trimmed")]
    id: String,
}

async fn set_suspended(
    req: HttpRequest,
    ctx: Ctx,
    id: String,
    h: web::Data<Herald>,
    suspended: bool,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let patch = TenantPatch {
        suspended: Some(suspended),
        ..Default::default()
    };
    blocking(&h, move |h| h.update_tenant(&caller, &id, patch))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let notice = if suspended {
        Notice::TenantSuspended
    } else {
        Notice::TenantResumed
    };
    Ok(notice.redirect("/tenants"))
}

async fn set_suspended_by_path(
    req: HttpRequest,
    id: String,
    payload: web::Payload,
    h: web::Data<Herald>,
    suspended: bool,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "tenants").await?;
    ctx.post(&req, payload).await?;
    set_suspended(req, ctx, id, h, suspended).await
}

async fn set_suspended_by_form(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
    suspended: bool,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "tenants").await?;
    let TenantForm { id } = ctx.form(&req, payload).await?;
    set_suspended(req, ctx, id, h, suspended).await
}

/// `POST /tenants/suspend` with the tenant as the form's `id` (the
/// page's button).
pub async fn suspend_form(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_suspended_by_form(req, payload, h, true).await
}

/// `POST /tenants/resume` with the tenant as the form's `id` (the page's
/// button).
pub async fn resume_form(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_suspended_by_form(req, payload, h, false).await
}

/// `POST /tenants/{id}/suspend` (kept for links and scripts; the page
/// posts to `/tenants/suspend`).
pub async fn suspend(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_suspended_by_path(req, id.into_inner(), payload, h, true).await
}

/// `POST /tenants/{id}/resume` (kept for links and scripts; the page
/// posts to `/tenants/resume`).
pub async fn resume(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_suspended_by_path(req, id.into_inner(), payload, h, false).await
}
