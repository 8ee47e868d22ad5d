//! `GET/POST /event-types` (the catalog; operators add custom types),
//! `GET/POST /event-types/{name}` (one type; operators edit a custom one)
//! and `POST /event-types/{name}/archive|unarchive|delete`. Tenant users
//! see the catalog; the service refuses their writes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use serde_json::Value;

use super::error::UiError;
use super::form::{checkbox, trimmed, Query};
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
use super::view::{Errors, When};
use crate::service::{EventTypeInfo, EventTypePatch, Herald, NewEventType, ServiceError};

/// One type, as the list and the type page show it.
pub struct TypeRow {
    name: String,
    category: String,
    description: String,
    custom: bool,
    archived: bool,
    has_schema: bool,
}

impl TypeRow {
    fn of(t: &EventTypeInfo) -> Self {
        Self {
            name: t.name.clone(),
            category: t.category.clone(),
            description: t.description.clone(),
            custom: t.custom,
            archived: t.archived,
            has_schema: t.schema.is_some(),
        }
    }
}

/// The create and edit form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct TypeForm {
    name: String,
    description: String,
    schema: String,
    archived: bool,
}

/// The form as posted.
#[derive(Debug, Deserialize)]
pub struct TypeFields {
    #[serde(default, deserialize_with = "trimmed")]
    name: String,
    #[serde(default, deserialize_with = "trimmed")]
    description: String,
    #[serde(default)]
    schema: String,
    #[serde(default, deserialize_with = "checkbox")]
    archived: bool,
}

impl From<TypeFields> for TypeForm {
    fn from(f: TypeFields) -> Self {
        Self {
            name: f.name,
            description: f.description,
            schema: f.schema,
            archived: f.archived,
        }
    }
}

/// The list page.
#[derive(Template, WebTemplate)]
#[template(path = "event_types.html")]
struct ListPage {
    layout: Layout,
    builtin: Vec<TypeRow>,
    custom: Vec<TypeRow>,
    form: TypeForm,
    errors: Errors,
    notice: Option<Notice>,
}

/// One type's page.
#[derive(Template, WebTemplate)]
#[template(path = "event_type.html")]
struct TypePage {
    layout: Layout,
    t: TypeRow,
    schema: String,
    created: Option<When>,
    updated: Option<When>,
    form: TypeForm,
    errors: Errors,
    notice: Option<Notice>,
}

/// The schema textarea: empty for none, else JSON (the service checks
/// that it is a valid, bounded JSON Schema).
fn parse_schema(text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| format!("is not JSON: {e}"))
}

fn pretty(schema: &Option<Value>) -> String {
    schema
        .as_ref()
        .and_then(|s| serde_json::to_string_pretty(s).ok())
        .unwrap_or_default()
}

/// A service error on the form as field messages, or `Err` if it is not
/// about a field.
fn field_errors(e: ServiceError) -> Result<Errors, ServiceError> {
    let mut errors = Errors::default();
    match &e {
        ServiceError::Invalid(f) if matches!(f.field, "name" | "description" | "schema") => {
            errors.add(f.field, f.message.clone())
        }
        ServiceError::EventTypeExists { .. } => errors.add("name", e.to_string()),
        _ => return Err(e),
    }
    Ok(errors)
}

async fn render_list(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    status: StatusCode,
    (form, errors): (TypeForm, Errors),
    notice: Option<Notice>,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let types = blocking(h, move |h| h.list_event_types(&caller))
        .await?
        .map_err(|e| ctx.fail(req, e))?;
    let (custom, builtin): (Vec<_>, Vec<_>) = types.iter().partition(|t| t.custom);
    Ok(page(
        req,
        status,
        ListPage {
            layout: ctx.layout,
            builtin: builtin.into_iter().map(TypeRow::of).collect(),
            custom: custom.into_iter().map(TypeRow::of).collect(),
            form,
            errors,
            notice,
        },
    ))
}

async fn render_type(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    name: String,
    status: StatusCode,
    edited: Option<(TypeForm, Errors)>,
    notice: Option<Notice>,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    let t = blocking(h, move |h| h.get_event_type(&caller, &name))
        .await?
        .map_err(|e| ctx.fail(req, e))?;
    let schema = pretty(&t.schema);
    let (form, errors) = edited.unwrap_or_else(|| {
        let form = TypeForm {
            name: t.name.clone(),
            description: t.description.clone(),
            schema: schema.clone(),
            archived: t.archived,
        };
        (form, Errors::default())
    });
    Ok(page(
        req,
        status,
        TypePage {
            layout: ctx.layout,
            t: TypeRow::of(&t),
            schema,
            created: When::opt(t.created_at),
            updated: When::opt(t.updated_at),
            form,
            errors,
            notice,
        },
    ))
}

/// `GET /event-types`.
pub async fn list(
    req: HttpRequest,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    let notice = notice.on(NoticePage::EventTypes);
    render_list(&req, &h, ctx, StatusCode::OK, Default::default(), notice).await
}

/// `POST /event-types`: `name`, `description`, `schema` (operators).
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    let form = TypeForm::from(ctx.form::<TypeFields>(&req, payload).await?);
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let schema = match parse_schema(&form.schema) {
        Ok(s) => s,
        Err(m) => {
            let mut errors = Errors::default();
            errors.add("schema", m);
            return render_list(&req, &h, ctx, unprocessable, (form, errors), None).await;
        }
    };
    let input = NewEventType {
        name: form.name.clone(),
        description: Some(form.description.clone()),
        schema,
        archived: Some(false),
    };
    let caller = ctx.caller.clone();
    match blocking(&h, move |h| h.create_event_type(&caller, input)).await? {
        Ok(_) => Ok(Notice::EventTypeCreated.redirect("/event-types")),
        Err(e) => {
            let errors = field_errors(e).map_err(|e| ctx.fail(&req, e))?;
            render_list(&req, &h, ctx, unprocessable, (form, errors), None).await
        }
    }
}

/// `GET /event-types/{name}`.
pub async fn show(
    req: HttpRequest,
    name: web::Path<String>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    let notice = notice.on(NoticePage::EventType);
    let name = name.into_inner();
    render_type(&req, &h, ctx, name, StatusCode::OK, None, notice).await
}

/// `POST /event-types/{name}`: `description`, `schema` (empty: none),
/// `archived` (operators).
pub async fn save(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    let name = name.into_inner();
    let form = TypeForm {
        name: name.clone(),
        ..TypeForm::from(ctx.form::<TypeFields>(&req, payload).await?)
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let schema = match parse_schema(&form.schema) {
        Ok(s) => s,
        Err(m) => {
            let mut errors = Errors::default();
            errors.add("schema", m);
            let edited = Some((form, errors));
            return render_type(&req, &h, ctx, name, unprocessable, edited, None).await;
        }
    };
    let patch = EventTypePatch {
        description: Some(form.description.clone()),
        schema: Some(schema),
        archived: Some(form.archived),
    };
    let caller = ctx.caller.clone();
    let target = name.clone();
    match blocking(&h, move |h| h.update_event_type(&caller, &target, patch)).await? {
        Ok(t) => Ok(Notice::EventTypeSaved.redirect(&format!("/event-types/{}", t.name))),
        Err(e) => {
            let errors = field_errors(e).map_err(|e| ctx.fail(&req, e))?;
            let edited = Some((form, errors));
            render_type(&req, &h, ctx, name, unprocessable, edited, None).await
        }
    }
}

async fn set_archived(
    req: HttpRequest,
    name: String,
    payload: web::Payload,
    h: web::Data<Herald>,
    archived: bool,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    let patch = EventTypePatch {
        archived: Some(archived),
        ..Default::default()
    };
    blocking(&h, move |h| h.update_event_type(&caller, &name, patch))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let notice = if archived {
        Notice::EventTypeArchived
    } else {
        Notice::EventTypeUnarchived
    };
    Ok(notice.redirect("/event-types"))
}

/// `POST /event-types/{name}/archive`.
pub async fn archive(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_archived(req, name.into_inner(), payload, h, true).await
}

/// `POST /event-types/{name}/unarchive`.
pub async fn unarchive(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    set_archived(req, name.into_inner(), payload, h, false).await
}

/// `POST /event-types/{name}/delete`.
pub async fn delete(
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "event-types").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    let name = name.into_inner();
    blocking(&h, move |h| h.delete_event_type(&caller, &name))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(Notice::EventTypeDeleted.redirect("/event-types"))
}
