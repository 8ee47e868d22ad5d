//! `GET /deliveries/{id}`: one delivery — its envelope and every attempt —
//! and `POST /deliveries/{id}/resend`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::deliveries::{rows_of, DeliveryRow};
use super::error::UiError;
use super::form::Query;
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
use super::view::{Badge, When};
use crate::domain::delivery::{Attempt, Delivery};
use crate::service::{Herald, ServiceError};

/// One attempt, for the page.
pub struct AttemptRow {
    number: u32,
    started: When,
    url: String,
    request_headers: Vec<(String, String)>,
    status: Option<u16>,
    response_headers: Vec<(String, String)>,
    body: String,
    truncated: bool,
    latency_ms: u32,
    error: Option<String>,
    error_message: Option<String>,
    badge: Badge,
    next: Option<When>,
}

impl AttemptRow {
    fn new(a: &Attempt) -> Self {
        Self {
            number: a.number,
            started: When::new(a.started_at),
            url: a.url.clone(),
            request_headers: a.request_headers.clone(),
            status: a.status,
            response_headers: a.response_headers.clone(),
            body: String::from_utf8_lossy(&a.response_body).into_owned(),
            truncated: a.response_truncated,
            latency_ms: a.latency_ms,
            error: a.error_kind.clone(),
            error_message: a.error_message.clone(),
            badge: Badge::verdict(a.verdict.as_str()),
            next: When::opt(a.next_attempt_at),
        }
    }

    /// The CSS class of the answer's HTTP status (4xx and 5xx are errors).
    fn status_tone(&self) -> &'static str {
        self.status.map_or("", super::view::http_tone)
    }
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    layout: Layout,
    id: String,
    event_id: String,
    event_type: String,
    endpoint_id: String,
    endpoint_url: Option<String>,
    badge: Badge,
    created: When,
    next_attempt: Option<When>,
    last_error: Option<String>,
    envelope: String,
    attempts: Vec<AttemptRow>,
    /// The same event's deliveries to other endpoints.
    others: Vec<DeliveryRow>,
    show_endpoint: bool,
    notice: Option<Notice>,
    error: Option<String>,
}

/// `GET /deliveries/{id}`.
pub async fn show(
    req: HttpRequest,
    id: web::Path<String>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "deliveries").await?;
    let notice = notice.on(NoticePage::Delivery);
    render(&req, &h, ctx, id.into_inner(), notice, None, StatusCode::OK).await
}

async fn render(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    id: String,
    notice: Option<Notice>,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    type Loaded = (
        Delivery,
        Vec<Attempt>,
        String,
        Option<String>,
        Vec<DeliveryRow>,
    );
    let loaded = blocking(h, move |h| -> Result<Loaded, ServiceError> {
        let (d, attempts) = h.get_delivery(&caller, &id)?;
        let (envelope, siblings) = match h.get_event(&caller, &d.event_id) {
            Ok((e, ds)) => (pretty(&e.body), ds),
            Err(ServiceError::NotFound(_)) => (String::new(), Vec::new()),
            Err(e) => return Err(e),
        };
        let url = h
            .get_endpoint(&caller, &d.endpoint_id.to_string())
            .ok()
            .map(|e| e.url);
        let others: Vec<Delivery> = siblings.into_iter().filter(|o| o.id != d.id).collect();
        let endpoints: Vec<_> = others
            .iter()
            .filter_map(|o| h.get_endpoint(&caller, &o.endpoint_id.to_string()).ok())
            .collect();
        let others = rows_of(&others, &endpoints);
        Ok((d, attempts, envelope, url, others))
    })
    .await?;
    let (d, attempts, envelope, endpoint_url, others) = loaded.map_err(|e| ctx.fail(req, e))?;
    let p = DeliveryPage {
        layout: ctx.layout,
        id: d.id.to_string(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        endpoint_id: d.endpoint_id.to_string(),
        endpoint_url,
        badge: Badge::delivery(&d),
        created: When::new(d.created_at),
        next_attempt: When::opt(d.next_attempt_at.filter(|_| !d.held)),
        last_error: d.last_error.clone(),
        envelope,
        attempts: attempts.iter().rev().map(AttemptRow::new).collect(),
        others,
        show_endpoint: true,
        notice,
        error,
    };
    Ok(page(req, status, p))
}

/// The envelope, indented for reading (the stored bytes are compact).
fn pretty(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// `POST /deliveries/{id}/resend`.
pub async fn resend(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "deliveries").await?;
    ctx.post(&req, payload).await?;
    let (caller, id) = (ctx.caller.clone(), id.into_inner());
    let i = id.clone();
    match blocking(&h, move |h| h.resend(&caller, &i)).await? {
        Ok(_) => Ok(Notice::DeliveryResent.redirect(&format!("/deliveries/{id}"))),
        Err(ServiceError::Invalid(f)) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            render(&req, &h, ctx, id, None, Some(f.message), status).await
        }
        Err(e) => Err(ctx.fail(&req, e)),
    }
}
