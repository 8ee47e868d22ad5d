//! Persistence behind small traits.
//!
//! **Architecture invariant:** no sled type appears outside this module.
//! Services see the traits below and [`StoreError`]; the sled implementation
//! (`sled_store`), its key layout (`keys`), record codec (`codec`) and
//! migrations (`migrations`) are private details, so another backend can be
//! added without touching the layers above.
//!
//! Durability: every mutating call has been flushed to disk when it returns
//! `Ok`, so an API that acknowledges after a store call never acknowledges
//! something a crash could lose.

mod cache;
mod codec;
mod committer;
mod keys;
mod migrations;
mod sled_delivery;
mod sled_store;

pub use committer::CommitStats;
pub use sled_store::SledStore;

use crate::domain::alert::{Alert, Rule, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::health::Health;
use crate::domain::ids::{DeliveryId, EndpointId, KeyId};
use crate::domain::session::Session;
pub use crate::domain::stats::Grain;
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;

/// A store result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (normally a running `herald serve`) holds the lock.
    #[error(
        "the data directory {path} is in use by another process (is `herald serve` running on it?)"
    )]
    Locked {
        /// The data directory.
        path: String,
    },
    /// The disk or the storage engine failed.
    #[error("storage error: {0}")]
    Io(String),
    /// A stored record could not be decoded.
    #[error("stored {kind} record is unreadable: {reason}")]
    Corrupt {
        /// What kind of record.
        kind: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The data directory was written by a newer Herald.
    #[error("the data directory has schema version {found}, but this herald only knows up to {known}; upgrade herald")]
    TooNew {
        /// The version found on disk.
        found: u32,
        /// The newest version this build can read.
        known: u32,
    },
    /// A uniqueness rule or a concurrent change stopped the write.
    #[error("{0}")]
    Conflict(Conflict),
}

/// The uniqueness rules the store enforces atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The tenant already has an endpoint with this URL.
    #[error("the tenant already has an endpoint with this URL")]
    UrlTaken,
    /// The record changed between read and write; re-read and retry.
    #[error("the record changed concurrently")]
    Changed,
}

/// Tenants.
pub trait TenantStore {
    /// Inserts `t` unless a tenant with its id exists; `false` if it did.
    fn insert_tenant(&self, t: &Tenant) -> Result<bool>;
    /// Overwrites a tenant.
    fn put_tenant(&self, t: &Tenant) -> Result<()>;
    /// One tenant.
    fn tenant(&self, id: &str) -> Result<Option<Tenant>>;
    /// Tenants in id order, strictly after `after`.
    fn list_tenants(&self, after: Option<&str>, limit: usize) -> Result<Vec<Tenant>>;
}

/// API keys, findable by id and by the hash of their text.
pub trait KeyStore {
    /// Inserts a new key and its hash index.
    fn insert_key(&self, k: &ApiKey) -> Result<()>;
    /// Overwrites a key (e.g. to mark it revoked).
    fn put_key(&self, k: &ApiKey) -> Result<()>;
    /// One key by id.
    fn key(&self, id: KeyId) -> Result<Option<ApiKey>>;
    /// The key whose text hashes to `hash`.
    fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>>;
    /// Keys oldest first, strictly after `after`.
    fn list_keys(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<ApiKey>>;
}

/// Admin panel users.
pub trait UserStore {
    /// Inserts `u` unless the username is taken; `false` if it was.
    fn insert_user(&self, u: &User) -> Result<bool>;
    /// Overwrites a user.
    fn put_user(&self, u: &User) -> Result<()>;
    /// One user.
    fn user(&self, username: &str) -> Result<Option<User>>;
    /// Every user in name order.
    fn list_users(&self) -> Result<Vec<User>>;
}

/// Admin panel sessions, keyed by the SHA-256 of their id.
pub trait SessionStore {
    /// Inserts or overwrites a session.
    fn put_session(&self, s: &Session) -> Result<()>;
    /// The session whose id hashes to `id_hash`.
    fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>>;
    /// Removes a session; removing a missing one is not an error.
    fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()>;
    /// Every stored session (for purging expired ones and logging a user
    /// out everywhere; there are few).
    fn list_sessions(&self) -> Result<Vec<Session>>;
}

/// Endpoints, indexed by tenant and by (tenant, URL).
pub trait EndpointStore {
    /// Inserts a new endpoint; [`Conflict::UrlTaken`] if the tenant already
    /// has one with this URL.
    fn insert_endpoint(&self, e: &Endpoint) -> Result<()>;
    /// Replaces `before` with `after` (same id) if the stored record still
    /// equals `before` ([`Conflict::Changed`] otherwise); keeps the URL
    /// index in step ([`Conflict::UrlTaken`]).
    fn update_endpoint(&self, before: &Endpoint, after: &Endpoint) -> Result<()>;
    /// Removes an endpoint and its index entries.
    fn delete_endpoint(&self, e: &Endpoint) -> Result<()>;
    /// One endpoint by id.
    fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>>;
    /// A tenant's endpoints oldest first, strictly after `after`.
    fn list_endpoints(
        &self,
        tenant: &str,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>>;
}

/// An event to store with the deliveries fan-out made for it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event (its `deliveries` list matches `deliveries`).
    pub event: Event,
    /// One per matching endpoint; pending (due now) or held.
    pub deliveries: Vec<Delivery>,
}

/// An `Idempotency-Key` to honour while committing.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The key, scoped to the tenant.
    pub key: String,
    /// The tenant.
    pub tenant_id: String,
    /// Now.
    pub now: Timestamp,
    /// A stored key older than this is ignored (and replaced).
    pub not_before: Timestamp,
}

/// What committing one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Stored now.
    Created,
    /// An event with this client-supplied id exists: nothing was written;
    /// here is the existing event's key.
    Duplicate(u128),
}

/// What committing a set of events did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// One result per event, in order.
    Done(Vec<Committed>),
    /// The idempotency key was used within its window: nothing was
    /// written; these are the event keys of the original request.
    Replayed(Vec<u128>),
}

/// A due-index entry: a delivery whose next attempt is due at `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due {
    /// When.
    pub due: Timestamp,
    /// Which delivery.
    pub delivery: DeliveryId,
    /// Its endpoint (for per-endpoint caps without a read).
    pub endpoint: EndpointId,
}

/// Called once a write is durable (or failed).
pub type Then = Box<dyn FnOnce(Result<()>) + Send>;

/// Called once committed events are durable (or the write failed).
pub type ThenCommitted = Box<dyn FnOnce(Result<CommitOutcome>) + Send>;

/// Called once an attempt is durable, with the endpoint's health after it.
pub type ThenHealth = Box<dyn FnOnce(Result<Health>) + Send>;

/// Which deliveries a log query wants. The tenant (or endpoint) and the
/// time range are served by indexes; event type and state filter the rows
/// those yield.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// The tenant.
    pub tenant: String,
    /// Only this endpoint's.
    pub endpoint: Option<EndpointId>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created at or before.
    pub until: Option<Timestamp>,
}

/// One stored statistics row.
#[derive(Debug, Clone)]
pub struct StatsRow {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// Bucket start.
    pub start: Timestamp,
    /// The counters.
    pub stats: Stats,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPage {
    /// The rows.
    pub items: Vec<Delivery>,
    /// Where the next page starts (exclusive), if there may be more.
    pub next: Option<DeliveryId>,
}

/// Events, deliveries, attempts and the due-time index. Every write goes
/// through the group committer: durable when its result is reported.
///
/// A delivery's index entries follow from its state: it is in the due
/// index (`due` = `next_attempt_at`) while pending and not held, and in the
/// held index while held. [`DeliveryStore::update_delivery`] keeps both in
/// step from the before and after states, so no caller maintains indexes.
/// What a retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Events received before the cutoff that the pass looked at.
    pub examined: usize,
    /// Events removed, with their deliveries.
    pub events: usize,
    /// Deliveries removed (each had ended: succeeded or failed).
    pub deliveries: usize,
    /// Attempt records removed.
    pub attempts: usize,
    /// Statistics rows, alert history entries and idempotency keys removed.
    pub rows: usize,
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, o: Self) {
        self.examined += o.examined;
        self.events += o.events;
        self.deliveries += o.deliveries;
        self.attempts += o.attempts;
        self.rows += o.rows;
    }
}

pub trait DeliveryStore {
    /// Stores events and their deliveries durably (one flush for all).
    fn commit_events(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Result<CommitOutcome>;
    /// As [`DeliveryStore::commit_events`], without waiting: `then` runs
    /// (on a store thread) once the write is durable or has failed.
    fn commit_events_then(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
        then: ThenCommitted,
    );
    /// The event keys an idempotency key answered, if used since `not_before`.
    fn idempotent_events(
        &self,
        tenant: &str,
        key: &str,
        not_before: Timestamp,
    ) -> Result<Option<Vec<u128>>>;
    /// One event by internal key.
    fn event(&self, key: u128) -> Result<Option<Event>>;
    /// One event by its public id within a tenant.
    fn event_by_id(&self, tenant: &str, id: &str) -> Result<Option<Event>>;
    /// One delivery.
    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    /// A delivery's attempts, oldest first.
    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>>;
    /// Replaces `before` with `after` (same id), keeping the due and held
    /// indexes in step, and records `attempt` if given; `then` runs once
    /// it is durable, or gets `Conflict::Changed` if the delivery is gone
    /// (the retention purge removed it) and nothing was written.
    fn update_delivery(
        &self,
        before: &Delivery,
        after: &Delivery,
        attempt: Option<&Attempt>,
        then: Then,
    );
    /// Like [`DeliveryStore::update_delivery`] for an attempt: also folds
    /// its outcome into the endpoint's health (on the committer thread, the
    /// only writer of health, so concurrent attempts count correctly) and
    /// reports the new health.
    fn record_attempt(
        &self,
        before: &Delivery,
        after: &Delivery,
        attempt: &Attempt,
        success: bool,
        then: ThenHealth,
    );
    /// An endpoint's health.
    fn endpoint_health(&self, endpoint: EndpointId) -> Result<Health>;
    /// A tenant's statistics rows of one grain with `from <= start <= to`.
    fn stats_rows(
        &self,
        tenant: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatsRow>>;
    /// The delivery log, newest first, strictly before `before`.
    fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<DeliveryPage>;
    /// An endpoint's deliveries, oldest first, strictly after `after`.
    fn endpoint_deliveries(
        &self,
        endpoint: EndpointId,
        after: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Vec<Delivery>>;
    /// Due-index entries after `after` (exclusive) up to `until`
    /// (inclusive), in due order, at most `limit`.
    fn due_between(
        &self,
        after: Option<(Timestamp, DeliveryId)>,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Due>>;
    /// Deliveries held for an endpoint.
    fn held_deliveries(&self, endpoint: EndpointId) -> Result<Vec<DeliveryId>>;
    /// Group-commit figures.
    fn commit_stats(&self) -> std::sync::Arc<CommitStats>;
    /// Removes up to `limit` events received before `before` (oldest first,
    /// after the event key `after`) whose every delivery has ended, with
    /// their deliveries, attempts and index entries, in one atomic write
    /// per event. An event with a pending or held delivery stays, whatever
    /// its age: nothing acknowledged is dropped before it is delivered or
    /// given up. Returns what went and the last event key examined (`None`
    /// once no older event is left to examine).
    fn purge_events(
        &self,
        before: Timestamp,
        after: Option<u128>,
        limit: usize,
    ) -> Result<(Purged, Option<u128>)>;
    /// Removes the statistics rows of `tenants` whose bucket ended before
    /// `before`, alert history before `before`, and idempotency keys
    /// recorded before `idempotency_before`; returns how many rows went.
    fn purge_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<usize>;
}
/// Alert states and their history.
pub trait AlertStore {
    /// The state of one rule for one endpoint.
    fn alert(&self, rule: Rule, endpoint: EndpointId) -> Result<Option<Alert>>;
    /// Stores a new state and its transition together, durably.
    fn put_alert(&self, alert: &Alert, transition: &Transition) -> Result<()>;
    /// Every alert state (few: one per rule and endpoint that ever fired).
    fn alerts(&self) -> Result<Vec<Alert>>;
    /// Transitions, newest first.
    fn alert_history(&self, limit: usize) -> Result<Vec<Transition>>;
}

/// Everything Herald stores.
pub trait Store:
    TenantStore
    + KeyStore
    + UserStore
    + SessionStore
    + EndpointStore
    + DeliveryStore
    + AlertStore
    + Send
    + Sync
    + 'static
{
    /// Whether first-start initialisation (admin user, platform key) ran.
    fn is_bootstrapped(&self) -> Result<bool>;
    /// Records that first-start initialisation ran.
    fn mark_bootstrapped(&self) -> Result<()>;
    /// The schema version of the open data directory.
    fn schema_version(&self) -> Result<u32>;
    /// Forces everything written so far to disk.
    fn flush(&self) -> Result<()>;
    /// Bytes the store occupies on disk.
    fn size_on_disk(&self) -> Result<u64>;
}
