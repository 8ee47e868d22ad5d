//! Stream endpoints: deliveries handed to a polling client (`herald
//! listen`) instead of POSTed to a URL.
//!
//! Everything goes through the store, so any node sharing it can serve a
//! poll or an acknowledgement: a poll reads the endpoint's due deliveries
//! ([`crate::store::DeliveryStore::stream_ready`]: due, or parked in the
//! held index by a worker that met it) and moves each one's due
//! time to the end of its acknowledgement window
//! ([`stream::ack_window_ms`]) before answering, so a delivery that is
//! never acknowledged comes due again — its retry. An acknowledgement is
//! one attempt, judged by [`outcome::outcome`] like an HTTP answer and
//! recorded with the same write (health, statistics, the log). Workers
//! skip stream endpoints' deliveries; nothing of this is in memory.

use serde::Deserialize;

use super::{Caller, Herald, Principal, Result, ServiceError};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::ids::{AttemptId, DeliveryId};
use crate::domain::outcome::{self, Answer};
use crate::domain::stream;
use crate::domain::time::Timestamp;
use crate::store::{modify_endpoint, Conflict, StoreError};
use crate::wire::headers;

/// One delivery handed to a stream client: what an HTTP endpoint would
/// have been sent for this attempt.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The delivery as stored after the offer (due again at its window's
    /// end).
    pub delivery: Delivery,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// The exact request headers, in order, signed for `offered_at`.
    pub headers: Vec<(String, String)>,
    /// The signature timestamp (unix seconds); the acknowledgement echoes
    /// it.
    pub offered_at: i64,
    /// Until when an acknowledgement is awaited before it is offered
    /// again.
    pub ack_by: Timestamp,
}

/// `POST /api/v1/webhooks/{id}/stream/{delivery_id}/ack`: what the local
/// receiver answered.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamAck {
    /// The local receiver's HTTP status; absent when it did not answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// Why it did not answer (`connect`, `timeout`, …): a short lowercase
    /// kind.
    #[serde(default)]
    pub error: Option<String>,
    /// How long the local receiver took, in milliseconds.
    #[serde(default)]
    pub latency_ms: u32,
    /// The offer's `offered_at`, as it was given.
    pub offered_at: i64,
}

/// What an acknowledgement decided.
#[derive(Debug, Clone)]
pub struct Acked {
    /// The delivery after it.
    pub delivery: Delivery,
    /// The attempt recorded.
    pub attempt: Attempt,
}

impl Herald {
    /// The caller's stream endpoint `id`: only a key of the endpoint's own
    /// tenant reaches it (a platform key acting for the tenant does not).
    fn stream_of(&self, caller: &Caller, id: &str) -> Result<Endpoint> {
        let scope = self.tenant_scope(caller)?;
        if !matches!(scope.principal, Principal::Tenant { .. }) {
            return Err(ServiceError::Forbidden(
                "a stream is read with its tenant's own key".into(),
            ));
        }
        let ep = self.endpoint_of(&scope.tenant_id, id)?;
        if !ep.is_stream() {
            return Err(ServiceError::Conflict {
                code: "not_a_stream",
                message: format!(
                    "endpoint {} delivers to a URL; only stream endpoints are polled",
                    ep.id
                ),
            });
        }
        Ok(ep)
    }

    /// One look at stream `id`: notes the poll (at most every
    /// [`stream::SEEN_EVERY_MS`]) and hands out up to `limit` due
    /// deliveries, each moved to the end of its acknowledgement window
    /// durably before this returns. Empty while the endpoint is disabled,
    /// its tenant suspended or delivery paused.
    pub fn poll_stream(&self, caller: &Caller, id: &str, limit: usize) -> Result<Vec<Offer>> {
        let ep = self.stream_of(caller, id)?;
        let now = self.clock.now();
        self.note_stream_poll(&ep, now)?;
        let suspended = self
            .store
            .tenant(&ep.tenant_id)?
            .is_some_and(|t| t.suspended);
        if !ep.active || suspended || self.dispatch.paused() {
            return Ok(Vec::new());
        }
        let due = self
            .store
            .stream_ready(ep.id, now, stream::bounded_offer(Some(limit)))?;
        let mut offers = Vec::with_capacity(due.len());
        let mut tickets = Vec::with_capacity(due.len());
        for d in due {
            let Some(event) = self.store.event(d.event_key)? else {
                continue; // purged meanwhile: nothing to hand out
            };
            let window = stream::ack_window_ms(&self.settings.retry_schedule, d.attempts + 1);
            let ack_by = now.plus_millis(window);
            let after = Delivery {
                held: false,
                next_attempt_at: Some(ack_by),
                ..d.clone()
            };
            // Guarded: a worker parking it, or a poll on another node or
            // connection, that wrote first makes this one not hand it out.
            tickets.push(self.store.update_delivery_if(&after, &d));
            offers.push(Offer {
                headers: signed(&ep, &event, now.as_secs())?,
                body: event.body,
                delivery: after,
                offered_at: now.as_secs(),
                ack_by,
            });
        }
        // Handed out only once the new due times are durable, so a crash
        // after the answer cannot leave one due now on another node too.
        let mut kept = Vec::with_capacity(offers.len());
        for (offer, ticket) in offers.into_iter().zip(tickets) {
            match ticket.wait() {
                Ok(()) => kept.push(offer),
                // Purged, or moved by another writer since the read.
                Err(StoreError::Conflict(Conflict::Changed)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(kept)
    }

    /// Writes the stream's last poll if the last write is old enough.
    fn note_stream_poll(&self, ep: &Endpoint, now: Timestamp) -> Result<()> {
        if !stream::seen_write_due(ep.stream_seen_at, now) {
            return Ok(());
        }
        let written = modify_endpoint(self.store.as_ref(), ep.id, |before| {
            if !stream::seen_write_due(before.stream_seen_at, now) {
                return Ok::<_, ServiceError>(None); // another poll wrote it
            }
            // Not a change of the tenant's: `updated_at` stays.
            Ok(Some(Endpoint {
                stream_seen_at: Some(now),
                ..before.clone()
            }))
        });
        match written {
            Ok(_) => Ok(()),
            Err(crate::store::ModifyError::Refused(e)) => Err(e),
            Err(crate::store::ModifyError::Store(e, _)) => Err(e.into()),
        }
    }

    /// Records the stream client's acknowledgement of delivery
    /// `delivery_id` as its next attempt: a 2xx ends it, a retryable
    /// answer schedules the retry, a permanent one fails it — the same
    /// rules as an HTTP answer.
    pub fn ack_stream(
        &self,
        caller: &Caller,
        id: &str,
        delivery_id: &str,
        ack: StreamAck,
    ) -> Result<Acked> {
        let ep = self.stream_of(caller, id)?;
        let now = self.clock.now();
        stream::check_ack(
            ack.status,
            ack.error.as_deref(),
            ack.latency_ms,
            ack.offered_at,
            now,
        )
        .map_err(|e| {
            let field = match e {
                stream::AckError::Empty | stream::AckError::Status(_) => "status",
                stream::AckError::ErrorKind => "error",
                stream::AckError::Latency => "latency_ms",
                stream::AckError::OfferedAt => "offered_at",
            };
            ServiceError::invalid(field, e.to_string())
        })?;
        let did: DeliveryId = delivery_id
            .parse()
            .map_err(|_| ServiceError::NotFound("delivery"))?;
        let d = self
            .store
            .delivery(did)?
            .filter(|d| d.endpoint_id == ep.id)
            .ok_or(ServiceError::NotFound("delivery"))?;
        if d.state != DeliveryState::Pending {
            return Err(ServiceError::Conflict {
                code: "delivery_ended",
                message: format!(
                    "delivery {} already {}; nothing to acknowledge",
                    d.id,
                    d.state.as_str()
                ),
            });
        }
        let Some(event) = self.store.event(d.event_key)? else {
            return Err(ServiceError::NotFound("delivery"));
        };
        let number = d.attempts + 1;
        let answer = Answer {
            status: ack.status,
            error_kind: if ack.status.is_some() {
                None
            } else {
                ack.error.as_deref()
            },
            retry_after: None,
            control: None,
        };
        let decided = outcome::outcome(&answer, number, &self.settings.retry_schedule, now);
        let mut after = decided.apply(&d, number, &answer);
        if after.held {
            // Disabled while in flight: it waits, out of the due index.
            after.next_attempt_at = None;
        }
        let started_at = now.plus_millis(-(ack.latency_ms as i64));
        let attempt = Attempt {
            id: AttemptId::new(now),
            delivery_id: d.id,
            number,
            started_at,
            url: ep.url.clone(),
            request_headers: signed(&ep, &event, ack.offered_at)?,
            status: ack.status,
            response_headers: Vec::new(),
            response_body: Vec::new(),
            response_truncated: false,
            latency_ms: ack.latency_ms,
            error_kind: answer.error_kind.map(str::to_string),
            error_message: answer
                .error_kind
                .map(|k| format!("the stream client's local receiver: {k}")),
            verdict: decided.verdict,
            next_attempt_at: decided.next_attempt_at,
        };
        self.store.record_attempt(&after, &attempt).wait()?;
        crate::telemetry::attempt(
            attempt.verdict,
            after.state,
            attempt.latency_ms,
            attempt.status.is_some(),
        );
        Ok(Acked {
            delivery: after,
            attempt,
        })
    }

    /// Whether a client polls stream endpoint `ep` now (from its last
    /// poll as stored: right on every node sharing the store); `None` for
    /// a URL endpoint.
    pub fn stream_connected(&self, ep: &Endpoint) -> Option<bool> {
        ep.is_stream()
            .then(|| stream::connected(ep.stream_seen_at, self.clock.now()))
    }
}

/// The headers of an attempt signed at `timestamp` (unix seconds), as a
/// worker would send them ([`headers::delivery`]).
fn signed(ep: &Endpoint, event: &Event, timestamp: i64) -> Result<Vec<(String, String)>> {
    let at = Timestamp::from_millis(timestamp.saturating_mul(1000));
    let secrets: Vec<&str> = ep.live_secrets(at).collect();
    let list = headers::delivery(&secrets, event, timestamp, &ep.headers, ep.svix_headers)
        .map_err(|e| {
            ServiceError::from(StoreError::Corrupt {
                kind: "endpoint secret",
                reason: e.to_string(),
            })
        })?;
    Ok(list.into_iter().map(|(k, v)| (k.into_owned(), v)).collect())
}
