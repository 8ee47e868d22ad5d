//! Deliveries (an event bound for one endpoint) and their attempts.

use serde::{Deserialize, Serialize};

use super::ids::{AttemptId, DeliveryId, EndpointId};
use super::time::Timestamp;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Waiting for its next attempt (or held: endpoint disabled, tenant
    /// suspended).
    Pending,
    /// A receiver answered 2xx.
    Succeeded,
    /// Given up: a permanent failure, the schedule ran out, or the endpoint
    /// was deleted.
    Failed,
}

impl DeliveryState {
    /// `pending`, `succeeded`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Succeeded => "succeeded",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "succeeded" => Some(DeliveryState::Succeeded),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// Where a delivery stands, in the words the API, the log filter, the CLI
/// and the panel all use. Derived from the stored state: `retrying` and
/// `held` are pending deliveries that have failed at least once, or wait
/// for their endpoint or tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not attempted yet.
    Pending,
    /// At least one attempt failed; another is scheduled.
    Retrying,
    /// Waiting for its endpoint to be enabled or its tenant resumed.
    Held,
    /// A receiver answered 2xx.
    Succeeded,
    /// Given up.
    Failed,
}

impl Status {
    /// Every status, in the order a filter lists them.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Retrying,
        Status::Held,
        Status::Succeeded,
        Status::Failed,
    ];

    /// `pending`, `retrying`, `held`, `succeeded`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retrying => "retrying",
            Status::Held => "held",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the delivery is over (it will not be attempted again unless
    /// resent).
    pub fn ended(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }
}

/// One event bound for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_…`.
    pub id: DeliveryId,
    /// The event's internal key.
    pub event_key: u128,
    /// The event's public id (the `webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// The tenant.
    pub tenant_id: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, while pending and not held.
    pub next_attempt_at: Option<Timestamp>,
    /// Whether it waits for its endpoint to be re-enabled or its tenant
    /// resumed.
    pub held: bool,
    /// The last attempt's HTTP status, if it got one.
    pub last_status: Option<u16>,
    /// The last attempt's error kind or a reason it was given up.
    pub last_error: Option<String>,
    /// When fan-out made it.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Delivery {
    /// Where it stands, as people read it ([`Status`]).
    pub fn status(&self) -> Status {
        match self.state {
            DeliveryState::Succeeded => Status::Succeeded,
            DeliveryState::Failed => Status::Failed,
            DeliveryState::Pending if self.held => Status::Held,
            DeliveryState::Pending if self.attempts > 0 => Status::Retrying,
            DeliveryState::Pending => Status::Pending,
        }
    }

    /// Whether a worker should attempt it at `now`: pending, not held, and
    /// due. A job is only a hint, so this is checked on a fresh read.
    pub fn attemptable(&self, now: Timestamp) -> bool {
        self.state == DeliveryState::Pending
            && !self.held
            && self.next_attempt_at.is_some_and(|t| t <= now)
    }

    /// Whether a stream poll at `now` may hand it out: pending and either
    /// held (parked for its stream's client) or due.
    pub fn stream_ready(&self, now: Timestamp) -> bool {
        self.state == DeliveryState::Pending
            && (self.held || self.next_attempt_at.is_some_and(|t| t <= now))
    }

    /// Held at `now`: it waits, out of the due index, until its endpoint
    /// is enabled or its tenant resumed (those put it back).
    pub fn held(&self, now: Timestamp) -> Delivery {
        Delivery {
            held: true,
            next_attempt_at: None,
            updated_at: now,
            ..self.clone()
        }
    }

    /// Given up at `now` without an attempt, e.g. its endpoint is gone.
    pub fn given_up(&self, reason: &str, now: Timestamp) -> Delivery {
        Delivery {
            state: DeliveryState::Failed,
            next_attempt_at: None,
            last_error: Some(reason.to_string()),
            updated_at: now,
            ..self.clone()
        }
    }
}

/// What an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// 2xx: done.
    Success,
    /// Try again later.
    Retry,
    /// Do not try again.
    Permanent,
}

impl Verdict {
    /// `success`, `retry`, `permanent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Retry => "retry",
            Verdict::Permanent => "permanent",
        }
    }
}

/// One HTTP attempt of a delivery, as recorded. Secrets are never here:
/// the request headers hold signatures, not keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `att_…`.
    pub id: AttemptId,
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    /// When the request started.
    pub started_at: Timestamp,
    /// The URL it went to.
    pub url: String,
    /// Request headers sent.
    pub request_headers: Vec<(String, String)>,
    /// Response status, if a response came.
    pub status: Option<u16>,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// The first bytes of the response body (capped).
    pub response_body: Vec<u8>,
    /// Whether the body was longer than what is kept.
    pub response_truncated: bool,
    /// Time to the response (or the failure), milliseconds.
    pub latency_ms: u32,
    /// `timeout`, `connect`, `dns`, `tls`, `blocked_address`, … when no
    /// usable response came.
    pub error_kind: Option<String>,
    /// A human-readable error.
    pub error_message: Option<String>,
    /// What this attempt decided.
    pub verdict: Verdict,
    /// When the next attempt is due, if one was scheduled.
    pub next_attempt_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(due: Option<Timestamp>) -> Delivery {
        let t0 = Timestamp::from_millis(1_705_314_600_000);
        Delivery {
            id: DeliveryId::new(t0),
            event_key: 1,
            event_id: "evt_1".into(),
            event_type: "order.created".into(),
            endpoint_id: EndpointId::new(t0),
            tenant_id: "company_xyz".into(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: due,
            held: false,
            last_status: None,
            last_error: None,
            created_at: t0,
            updated_at: t0,
        }
    }

    #[test]
    fn only_a_due_pending_unheld_delivery_is_attempted() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        assert!(pending(Some(now)).attemptable(now));
        assert!(pending(Some(now.plus_millis(-1))).attemptable(now));
        assert!(
            !pending(Some(now.plus_millis(1))).attemptable(now),
            "not due"
        );
        assert!(!pending(None).attemptable(now), "no due time");
        assert!(!pending(Some(now)).held(now).attemptable(now), "held");
        let ended = pending(Some(now)).given_up("endpoint deleted", now);
        assert!(!ended.attemptable(now), "ended");
        assert_eq!(ended.state, DeliveryState::Failed);
        assert_eq!(ended.last_error.as_deref(), Some("endpoint deleted"));
        let succeeded = Delivery {
            state: DeliveryState::Succeeded,
            ..pending(Some(now))
        };
        assert!(!succeeded.attemptable(now));
    }

    #[test]
    fn status_says_retrying_and_held_apart_from_pending() {
        let t = Timestamp::from_millis(1_000);
        let fresh = Delivery {
            id: DeliveryId::new(t),
            event_key: 1,
            event_id: "evt_1".into(),
            event_type: "order.created".into(),
            endpoint_id: EndpointId::new(t),
            tenant_id: "acme".into(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: Some(t),
            held: false,
            last_status: None,
            last_error: None,
            created_at: t,
            updated_at: t,
        };
        assert_eq!(fresh.status(), Status::Pending);
        let retrying = Delivery {
            attempts: 1,
            last_status: Some(500),
            ..fresh.clone()
        };
        assert_eq!(retrying.status(), Status::Retrying);
        assert_eq!(retrying.held(t).status(), Status::Held);
        assert_eq!(fresh.held(t).status(), Status::Held);
        assert_eq!(retrying.given_up("gone", t).status(), Status::Failed);
        let done = Delivery {
            state: DeliveryState::Succeeded,
            ..retrying
        };
        assert_eq!(done.status(), Status::Succeeded);
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Pending"), None);
        assert!(Status::Failed.ended() && !Status::Retrying.ended());
    }
}
