//! The Svix-compatible API's operations: Svix's applications, endpoints,
//! messages and attempts over Herald's tenants, endpoints, events,
//! deliveries and attempts, so the official Svix SDKs work against Herald.
//!
//! The mapping (every rule of it is here, not in the HTTP layer):
//! - an application is a tenant: its `id` is the tenant id, which is the
//!   `uid` when one is given (`app_<ULID>` otherwise), so a path names an
//!   application by either; tenants Herald keeps for itself (`_…`) are not
//!   applications;
//! - an endpoint is an endpoint: `filterTypes` (none: every type) are its
//!   subscriptions, `disabled` is `!active`; a `rateLimit` or
//!   `throttleRate` is refused (Herald enforces none per endpoint) rather
//!   than stored and ignored; endpoints made here also send Svix's
//!   `svix-*` header names beside the Standard Webhooks ones;
//! - a message is an event whose body is the `payload` as given; its `id`
//!   is the one Herald generates from its key, its `eventId` the client's;
//! - an attempt is an attempt: `status` 0 (success) or 2 (fail), since a
//!   recorded attempt has ended; `triggerType` 1 (manual) for an attempt
//!   after one that ended its delivery (a resend or a recover), else 0.
//!
//! Lists follow Svix: `limit` 1–250 (50 by default), an `iterator` that is
//! the last item's id and a `prevIterator` that is `-` and the first's, so
//! a page can be walked both ways.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::events::RawEvent;
use super::{Caller, EndpointPatch, Herald, NewEndpoint, NewTenant, Result, ServiceError};
use crate::domain::delivery::{Attempt, Delivery, Status, Verdict};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::{generated_id, key_named_by, Event};
use crate::domain::ids::{first_ulid_at, new_ulid, DeliveryId, EndpointId};
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::store::DeliveryFilter;

/// A page's size when the request names none.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub const MAX_LIMIT: usize = 250;
/// Events looked at for one page of messages: a page costs a bounded read
/// whatever the store holds (a page cut short says where it stopped).
pub const EVENT_BUDGET: usize = 10_000;
/// Deliveries looked at for one page of an endpoint's attempts.
pub const DELIVERY_BUDGET: usize = 2_000;

/// Where a list resumes: after an item (`Normal`, Svix's iterator) or
/// before it (`Prev`, an iterator starting with `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Continue past this id, in the list's order.
    Normal(String),
    /// Go back before this id.
    Prev(String),
}

/// A list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest (lowest id) first.
    Ascending,
    /// Newest first.
    Descending,
}

/// A validated `limit`, `iterator` and `order`.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Items wanted.
    pub limit: usize,
    /// Where to resume.
    pub cursor: Option<Cursor>,
    /// The order asked for, if any.
    pub order: Option<Order>,
}

impl ListPage {
    /// Validates raw query values (Svix: `limit` at most 250).
    pub fn parse(limit: Option<&str>, iterator: Option<&str>, order: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None | Some("") => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ServiceError::bad_query(
                        "limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let cursor = match iterator {
            None | Some("") => None,
            Some(s) if s.len() > 200 => {
                return Err(ServiceError::bad_query(
                    "iterator",
                    "not an iterator this API issued",
                ))
            }
            Some(s) => Some(match s.strip_prefix('-') {
                Some(rest) => Cursor::Prev(rest.to_string()),
                None => Cursor::Normal(s.to_string()),
            }),
        };
        let order = match order {
            None | Some("") => None,
            Some("ascending") => Some(Order::Ascending),
            Some("descending") => Some(Order::Descending),
            Some(_) => {
                return Err(ServiceError::bad_query(
                    "order",
                    "order must be ascending or descending",
                ))
            }
        };
        Ok(Self {
            limit,
            cursor,
            order,
        })
    }
}

/// One page of a list, as Svix answers it.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The items.
    pub data: Vec<T>,
    /// The last item's id: pass it back for the next page (`None` on an
    /// empty page).
    pub iterator: Option<String>,
    /// `-` and the first item's id: the page before this one.
    pub prev_iterator: Option<String>,
    /// Whether no item is left past this page.
    pub done: bool,
}

impl<T> Listed<T> {
    /// A page from up to `limit + 1` items fetched in query order (the
    /// extra one only says whether there is more); `reversed` when the
    /// query ran against the list's order (a `Prev` cursor), so the page
    /// is turned back.
    pub fn from_fetched(
        mut items: Vec<T>,
        limit: usize,
        reversed: bool,
        id: impl Fn(&T) -> String,
    ) -> Self {
        let done = items.len() <= limit;
        items.truncate(limit);
        if reversed {
            items.reverse();
        }
        Self {
            iterator: items.last().map(&id),
            prev_iterator: items.first().map(|i| format!("-{}", id(i))),
            data: items,
            done,
        }
    }

    /// The same page with every item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed {
            data: self.data.into_iter().map(f).collect(),
            iterator: self.iterator,
            prev_iterator: self.prev_iterator,
            done: self.done,
        }
    }
}

/// How a cursor and an order become a query: whether it runs newest
/// first, the exclusive bound it starts from, and whether its result is
/// turned back (Svix's `apply_pagination`).
fn plan(page: &ListPage, default: Order) -> (bool, Option<&str>, bool) {
    let order = page.order.unwrap_or(default);
    match (&page.cursor, order) {
        (None, o) => (o == Order::Descending, None, false),
        (Some(Cursor::Normal(x)), Order::Descending) => (true, Some(x.as_str()), false),
        (Some(Cursor::Normal(x)), Order::Ascending) => (false, Some(x.as_str()), false),
        (Some(Cursor::Prev(x)), Order::Ascending) => (true, Some(x.as_str()), true),
        (Some(Cursor::Prev(x)), Order::Descending) => (false, Some(x.as_str()), true),
    }
}

/// One page of a list held in memory, sorted by id (ascending).
pub fn page_sorted<T>(
    ascending: Vec<T>,
    page: &ListPage,
    default: Order,
    id: impl Fn(&T) -> String,
) -> Listed<T> {
    let (newest_first, bound, reversed) = plan(page, default);
    let take = page.limit + 1;
    let fetched: Vec<T> = if newest_first {
        ascending
            .into_iter()
            .rev()
            .filter(|i| bound.is_none_or(|b| id(i).as_str() < b))
            .take(take)
            .collect()
    } else {
        ascending
            .into_iter()
            .filter(|i| bound.is_none_or(|b| id(i).as_str() > b))
            .take(take)
            .collect()
    };
    Listed::from_fetched(fetched, page.limit, reversed, id)
}

/// Refuses a rate limit: Herald enforces none per application or
/// endpoint, and storing one it would ignore would mislead.
fn no_rate_limit(field: &'static str, v: &Option<Value>) -> Result<()> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ServiceError::invalid(
            field,
            "Herald does not enforce per-application or per-endpoint rate limits; leave it out",
        )),
    }
}

/// A secret as Herald stores it: Svix accepts one without its `whsec_`
/// prefix.
fn with_prefix(secret: String) -> String {
    if secret.starts_with("whsec_") {
        secret
    } else {
        format!("whsec_{secret}")
    }
}

/// Svix's `ApplicationIn` (`POST /api/v1/app`, `PUT /api/v1/app/{id}`).
/// Fields Herald has no use for are ignored, as Svix ignores unknown ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppIn {
    /// The display name.
    pub name: String,
    /// The application's own id (becomes the tenant id).
    #[serde(default)]
    pub uid: Option<String>,
    /// Free key/value pairs.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Refused unless null.
    #[serde(default)]
    pub rate_limit: Option<Value>,
    /// Refused unless null.
    #[serde(default)]
    pub throttle_rate: Option<Value>,
}

/// Svix's `ApplicationPatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// Must stay the application's id.
    #[serde(default, deserialize_with = "super::nullable")]
    pub uid: Option<Option<String>>,
    /// New metadata (the whole set).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Refused unless null.
    #[serde(default)]
    pub rate_limit: Option<Value>,
    /// Refused unless null.
    #[serde(default)]
    pub throttle_rate: Option<Value>,
}

/// Svix's `EndpointIn` (create) and `EndpointUpdate` (put, which has no
/// `secret` and `headers`; given anyway they are honoured on create only).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Where to deliver.
    pub url: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The event types it receives (none: all).
    #[serde(default)]
    pub filter_types: Option<Vec<String>>,
    /// The channels it listens to (none: every message).
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Whether it is disabled.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The application's own name for it.
    #[serde(default)]
    pub uid: Option<String>,
    /// Free key/value pairs.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Headers sent with every attempt.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// A signing secret (with or without `whsec_`).
    #[serde(default)]
    pub secret: Option<String>,
    /// Accepted (Herald answers 1).
    #[serde(default)]
    pub version: Option<i64>,
    /// Refused unless null.
    #[serde(default)]
    pub rate_limit: Option<Value>,
    /// Refused unless null.
    #[serde(default)]
    pub throttle_rate: Option<Value>,
}

/// Svix's `EndpointPatch`: only the fields present change; `null` clears
/// `uid`, `filterTypes` (back to all types) and `channels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatchIn {
    /// A new URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// New event types; `null`: all.
    #[serde(default, deserialize_with = "super::nullable")]
    pub filter_types: Option<Option<Vec<String>>>,
    /// New channels; `null`: none.
    #[serde(default, deserialize_with = "super::nullable")]
    pub channels: Option<Option<Vec<String>>>,
    /// Disable or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new uid; `null` removes it.
    #[serde(default, deserialize_with = "super::nullable")]
    pub uid: Option<Option<String>>,
    /// New metadata (the whole set).
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// A new signing secret (the old one keeps signing for the overlap).
    #[serde(default)]
    pub secret: Option<String>,
    /// Accepted (Herald answers 1).
    #[serde(default)]
    pub version: Option<i64>,
    /// Refused unless null.
    #[serde(default)]
    pub rate_limit: Option<Value>,
    /// Refused unless null.
    #[serde(default)]
    pub throttle_rate: Option<Value>,
}

impl EndpointPatchIn {
    fn check(&self) -> Result<()> {
        no_rate_limit("rateLimit", &self.rate_limit)?;
        no_rate_limit("throttleRate", &self.throttle_rate)?;
        check_version(self.version)
    }
}

fn check_version(v: Option<i64>) -> Result<()> {
    match v {
        Some(n) if n < 1 => Err(ServiceError::invalid("version", "must be at least 1")),
        _ => Ok(()),
    }
}

/// Svix's `MessageIn`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    /// The event type.
    pub event_type: String,
    /// The body receivers get (a JSON object).
    pub payload: Value,
    /// The client's id for it: a second message with it is refused (409).
    #[serde(default)]
    pub event_id: Option<String>,
    /// The channels it is sent on.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Free labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// An application to create with the message if the path names none
    /// that exists.
    #[serde(default)]
    pub application: Option<AppIn>,
}

/// Filters of `GET /api/v1/app/{app}/msg` that map onto events.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only these event types (none: all).
    pub event_types: Vec<String>,
    /// Only messages sent on this channel.
    pub channel: Option<String>,
    /// Only messages with this tag.
    pub tag: Option<String>,
    /// Only messages created before this.
    pub before: Option<Timestamp>,
    /// Only messages created after this.
    pub after: Option<Timestamp>,
}

/// A delivery attempt as Svix lists it.
#[derive(Debug, Clone)]
pub struct SvixAttempt {
    /// The attempt.
    pub attempt: Attempt,
    /// Its endpoint.
    pub endpoint_id: EndpointId,
    /// Its event (message) key.
    pub event_key: u128,
    /// Whether a person asked for it (a resend or recover of an ended
    /// delivery) rather than the schedule.
    pub manual: bool,
}

impl SvixAttempt {
    /// Svix's status: 0 success, 2 fail (recorded attempts have ended).
    pub fn status(&self) -> u8 {
        attempt_status(self.attempt.verdict)
    }

    /// The iterator naming it in an endpoint's list: the delivery and the
    /// attempt, so the scan resumes at the right delivery.
    fn endpoint_cursor(&self) -> String {
        format!("{}.{}", self.attempt.delivery_id, self.attempt.id)
    }
}

/// Svix's attempt status of a verdict: 0 success, 2 fail.
pub fn attempt_status(v: Verdict) -> u8 {
    match v {
        Verdict::Success => 0,
        Verdict::Retry | Verdict::Permanent => 2,
    }
}

/// The text Svix gives a status.
pub fn status_text(status: u8) -> &'static str {
    match status {
        0 => "success",
        1 => "pending",
        2 => "fail",
        _ => "sending",
    }
}

/// Whether an attempt after `previous` was asked for by a person: the
/// previous one ended its delivery (no next attempt was due), so only a
/// resend or a recover can have made another.
pub fn manual_after(previous: Option<&Attempt>) -> bool {
    previous.is_some_and(|p| p.next_attempt_at.is_none())
}

/// Svix's endpoint statistics: deliveries by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Delivered.
    pub success: u64,
    /// Waiting for an attempt (first, retry, or held).
    pub pending: u64,
    /// Given up.
    pub fail: u64,
}

/// The answer to a recover: a task Herald has already done.
#[derive(Debug, Clone)]
pub struct RecoverTask {
    /// `qtask_<ULID>`.
    pub id: String,
    /// When.
    pub at: Timestamp,
    /// Failed deliveries re-queued.
    pub requeued: usize,
}

fn parse_status(s: Option<&str>) -> Result<Option<u8>> {
    match s {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u8>() {
            // 4 (canceled) is Svix's too; Herald has none, so it finds nothing.
            Ok(n @ 0..=4) => Ok(Some(n)),
            _ => Err(ServiceError::bad_query(
                "status",
                "status must be 0, 1, 2, 3 or 4",
            )),
        },
    }
}

impl Herald {
    /// `caller` acting for application `app_id`, with its tenant: an app
    /// that does not exist (or is Herald's own) is not found; a tenant key
    /// for another app is refused as Herald refuses it.
    fn app_scope(&self, caller: &Caller, app_id: &str) -> Result<(Caller, Tenant)> {
        let scoped = match caller {
            Caller::Api { bearer, .. } => Caller::Api {
                bearer: bearer.clone(),
                tenant: Some(app_id.to_string()),
            },
            Caller::Local { .. } => Caller::Local {
                tenant: Some(app_id.to_string()),
            },
            other => other.clone(),
        };
        let scope = self.tenant_scope(&scoped).map_err(|e| match e {
            ServiceError::InvalidTenantId(_) => ServiceError::NotFound("application"),
            e => e,
        })?;
        if scope.tenant_id.starts_with('_') {
            return Err(ServiceError::NotFound("application"));
        }
        let tenant = self
            .store
            .tenant(&scope.tenant_id)?
            .ok_or(ServiceError::NotFound("application"))?;
        Ok((scoped, tenant))
    }

    /// Creates an application; with `get_if_exists` an existing one with
    /// the same uid is answered instead (`false`: not created).
    pub fn svix_create_app(
        &self,
        caller: &Caller,
        input: AppIn,
        get_if_exists: bool,
    ) -> Result<(Tenant, bool)> {
        self.require_platform(caller)?;
        no_rate_limit("rateLimit", &input.rate_limit)?;
        no_rate_limit("throttleRate", &input.throttle_rate)?;
        let id = match &input.uid {
            Some(uid) => uid.clone(),
            None => format!("app_{}", ulid::Ulid(new_ulid(self.clock.now()).0)),
        };
        if get_if_exists {
            if let Some(t) = self.store.tenant(&id)?.filter(|t| !t.id.starts_with('_')) {
                return Ok((t, false));
            }
        }
        let created = self.create_tenant(
            caller,
            NewTenant {
                id: id.clone(),
                name: Some(input.name),
                metadata: input.metadata.unwrap_or_default(),
            },
        );
        match created {
            Ok(t) => Ok((t, true)),
            // Created by a concurrent request meanwhile.
            Err(ServiceError::TenantExists(_)) if get_if_exists => self
                .store
                .tenant(&id)?
                .map(|t| (t, false))
                .ok_or(ServiceError::NotFound("application")),
            Err(ServiceError::TenantExists(_)) => Err(ServiceError::Conflict {
                code: "conflict",
                message: format!("an application with uid {id:?} already exists"),
            }),
            Err(ServiceError::Invalid(mut f)) if f.field == "id" => {
                f.field = "uid";
                Err(ServiceError::Invalid(f))
            }
            Err(e) => Err(e),
        }
    }

    /// Every application (tenant), a page at a time (ascending by id
    /// unless asked otherwise).
    pub fn svix_list_apps(&self, caller: &Caller, page: &ListPage) -> Result<Listed<Tenant>> {
        self.require_platform(caller)?;
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = self.store.list_tenants(after.as_deref(), 1000)?;
            let full = batch.len() == 1000;
            after = batch.last().map(|t| t.id.clone());
            all.extend(batch.into_iter().filter(|t| !t.id.starts_with('_')));
            if !full {
                break;
            }
        }
        Ok(page_sorted(all, page, Order::Ascending, |t| t.id.clone()))
    }

    /// One application.
    pub fn svix_get_app(&self, caller: &Caller, app_id: &str) -> Result<Tenant> {
        Ok(self.app_scope(caller, app_id)?.1)
    }

    /// Replaces an application's name and metadata, creating it (with
    /// this id) if there is none (`true`: created).
    pub fn svix_put_app(
        &self,
        caller: &Caller,
        app_id: &str,
        input: AppIn,
    ) -> Result<(Tenant, bool)> {
        self.require_platform(caller)?;
        match self.app_scope(caller, app_id) {
            Ok(_) => {
                let patch = AppPatch {
                    name: Some(input.name),
                    uid: input.uid.map(Some),
                    metadata: Some(input.metadata.unwrap_or_default()),
                    rate_limit: input.rate_limit,
                    throttle_rate: input.throttle_rate,
                };
                Ok((self.svix_patch_app(caller, app_id, patch)?, false))
            }
            Err(ServiceError::NotFound(_)) => {
                if input.uid.as_deref().is_some_and(|u| u != app_id) {
                    return Err(ServiceError::invalid(
                        "uid",
                        "must be the application id of the path",
                    ));
                }
                let input = AppIn {
                    uid: Some(app_id.to_string()),
                    ..input
                };
                self.svix_create_app(caller, input, false)
            }
            Err(e) => Err(e),
        }
    }

    /// Changes an application's name or metadata (its uid is its id and
    /// cannot change).
    pub fn svix_patch_app(&self, caller: &Caller, app_id: &str, patch: AppPatch) -> Result<Tenant> {
        self.require_platform(caller)?;
        no_rate_limit("rateLimit", &patch.rate_limit)?;
        no_rate_limit("throttleRate", &patch.throttle_rate)?;
        let (_, tenant) = self.app_scope(caller, app_id)?;
        if let Some(uid) = &patch.uid {
            if uid.as_deref() != Some(tenant.id.as_str()) {
                return Err(ServiceError::invalid(
                    "uid",
                    "an application's uid is its id in Herald and cannot change",
                ));
            }
        }
        self.update_tenant(
            caller,
            &tenant.id,
            super::TenantPatch {
                name: patch.name,
                suspended: None,
                metadata: patch.metadata,
            },
        )
    }

    /// Deletes an application: its endpoints (their pending deliveries
    /// are cancelled), then the tenant. Its messages age out with the
    /// retention purge.
    pub fn svix_delete_app(&self, caller: &Caller, app_id: &str) -> Result<()> {
        self.require_platform(caller)?;
        let (scoped, tenant) = self.app_scope(caller, app_id)?;
        for ep in self.store.list_endpoints(&tenant.id, None, usize::MAX)? {
            self.delete_endpoint(&scoped, &ep.id.to_string())?;
        }
        self.store.delete_tenant(&tenant.id)?;
        log::info!("tenant {} deleted (Svix application)", tenant.id);
        Ok(())
    }

    /// One endpoint of an application, by id or uid, with the caller
    /// scoped to the application.
    fn app_endpoint(&self, caller: &Caller, app_id: &str, ep: &str) -> Result<(Caller, Endpoint)> {
        let (scoped, _) = self.app_scope(caller, app_id)?;
        let ep = self.get_endpoint_by_id_or_uid(&scoped, ep)?;
        Ok((scoped, ep))
    }

    /// Creates an endpoint.
    pub fn svix_create_endpoint(
        &self,
        caller: &Caller,
        app_id: &str,
        input: EndpointIn,
    ) -> Result<Endpoint> {
        let (scoped, _) = self.app_scope(caller, app_id)?;
        no_rate_limit("rateLimit", &input.rate_limit)?;
        no_rate_limit("throttleRate", &input.throttle_rate)?;
        check_version(input.version)?;
        let new = NewEndpoint {
            url: input.url,
            events: input.filter_types.unwrap_or_else(|| vec!["*".into()]),
            description: input.description,
            active: input.disabled.map(|d| !d),
            uid: input.uid,
            headers: input.headers.unwrap_or_default(),
            channels: input.channels.unwrap_or_default(),
            metadata: input.metadata.unwrap_or_default(),
            // Receivers moved from Svix may verify the svix-* names only.
            svix_headers: true,
            secret: input.secret.map(with_prefix),
            // Svix has no stream endpoints; its API makes URL ones only.
            kind: None,
        };
        self.create_endpoint(&scoped, new)
    }

    /// An application's endpoints (newest first unless asked otherwise).
    pub fn svix_list_endpoints(
        &self,
        caller: &Caller,
        app_id: &str,
        page: &ListPage,
    ) -> Result<Listed<Endpoint>> {
        let (_, tenant) = self.app_scope(caller, app_id)?;
        let all = self.store.list_endpoints(&tenant.id, None, usize::MAX)?;
        Ok(page_sorted(all, page, Order::Descending, |e| {
            e.id.to_string()
        }))
    }

    /// One endpoint, by id or uid.
    pub fn svix_get_endpoint(&self, caller: &Caller, app_id: &str, ep: &str) -> Result<Endpoint> {
        Ok(self.app_endpoint(caller, app_id, ep)?.1)
    }

    /// Replaces an endpoint's settings (what is left out goes back to its
    /// default), creating it with `ep` as its uid if there is none (`true`:
    /// created).
    pub fn svix_put_endpoint(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        input: EndpointIn,
    ) -> Result<(Endpoint, bool)> {
        let (scoped, _) = self.app_scope(caller, app_id)?;
        match self.get_endpoint_by_id_or_uid(&scoped, ep) {
            Ok(found) => {
                let patch = EndpointPatchIn {
                    url: Some(input.url),
                    description: Some(input.description.unwrap_or_default()),
                    filter_types: Some(input.filter_types),
                    channels: Some(input.channels),
                    disabled: Some(input.disabled.unwrap_or(false)),
                    uid: Some(input.uid),
                    metadata: Some(input.metadata.unwrap_or_default()),
                    secret: None,
                    version: input.version,
                    rate_limit: input.rate_limit,
                    throttle_rate: input.throttle_rate,
                };
                let ep = self.svix_patch_found(&scoped, &found, patch)?;
                Ok((ep, false))
            }
            Err(ServiceError::NotFound(_)) if !ep.starts_with(EndpointId::PREFIX) => {
                let input = EndpointIn {
                    uid: Some(input.uid.unwrap_or_else(|| ep.to_string())),
                    ..input
                };
                Ok((self.svix_create_endpoint(caller, app_id, input)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Changes the fields present.
    pub fn svix_patch_endpoint(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        patch: EndpointPatchIn,
    ) -> Result<Endpoint> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        self.svix_patch_found(&scoped, &found, patch)
    }

    fn svix_patch_found(
        &self,
        scoped: &Caller,
        found: &Endpoint,
        patch: EndpointPatchIn,
    ) -> Result<Endpoint> {
        patch.check()?;
        let id = found.id.to_string();
        let native = EndpointPatch {
            url: patch.url,
            events: patch
                .filter_types
                .map(|f| f.unwrap_or_else(|| vec!["*".into()])),
            description: patch.description,
            active: patch.disabled.map(|d| !d),
            uid: patch.uid,
            headers: None,
            channels: patch.channels.map(Option::unwrap_or_default),
            metadata: patch.metadata,
            svix_headers: None,
        };
        let ep = self.update_endpoint(scoped, &id, native)?;
        match patch.secret {
            Some(s) => self.rotate_secret_to(scoped, &id, Some(with_prefix(s))),
            None => Ok(ep),
        }
    }

    /// Deletes an endpoint.
    pub fn svix_delete_endpoint(&self, caller: &Caller, app_id: &str, ep: &str) -> Result<()> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        self.delete_endpoint(&scoped, &found.id.to_string())
    }

    /// Rotates an endpoint's secret, to `key` if given.
    pub fn svix_rotate_secret(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        key: Option<String>,
    ) -> Result<Endpoint> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        self.rotate_secret_to(&scoped, &found.id.to_string(), key.map(with_prefix))
    }

    /// Sets an endpoint's custom headers: all of them (`replace`), or
    /// merged into them with `delete` removed.
    pub fn svix_set_headers(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        headers: BTreeMap<String, String>,
        delete: Vec<String>,
        replace: bool,
    ) -> Result<Endpoint> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        let mut next = if replace {
            BTreeMap::new()
        } else {
            found.headers.clone()
        };
        for d in &delete {
            next.retain(|k, _| !k.eq_ignore_ascii_case(d));
        }
        for (k, v) in headers {
            next.retain(|old, _| !old.eq_ignore_ascii_case(&k));
            next.insert(k, v);
        }
        let patch = EndpointPatch {
            headers: Some(next),
            ..EndpointPatch::default()
        };
        self.update_endpoint(&scoped, &found.id.to_string(), patch)
    }

    /// Re-queues the endpoint's failed deliveries created since `since`
    /// (and before `until`).
    pub fn svix_recover(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        since: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<RecoverTask> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        let requeued = self.replay_between(&scoped, &found.id.to_string(), since, until)?;
        let now = self.clock.now();
        Ok(RecoverTask {
            id: format!("qtask_{}", ulid::Ulid(new_ulid(now).0)),
            at: now,
            requeued,
        })
    }

    /// Sends a sample event of `event_type` to one endpoint.
    pub fn svix_send_example(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        event_type: &str,
    ) -> Result<Event> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        let out = self.send_test(&scoped, &found.id.to_string(), event_type)?;
        out.events
            .into_iter()
            .next()
            .map(|e| e.event)
            .ok_or_else(|| ServiceError::invalid("eventType", "no example was sent"))
    }

    /// An endpoint's deliveries by status, created between `since` and
    /// `until` when given.
    pub fn svix_endpoint_stats(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<EndpointStats> {
        let (_, found) = self.app_endpoint(caller, app_id, ep)?;
        let mut out = EndpointStats::default();
        let mut after = since.map(|s| DeliveryId::from_u128(first_ulid_at(s).saturating_sub(1)));
        'scan: loop {
            let page = self.store.endpoint_deliveries(found.id, after, 1000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for d in &page {
                if until.is_some_and(|u| d.created_at > u) {
                    break 'scan;
                }
                if since.is_some_and(|s| d.created_at < s) {
                    continue;
                }
                match d.status() {
                    Status::Succeeded => out.success += 1,
                    Status::Failed => out.fail += 1,
                    Status::Pending | Status::Retrying | Status::Held => out.pending += 1,
                }
            }
        }
        Ok(out)
    }

    /// Sends a message: an event whose body is its payload. A second
    /// message with the same `eventId` is refused (409), as Svix does.
    pub fn svix_create_message(
        &self,
        caller: &Caller,
        app_id: &str,
        input: MessageIn,
    ) -> Result<Event> {
        if let Some(app) = input.application {
            if self.store.tenant(app_id)?.is_none() {
                let app = AppIn {
                    uid: Some(app_id.to_string()),
                    ..app
                };
                self.svix_create_app(caller, app, true)?;
            }
        }
        let (scoped, _) = self.app_scope(caller, app_id)?;
        if !input.payload.is_object() {
            return Err(ServiceError::invalid("payload", "must be a JSON object"));
        }
        let mut batch = self.batch_ingest(&scoped, 1, None)?;
        batch
            .add_raw(RawEvent {
                event_type: input.event_type,
                payload: input.payload,
                id: input.event_id,
                channels: input.channels.unwrap_or_default(),
                tags: input.tags.unwrap_or_default(),
            })
            .map_err(|e| match e {
                ServiceError::Invalid(mut f) if f.field == "id" => {
                    f.field = "eventId";
                    ServiceError::Invalid(f)
                }
                e => e,
            })?;
        let out = self.batch_start(batch).wait()?;
        let first = out
            .events
            .into_iter()
            .next()
            .ok_or(ServiceError::NotFound("message"))?;
        if first.duplicate {
            return Err(ServiceError::Conflict {
                code: "conflict",
                message: format!(
                    "a message with eventId {:?} already exists in this application",
                    first.event.id
                ),
            });
        }
        Ok(first.event)
    }

    /// An application's messages, newest first, filtered.
    pub fn svix_list_messages(
        &self,
        caller: &Caller,
        app_id: &str,
        page: &ListPage,
        filter: &MessageFilter,
    ) -> Result<Listed<Event>> {
        let (_, tenant) = self.app_scope(caller, app_id)?;
        let cursor_key = |id: &str| {
            key_named_by(id).ok_or_else(|| {
                ServiceError::bad_query("iterator", "not an iterator this API issued")
            })
        };
        // Time bounds as key bounds (keys are ULIDs: time first).
        let mut lo = filter
            .after
            .map(|a| first_ulid_at(a.plus_millis(1)).saturating_sub(1))
            .unwrap_or(0);
        let mut hi = filter.before.map(first_ulid_at).unwrap_or(u128::MAX);
        // Svix: with only `after` (no iterator), walk forward from it.
        let ascending = match &page.cursor {
            Some(Cursor::Normal(id)) => {
                hi = hi.min(cursor_key(id)?);
                false
            }
            Some(Cursor::Prev(id)) => {
                lo = lo.max(cursor_key(id)?);
                true
            }
            None => filter.after.is_some() && filter.before.is_none(),
        };
        let mut keep = |e: &Event| {
            (filter.event_types.is_empty() || filter.event_types.contains(&e.event_type))
                && filter
                    .channel
                    .as_ref()
                    .is_none_or(|c| e.channels.contains(c))
                && filter.tag.as_ref().is_none_or(|t| e.tags.contains(t))
        };
        let scan = self.store.scan_events(
            &tenant.id,
            (lo, hi),
            ascending,
            page.limit + 1,
            EVENT_BUDGET,
            &mut keep,
        )?;
        let mut listed =
            Listed::from_fetched(scan.events, page.limit, ascending, |e| generated_id(e.key));
        if let Some(stop) = scan.stopped_at {
            // Cut short by the budget: the next page resumes at the event
            // not yet looked at (iterators are exclusive bounds).
            listed.done = false;
            if ascending {
                listed.prev_iterator = Some(format!("-{}", generated_id(stop.saturating_sub(1))));
            } else {
                listed.iterator = Some(generated_id(stop.saturating_add(1)));
            }
        }
        Ok(listed)
    }

    /// The event a message id names in `tenant`: its client id (`eventId`)
    /// or the id Herald generated from its key.
    fn message_of(&self, tenant: &str, id: &str) -> Result<Event> {
        if let Some(e) = self.store.event_by_id(tenant, id)? {
            return Ok(e);
        }
        if let Some(k) = key_named_by(id) {
            if let Some(e) = self.store.event(k)?.filter(|e| e.tenant_id == tenant) {
                return Ok(e);
            }
        }
        Err(ServiceError::NotFound("message"))
    }

    /// One message, by id or `eventId`.
    pub fn svix_get_message(&self, caller: &Caller, app_id: &str, msg: &str) -> Result<Event> {
        let (_, tenant) = self.app_scope(caller, app_id)?;
        self.message_of(&tenant.id, msg)
    }

    /// A delivery's attempts as Svix lists them (oldest first).
    fn svix_attempts_of(&self, d: &Delivery) -> Result<Vec<SvixAttempt>> {
        let attempts = self.store.attempts(d.id)?;
        let mut out = Vec::with_capacity(attempts.len());
        let mut previous: Option<&Attempt> = None;
        for a in &attempts {
            out.push(SvixAttempt {
                attempt: a.clone(),
                endpoint_id: d.endpoint_id,
                event_key: d.event_key,
                manual: manual_after(previous),
            });
            previous = Some(a);
        }
        Ok(out)
    }

    fn message_attempts(&self, event: &Event) -> Result<Vec<SvixAttempt>> {
        let mut all = Vec::new();
        for (d, _) in &event.deliveries {
            if let Some(d) = self.store.delivery(DeliveryId::from_u128(*d))? {
                all.extend(self.svix_attempts_of(&d)?);
            }
        }
        all.sort_by_key(|a| a.attempt.id.as_u128());
        Ok(all)
    }

    /// A message's attempts, newest first, optionally of one endpoint and
    /// with one status.
    pub fn svix_attempts_by_message(
        &self,
        caller: &Caller,
        app_id: &str,
        msg: &str,
        page: &ListPage,
        endpoint: Option<&str>,
        status: Option<&str>,
    ) -> Result<Listed<SvixAttempt>> {
        let (scoped, tenant) = self.app_scope(caller, app_id)?;
        let status = parse_status(status)?;
        let endpoint = match endpoint.filter(|e| !e.is_empty()) {
            Some(e) => Some(self.get_endpoint_by_id_or_uid(&scoped, e)?.id),
            None => None,
        };
        let event = self.message_of(&tenant.id, msg)?;
        let all: Vec<SvixAttempt> = self
            .message_attempts(&event)?
            .into_iter()
            .filter(|a| endpoint.is_none_or(|e| a.endpoint_id == e))
            .filter(|a| status.is_none_or(|s| a.status() == s))
            .collect();
        let page = ListPage {
            order: None,
            ..page.clone()
        };
        Ok(page_sorted(all, &page, Order::Descending, |a| {
            a.attempt.id.to_string()
        }))
    }

    /// One attempt of a message.
    pub fn svix_get_attempt(
        &self,
        caller: &Caller,
        app_id: &str,
        msg: &str,
        attempt: &str,
    ) -> Result<SvixAttempt> {
        let (_, tenant) = self.app_scope(caller, app_id)?;
        let event = self.message_of(&tenant.id, msg)?;
        self.message_attempts(&event)?
            .into_iter()
            .find(|a| a.attempt.id.to_string() == attempt)
            .ok_or(ServiceError::NotFound("attempt"))
    }

    /// An endpoint's attempts, newest first (by delivery, then attempt),
    /// optionally with one status; a page looks at no more than
    /// [`DELIVERY_BUDGET`] deliveries.
    pub fn svix_attempts_by_endpoint(
        &self,
        caller: &Caller,
        app_id: &str,
        ep: &str,
        page: &ListPage,
        status: Option<&str>,
    ) -> Result<Listed<SvixAttempt>> {
        let (_, found) = self.app_endpoint(caller, app_id, ep)?;
        let status = parse_status(status)?;
        let bad = || ServiceError::bad_query("iterator", "not an iterator this API issued");
        let parse = |s: &str| -> Result<(DeliveryId, u128)> {
            let (d, a) = s.split_once('.').ok_or_else(bad)?;
            let d: DeliveryId = d.parse().map_err(|_| bad())?;
            let a: crate::domain::ids::AttemptId = a.parse().map_err(|_| bad())?;
            Ok((d, a.as_u128()))
        };
        let (ascending, from) = match &page.cursor {
            None => (false, None),
            Some(Cursor::Normal(s)) => (false, Some(parse(s)?)),
            Some(Cursor::Prev(s)) => (true, Some(parse(s)?)),
        };
        let want = page.limit + 1;
        let mut fetched: Vec<SvixAttempt> = Vec::new();
        let mut looked = 0;
        let mut cut_short = false;
        let mut next: Option<DeliveryId> = from.map(|(d, _)| d);
        let mut first = true;
        'scan: loop {
            let deliveries: Vec<Delivery> = if ascending {
                // Oldest first, from the cursor's delivery on.
                let after = next
                    .map(|d| DeliveryId::from_u128(d.as_u128().saturating_sub(u128::from(first))));
                self.store.endpoint_deliveries(found.id, after, 200)?
            } else {
                let filter = DeliveryFilter {
                    tenant: found.tenant_id.clone(),
                    endpoint: Some(found.id),
                    ..DeliveryFilter::default()
                };
                let before = next
                    .map(|d| DeliveryId::from_u128(d.as_u128().saturating_add(u128::from(first))));
                self.store.list_deliveries(&filter, before, 200)?.items
            };
            first = false;
            let Some(last) = deliveries.last() else { break };
            next = Some(last.id);
            for d in &deliveries {
                if looked >= DELIVERY_BUDGET {
                    cut_short = true;
                    break 'scan;
                }
                looked += 1;
                let mut attempts = self.svix_attempts_of(d)?;
                if !ascending {
                    attempts.reverse();
                }
                for a in attempts {
                    if let Some((fd, fa)) = from {
                        let at = a.attempt.id.as_u128();
                        if d.id == fd && (if ascending { at <= fa } else { at >= fa }) {
                            continue;
                        }
                    }
                    if status.is_some_and(|s| a.status() != s) {
                        continue;
                    }
                    fetched.push(a);
                    if fetched.len() >= want {
                        break 'scan;
                    }
                }
            }
        }
        let mut listed =
            Listed::from_fetched(fetched, page.limit, ascending, SvixAttempt::endpoint_cursor);
        if cut_short {
            listed.done = false;
        }
        Ok(listed)
    }

    /// Sends a message to one endpoint again now (its delivery gets one
    /// more attempt, a manual one).
    pub fn svix_resend(&self, caller: &Caller, app_id: &str, msg: &str, ep: &str) -> Result<()> {
        let (scoped, found) = self.app_endpoint(caller, app_id, ep)?;
        let event = self.message_of(&found.tenant_id, msg)?;
        let delivery = event
            .deliveries
            .iter()
            .find(|(_, e)| *e == found.id.as_u128())
            .map(|(d, _)| DeliveryId::from_u128(*d))
            .ok_or(ServiceError::NotFound("message for this endpoint"))?;
        self.resend(&scoped, &delivery.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: usize, it: Option<&str>, order: Option<&str>) -> ListPage {
        ListPage::parse(Some(&limit.to_string()), it, order).unwrap()
    }

    fn ids(l: &Listed<u32>) -> Vec<u32> {
        l.data.clone()
    }

    #[test]
    fn limits_and_iterators_parse_as_svix_sends_them() {
        let p = ListPage::parse(None, None, None).unwrap();
        assert_eq!((p.limit, p.cursor, p.order), (DEFAULT_LIMIT, None, None));
        assert!(ListPage::parse(Some("250"), None, None).is_ok());
        for bad in ["0", "251", "x", "-1"] {
            assert!(ListPage::parse(Some(bad), None, None).is_err(), "{bad}");
        }
        assert_eq!(
            ListPage::parse(None, Some("-ep_1"), None).unwrap().cursor,
            Some(Cursor::Prev("ep_1".into()))
        );
        assert_eq!(
            ListPage::parse(None, Some("ep_1"), Some("ascending"))
                .unwrap()
                .cursor,
            Some(Cursor::Normal("ep_1".into()))
        );
        assert!(ListPage::parse(None, None, Some("sideways")).is_err());
    }

    #[test]
    fn pages_walk_forward_and_back_in_both_orders() {
        let all: Vec<u32> = (1..=7).collect();
        let id = |n: &u32| format!("{n:03}");
        // Descending: 7 6 5 | 4 3 2 | 1.
        let p1 = page_sorted(all.clone(), &page(3, None, None), Order::Descending, id);
        assert_eq!((ids(&p1), p1.done), (vec![7, 6, 5], false));
        assert_eq!(p1.iterator.as_deref(), Some("005"));
        assert_eq!(p1.prev_iterator.as_deref(), Some("-007"));
        let p2 = page_sorted(
            all.clone(),
            &page(3, Some("005"), None),
            Order::Descending,
            id,
        );
        assert_eq!(ids(&p2), vec![4, 3, 2]);
        let p3 = page_sorted(
            all.clone(),
            &page(3, Some("002"), None),
            Order::Descending,
            id,
        );
        assert_eq!((ids(&p3), p3.done), (vec![1], true));
        // Back from page 3: the page before it, in the same order.
        let back = page_sorted(
            all.clone(),
            &page(3, Some("-001"), None),
            Order::Descending,
            id,
        );
        assert_eq!(ids(&back), vec![4, 3, 2]);
        let back2 = page_sorted(
            all.clone(),
            &page(3, Some("-004"), None),
            Order::Descending,
            id,
        );
        assert_eq!((ids(&back2), back2.done), (vec![7, 6, 5], true));
        // Ascending.
        let a1 = page_sorted(
            all.clone(),
            &page(4, None, Some("ascending")),
            Order::Descending,
            id,
        );
        assert_eq!(ids(&a1), vec![1, 2, 3, 4]);
        let a2 = page_sorted(
            all.clone(),
            &page(4, Some("004"), Some("ascending")),
            Order::Descending,
            id,
        );
        assert_eq!((ids(&a2), a2.done), (vec![5, 6, 7], true));
        let a0 = page_sorted(
            all.clone(),
            &page(4, Some("-005"), Some("ascending")),
            Order::Descending,
            id,
        );
        assert_eq!(ids(&a0), vec![1, 2, 3, 4]);
        // Empty: no iterator, done.
        let e = page_sorted(
            Vec::<u32>::new(),
            &page(3, None, None),
            Order::Ascending,
            id,
        );
        assert!(e.done && e.iterator.is_none() && e.prev_iterator.is_none());
    }

    #[test]
    fn statuses_and_triggers_in_svix_terms() {
        assert_eq!(attempt_status(Verdict::Success), 0);
        assert_eq!(attempt_status(Verdict::Retry), 2);
        assert_eq!(attempt_status(Verdict::Permanent), 2);
        assert_eq!(status_text(0), "success");
        assert_eq!(status_text(2), "fail");
        assert_eq!(parse_status(Some("2")).unwrap(), Some(2));
        assert_eq!(parse_status(Some("4")).unwrap(), Some(4));
        assert!(parse_status(Some("9")).is_err());
        assert!(!manual_after(None));
    }

    #[test]
    fn secrets_get_their_prefix_and_rate_limits_are_refused() {
        assert_eq!(with_prefix("abc".into()), "whsec_abc");
        assert_eq!(with_prefix("whsec_abc".into()), "whsec_abc");
        assert!(no_rate_limit("rateLimit", &None).is_ok());
        assert!(no_rate_limit("rateLimit", &Some(Value::Null)).is_ok());
        let e = no_rate_limit("rateLimit", &Some(Value::from(10))).unwrap_err();
        assert_eq!(e.field(), Some("rateLimit"));
    }
}
