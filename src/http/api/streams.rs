//! `/api/v1/webhooks/{id}/stream`: a stream endpoint's deliveries, long
//! polled by its client (`herald listen`), and their acknowledgements.
//!
//! The wait is the edge's: a poll that finds nothing sleeps on the
//! runtime's timer (no thread held) and looks at the store again every
//! [`stream::LOOK_EVERY_MS`], up to the bounded `wait`; each look is one
//! blocking service call on the blocking pool. The store is the queue, so
//! a delivery fanned out or come due on another node is seen at the next
//! look.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::domain::stream;
use crate::http::api::json::{AckView, DeliveryView, OfferView, StreamView};
use crate::http::error::ApiResult;
use crate::http::extract::{call, ApiCaller, Json};
use crate::service::StreamAck;

/// `GET /api/v1/webhooks/{id}/stream` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Seconds to wait for a delivery when none is due (0–30, default 30).
    pub wait: Option<u64>,
    /// The most deliveries to hand out (1–20, default 20).
    pub limit: Option<usize>,
}

/// `GET /api/v1/webhooks/{id}/stream` → the due deliveries, after waiting
/// up to `wait` seconds for one.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/stream", tag = "webhooks",
    summary = "Long-poll a stream endpoint's due deliveries (its tenant's key only)",
    params(("id" = String, Path, description = "The stream endpoint's id, `ep_…`."), StreamQuery),
    responses((status = 200, description = "The deliveries handed out (maybe none), each to be acknowledged before its `ack_by`.", body = StreamView)))]
pub async fn poll(api: ApiCaller, id: web::Path<String>, q: web::Query<StreamQuery>) -> ApiResult {
    let limit = stream::bounded_offer(q.limit);
    let looks = stream::bounded_wait(q.wait) * 1000 / stream::LOOK_EVERY_MS;
    let id = id.into_inner();
    let mut look = 0;
    loop {
        let (caller, id) = (api.caller.clone(), id.clone());
        let offers = call(&api.herald, move |h| h.poll_stream(&caller, &id, limit)).await?;
        if !offers.is_empty() || look >= looks {
            let deliveries = offers.iter().map(OfferView::new).collect();
            return Ok(HttpResponse::Ok().json(StreamView { deliveries }));
        }
        look += 1;
        actix_web::rt::time::sleep(Duration::from_millis(stream::LOOK_EVERY_MS)).await;
    }
}

/// `POST /api/v1/webhooks/{id}/stream/{delivery_id}/ack` → the attempt's
/// verdict and the delivery after it.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/stream/{delivery_id}/ack", tag = "webhooks",
    summary = "Acknowledge a streamed delivery with the local receiver's answer",
    params(
        ("id" = String, Path, description = "The stream endpoint's id, `ep_…`."),
        ("delivery_id" = String, Path, description = "The delivery, `dlv_…`."),
    ),
    request_body = StreamAck,
    responses((status = 200, description = "Recorded as an attempt: a 2xx succeeds, a retryable answer schedules the retry.", body = AckView)))]
pub async fn ack(
    api: ApiCaller,
    path: web::Path<(String, String)>,
    Json(body): Json<StreamAck>,
) -> ApiResult {
    let (id, delivery) = path.into_inner();
    let acked = api
        .call(move |h, c| h.ack_stream(c, &id, &delivery, body))
        .await?;
    Ok(HttpResponse::Ok().json(AckView {
        verdict: acked.attempt.verdict.as_str(),
        delivery: DeliveryView::new(&acked.delivery),
    }))
}
