//! `GET/POST /keys`, `POST /keys/{id}/revoke`: API keys (operators). A new
//! key's text is shown once, on the page that answers its creation.

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
use crate::domain::apikey::{KeyScope, ScopeAsked};
use crate::service::{Herald, NewKey, PageRequest, ServiceError};

/// One key.
pub struct KeyRow {
    id: String,
    name: String,
    tenant: Option<String>,
    hint: String,
    created: When,
    revoked: Option<When>,
    last_used: Option<When>,
}

/// A key just created.
pub struct NewKeyShown {
    name: String,
    text: String,
    tenant: Option<String>,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    next_cursor: Option<String>,
    tenants: Vec<String>,
    errors: Errors,
    new_name: String,
    new_tenant: String,
    created: Option<NewKeyShown>,
    notice: Option<Notice>,
}

/// `GET /keys` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `POST /keys` form.
#[derive(Debug, Deserialize)]
pub struct NewKeyForm {
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
    /// A tenant id, or [`PLATFORM_CHOICE`] for a platform key (empty: no
    /// choice made).
    #[serde(default, deserialize_with = "trimmed")]
    tenant_id: String,
}

/// The scope select's value for "all tenants (platform)": no tenant id
/// can be `*`, so it never names a tenant.
const PLATFORM_CHOICE: &str = "*";

/// What the page shows besides the list.
#[derive(Default)]
struct Extra {
    errors: Errors,
    new_name: String,
    new_tenant: String,
    created: Option<NewKeyShown>,
    notice: Option<Notice>,
}

async fn render(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    cursor: Option<String>,
    status: StatusCode,
    extra: Extra,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let (p, tenants) = blocking(h, move |h| {
        let keys = h.list_keys(
            &caller,
            &PageRequest::parse(Some("100"), cursor.as_deref())?,
        )?;
        let tenants = h.list_tenants(&caller, &PageRequest::parse(Some("100"), None)?)?;
        Ok::<_, ServiceError>((keys, tenants))
    })
    .await?
    .map_err(|e| ctx.fail(req, e))?;
    // A new key is for the tenant the pages are about unless another
    // choice was made: platform scope is never preselected.
    let new_tenant = if extra.new_tenant.is_empty() {
        ctx.layout.tenant.clone().unwrap_or_default()
    } else {
        extra.new_tenant
    };
    let keys = p
        .items
        .iter()
        .map(|info| {
            let k = &info.key;
            KeyRow {
                id: k.id.to_string(),
                name: k.name.clone(),
                tenant: input_tenant(&k.scope),
                hint: k.hint.clone(),
                created: When::new(k.created_at),
                revoked: When::opt(k.revoked_at),
                last_used: When::opt(info.last_used_at),
            }
        })
        .collect();
    Ok(page(
        req,
        status,
        KeysPage {
            layout: ctx.layout,
            keys,
            next_cursor: p.next_cursor,
            tenants: tenants.items.into_iter().map(|t| t.id).collect(),
            errors: extra.errors,
            new_name: extra.new_name,
            new_tenant,
            created: extra.created,
            notice: extra.notice,
        },
    ))
}

/// `GET /keys`.
pub async fn list(
    req: HttpRequest,
    Query(q): Query<ListQuery>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "keys").await?;
    let extra = Extra {
        notice: notice.on(NoticePage::Keys),
        ..Default::default()
    };
    render(&req, &h, ctx, q.cursor, StatusCode::OK, extra).await
}

/// `POST /keys`: `name`, `tenant_id` (empty for a platform key).
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "keys").await?;
    let form: NewKeyForm = ctx.form(&req, payload).await?;
    let (name, tenant) = (form.name, form.tenant_id);
    let platform = tenant == PLATFORM_CHOICE;
    let input = NewKey {
        name: name.clone(),
        tenant_id: (!tenant.is_empty() && !platform).then(|| tenant.clone()),
        scope: platform.then_some(ScopeAsked::Platform),
    };
    let caller = ctx.caller.clone();
    match blocking(&h, move |h| h.create_key(&caller, input)).await? {
        Ok(k) => {
            let extra = Extra {
                created: Some(NewKeyShown {
                    name: k.key.name.clone(),
                    text: k.text,
                    tenant: input_tenant(&k.key.scope),
                }),
                ..Default::default()
            };
            render(&req, &h, ctx, None, StatusCode::CREATED, extra).await
        }
        Err(ServiceError::Invalid(f)) if matches!(f.field, "name" | "tenant_id" | "scope") => {
            // The form has one scope control: the select.
            let field = if f.field == "scope" {
                "tenant_id"
            } else {
                f.field
            };
            let mut errors = Errors::default();
            // The service names the API's way to ask; the panel's is the select.
            let message = if f.field == "scope" {
                "choose a tenant, or “All tenants (platform)” for a key of every tenant".to_string()
            } else {
                f.message
            };
            errors.add(field, message);
            let extra = Extra {
                errors,
                new_name: name,
                new_tenant: tenant,
                ..Default::default()
            };
            render(&req, &h, ctx, None, StatusCode::UNPROCESSABLE_ENTITY, extra).await
        }
        Err(e) => Err(ctx.fail(&req, e)),
    }
}

fn input_tenant(scope: &KeyScope) -> Option<String> {
    match scope {
        KeyScope::Platform => None,
        KeyScope::Tenant(t) => Some(t.clone()),
    }
}

/// `POST /keys/{id}/revoke`.
pub async fn revoke(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "keys").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    blocking(&h, move |h| h.revoke_key(&caller, &id))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(Notice::KeyRevoked.redirect("/keys"))
}
