//! The endpoint page's actions: save edits, enable/disable, rotate the
//! secret, send a test event, replay failures. Each redirects back to the
//! endpoint page with a notice, or re-renders it with the error next to
//! the field that caused it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::UiError;
use super::form::trimmed;
use super::notice::Notice;
use super::session::{blocking, Ctx};
use super::view::{parse_form_time, Errors};
use super::webhook::{render, PageState};
use super::webhook_new::{field_errors, EndpointFields, EndpointForm};
use crate::domain::endpoint::{parse_header_lines, parse_rate_limit};
use crate::service::{EndpointPatch, Herald, ServiceError};

fn back(id: &str, notice: Notice) -> HttpResponse {
    notice.redirect(&format!("/webhooks/{id}"))
}

/// `POST /webhooks/{id}/toggle` form.
#[derive(Debug, Deserialize)]
pub struct ToggleForm {
    /// `true` to enable, anything else to disable.
    #[serde(default)]
    active: String,
}

/// `POST /webhooks/{id}/test` form.
#[derive(Debug, Deserialize)]
pub struct TestForm {
    /// The event type to sample.
    #[serde(default, deserialize_with = "trimmed")]
    event: String,
}

/// `POST /webhooks/{id}/replay` form.
#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    /// `datetime-local`, UTC.
    #[serde(default, deserialize_with = "trimmed")]
    since: String,
}

/// `POST /webhooks/{id}/retry` form.
#[derive(Debug, Deserialize)]
pub struct RetryForm {
    /// `on` to include failed deliveries too.
    #[serde(default)]
    include_failed: String,
    /// `datetime-local`, UTC: failed deliveries created since then.
    #[serde(default, deserialize_with = "trimmed")]
    failed_since: String,
}

/// A `datetime-local` field (UTC) as RFC 3339, or its validation error.
fn form_time(field: &'static str, v: &str) -> Result<String, ServiceError> {
    parse_form_time(v)
        .map(|t| t.to_rfc3339_millis())
        .ok_or_else(|| ServiceError::invalid(field, "enter a date and time, e.g. 2024-01-15T10:30"))
}

/// Re-renders the page with `field`'s message, or fails with the error if
/// it is not a validation error.
async fn with_error(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    id: String,
    field: &str,
    e: ServiceError,
) -> Result<HttpResponse, UiError> {
    let message = match &e {
        ServiceError::Invalid(f) => f.message.clone(),
        ServiceError::UnknownEventType(_) | ServiceError::BadQuery { .. } => e.to_string(),
        _ => return Err(ctx.fail(req, e)),
    };
    let mut errors = Errors::default();
    errors.add(field, message);
    let state = PageState {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        errors,
        ..PageState::view(None)
    };
    render(req, h, ctx, id, state).await
}

/// `POST /webhooks/{id}`: save the edit form.
pub async fn save(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let form = EndpointForm::from(ctx.form::<EndpointFields>(&req, payload).await?);
    let patch = EndpointPatch {
        url: Some(form.url.clone()),
        events: Some(form.events.clone()),
        description: Some(form.description.clone()),
        active: Some(form.active),
        ordered: Some(form.ordered),
        ..Default::default()
    };
    let (caller, id) = (ctx.caller.clone(), id.into_inner());
    let (i, lines) = (id.clone(), form.headers.clone());
    let rate = form.rate_limit.clone();
    let save = move |h: &Herald| {
        let headers = Some(parse_header_lines(&lines)?);
        let rate_limit = Some(parse_rate_limit(&rate)?);
        h.update_endpoint(
            &caller,
            &i,
            EndpointPatch {
                headers,
                rate_limit,
                ..patch
            },
        )
    };
    match blocking(&h, save).await? {
        Ok(_) => Ok(back(&id, Notice::EndpointSaved)),
        Err(e) => {
            let errors = field_errors(e).map_err(|e| ctx.fail(&req, e))?;
            let state = PageState {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                form: Some(form),
                notice: None,
            };
            render(&req, &h, ctx, id, state).await
        }
    }
}

/// `POST /webhooks/{id}/toggle`: `active=true|false`.
pub async fn toggle(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let form: ToggleForm = ctx.form(&req, payload).await?;
    let active = form.active == "true";
    let patch = EndpointPatch {
        active: Some(active),
        ..Default::default()
    };
    let (caller, id) = (ctx.caller.clone(), id.into_inner());
    let i = id.clone();
    blocking(&h, move |h| h.update_endpoint(&caller, &i, patch))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let notice = if active {
        Notice::EndpointEnabled
    } else {
        Notice::EndpointDisabled
    };
    Ok(back(&id, notice))
}

/// `POST /webhooks/{id}/rotate`.
pub async fn rotate(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    ctx.post(&req, payload).await?;
    let (caller, id) = (ctx.caller.clone(), id.into_inner());
    let i = id.clone();
    blocking(&h, move |h| h.rotate_secret(&caller, &i))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    Ok(back(&id, Notice::SecretRotated))
}

/// `POST /webhooks/{id}/test`: `event=<type>`.
pub async fn test(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let TestForm { event } = ctx.form(&req, payload).await?;
    let (caller, id) = (ctx.caller.clone(), id.into_inner());
    let i = id.clone();
    match blocking(&h, move |h| h.send_test(&caller, &i, &event)).await? {
        Ok(_) => Ok(back(&id, Notice::TestSent)),
        Err(e) => with_error(&req, &h, ctx, id, "test", e).await,
    }
}

/// `POST /webhooks/{id}/replay`: `since=<datetime-local, UTC>`.
pub async fn replay(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let form: ReplayForm = ctx.form(&req, payload).await?;
    let id = id.into_inner();
    let since = match form_time("since", &form.since) {
        Ok(t) => t,
        Err(e) => return with_error(&req, &h, ctx, id, "since", e).await,
    };
    let caller = ctx.caller.clone();
    let i = id.clone();
    match blocking(&h, move |h| h.replay(&caller, &i, &since)).await? {
        Ok(n) => Ok(back(&id, Notice::Replayed(n))),
        Err(e) => with_error(&req, &h, ctx, id, "since", e).await,
    }
}

/// `POST /webhooks/{id}/retry`: "retry now" — every retrying delivery
/// (and, when asked, every failed one since a time) goes now.
pub async fn retry(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let form: RetryForm = ctx.form(&req, payload).await?;
    let id = id.into_inner();
    let failed_since = if form.include_failed == "on" {
        match form_time("failed_since", &form.failed_since) {
            Ok(t) => Some(t),
            Err(e) => return with_error(&req, &h, ctx, id, "failed_since", e).await,
        }
    } else {
        None
    };
    let caller = ctx.caller.clone();
    let i = id.clone();
    match blocking(&h, move |h| {
        h.retry_now(&caller, &i, failed_since.as_deref())
    })
    .await?
    {
        Ok(r) => Ok(back(&id, Notice::RetriedNow(r.retrying, r.failed))),
        Err(e) => with_error(&req, &h, ctx, id, "failed_since", e).await,
    }
}
