//! The JSON shapes of Svix's models, camelCase as its API writes them:
//! `ApplicationOut`, `EndpointOut`, `MessageOut`, `MessageAttemptOut`,
//! `ListResponse_*`, and the small ones. Timestamps are RFC 3339 with
//! milliseconds; a field Svix always writes is written even when null.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::domain::endpoint::Endpoint;
use crate::domain::event::{generated_id, Event};
use crate::domain::tenant::Tenant;
use crate::service::svix::{status_text, EndpointStats, Listed, RecoverTask, SvixAttempt};
use crate::service::EventTypeInfo;

/// `ListResponse_T_`: `iterator` always present (null at the end),
/// `prevIterator` when there is a first item.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOut<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass back for the next page.
    pub iterator: Option<String>,
    /// Pass back for the page before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_iterator: Option<String>,
    /// Whether this is the last page.
    pub done: bool,
}

impl<T> ListOut<T> {
    /// The shape of a listed page, each item through `f`.
    pub fn new<U>(l: Listed<U>, f: impl FnMut(U) -> T) -> Self {
        let l = l.map(f);
        Self {
            data: l.data,
            iterator: l.iterator,
            prev_iterator: l.prev_iterator,
            done: l.done,
        }
    }
}

/// `ApplicationOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppOut {
    /// The tenant id.
    pub id: String,
    /// The same: Herald's tenant id is the application's uid.
    pub uid: String,
    /// The display name.
    pub name: String,
    /// Free key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// Always null: Herald enforces none.
    pub rate_limit: Option<u32>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl AppOut {
    /// The shape of a tenant.
    pub fn new(t: &Tenant) -> Self {
        Self {
            id: t.id.clone(),
            uid: t.id.clone(),
            name: t.name.clone(),
            metadata: t.metadata.clone(),
            rate_limit: None,
            created_at: t.created_at.to_rfc3339_millis(),
            updated_at: t.updated_at.to_rfc3339_millis(),
        }
    }
}

/// `EndpointOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    /// `ep_…`.
    pub id: String,
    /// The application's own name for it.
    pub uid: Option<String>,
    /// Where it delivers.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Always 1.
    pub version: u32,
    /// Null when it receives every type.
    pub filter_types: Option<Vec<String>>,
    /// Null when it listens to every message.
    pub channels: Option<Vec<String>>,
    /// `!active`.
    pub disabled: bool,
    /// Always null: Herald enforces none.
    pub rate_limit: Option<u32>,
    /// Free key/value pairs.
    pub metadata: BTreeMap<String, String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl EndpointOut {
    /// The shape of an endpoint.
    pub fn new(e: &Endpoint) -> Self {
        let all = e.events.iter().any(|p| p == "*");
        Self {
            id: e.id.to_string(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            version: 1,
            filter_types: (!all).then(|| e.events.clone()),
            channels: (!e.channels.is_empty()).then(|| e.channels.clone()),
            disabled: !e.active,
            rate_limit: None,
            metadata: e.metadata.clone(),
            created_at: e.created_at.to_rfc3339_millis(),
            updated_at: e.updated_at.to_rfc3339_millis(),
        }
    }
}

/// `EventTypeOut`. Built-in types answer a fixed time (the seed's
/// `api_version` date) for `createdAt` and `updatedAt`, which Svix's
/// model requires.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    /// The name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Not offered for new subscriptions.
    pub archived: bool,
    /// Always false: Herald keeps no such mark.
    pub deprecated: bool,
    /// `{"1": schema}`, or null; left out of lists without `with_content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemas: Option<Value>,
    /// Always null.
    pub feature_flag: Option<String>,
    /// Always null (Herald groups by the name's first part).
    pub group_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What built-in types answer as their creation and change time.
const BUILT_IN_TIME: &str = "2024-01-01T00:00:00.000Z";

impl EventTypeOut {
    /// The shape of `t`; its schema only `with_content`.
    pub fn new(t: &EventTypeInfo, with_content: bool) -> Self {
        let time = |at: Option<crate::domain::time::Timestamp>| {
            at.map_or_else(|| BUILT_IN_TIME.to_string(), |t| t.to_rfc3339_millis())
        };
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            archived: t.archived,
            deprecated: false,
            schemas: with_content.then(|| match &t.schema {
                Some(s) => serde_json::json!({ "1": s }),
                None => Value::Null,
            }),
            feature_flag: None,
            group_name: None,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

/// `MessageOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    /// The id Herald generated from its key.
    pub id: String,
    /// The client's id, if it gave one.
    pub event_id: Option<String>,
    /// Its type.
    pub event_type: String,
    /// The body receivers get, as JSON (`{}` without content).
    pub payload: Value,
    /// Null when sent on no channel.
    pub channels: Option<Vec<String>>,
    /// Null when it has none.
    pub tags: Option<Vec<String>>,
    /// RFC 3339: when it was created.
    pub timestamp: String,
}

impl MessageOut {
    /// The shape of an event; `with_content: false` leaves the payload out
    /// (`{}`), as Svix does.
    pub fn new(e: &Event, with_content: bool) -> Self {
        let id = generated_id(e.key);
        let payload = if with_content {
            serde_json::from_slice(&e.body).unwrap_or(Value::Null)
        } else {
            Value::Object(Default::default())
        };
        Self {
            event_id: (e.id != id).then(|| e.id.clone()),
            id,
            event_type: e.event_type.clone(),
            payload,
            channels: (!e.channels.is_empty()).then(|| e.channels.clone()),
            tags: (!e.tags.is_empty()).then(|| e.tags.clone()),
            timestamp: e.created.to_rfc3339_millis(),
        }
    }
}

/// `MessageAttemptOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    /// `att_…`.
    pub id: String,
    /// The message's id.
    pub msg_id: String,
    /// The endpoint's id.
    pub endpoint_id: String,
    /// The URL it went to.
    pub url: String,
    /// The response body (capped as Herald stores it), as text.
    pub response: String,
    /// The response status, 0 when there was none.
    pub response_status_code: u16,
    /// Milliseconds.
    pub response_duration_ms: u64,
    /// 0 success, 2 fail.
    pub status: u8,
    /// `success` or `fail`.
    pub status_text: &'static str,
    /// 0 scheduled, 1 manual.
    pub trigger_type: u8,
    /// RFC 3339: when it started.
    pub timestamp: String,
}

impl AttemptOut {
    /// The shape of an attempt.
    pub fn new(a: &SvixAttempt) -> Self {
        let status = a.status();
        Self {
            id: a.attempt.id.to_string(),
            msg_id: generated_id(a.event_key),
            endpoint_id: a.endpoint_id.to_string(),
            url: a.attempt.url.clone(),
            response: String::from_utf8_lossy(&a.attempt.response_body).into_owned(),
            response_status_code: a.attempt.status.unwrap_or(0),
            response_duration_ms: u64::from(a.attempt.latency_ms),
            status,
            status_text: status_text(status),
            trigger_type: u8::from(a.manual),
            timestamp: a.attempt.started_at.to_rfc3339_millis(),
        }
    }
}

/// `EndpointSecretOut`.
#[derive(Debug, Serialize)]
pub struct SecretOut {
    /// `whsec_…`.
    pub key: String,
}

/// `EndpointHeadersOut`.
#[derive(Debug, Serialize)]
pub struct HeadersOut {
    /// The custom headers.
    pub headers: BTreeMap<String, String>,
    /// Names whose values are hidden: none (Herald shows them to who may
    /// read the endpoint).
    pub sensitive: Vec<String>,
}

/// `EndpointStats`.
#[derive(Debug, Serialize)]
pub struct StatsOut {
    /// Delivered.
    pub success: u64,
    /// Waiting.
    pub pending: u64,
    /// Being sent: Herald counts these as pending.
    pub sending: u64,
    /// Given up.
    pub fail: u64,
    /// Cancelled: Herald has none.
    pub canceled: u64,
}

impl StatsOut {
    /// The shape of an endpoint's statistics.
    pub fn new(s: &EndpointStats) -> Self {
        Self {
            success: s.success,
            pending: s.pending,
            sending: 0,
            fail: s.fail,
            canceled: 0,
        }
    }
}

/// `RecoverOut`: the task is done by the time Herald answers, but Svix's
/// model knows only `running`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverOut {
    /// `qtask_…`.
    pub id: String,
    /// `running`.
    pub status: &'static str,
    /// `endpoint.recover`.
    pub task: &'static str,
    /// RFC 3339.
    pub updated_at: String,
}

impl RecoverOut {
    /// The shape of a recover.
    pub fn new(t: &RecoverTask) -> Self {
        Self {
            id: t.id.clone(),
            status: "running",
            task: "endpoint.recover",
            updated_at: t.at.to_rfc3339_millis(),
        }
    }
}

/// Svix's `AppPortalAccessOut`: the one-time portal link.
#[derive(Debug, Serialize)]
pub struct AppPortalAccessOut {
    /// The link's token.
    pub token: String,
    /// The URL to open.
    pub url: String,
}

impl AppPortalAccessOut {
    /// The answer for `l`, on the origin `req` reached.
    pub fn new(req: &actix_web::HttpRequest, l: &crate::service::PortalLink) -> Self {
        let v = crate::http::api::json::PortalLinkView::new(req, l);
        Self {
            token: v.token,
            url: v.url,
        }
    }
}
