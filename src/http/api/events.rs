//! `/api/v1/events`: ingest (single and batch) and read.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::http::api::json::{AcceptedView, EventView};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{raw_json_body, ApiCaller};
use crate::http::ingest::ingest;
use crate::service::{Caller, Herald, IngestOutcome, Ingesting, MAX_BATCH};
use crate::wire::{self, WireError};

/// Deepest JSON nesting accepted in an event.
pub const MAX_DEPTH: usize = 64;
/// Request overhead allowed on top of the per-event data limit.
const ENVELOPE_SLACK: usize = 16 * 1024;
/// The largest batch request body: 1,000 events of 8 KiB each, far more
/// than webhook events usually are; at 17 bytes of memory per body byte it
/// is 136 MiB of the ingest memory budget, so the default 256 MiB parses
/// one such batch at a time (1 MiB batches: fifteen at once, seven of one
/// key).
const MAX_BATCH_BODY: usize = 8 * 1024 * 1024;

fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_depth(bytes, MAX_DEPTH)
}

fn parse_depth(bytes: &[u8], max_depth: usize) -> Result<Value, ApiError> {
    wire::parse(bytes, max_depth).map_err(|e| match e {
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
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    summary = "Ingest an event: answered once it and its deliveries are durable",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat with the same key within the idempotency window answers the first result.")),
    request_body = crate::http::openapi::NewEvent,
    responses((status = 202, description = "Accepted, with the deliveries fan-out made.", body = AcceptedView,
        headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same Idempotency-Key.")))))]
pub async fn create(api: ApiCaller, req: HttpRequest, body: web::Payload) -> ApiResult {
    let key = idempotency_key(&req)?;
    let limit = api.herald.settings().max_event_size + ENVELOPE_SLACK;
    let bytes = raw_json_body(&req, body, limit).await?;
    let value = parse(&bytes)?;
    let outcome = ingest(&api.herald, api.caller, vec![value], key).await?;
    Ok(accepted(&outcome, false))
}

/// `POST /api/v1/events/batch` `{events: [...]}` → 202 `{events: [{id, deliveries}]}`.
#[utoipa::path(post, path = "/api/v1/events/batch", tag = "events",
    summary = "Ingest up to 1,000 events in one durable write",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat with the same key within the idempotency window answers the first result.")),
    request_body = crate::http::openapi::NewEventBatch,
    responses((status = 202, description = "Accepted, one answer per event.", body = crate::http::openapi::BatchAcceptedView,
        headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same Idempotency-Key.")))))]
///
/// The body is split into one raw slice per event and each event parsed,
/// validated and canonicalised in turn, all on the blocking pool: the
/// async workers (and `/healthz`) never wait behind a parse, and a batch
/// costs a small multiple of its body, not the tree of all of it.
pub async fn create_batch(api: ApiCaller, req: HttpRequest, body: web::Payload) -> ApiResult {
    let key = idempotency_key(&req)?;
    // The memory the body will cost is reserved before it is read (by its
    // declared length; a body without one is costed at the cap), and
    // given back when this request ends.
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(MAX_BATCH_BODY, |n| n.min(MAX_BATCH_BODY));
    let _reserved = match api.herald.reserve_ingest(&api.caller, declared) {
        Ok(r) => r,
        Err(e) => {
            // Refused before its body was read: the body is read and
            // dropped chunk by chunk (no memory kept) so the client,
            // still sending, gets the 429/503 instead of a broken pipe.
            discard_body(body, MAX_BATCH_BODY).await;
            return Err(e.into());
        }
    };
    let bytes = raw_json_body(&req, body, MAX_BATCH_BODY).await?;
    let herald = api.herald.clone();
    let caller = api.caller;
    let ingesting = web::block(move || prepare_batch(&herald, &caller, &bytes, key.as_deref()))
        .await
        .map_err(ApiError::internal)??;
    let outcome = ingesting.outcome().await.map_err(ApiError::from)?;
    Ok(accepted(&outcome, true))
}

/// The batch body's shape: exactly `{"events": [...]}`, each event kept as
/// its raw slice of the body (borrowed, not copied).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Splits, parses and validates a batch one event at a time (each event's
/// tree is dropped once it is canonicalised) and hands it to the group
/// committer. Runs on the blocking pool.
fn prepare_batch(
    herald: &Herald,
    caller: &Caller,
    bytes: &[u8],
    key: Option<&str>,
) -> Result<Ingesting, ApiError> {
    let events = split_batch(bytes)?;
    let mut batch = herald.batch_ingest(caller, events.len(), key)?;
    for raw in events {
        batch.add(parse_event(raw.get().as_bytes())?)?;
    }
    Ok(herald.batch_start(batch))
}

/// The events of a batch body as raw slices, with today's answers: not
/// JSON is 400 `invalid_json`, another shape 422, too many events 422.
fn split_batch(bytes: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let events = match serde_json::from_slice::<BatchBody<'_>>(bytes) {
        Ok(b) => b.events,
        Err(e) if e.is_data() => {
            // A shape error may hide a syntax error further on: a body that
            // is not JSON at all is still 400 (checked without a tree).
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Err(e) if !e.is_data() => invalid_json(&e),
                    _ => batch_shape(),
                },
            );
        }
        Err(e) => return Err(invalid_json(&e)),
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
    Ok(events)
}

/// One event of a batch: it sits two levels deep (`{"events": [` … `]}`),
/// so it may nest [`MAX_DEPTH`] − 2 levels, as when the whole body was
/// parsed at once.
fn parse_event(bytes: &[u8]) -> Result<Value, ApiError> {
    parse_depth(bytes, MAX_DEPTH - 2).map_err(|mut e| {
        if e.code == "nesting_too_deep" {
            e.message = format!("the JSON nests deeper than {MAX_DEPTH} levels");
        }
        e
    })
}

fn invalid_json(e: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("the body is not valid JSON: {e}"),
    )
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
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    summary = "Read an event: its envelope and deliveries",
    params(("id" = String, Path, description = "The event's public id.")),
    responses((status = 200, description = "The event.", body = EventView)))]
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let (event, deliveries) = api.call(move |h, c| h.get_event(c, &id)).await?;
    Ok(HttpResponse::Ok().json(EventView::new(&event, &deliveries)))
}

/// Reads and drops a body, at most `limit` bytes of it (a longer one ends
/// the connection, as before), holding one chunk at a time.
async fn discard_body(mut body: web::Payload, limit: usize) {
    use futures_core::Stream;
    let mut seen = 0usize;
    while let Some(Ok(chunk)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_next(cx)).await
    {
        seen += chunk.len();
        if seen > limit {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            r#"{{"events":[{{"event":"order.created","data":{{"object":{}1{}}}}}]}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    }

    /// The body's depth is what counts, as when it was parsed whole:
    /// `{"events":[{"data":{"object":[` is 5 levels.
    #[test]
    fn a_batch_event_may_nest_as_deep_as_the_whole_body_could() {
        let ok = nested(MAX_DEPTH - 4);
        assert!(parse(ok.as_bytes()).is_ok(), "the whole body parses");
        let events = split_batch(ok.as_bytes()).expect("split");
        assert!(parse_event(events[0].get().as_bytes()).is_ok());
        let deep = nested(MAX_DEPTH - 3);
        assert_eq!(
            parse(deep.as_bytes()).expect_err("too deep whole").code,
            "nesting_too_deep"
        );
        let events = split_batch(deep.as_bytes()).expect("split");
        let e = parse_event(events[0].get().as_bytes()).expect_err("too deep");
        assert_eq!(e.code, "nesting_too_deep");
        assert_eq!(
            e.message,
            format!("the JSON nests deeper than {MAX_DEPTH} levels")
        );
        // Far deeper than serde_json's own recursion limit still splits.
        let very = nested(10_000);
        let events = split_batch(very.as_bytes()).expect("split");
        assert_eq!(
            parse_event(events[0].get().as_bytes())
                .expect_err("deep")
                .code,
            "nesting_too_deep"
        );
    }

    #[test]
    fn a_batch_body_keeps_its_answers() {
        let code = |b: &str| {
            split_batch(b.as_bytes())
                .err()
                .map(|e| (e.status.as_u16(), e.code))
        };
        assert_eq!(code(r#"{"events":[{}]}"#), None);
        assert_eq!(code(r#"{"events":[1,2"#), Some((400, "invalid_json")));
        assert_eq!(code(r#"{"x": [1,"#), Some((400, "invalid_json")));
        assert_eq!(code(r#"{"items":[]}"#), Some((422, "validation_failed")));
        assert_eq!(code(r#"{"events":5}"#), Some((422, "validation_failed")));
        assert_eq!(code(r#"[1]"#), Some((422, "validation_failed")));
        assert_eq!(code(r#"{"events":[]}"#), Some((422, "validation_failed")));
    }
}
