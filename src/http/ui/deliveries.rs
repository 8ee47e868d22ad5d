//! `GET /deliveries`: the delivery log with filters (endpoint, event type,
//! status, time range) and cursor pagination, newest first.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::error::UiError;
use super::form::Query;
use super::layout::{page, redirect, Layout};
use super::session::{blocking, Ctx};
use super::view::{catalog_of, event_names, parse_form_time, Badge, Errors, When};
use crate::domain::delivery::Delivery;
use crate::domain::endpoint::Endpoint;
use crate::service::{Herald, LogQuery, PageRequest, ServiceError};

/// Rows per page.
const PAGE_ROWS: &str = "25";

/// One delivery in a table.
pub struct DeliveryRow {
    /// `dlv_…`.
    pub id: String,
    /// Its event's type.
    pub event_type: String,
    /// Its event's public id.
    pub event_id: String,
    /// Where it goes.
    pub endpoint_url: String,
    /// Its status.
    pub badge: Badge,
    /// Attempts so far.
    pub attempts: u32,
    /// The last HTTP status.
    pub last_status: Option<u16>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was made.
    pub created: When,
    /// When its next attempt is due (pending or retrying, not held).
    pub next: Option<When>,
}

impl DeliveryRow {
    /// The CSS class of the last HTTP status (4xx and 5xx are errors).
    pub fn status_tone(&self) -> &'static str {
        self.last_status.map_or("", super::view::http_tone)
    }
}

/// Table rows for deliveries, with their endpoints' URLs.
pub fn rows_of(items: &[Delivery], endpoints: &[Endpoint]) -> Vec<DeliveryRow> {
    let urls: HashMap<_, _> = endpoints.iter().map(|e| (e.id, e.url.as_str())).collect();
    items
        .iter()
        .map(|d| DeliveryRow {
            id: d.id.to_string(),
            event_type: d.event_type.clone(),
            event_id: d.event_id.clone(),
            endpoint_url: urls
                .get(&d.endpoint_id)
                .map_or_else(|| "(deleted endpoint)".to_string(), |u| u.to_string()),
            badge: Badge::delivery(d),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            created: When::new(d.created_at),
            next: When::opt(d.next_attempt_at.filter(|_| !d.held)),
        })
        .collect()
}

/// An endpoint in the filter select.
pub struct EndpointChoice {
    id: String,
    url: String,
    selected: bool,
}

/// The log page.
#[derive(Template, WebTemplate)]
#[template(path = "deliveries.html")]
struct LogPage {
    layout: Layout,
    deliveries: Vec<DeliveryRow>,
    endpoints: Vec<EndpointChoice>,
    event_names: Vec<String>,
    q: Filters,
    errors: Errors,
    next_href: Option<String>,
    newest_href: Option<String>,
    filtered: bool,
    show_endpoint: bool,
}

/// `GET /deliveries` query: the filters as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    /// `ep_…`.
    #[serde(default)]
    pub webhook_id: String,
    /// An event type.
    #[serde(default)]
    pub event: String,
    /// `pending`, `retrying`, `held`, `succeeded`, `failed`.
    #[serde(default)]
    pub status: String,
    /// A delivery id, event id or client id to go straight to.
    #[serde(default)]
    pub find: String,
    /// `datetime-local`, UTC.
    #[serde(default)]
    pub since: String,
    /// `datetime-local`, UTC.
    #[serde(default)]
    pub until: String,
    /// Page cursor.
    #[serde(default)]
    pub cursor: String,
}

impl Filters {
    fn query_string(&self, cursor: &str) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("webhook_id", &self.webhook_id),
            ("event", &self.event),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("cursor", cursor);
        s.finish()
    }
}

/// `GET /deliveries`.
pub async fn list(
    req: HttpRequest,
    Query(q): Query<Filters>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "deliveries").await?;
    let mut errors = Errors::default();
    let mut not_found = false;
    let mut find_error = None;
    if !q.find.trim().is_empty() && ctx.layout.tenant.is_some() {
        let (caller, text) = (ctx.caller.clone(), q.find.clone());
        match blocking(&h, move |h| h.find_delivery(&caller, &text)).await? {
            Ok(Some(d)) => return Ok(redirect(&format!("/deliveries/{}", d.id))),
            Ok(None) => {
                find_error = Some(
                    "that event has no delivery: no endpoint was subscribed to it when it came",
                )
            }
            Err(ServiceError::NotFound(_)) => {
                not_found = true;
                find_error = Some(
                    "no delivery or event has that id in this tenant (ids are exact: dlv_…, evt_… or your own event id)",
                );
            }
            Err(e) => return Err(ctx.fail(&req, e)),
        }
    }
    let mut time = |name: &str, v: &str| -> Option<String> {
        if v.trim().is_empty() {
            return None;
        }
        match parse_form_time(v) {
            Some(t) => Some(t.to_rfc3339_millis()),
            None => {
                errors.add(name, "enter a date and time, e.g. 2024-01-15T10:30");
                None
            }
        }
    };
    let log = LogQuery {
        webhook_id: Some(q.webhook_id.clone()),
        event: Some(q.event.clone()),
        status: Some(q.status.clone()),
        since: time("since", &q.since),
        until: time("until", &q.until),
        limit: Some(PAGE_ROWS.into()),
        cursor: Some(q.cursor.clone()),
    };
    let filtered = [&q.webhook_id, &q.event, &q.status, &q.since, &q.until]
        .iter()
        .any(|v| !v.is_empty());
    let mut page_out = LogPage {
        layout: ctx.layout.clone(),
        deliveries: Vec::new(),
        endpoints: Vec::new(),
        event_names: event_names(catalog_of(&h).catalog()),
        q: q.clone(),
        errors: Errors::default(),
        next_href: None,
        newest_href: (!q.cursor.is_empty()).then(|| format!("/deliveries?{}", q.query_string(""))),
        filtered,
        show_endpoint: true,
    };
    if ctx.layout.tenant.is_none() {
        return Ok(page(&req, StatusCode::OK, page_out));
    }
    let caller = ctx.caller.clone();
    let bad_input = !errors.is_empty();
    if let Some(m) = find_error {
        errors.add("find", m);
    }
    let loaded = blocking(&h, move |h| {
        let eps = h
            .list_endpoints(&caller, &PageRequest::parse(Some("100"), None)?)?
            .items;
        let page = if bad_input {
            Ok(Default::default())
        } else {
            h.list_deliveries(&caller, &log)
        };
        Ok::<_, ServiceError>((eps, page))
    })
    .await?;
    let (eps, log_page) = loaded.map_err(|e| ctx.fail(&req, e))?;
    let mut status = if not_found {
        StatusCode::NOT_FOUND
    } else if bad_input || find_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    match log_page {
        Ok(p) => {
            page_out.deliveries = rows_of(&p.items, &eps);
            page_out.next_href = p.next.map(|id| {
                format!(
                    "/deliveries?{}",
                    q.query_string(&URL_SAFE_NO_PAD.encode(id.to_bytes()))
                )
            });
        }
        Err(ServiceError::BadQuery { param, message }) => {
            let field = match param {
                "webhook_id" | "event" | "status" | "since" | "until" | "cursor" => param,
                _ => "filters",
            };
            errors.add(field, message);
            status = StatusCode::UNPROCESSABLE_ENTITY;
        }
        Err(e) => return Err(ctx.fail(&req, e)),
    }
    page_out.endpoints = eps
        .iter()
        .map(|e| EndpointChoice {
            id: e.id.to_string(),
            url: e.url.clone(),
            selected: e.id.to_string() == q.webhook_id,
        })
        .collect();
    page_out.errors = errors;
    Ok(page(&req, status, page_out))
}
