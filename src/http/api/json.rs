//! The JSON shapes of stored records, as the API answers them and the CLI
//! prints them. Times are RFC 3339 UTC; ids are prefixed strings; secrets
//! and key texts appear only where the caller must see them once.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::apikey::{ApiKey, KeyScope};
use crate::domain::delivery::{Attempt, Delivery};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::health::Health;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::user::{Role, User};
use crate::service::{KeyInfo, Page, PortalLink, UserInfo};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether its deliveries are paused.
    pub suspended: bool,
    /// Free key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl TenantView {
    /// The view of `t`.
    pub fn new(t: &Tenant) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            suspended: t.suspended,
            metadata: t.metadata.clone(),
            created_at: t.created_at.to_rfc3339_millis(),
            updated_at: t.updated_at.to_rfc3339_millis(),
        }
    }
}

/// An API key; `key` only in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// `key_…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `platform` or `tenant`.
    pub kind: &'static str,
    /// The bound tenant, for tenant keys.
    pub tenant_id: Option<String>,
    /// The first characters of the key text.
    pub hint: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, if revoked.
    pub revoked_at: Option<String>,
    /// RFC 3339: when it last authenticated a request, to within a minute
    /// (`null`: never; only listings say).
    pub last_used_at: Option<String>,
    /// The key text: present only once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeyView {
    /// The view of `k`, with its text if just created.
    pub fn new(k: &ApiKey, text: Option<&str>) -> Self {
        let (kind, tenant_id) = match &k.scope {
            KeyScope::Platform => ("platform", None),
            KeyScope::Tenant(t) => ("tenant", Some(t.clone())),
        };
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            kind,
            tenant_id,
            hint: k.hint.clone(),
            created_at: k.created_at.to_rfc3339_millis(),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339_millis()),
            last_used_at: None,
            key: text.map(str::to_string),
        }
    }

    /// The view of a listed key, with its last use.
    pub fn listed(k: &KeyInfo) -> Self {
        Self {
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339_millis()),
            ..Self::new(&k.key, None)
        }
    }
}

/// An admin panel user (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// The login name.
    pub username: String,
    /// `operator` or `tenant`.
    pub kind: &'static str,
    /// The bound tenant, for tenant users.
    pub tenant_id: Option<String>,
    /// Whether it may log in.
    pub disabled: bool,
    /// RFC 3339, if disabled.
    pub disabled_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: its last login (`null`: never; only listings say).
    pub last_login_at: Option<String>,
}

impl UserView {
    /// The view of `u`.
    pub fn new(u: &User) -> Self {
        let (kind, tenant_id) = match &u.role {
            Role::Operator => ("operator", None),
            Role::Tenant(t) => ("tenant", Some(t.clone())),
        };
        Self {
            username: u.username.clone(),
            kind,
            tenant_id,
            disabled: !u.enabled(),
            disabled_at: u.disabled_at.map(|t| t.to_rfc3339_millis()),
            created_at: u.created_at.to_rfc3339_millis(),
            last_login_at: None,
        }
    }

    /// The view of a listed user, with its last login.
    pub fn listed(u: &UserInfo) -> Self {
        Self {
            last_login_at: u.last_login_at.map(|t| t.to_rfc3339_millis()),
            ..Self::new(&u.user)
        }
    }
}

/// An endpoint; `secret` only on create and rotate.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// `ep_…`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// Delivery URL.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Free text.
    pub description: String,
    /// Whether it receives deliveries.
    pub active: bool,
    /// Why Herald disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// The tenant's own unique name for it, if it has one.
    pub uid: Option<String>,
    /// Headers sent with every attempt.
    pub headers: BTreeMap<String, String>,
    /// Channels it listens to (empty: every event).
    pub channels: Vec<String>,
    /// Free key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// Whether attempts also carry Svix's header names.
    pub svix_headers: bool,
    /// `url`: Herald POSTs to `url`; `stream`: a client holding its
    /// stream (`herald listen`) takes the deliveries, and `url` is a
    /// placeholder.
    pub kind: &'static str,
    /// A stream's last poll (RFC 3339), if it was ever polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_last_seen_at: Option<String>,
    /// Whether a client polls this stream now (its last poll is recent
    /// enough): streams only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_connected: Option<bool>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The signing secret: only in create and rotate answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until when the previous secret keeps signing: rotate answers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// How it has been answering: in single-endpoint reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthView>,
}

impl EndpointView {
    /// The view of `e`, without secrets.
    pub fn new(e: &Endpoint) -> Self {
        Self {
            id: e.id.to_string(),
            tenant_id: e.tenant_id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            active: e.active,
            disabled_reason: e.disabled_reason.clone(),
            uid: e.uid.clone(),
            headers: e.headers.clone(),
            channels: e.channels.clone(),
            metadata: e.metadata.clone(),
            svix_headers: e.svix_headers,
            kind: e.kind.as_str(),
            stream_last_seen_at: e.stream_seen_at.map(|t| t.to_rfc3339_millis()),
            stream_connected: None,
            created_at: e.created_at.to_rfc3339_millis(),
            updated_at: e.updated_at.to_rfc3339_millis(),
            secret: None,
            previous_secret_expires_at: None,
            health: None,
        }
    }

    /// With whether a client holds its stream (`None` for URL endpoints).
    pub fn connected(self, connected: Option<bool>) -> Self {
        Self {
            stream_connected: connected,
            ..self
        }
    }

    /// The view of `e` including its current secret.
    pub fn with_secret(e: &Endpoint) -> Self {
        Self {
            secret: Some(e.secret.clone()),
            previous_secret_expires_at: e
                .previous_secrets
                .iter()
                .map(|r| r.expires_at)
                .max()
                .map(|t| t.to_rfc3339_millis()),
            ..Self::new(e)
        }
    }
}

/// A page of a list: `{"data": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<V> {
    /// The items.
    pub data: Vec<V>,
    /// Pass as `cursor` to get the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<V> PageView<V> {
    /// Maps a service page to its view.
    pub fn map<T>(page: &Page<T>, f: impl Fn(&T) -> V) -> Self {
        Self {
            data: page.items.iter().map(f).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}

/// One delivery handed to a stream client: exactly what Herald would
/// have POSTed for this attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    /// `dlv_…`.
    pub id: String,
    /// The event's public id (the `webhook-id`).
    pub event_id: String,
    /// The event type.
    pub event: String,
    /// The attempt this is (1 for the first).
    pub attempt: u32,
    /// The signature timestamp (unix seconds): echo it in the
    /// acknowledgement.
    pub offered_at: i64,
    /// RFC 3339: unacknowledged by then, it is offered again.
    pub ack_by: String,
    /// The request headers, in order, as `[name, value]` pairs.
    pub headers: Vec<(String, String)>,
    /// The exact body (JSON text; forward its bytes unchanged).
    pub body: String,
}

impl OfferView {
    /// The view of `o`.
    pub fn new(o: &crate::service::Offer) -> Self {
        Self {
            id: o.delivery.id.to_string(),
            event_id: o.delivery.event_id.clone(),
            event: o.delivery.event_type.clone(),
            attempt: o.delivery.attempts + 1,
            offered_at: o.offered_at,
            ack_by: o.ack_by.to_rfc3339_millis(),
            headers: o.headers.clone(),
            // Bodies are built by `wire::json` as UTF-8 text; lossless.
            body: String::from_utf8_lossy(&o.body).into_owned(),
        }
    }
}

/// `GET /api/v1/webhooks/{id}/stream`: what was due, possibly nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    /// The deliveries handed out, earliest due first.
    pub deliveries: Vec<OfferView>,
}

/// An acknowledgement's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct AckView {
    /// `success`, `retry` or `permanent`.
    pub verdict: &'static str,
    /// The delivery after it.
    pub delivery: DeliveryView,
}

/// A delivery, as in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `dlv_…`.
    pub id: String,
    /// The event's public id.
    pub event_id: String,
    /// The event type.
    pub event: String,
    /// The endpoint (`ep_…`).
    pub webhook_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// Whether it waits for its endpoint or tenant to be re-enabled.
    pub held: bool,
    /// Attempts made.
    pub attempts: u32,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    /// The last HTTP status received.
    pub last_status: Option<u16>,
    /// The last error kind.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl DeliveryView {
    /// The view of `d`.
    pub fn new(d: &Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            event_id: d.event_id.clone(),
            event: d.event_type.clone(),
            webhook_id: d.endpoint_id.to_string(),
            status: d.status().as_str(),
            held: d.held,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339_millis()),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            created_at: d.created_at.to_rfc3339_millis(),
            updated_at: d.updated_at.to_rfc3339_millis(),
        }
    }
}

/// A delivery as the ingest answer lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FanoutView {
    /// `dlv_…`.
    pub id: String,
    /// `ep_…`.
    pub webhook_id: String,
}

/// The ingest answer for one event: `{id, deliveries}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedView {
    /// The event's public id.
    pub id: String,
    /// The deliveries fan-out made.
    pub deliveries: Vec<FanoutView>,
}

impl AcceptedView {
    /// The view of an accepted event.
    pub fn new(e: &Event) -> Self {
        Self {
            id: e.id.clone(),
            deliveries: e
                .deliveries
                .iter()
                .map(|(d, ep)| FanoutView {
                    id: DeliveryId::from_u128(*d).to_string(),
                    webhook_id: EndpointId::from_u128(*ep).to_string(),
                })
                .collect(),
        }
    }
}

/// An event with its envelope and deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// The public id.
    pub id: String,
    /// The type.
    pub event: String,
    /// RFC 3339, as in the envelope.
    pub created: String,
    /// The tenant.
    pub tenant_id: String,
    /// When Herald accepted it.
    pub received_at: String,
    /// The channels it was sent on.
    pub channels: Vec<String>,
    /// The exact envelope every endpoint receives.
    #[schema(value_type = crate::http::openapi::Envelope)]
    pub payload: Box<serde_json::value::RawValue>,
    /// Its deliveries.
    pub deliveries: Vec<DeliveryView>,
}

impl EventView {
    /// The view of `e` and its deliveries.
    pub fn new(e: &Event, deliveries: &[Delivery]) -> Self {
        let text = String::from_utf8_lossy(&e.body).into_owned();
        let payload = serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| {
            serde_json::value::RawValue::from_string("null".into()).unwrap_or_default()
        });
        Self {
            id: e.id.clone(),
            event: e.event_type.clone(),
            created: e.created.to_rfc3339_secs(),
            tenant_id: e.tenant_id.clone(),
            received_at: e.received_at.to_rfc3339_millis(),
            channels: e.channels.clone(),
            payload,
            deliveries: deliveries.iter().map(DeliveryView::new).collect(),
        }
    }
}

/// One attempt, for the retry history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// `att_…`.
    pub id: String,
    /// 1 for the first.
    pub number: u32,
    /// RFC 3339.
    pub started_at: String,
    /// Where it went.
    pub url: String,
    /// Request headers sent (signatures, never secrets).
    pub request_headers: Vec<(String, String)>,
    /// Response status, if any.
    pub status: Option<u16>,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// The first bytes of the response body, as text.
    pub response_body: String,
    /// Whether the body was longer.
    pub response_truncated: bool,
    /// Milliseconds.
    pub latency_ms: u32,
    /// Error kind, if no usable response.
    pub error: Option<String>,
    /// Error detail.
    pub error_message: Option<String>,
    /// `success`, `retry` or `permanent`.
    pub verdict: &'static str,
    /// RFC 3339, if another attempt was scheduled.
    pub next_attempt_at: Option<String>,
}

impl AttemptView {
    /// The view of `a`.
    pub fn new(a: &Attempt) -> Self {
        Self {
            id: a.id.to_string(),
            number: a.number,
            started_at: a.started_at.to_rfc3339_millis(),
            url: a.url.clone(),
            request_headers: a.request_headers.clone(),
            status: a.status,
            response_headers: a.response_headers.clone(),
            response_body: String::from_utf8_lossy(&a.response_body).into_owned(),
            response_truncated: a.response_truncated,
            latency_ms: a.latency_ms,
            error: a.error_kind.clone(),
            error_message: a.error_message.clone(),
            verdict: a.verdict.as_str(),
            next_attempt_at: a.next_attempt_at.map(|t| t.to_rfc3339_millis()),
        }
    }
}

/// A delivery with its attempts: a [`DeliveryView`]'s fields, except
/// that `attempts` is the list (its length is the count). (Flattening a
/// `DeliveryView` here wrote the key `attempts` twice.)
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetailView {
    /// `dlv_…`.
    pub id: String,
    /// The event's public id.
    pub event_id: String,
    /// The event type.
    pub event: String,
    /// The endpoint (`ep_…`).
    pub webhook_id: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    /// Whether it waits for its endpoint or tenant to be re-enabled.
    pub held: bool,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    /// The last HTTP status received.
    pub last_status: Option<u16>,
    /// The last error kind.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl DeliveryDetailView {
    /// The view of `d` with its attempts.
    pub fn new(d: &Delivery, attempts: &[Attempt]) -> Self {
        let v = DeliveryView::new(d);
        Self {
            id: v.id,
            event_id: v.event_id,
            event: v.event,
            webhook_id: v.webhook_id,
            status: v.status,
            held: v.held,
            next_attempt_at: v.next_attempt_at,
            last_status: v.last_status,
            last_error: v.last_error,
            created_at: v.created_at,
            updated_at: v.updated_at,
            attempts: attempts.iter().map(AttemptView::new).collect(),
        }
    }
}

/// An endpoint's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// RFC 3339.
    pub last_success_at: Option<String>,
    /// RFC 3339: start of the current run of failures.
    pub failing_since: Option<String>,
    /// RFC 3339.
    pub last_attempt_at: Option<String>,
}

impl HealthView {
    /// The view of `h`.
    pub fn new(h: &Health) -> Self {
        Self {
            consecutive_failures: h.consecutive_failures,
            last_success_at: h.last_success_at.map(|t| t.to_rfc3339_millis()),
            failing_since: h.failing_since.map(|t| t.to_rfc3339_millis()),
            last_attempt_at: h.last_attempt_at.map(|t| t.to_rfc3339_millis()),
        }
    }
}

/// One endpoint's figures in the seed's shape, plus counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointMetricsView {
    /// `ep_…`.
    pub webhook_id: String,
    /// Succeeded / ended deliveries; null when none ended.
    pub success_rate: Option<f64>,
    /// Mean response time, ms; null without responses.
    pub avg_response_time: Option<f64>,
    /// Deliveries that ended.
    pub total_deliveries: u64,
    /// Ended succeeded.
    pub successful_deliveries: u64,
    /// Ended failed.
    pub failed_deliveries: u64,
    /// HTTP attempts.
    pub attempts: u64,
    /// 95th percentile response time, ms (bucket upper bound).
    pub p95_response_time: Option<u64>,
}

impl EndpointMetricsView {
    /// The view of one endpoint's stats.
    pub fn new(id: EndpointId, s: &Stats) -> Self {
        Self {
            webhook_id: id.to_string(),
            success_rate: s.success_rate(),
            avg_response_time: s.average_response_ms(),
            total_deliveries: s.total_deliveries(),
            successful_deliveries: s.delivered,
            failed_deliveries: s.given_up,
            attempts: s.attempts,
            p95_response_time: s.quantile_ms(0.95),
        }
    }
}

/// `GET /api/v1/metrics`: the seed's shape, plus the window and percentiles.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricsView {
    /// The window, as asked (`24h`).
    pub window: String,
    /// RFC 3339: the first bucket counted.
    pub from: String,
    /// RFC 3339: now.
    pub to: String,
    /// Deliveries that ended in the window.
    pub total_deliveries: u64,
    /// Of those, succeeded (on any attempt).
    pub successful_deliveries: u64,
    /// Of those, failed for good.
    pub failed_deliveries: u64,
    /// Mean response time of attempts that got a response, ms (0 if none).
    pub average_response_time: f64,
    /// Attempts after a delivery's first / all attempts.
    pub retry_rate: f64,
    /// Succeeded / ended; null when none ended.
    pub success_rate: Option<f64>,
    /// HTTP attempts in the window.
    pub attempts: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Attempts that failed (any reason).
    pub failed_attempts: u64,
    /// Failed attempts / attempts (0 without attempts): what is failing
    /// now, which the ended-delivery figures above do not show yet.
    pub attempt_failure_rate: f64,
    /// What is wrong now (not windowed): failing endpoints, deliveries
    /// retrying, alerts firing.
    #[schema(value_type = crate::http::openapi::NowView)]
    pub now: serde_json::Value,
    /// Response-time percentiles, ms (histogram bucket upper bounds).
    #[schema(value_type = crate::http::openapi::LatencyView)]
    pub latency_ms: serde_json::Value,
    /// Failed attempts by kind.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub failures_by_kind: serde_json::Map<String, serde_json::Value>,
    /// Per endpoint URL (deleted endpoints appear as `deleted:ep_…`).
    #[schema(value_type = std::collections::BTreeMap<String, EndpointMetricsView>)]
    pub endpoints: serde_json::Map<String, serde_json::Value>,
}

impl MetricsView {
    /// The view of a report.
    pub fn new(
        window: &str,
        r: &crate::service::MetricsReport,
        now: &crate::service::FailingNow,
    ) -> Self {
        let t = &r.totals;
        let mut endpoints = serde_json::Map::new();
        for e in &r.endpoints {
            let key = e
                .url
                .clone()
                .unwrap_or_else(|| format!("deleted:{}", e.endpoint_id));
            let v = serde_json::to_value(EndpointMetricsView::new(e.endpoint_id, &e.stats))
                .unwrap_or_default();
            endpoints.insert(key, v);
        }
        Self {
            window: window.to_string(),
            from: r.from.to_rfc3339_secs(),
            to: r.to.to_rfc3339_secs(),
            total_deliveries: t.total_deliveries(),
            successful_deliveries: t.delivered,
            failed_deliveries: t.given_up,
            average_response_time: t.average_response_ms().unwrap_or(0.0),
            retry_rate: t.retry_rate(),
            success_rate: t.success_rate(),
            attempts: t.attempts,
            retries: t.retries,
            failed_attempts: t.failures(),
            attempt_failure_rate: t.failure_rate(),
            now: serde_json::json!({
                "endpoints": now.endpoints,
                "failing_endpoints": now.failing.iter().map(|(e, h)| serde_json::json!({
                    "webhook_id": e.id.to_string(),
                    "url": e.url,
                    "active": e.active,
                    "disabled_reason": e.disabled_reason,
                    "consecutive_failures": h.consecutive_failures,
                    "failing_since": h.failing_since.map(|t| t.to_rfc3339_secs()),
                })).collect::<Vec<_>>(),
                "retrying_deliveries": now.retrying,
                "retrying_at_least": now.retrying_capped,
                "alerts_firing": now.alerts_firing,
            }),
            latency_ms: serde_json::json!({
                "p50": t.quantile_ms(0.5),
                "p95": t.quantile_ms(0.95),
                "p99": t.quantile_ms(0.99),
            }),
            failures_by_kind: t
                .failures_by_kind
                .iter()
                .map(|(k, n)| (k.clone(), serde_json::json!(n)))
                .collect(),
            endpoints,
        }
    }
}

/// `POST /api/v1/admin/pause|resume`: whether deliveries are paused now.
#[derive(Debug, Serialize, ToSchema)]
pub struct PausedView {
    /// Whether deliveries and alerts are paused.
    pub paused: bool,
}

/// `POST /api/v1/users/{name}/reset-password`: the new password, shown
/// once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetView {
    /// The user.
    pub username: String,
    /// The new password.
    pub password: String,
}

/// An event type: the seed's `name`, `category`, `description`, and
/// whether it is `custom`, `archived`, its `schema` and times (null for
/// built-in types).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeView {
    /// `payment.completed`.
    pub name: String,
    /// The part of the name before its first `.`.
    pub category: String,
    /// What it means.
    pub description: String,
    /// A platform's own type (`false`: built in).
    pub custom: bool,
    /// Not offered for new subscriptions in the panel; still accepted.
    pub archived: bool,
    /// The JSON Schema its events' `data` must match, or null.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<serde_json::Value>,
    /// RFC 3339, or null for built-in types.
    pub created_at: Option<String>,
    /// RFC 3339, or null for built-in types.
    pub updated_at: Option<String>,
}

impl EventTypeView {
    /// The view of `t`.
    pub fn new(t: &crate::service::EventTypeInfo) -> Self {
        Self {
            name: t.name.clone(),
            category: t.category.clone(),
            description: t.description.clone(),
            custom: t.custom,
            archived: t.archived,
            schema: t.schema.clone(),
            created_at: t.created_at.map(|t| t.to_rfc3339_millis()),
            updated_at: t.updated_at.map(|t| t.to_rfc3339_millis()),
        }
    }
}

/// A one-time tenant portal link.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalLinkView {
    /// The URL to open in the browser (or an iframe): it works once.
    pub url: String,
    /// The link's token (the last part of `url`).
    pub token: String,
    /// The tenant.
    pub tenant_id: String,
    /// RFC 3339: the link stops working if unused by then.
    pub expires_at: String,
    /// How long the session lasts once opened, in seconds.
    pub session_expires_in: u64,
    /// Whether the session is read-only.
    pub read_only: bool,
}

impl PortalLinkView {
    /// The view of `l`, its URL on the origin `req` reached (as a proxy's
    /// `Forwarded` / `X-Forwarded-*` headers report it).
    pub fn new(req: &actix_web::HttpRequest, l: &PortalLink) -> Self {
        let info = req.connection_info();
        Self {
            url: format!("{}://{}/portal/{}", info.scheme(), info.host(), l.token),
            token: l.token.clone(),
            tenant_id: l.tenant_id.clone(),
            expires_at: l.link_expires_at.to_rfc3339_millis(),
            session_expires_in: l.session_secs,
            read_only: l.read_only,
        }
    }
}
