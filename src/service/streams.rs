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
            if stream::offer_unanswered(d.last_error.as_deref()) {
                // Its window passed without an answer: that attempt failed,
                // and the schedule says when it is offered again (if ever).
                self.missed_ack(&ep, &event, &d, now)?;
                continue;
            }
            let window = stream::ack_window_ms(&self.settings.retry_schedule, d.attempts + 1);
            let ack_by = now.plus_millis(window);
            let after = Delivery {
                held: false,
                next_attempt_at: Some(ack_by),
                last_error: Some(stream::AWAITING_ACK.to_string()),
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

    /// Records the attempt whose acknowledgement never came, as a
    /// timeout would be for a URL endpoint: the retry schedule decides the
    /// next offer, or the delivery fails once it is exhausted. Guarded: an
    /// acknowledgement (or another poll) that wrote first wins, and this
    /// records nothing.
    fn missed_ack(&self, ep: &Endpoint, event: &Event, d: &Delivery, now: Timestamp) -> Result<()> {
        let number = d.attempts + 1;
        let answer = Answer {
            status: None,
            error_kind: Some(stream::UNACKNOWLEDGED),
            retry_after: None,
            control: None,
        };
        let decided = outcome::outcome(&answer, number, &self.settings.retry_schedule, now);
        // Parked or not, it now waits for the schedule (the poll only
        // gets here for an active endpoint).
        let after = Delivery {
            held: false,
            ..decided.apply(d, number, &answer)
        };
        let window = stream::ack_window_ms(&self.settings.retry_schedule, number);
        // The offer was made a window before it came due again (a parked
        // one: at least that long ago).
        let offered_at = d
            .next_attempt_at
            .map_or(now, |due| due.plus_millis(-window))
            .min(now);
        let attempt = Attempt {
            id: AttemptId::new(now),
            delivery_id: d.id,
            number,
            started_at: offered_at,
            url: ep.url.clone(),
            request_headers: signed(ep, event, offered_at.as_secs())?,
            status: None,
            response_headers: Vec::new(),
            response_body: Vec::new(),
            response_truncated: false,
            latency_ms: (now.as_millis() - offered_at.as_millis()).clamp(0, u32::MAX as i64) as u32,
            error_kind: Some(stream::UNACKNOWLEDGED.to_string()),
            error_message: Some(format!(
                "the stream client did not acknowledge it within {} s",
                window / 1000
            )),
            verdict: decided.verdict,
            next_attempt_at: decided.next_attempt_at,
        };
        match self.store.record_attempt_if(&after, &attempt, d).wait() {
            Ok(_) => {
                crate::telemetry::attempt(attempt.verdict, after.state, attempt.latency_ms, false);
                Ok(())
            }
            Err(StoreError::Conflict(Conflict::Changed)) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
        // Parked for its client (a worker met it due) is not held: after
        // an answer it follows the schedule. Only a disabled endpoint
        // holds it.
        after.held = after.held && !ep.active;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::apikey::{hash_key, ApiKey, KeyScope};
    use crate::domain::ids::KeyId;
    use crate::domain::tenant::Tenant;
    use crate::service::endpoints::NewEndpoint;
    use crate::service::Settings;

    const MIN: i64 = 60_000;

    /// A service on a manual clock, retry schedule 1 min, 1 min (three
    /// attempts), a tenant key and a stream endpoint with one delivery.
    fn stream() -> (Herald, Arc<ManualClock>, Caller, String, DeliveryId) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let settings = Settings {
            retry_schedule: vec![Duration::from_secs(60); 2],
            max_event_size: 256 * 1024,
            ..Settings::offline()
        };
        let h = Herald::new(crate::store::temporary(), clock.clone(), settings);
        let now = clock.now();
        h.store
            .insert_tenant(&Tenant {
                id: "acme".into(),
                name: "Acme".into(),
                suspended: false,
                created_at: now,
                updated_at: now,
                metadata: Default::default(),
            })
            .unwrap();
        h.store
            .insert_key(&ApiKey {
                id: KeyId::from_bytes([2; 16]),
                name: "acme".into(),
                scope: KeyScope::Tenant("acme".into()),
                hash: hash_key("htk_test"),
                hint: "htk…".into(),
                created_at: now,
                revoked_at: None,
            })
            .unwrap();
        let caller = Caller::Api {
            bearer: Some("htk_test".into()),
            tenant: None,
        };
        let ep = h
            .create_endpoint(
                &caller,
                NewEndpoint {
                    kind: Some("stream".into()),
                    events: vec!["*".into()],
                    ..NewEndpoint::default()
                },
            )
            .unwrap();
        let done = h
            .ingest(
                &caller,
                vec![json!({"event": "payment.completed", "data": {"object": {"id": "pay_1"}}})],
                None,
            )
            .unwrap();
        let event = &done.events[0].event;
        let delivery = DeliveryId::from_u128(event.deliveries[0].0);
        (h, clock, caller, ep.id.to_string(), delivery)
    }

    fn poll(h: &Herald, caller: &Caller, ep: &str) -> Vec<DeliveryId> {
        h.poll_stream(caller, ep, 10)
            .unwrap()
            .into_iter()
            .map(|o| o.delivery.id)
            .collect()
    }

    /// An offer never acknowledged is a failed attempt once its window
    /// has passed, recorded by the next poll: the schedule then decides the
    /// next offer, and the delivery fails once it is exhausted — as a URL
    /// endpoint that times out would. An answer that comes late, before a
    /// poll saw the miss, still counts as the attempt.
    #[test]
    fn an_unacknowledged_offer_is_a_failed_attempt_and_the_schedule_runs_out() {
        let (h, clock, caller, ep, d) = stream();
        let offers = h.poll_stream(&caller, &ep, 10).unwrap();
        assert_eq!(offers.len(), 1);
        let first = &offers[0];
        assert_eq!(first.delivery.id, d);
        let stored = h.store.delivery(d).unwrap().unwrap();
        assert_eq!(stored.last_error.as_deref(), Some(stream::AWAITING_ACK));
        // Within the window (the schedule's first step): not again.
        clock.advance_ms(MIN - 1);
        assert!(poll(&h, &caller, &ep).is_empty());
        assert!(h.store.attempts(d).unwrap().is_empty());
        // Past it: attempt 1 failed, unacknowledged; the next offer is a
        // step later, so nothing now.
        clock.advance_ms(1);
        assert!(poll(&h, &caller, &ep).is_empty());
        let after = h.store.delivery(d).unwrap().unwrap();
        assert_eq!((after.state, after.attempts), (DeliveryState::Pending, 1));
        assert_eq!(after.last_error.as_deref(), Some(stream::UNACKNOWLEDGED));
        let a = h.store.attempts(d).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].error_kind.as_deref(), Some(stream::UNACKNOWLEDGED));
        assert_eq!(
            a[0].started_at,
            first.delivery.next_attempt_at.unwrap().plus_millis(-MIN)
        );
        assert_eq!(
            h.store
                .endpoint_health(after.endpoint_id)
                .unwrap()
                .consecutive_failures,
            1
        );
        // A poll again at the same moment records nothing more.
        assert!(poll(&h, &caller, &ep).is_empty());
        assert_eq!(h.store.attempts(d).unwrap().len(), 1);

        // Offered again a step later; answered late (after its window, but
        // before a poll looked): that answer is attempt 2.
        clock.advance_ms(MIN);
        let again = h.poll_stream(&caller, &ep, 10).unwrap();
        assert_eq!(again.len(), 1);
        clock.advance_ms(MIN + 5_000);
        let acked = h
            .ack_stream(
                &caller,
                &ep,
                &d.to_string(),
                StreamAck {
                    status: Some(500),
                    error: None,
                    latency_ms: 3,
                    offered_at: again[0].offered_at,
                },
            )
            .unwrap();
        assert_eq!(acked.attempt.number, 2);
        assert_eq!(acked.delivery.state, DeliveryState::Pending);
        assert!(
            poll(&h, &caller, &ep).is_empty(),
            "due a step after the answer"
        );
        assert_eq!(h.store.attempts(d).unwrap().len(), 2);

        // Attempt 3, the last, is never answered: the delivery fails.
        clock.advance_ms(MIN);
        assert_eq!(poll(&h, &caller, &ep), vec![d]);
        clock.advance_ms(MIN);
        assert!(poll(&h, &caller, &ep).is_empty());
        let ended = h.store.delivery(d).unwrap().unwrap();
        assert_eq!((ended.state, ended.attempts), (DeliveryState::Failed, 3));
        let a = h.store.attempts(d).unwrap();
        let kinds: Vec<_> = a
            .iter()
            .map(|a| (a.number, a.status, a.error_kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, None, Some(stream::UNACKNOWLEDGED.to_string())),
                (2, Some(500), None),
                (3, None, Some(stream::UNACKNOWLEDGED.to_string())),
            ]
        );
        // Nothing is offered any more, and an answer now is refused.
        clock.advance_ms(10 * MIN);
        assert!(poll(&h, &caller, &ep).is_empty());
        let late = h.ack_stream(
            &caller,
            &ep,
            &d.to_string(),
            StreamAck {
                status: Some(200),
                error: None,
                latency_ms: 3,
                offered_at: again[0].offered_at,
            },
        );
        assert!(
            matches!(
                late,
                Err(ServiceError::Conflict {
                    code: "delivery_ended",
                    ..
                })
            ),
            "{late:?}"
        );
    }
}
