//! `/api/v1/events`: ingest (single and batch) and read.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::http::api::json::{AcceptedView, EventView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{raw_json_body, ApiCaller};
use crate::http::ingest::ingest;
use crate::service::{IngestOutcome, MAX_BATCH};
use crate::wire::{self, WireError};

/// Deepest JSON nesting accepted in an event.
pub const MAX_DEPTH: usize = 64;
/// Request overhead allowed on top of the per-event data limit.
const ENVELOPE_SLACK: usize = 16 * 1024;
/// The largest batch request body.
const MAX_BATCH_BODY: usize = 32 * 1024 * 1024;

fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    wire::parse(bytes, MAX_DEPTH).map_err(|e| match e {
        WireError::TooDeep { max } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "nesting_too_deep",
            format!("the JSON nests deeper than {max} levels"),
        ),
        WireError::Syntax(m) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {m}"),
        ),
    })
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim().to_string())).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_header",
                "Idempotency-Key must be visible ASCII",
            )
        }),
    }
}

fn accepted(outcome: &IngestOutcome, batch: bool) -> HttpResponse {
    let mut res = HttpResponse::Accepted();
    if outcome.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    let views: Vec<_> = outcome
        .events
        .iter()
        .map(|e| AcceptedView::new(&e.event))
        .collect();
    if batch {
        res.json(serde_json::json!({ "events": views }))
    } else {
        match views.into_iter().next() {
            Some(v) => res.json(v),
            None => res.finish(),
        }
    }
}

/// `POST /api/v1/events` → 202 `{id, deliveries}`, once durable.
pub async fn create(api: ApiCaller, req: HttpRequest, body: web::Payload) -> ApiResult {
    let key = idempotency_key(&req)?;
    let limit = api.herald.settings().max_event_size + ENVELOPE_SLACK;
    let bytes = raw_json_body(&req, body, limit).await?;
    let value = parse(&bytes)?;
    let outcome = ingest(&api.herald, api.caller, vec![value], key).await?;
    Ok(accepted(&outcome, false))
}

/// `POST /api/v1/events/batch` `{events: [...]}` → 202 `{events: [{id, deliveries}]}`.
pub async fn create_batch(api: ApiCaller, req: HttpRequest, body: web::Payload) -> ApiResult {
    let key = idempotency_key(&req)?;
    let bytes = raw_json_body(&req, body, MAX_BATCH_BODY).await?;
    let value = parse(&bytes)?;
    let events = match value {
        Value::Object(mut o) if o.len() == 1 => match o.remove("events") {
            Some(Value::Array(a)) => a,
            _ => return Err(batch_shape()),
        },
        _ => return Err(batch_shape()),
    };
    if events.is_empty() || events.len() > MAX_BATCH {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("events: send 1 to {MAX_BATCH} events"),
        );
        e.field = Some("events");
        return Err(e);
    }
    let outcome = ingest(&api.herald, api.caller, events, key).await?;
    Ok(accepted(&outcome, true))
}

fn batch_shape() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "the body must be {\"events\": [ ... ]}",
    );
    e.field = Some("events");
    e
}

/// `GET /api/v1/events/{id}`.
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let (event, deliveries) = api.call(move |h, c| h.get_event(c, &id)).await?;
    Ok(HttpResponse::Ok().json(EventView::new(&event, &deliveries)))
}
