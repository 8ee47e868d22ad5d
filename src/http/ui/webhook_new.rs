//! `GET/POST /webhooks/new`: Add Webhook Endpoint.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::error::UiError;
use super::form::{checkbox, trimmed};
use super::layout::{page, Layout};
use super::notice::Notice;
use super::session::{blocking, Ctx};
use super::view::{catalog_of, event_groups, Errors, EventGroup};
use crate::domain::endpoint::parse_header_lines;
use crate::service::{Herald, NewEndpoint, ServiceError};

/// The endpoint form's values (new and edit).
#[derive(Debug, Clone)]
pub struct EndpointForm {
    /// URL as typed.
    pub url: String,
    /// Checked patterns.
    pub events: Vec<String>,
    /// Whether `*` is checked.
    pub all_events: bool,
    /// Description as typed.
    pub description: String,
    /// The Active toggle.
    pub active: bool,
    /// Custom headers as typed, one `Name: value` per line.
    pub headers: String,
}

/// The endpoint form as posted (new and edit).
#[derive(Debug, Deserialize)]
pub struct EndpointFields {
    /// The URL.
    #[serde(default, deserialize_with = "trimmed")]
    pub url: String,
    /// Every checked pattern.
    #[serde(default)]
    pub events: Vec<String>,
    /// The description.
    #[serde(default, deserialize_with = "trimmed")]
    pub description: String,
    /// The Active toggle: checked when sent.
    #[serde(default, deserialize_with = "checkbox")]
    pub active: bool,
    /// Custom headers, one `Name: value` per line.
    #[serde(default)]
    pub headers: String,
}

impl From<EndpointFields> for EndpointForm {
    fn from(f: EndpointFields) -> Self {
        Self {
            url: f.url,
            all_events: f.events.iter().any(|e| e == "*"),
            events: f.events,
            description: f.description,
            active: f.active,
            headers: f.headers,
        }
    }
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "webhook_new.html")]
struct NewPage {
    layout: Layout,
    form: EndpointForm,
    groups: Vec<EventGroup>,
    errors: Errors,
    allow_http: bool,
}

/// A service error on the endpoint form as field messages, or `Err` if it
/// is not about a field.
pub fn field_errors(e: ServiceError) -> Result<Errors, ServiceError> {
    let mut errors = Errors::default();
    match &e {
        ServiceError::Invalid(f) => {
            let field = match f.field {
                "url" | "events" | "description" | "headers" => f.field,
                _ => return Err(e),
            };
            errors.add(field, f.message.clone());
        }
        ServiceError::DuplicateUrl(_) => {
            errors.add("url", "you already have an endpoint with this URL")
        }
        ServiceError::UnknownEventType(t) => {
            errors.add("events", format!("{t} is not an event type"))
        }
        _ => return Err(e),
    }
    Ok(errors)
}

fn render(
    req: &HttpRequest,
    h: &Herald,
    layout: Layout,
    status: StatusCode,
    form: EndpointForm,
    errors: Errors,
) -> HttpResponse {
    page(
        req,
        status,
        NewPage {
            layout,
            groups: event_groups(&form.events, catalog_of(h).catalog()),
            form,
            errors,
            allow_http: h.settings().allow_http,
        },
    )
}

/// `GET /webhooks/new`.
pub async fn form(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    ctx.require_write(&req)?;
    let form = EndpointForm {
        url: String::new(),
        events: Vec::new(),
        all_events: false,
        description: String::new(),
        active: true,
        headers: String::new(),
    };
    Ok(render(
        &req,
        &h,
        ctx.layout,
        StatusCode::OK,
        form,
        Errors::default(),
    ))
}

/// `POST /webhooks/new`: create, then show the endpoint and its secret.
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let form = EndpointForm::from(ctx.form::<EndpointFields>(&req, payload).await?);
    let input = NewEndpoint {
        url: form.url.clone(),
        events: form.events.clone(),
        description: Some(form.description.clone()),
        active: Some(form.active),
        ..Default::default()
    };
    let (caller, lines) = (ctx.caller.clone(), form.headers.clone());
    let create = move |h: &Herald| {
        let headers = parse_header_lines(&lines)?;
        h.create_endpoint(&caller, NewEndpoint { headers, ..input })
    };
    match blocking(&h, create).await? {
        Ok(ep) => Ok(Notice::EndpointCreated.redirect(&format!("/webhooks/{}", ep.id))),
        Err(e) => {
            let errors = field_errors(e).map_err(|e| ctx.fail(&req, e))?;
            Ok(render(
                &req,
                &h,
                ctx.layout,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                errors,
            ))
        }
    }
}
