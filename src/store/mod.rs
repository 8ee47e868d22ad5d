//! Persistence behind backend-neutral traits.
//!
//! **Architecture invariant:** no sled type appears outside `store/sled/`.
//! Services see the traits below, their plain types and [`StoreError`];
//! a backend implements them (sled in `sled/`), so another backend is
//! added without touching the layers above, and proves itself with the
//! conformance suite (`conformance`), which every backend passes.
//!
//! What the traits own:
//! - the records written directly, each call durable when it returns:
//!   [`TenantStore`], [`KeyStore`], [`UserStore`], [`SessionStore`],
//!   [`EndpointStore`], [`AlertStore`], [`EventTypeStore`];
//! - ingest (events with their deliveries, idempotency) and event reads:
//!   [`EventStore`];
//! - delivery state, attempts, the due and held indexes, the delivery
//!   log: [`DeliveryStore`];
//! - endpoint health, statistics rows, the retention purge, group-commit
//!   figures: [`StatsStore`].
//! - the remembered answers of idempotent requests (the Svix-compatible
//!   API's `idempotency-key`): [`AnswerStore`], left out of dumps.
//!
//! The pipeline's writes (events, delivery changes, attempts, purges) are
//! [`ops::WriteOp`]s applied by the group committer (`committer`), generic
//! over a small backend trait; each answers a [`Ticket`] that resolves
//! once the write is durable, so nothing a caller wrote runs on a store
//! thread. The rules those writes follow (what may be purged, whether an
//! idempotency record still answers, which statistics rows an attempt
//! counts into) are pure functions in `domain`, which every backend calls.
//!
//! Durability: every mutating call has been made durable when it returns
//! `Ok` (or its ticket resolves `Ok`), so an API that acknowledges after a
//! store call never acknowledges something a crash could lose.

mod codec;
#[cfg(test)]
mod codec_fixtures;
mod committer;
#[cfg(test)]
mod conformance;
pub mod dump;
pub mod ops;
mod packed;
pub mod postgres;
pub mod sled;

pub use self::postgres::PgStore;
pub use self::sled::SledStore;
pub use ops::{Ticket, WriteOp};

use crate::domain::alert::{Alert, Rule, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery, Status};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::idempotent::{Claim, SavedAnswer};
use crate::domain::ids::{DeliveryId, EndpointId, KeyId};
use crate::domain::session::Session;
use crate::domain::stats::{Grain, Stats};
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;

/// Where a store lives. [`open`] picks the backend from it; it is the only
/// place that names a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A sled data directory (the default: one binary, one directory).
    Sled {
        /// The directory (created if missing).
        dir: std::path::PathBuf,
        /// sled's page cache, bytes.
        cache_bytes: u64,
    },
    /// A PostgreSQL database (`postgres://user@host:port/db`); Herald's
    /// tables live in its schema `herald`.
    Postgres {
        /// The connection URL.
        url: String,
    },
}

impl Location {
    /// Parses a `--store` value: `sled:PATH` or `postgres://…`
    /// (`postgresql://…` too). `None` for anything else.
    pub fn parse(text: &str, cache_bytes: u64) -> Option<Self> {
        if let Some(dir) = text.strip_prefix("sled:") {
            return (!dir.is_empty()).then(|| Location::Sled {
                dir: dir.into(),
                cache_bytes,
            });
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Some(Location::Postgres { url: text.into() });
        }
        None
    }

    /// For messages: the directory, or the database URL without its
    /// password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sled { dir, .. } => dir.display().to_string(),
            Location::Postgres { url } => without_password(url),
        }
    }
}

/// A URL with its password (if any) blanked, for logs and messages.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Opens the store at `location`, bringing its schema up to date; its
/// timers (write-behind rows) follow `clock`.
pub fn open(
    location: &Location,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
) -> Result<std::sync::Arc<dyn Store>> {
    match location {
        Location::Sled { dir, cache_bytes } => {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Io(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
            let opened = quietly_catching_panics(|| SledStore::open(dir, *cache_bytes, clock));
            match opened {
                Ok(store) => Ok(std::sync::Arc::new(store?)),
                Err(panic) => Err(StoreError::Io(format!(
                    "the storage engine failed reading it ({panic})"
                ))),
            }
        }
        Location::Postgres { url } => Ok(std::sync::Arc::new(PgStore::open(url, clock)?)),
    }
}

/// Removes everything Herald stored at `location` (the benchmark's fresh
/// start on a database it was given): a sled directory, or the schema
/// `herald` of a PostgreSQL database. Nothing may have it open.
pub fn reset(location: &Location) -> Result<()> {
    match location {
        Location::Sled { dir, .. } => match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io(format!("removing {}: {e}", dir.display())))
            }
            _ => Ok(()),
        },
        Location::Postgres { url } => PgStore::drop_schema(url),
    }
}

/// Runs `f`, turning a panic into its message: sled 0.34 panics (rather
/// than answering an error) on some damaged files, and a damaged data
/// directory must end in a plain message, not a panic. The default hook
/// would print the panic with a backtrace hint, so a quiet one stands in
/// while `f` runs (opening happens before any other Herald thread runs).
fn quietly_catching_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let message = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = message.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        if let Ok(mut m) = seen.lock() {
            m.get_or_insert(text);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|_| {
        message
            .lock()
            .ok()
            .and_then(|m| m.clone())
            .unwrap_or_else(|| "a panic".to_string())
    })
}

/// An empty store in a temporary place that vanishes on drop, for tests
/// of the layers above (the default backend).
#[cfg(test)]
pub fn temporary() -> std::sync::Arc<dyn Store> {
    std::sync::Arc::new(SledStore::temporary().expect("opening a temporary store"))
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn a_panic_while_opening_becomes_its_message() {
        let caught = quietly_catching_panics(|| -> u8 { panic!("sled: corrupt segment") });
        assert_eq!(caught, Err("sled: corrupt segment".to_string()));
        let formatted = quietly_catching_panics(|| -> u8 { panic!("offset {}", 42) });
        assert_eq!(formatted, Err("offset 42".to_string()));
        assert_eq!(quietly_catching_panics(|| 7), Ok(7));
    }

    #[test]
    fn a_directory_that_cannot_be_created_is_an_error_naming_it() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let below_a_file = file.path().join("data");
        let err = open(
            &Location::Sled {
                dir: below_a_file.clone(),
                cache_bytes: 4 << 20,
            },
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .err()
        .expect("refused");
        assert!(
            err.to_string()
                .contains(&below_a_file.display().to_string()),
            "{err}"
        );
    }
}

/// A store result.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What a store operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The store cannot write now (a full disk, above all); it says so in
    /// [`Store::write_failure`] until [`Store::recover`] succeeds.
    #[error(
        "the store cannot be written ({0}); writes resume once it is back \
         (the disk has room again, the database answers)"
    )]
    Unavailable(String),
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
    /// An import into a store that already holds records.
    #[error("the store already holds records ({0}); import only into an empty one")]
    NotEmpty(String),
}

/// One thing wrong in a stored data directory, as `herald check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The table (a backend's own name for it, e.g. `d/` deliveries).
    pub table: String,
    /// The key, printable.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.table, self.key, self.problem)
    }
}

/// The uniqueness rules the store enforces atomically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The tenant already has an endpoint with this URL.
    #[error("the tenant already has an endpoint with this URL")]
    UrlTaken,
    /// The tenant already has an endpoint with this `uid`.
    #[error("the tenant already has an endpoint with this uid")]
    UidTaken,
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
    /// Removes a tenant's record; `false` if there was none. (Its
    /// endpoints are the caller's to delete first; its events and
    /// deliveries age out with the retention purge.)
    fn delete_tenant(&self, id: &str) -> Result<bool>;
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
    /// Records that key `id` authenticated a request at `at` (a row of
    /// its own, so it never races a revocation's write of the key).
    /// Written behind, unlike the other writes here: it need not be durable
    /// when this returns (a crash may lose it; the next use writes it
    /// again), since it runs on the request's path and acknowledges
    /// nothing.
    fn record_key_use(&self, id: KeyId, at: Timestamp) -> Result<()>;
    /// When key `id` was last recorded used.
    fn key_last_used(&self, id: KeyId) -> Result<Option<Timestamp>>;
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
    /// Removes a user and its last login; `false` if there was none.
    fn delete_user(&self, username: &str) -> Result<bool>;
    /// Records a login of `username` at `at` (a row of its own, so it
    /// never races an operator's write of the user).
    fn record_login(&self, username: &str, at: Timestamp) -> Result<()>;
    /// When `username` last logged in.
    fn last_login(&self, username: &str) -> Result<Option<Timestamp>>;
}

/// Admin panel sessions, keyed by the SHA-256 of their id.
pub trait SessionStore {
    /// Inserts or overwrites a session.
    fn put_session(&self, s: &Session) -> Result<()>;
    /// The session whose id hashes to `id_hash`.
    fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>>;
    /// Removes a session; removing a missing one is not an error.
    fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()>;
    /// Removes the session whose id hashes to `id_hash` and answers what
    /// was stored, in one atomic step: of concurrent takes of one record,
    /// exactly one gets it (a portal link's single use).
    fn take_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>>;
    /// Every stored session (for purging expired ones and logging a user
    /// out everywhere; there are few).
    fn list_sessions(&self) -> Result<Vec<Session>>;
}

/// Endpoints, indexed by tenant, by (tenant, URL) and by (tenant, uid).
pub trait EndpointStore {
    /// Inserts a new endpoint; [`Conflict::UrlTaken`] if the tenant already
    /// has one with this URL, [`Conflict::UidTaken`] one with its `uid`.
    fn insert_endpoint(&self, e: &Endpoint) -> Result<()>;
    /// Replaces the stored endpoint of `e.id` with `e` if the stored one is
    /// still at `e.revision` ([`Conflict::Changed`] otherwise, or if it is
    /// gone); keeps the URL and uid indexes in step
    /// ([`Conflict::UrlTaken`], [`Conflict::UidTaken`]). Answers
    /// the endpoint as stored, at the next revision.
    fn update_endpoint(&self, e: &Endpoint) -> Result<Endpoint>;
    /// Removes an endpoint and its index entries.
    fn delete_endpoint(&self, e: &Endpoint) -> Result<()>;
    /// One endpoint by id.
    fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>>;
    /// The endpoint of `tenant` whose `uid` is `uid`.
    fn endpoint_by_uid(&self, tenant: &str, uid: &str) -> Result<Option<Endpoint>>;
    /// A tenant's endpoints oldest first, strictly after `after`.
    fn list_endpoints(
        &self,
        tenant: &str,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>>;
}

/// How many times [`modify_endpoint`] re-reads and re-applies a change
/// that lost a race with another writer.
pub const MODIFY_RETRIES: usize = 8;

/// Why [`modify_endpoint`] did not write.
#[derive(Debug)]
pub enum ModifyError<E> {
    /// The change itself refused (a rule of the caller's).
    Refused(E),
    /// The store failed or refused the write (with what was being
    /// written, if it got that far).
    Store(StoreError, Option<Box<Endpoint>>),
}

/// The one optimistic read-modify-write of an endpoint, for every writer
/// (the endpoint service and the delivery engine's auto-disable): reads
/// endpoint `id`, lets `change` produce the new record from it (`Ok(None)`
/// leaves it as it is), and writes it if nobody changed the endpoint
/// meanwhile; if somebody did, reads again and re-applies, up to
/// [`MODIFY_RETRIES`] times. Answers the endpoint as written (or as found,
/// when left as is), or `None` if there is no such endpoint.
pub fn modify_endpoint<S, E>(
    store: &S,
    id: EndpointId,
    mut change: impl FnMut(&Endpoint) -> std::result::Result<Option<Endpoint>, E>,
) -> std::result::Result<Option<Endpoint>, ModifyError<E>>
where
    S: EndpointStore + ?Sized,
{
    for _ in 0..MODIFY_RETRIES {
        let Some(before) = store
            .endpoint(id)
            .map_err(|e| ModifyError::Store(e, None))?
        else {
            return Ok(None);
        };
        let Some(after) = change(&before).map_err(ModifyError::Refused)? else {
            return Ok(Some(before));
        };
        match store.update_endpoint(&after) {
            Ok(written) => return Ok(Some(written)),
            Err(StoreError::Conflict(Conflict::Changed)) => continue,
            Err(e) => return Err(ModifyError::Store(e, Some(Box::new(after)))),
        }
    }
    Err(ModifyError::Store(
        StoreError::Conflict(Conflict::Changed),
        None,
    ))
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
    /// Only in this status (pending, retrying, held, succeeded, failed).
    pub status: Option<Status>,
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

/// A row the retention purge removes, named independently of any backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKey {
    /// A statistics row.
    Stats {
        /// Its grain.
        grain: Grain,
        /// The tenant.
        tenant: String,
        /// The bucket start, unix ms.
        start_ms: i64,
        /// The endpoint.
        endpoint: EndpointId,
    },
    /// An alert history entry.
    AlertHistory {
        /// When, unix ms.
        at_ms: i64,
        /// Its sequence number.
        seq: u128,
    },
    /// An idempotency record.
    Idempotency {
        /// The tenant.
        tenant: String,
        /// The `Idempotency-Key`.
        key: String,
    },
}

/// Group-commit figures, for `/metrics` and the bench.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Syncs (fsyncs, or commits) performed.
    pub syncs: u64,
    /// Writes committed.
    pub ops: u64,
    /// Total sync time, microseconds.
    pub sync_micros: u64,
    /// Total time applying and writing cycles, microseconds.
    pub apply_micros: u64,
}

/// Events: ingest and reads. Every write goes through the group committer.
pub trait EventStore {
    /// Stores events and their deliveries durably (one sync for all the
    /// writers of a cycle); the ticket answers once durable. Client-chosen
    /// ids already used in the tenant are not stored again
    /// ([`Committed::Duplicate`]); an `Idempotency-Key` used within its
    /// window writes nothing ([`CommitOutcome::Replayed`]).
    fn commit_events(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Ticket<CommitOutcome>;
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
    /// Events of `tenant` whose key is strictly between `range.0` and
    /// `range.1`, newest first (oldest first when `ascending`), that `keep`
    /// accepts: at most `limit`, looking at no more than `budget` events
    /// of any tenant, so one page costs a bounded read whatever the store
    /// holds.
    fn scan_events(
        &self,
        tenant: &str,
        range: (u128, u128),
        ascending: bool,
        limit: usize,
        budget: usize,
        keep: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<EventScan>;
}

/// What [`EventStore::scan_events`] found.
#[derive(Debug, Clone, Default)]
pub struct EventScan {
    /// The events, in scan order.
    pub events: Vec<Event>,
    /// Where the scan stopped when it ran out of budget (the key of the
    /// last event looked at): the next scan resumes past it. `None` when
    /// the scan ended for `limit` or the end of the range.
    pub stopped_at: Option<u128>,
}

/// Answers remembered for idempotent requests of the Svix-compatible API
/// (`domain::idempotent`), keyed by their scope hash. Every call is
/// durable when it returns, except marks of a running request (a crash
/// loses them, and a repeat then runs afresh, as it must).
pub trait AnswerStore {
    /// Claims `scope` at `now`, atomically: what
    /// [`crate::domain::idempotent::claim`] says of the stored record; on
    /// [`Claim::Run`] the record becomes `Running { since: now }`, so a
    /// concurrent claim finds [`Claim::Wait`].
    fn claim_answer(&self, scope: &[u8; 32], now: Timestamp) -> Result<Claim>;
    /// Remembers the answer of a claimed scope.
    fn save_answer(&self, scope: &[u8; 32], answer: &SavedAnswer) -> Result<()>;
    /// Forgets a claimed scope (its answer is not remembered), so a repeat
    /// runs again.
    fn forget_answer(&self, scope: &[u8; 32]) -> Result<()>;
    /// Removes every record expired at `now`; answers how many went.
    fn purge_answers(&self, now: Timestamp) -> Result<usize>;
}

/// Deliveries, attempts, the due-time and held indexes, the log.
///
/// A delivery's index entries follow from its state: it is in the due
/// index (`due` = `next_attempt_at`) while pending and not held, and in the
/// held index while held. The store keeps both in step with every write,
/// from the stored state to the new one, so no caller maintains indexes.
pub trait DeliveryStore {
    /// One delivery.
    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    /// A delivery's attempts, oldest first.
    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>>;
    /// Replaces the stored delivery of `delivery.id` with `delivery`,
    /// keeping the indexes in step, and stores `attempt` if given. The
    /// ticket answers `Conflict::Changed` if the delivery is no longer
    /// stored (the retention purge removed it): nothing is written.
    fn update_delivery(&self, delivery: &Delivery, attempt: Option<&Attempt>) -> Ticket<()>;
    /// Like [`DeliveryStore::update_delivery`] without an attempt, but
    /// only while the stored delivery is still held, or due at the same
    /// time, as `seen` was when read: otherwise the ticket answers
    /// `Conflict::Changed` and nothing is written. For writers that race
    /// on one delivery (a stream poll and a worker).
    fn update_delivery_if(&self, delivery: &Delivery, seen: &Delivery) -> Ticket<()>;
    /// Like [`DeliveryStore::update_delivery`] for an attempt: also folds
    /// it into the endpoint's health and statistics (on the committer, the
    /// only writer of both, so concurrent attempts count correctly), and
    /// answers the health after it.
    fn record_attempt(&self, delivery: &Delivery, attempt: &Attempt) -> Ticket<Health>;
    /// [`DeliveryStore::record_attempt`] for an attempt the delivery
    /// engine made: the ticket may answer once the write is applied (every
    /// later read sees it) but before it is durable; the backend then makes
    /// it durable within a bound (sled: `committer::SYNC_BEHIND`, 50 ms, or
    /// the next synced write's sync, whichever comes first).
    ///
    /// Why this is safe: an attempt acknowledges nothing to anyone. Until
    /// its record is durable, what is durable is the delivery as it was
    /// before, still in the due index, so a crash in that window means the
    /// delivery is sent again (at least once), never lost. Events answered
    /// 202 and every write an API caller waits for stay synced before they
    /// answer. By default (a backend whose commit is not a local fsync)
    /// it is [`DeliveryStore::record_attempt`].
    fn record_attempt_behind(&self, delivery: &Delivery, attempt: &Attempt) -> Ticket<Health> {
        self.record_attempt(delivery, attempt)
    }
    /// [`DeliveryStore::record_attempt`], guarded like
    /// [`DeliveryStore::update_delivery_if`]: nothing is written (and the
    /// ticket answers `Conflict::Changed`) unless the stored delivery is
    /// still held, or due at the same time, as `seen` was when read.
    fn record_attempt_if(
        &self,
        delivery: &Delivery,
        attempt: &Attempt,
        seen: &Delivery,
    ) -> Ticket<Health>;
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
    /// The oldest (by id: the order events were accepted in) delivery of
    /// an endpoint that has not ended, held or not: an ordered endpoint's
    /// head, the only one of its deliveries that may be sent. An index
    /// read, however many ended deliveries the endpoint has.
    fn first_pending(&self, endpoint: EndpointId) -> Result<Option<Delivery>>;
    /// What a stream poll may hand out: one endpoint's pending deliveries
    /// that are held (workers park a stream's deliveries there, out of
    /// the due index, until a client takes them), oldest first, then those
    /// due at or before `until`, earliest due first; at most `limit` in
    /// all. Bounded: a backend reads at most `limit` held entries and no
    /// more than [`ENDPOINT_DUE_SCAN`] due entries of other endpoints, so
    /// a large backlog elsewhere can delay a stream's fresh deliveries,
    /// never stall the poll.
    fn stream_ready(
        &self,
        endpoint: EndpointId,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>>;
}

/// The most due-index entries [`DeliveryStore::stream_ready`] reads.
pub const ENDPOINT_DUE_SCAN: usize = 10_000;

/// Endpoint health, statistics rows, the retention purge.
pub trait StatsStore {
    /// An endpoint's health (every recorded attempt counted).
    fn endpoint_health(&self, endpoint: EndpointId) -> Result<Health>;
    /// A tenant's statistics rows of one grain with `from <= start <= to`,
    /// in (start, endpoint) order.
    fn stats_rows(
        &self,
        tenant: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatsRow>>;
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
    /// Removes whole days of events received before `before` at once,
    /// where the backend keeps days apart (PostgreSQL's daily partitions),
    /// under the rule of [`StatsStore::purge_events`]: a day with a
    /// pending or held delivery stays. What it does not take is left to
    /// `purge_events`, which the retention pass runs after it. sled keeps
    /// no days apart: nothing to do.
    fn purge_whole_days(&self, _before: Timestamp) -> Result<Purged> {
        Ok(Purged::default())
    }
    /// Makes ready what the days from `now` on need (PostgreSQL: the
    /// partitions of today and the next few days); run at open and by
    /// every retention pass. Answers how many days were made.
    fn prepare_days(&self, _now: Timestamp) -> Result<usize> {
        Ok(0)
    }
    /// Removes the statistics rows of `tenants` whose bucket ended before
    /// `before`, alert history before `before`, and idempotency keys
    /// recorded before `idempotency_before`; returns how many rows went.
    fn purge_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<usize>;
    /// Group-commit figures.
    fn store_stats(&self) -> StoreStats;
}

/// Alert states and their history.
pub trait AlertStore {
    /// The state of one rule for one endpoint.
    fn alert(&self, rule: Rule, endpoint: EndpointId) -> Result<Option<Alert>>;
    /// Stores a new state and its transition together, durably, unless
    /// the stored state already is `alert.state` (no stored alert counts
    /// as `Ok`): then nothing is written and the answer is `false`. With
    /// several nodes evaluating the same rules, exactly one of them makes
    /// each transition (and sends its operational event).
    fn put_alert(&self, alert: &Alert, transition: &Transition) -> Result<bool>;
    /// Every alert state (few: one per rule and endpoint that ever fired).
    fn alerts(&self) -> Result<Vec<Alert>>;
    /// Transitions, newest first.
    fn alert_history(&self, limit: usize) -> Result<Vec<Transition>>;
}

/// A platform's own event types, by name. Read rarely (the service keeps
/// a snapshot of the catalog), written by a person.
pub trait EventTypeStore {
    /// Inserts `t` unless a type with its name exists; `false` if it did.
    fn insert_event_type(&self, t: &CustomEventType) -> Result<bool>;
    /// Inserts or overwrites a type.
    fn put_event_type(&self, t: &CustomEventType) -> Result<()>;
    /// One type.
    fn event_type(&self, name: &str) -> Result<Option<CustomEventType>>;
    /// Every type, in name order (there are few).
    fn list_event_types(&self) -> Result<Vec<CustomEventType>>;
    /// Removes a type; `false` if there was none.
    fn delete_event_type(&self, name: &str) -> Result<bool>;
}

/// Everything Herald stores.
pub trait Store:
    TenantStore
    + KeyStore
    + UserStore
    + SessionStore
    + EndpointStore
    + EventStore
    + DeliveryStore
    + StatsStore
    + AlertStore
    + AnswerStore
    + EventTypeStore
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
    /// Whether writes are failing: `None` while they succeed (or none
    /// failed since the last [`Store::recover`]).
    fn write_failure(&self) -> Option<WriteFailure>;
    /// After write failures, makes the store able to write again in place,
    /// without a restart (sled closes and reopens its files: it fails every
    /// write after one I/O error until then). Everything acknowledged
    /// stays; what was applied but never made durable — only writes whose
    /// callers got an error — is gone. Derived copies kept in memory are
    /// dropped. Callers then re-read what they keep from the store (the
    /// scheduler reloads the due index).
    fn recover(&self) -> Result<()>;
    /// The backend's name, for a dump's header.
    fn backend_name(&self) -> &'static str;
    /// Hands every primary record to `sink` (no derived index), so that
    /// every event acknowledged before the call is there with its
    /// deliveries and attempts as of the call or later, and each record
    /// is whole: events first, then deliveries (only of events handed
    /// over), then attempts (only of deliveries handed over); the
    /// retention purge of events waits until the export ends. Ingest and
    /// delivery go on meanwhile.
    fn export(&self, sink: &mut dyn FnMut(dump::Record) -> Result<()>) -> Result<()>;
    /// Writes the records `source` yields (until `Ok(None)`) into this
    /// store, which must be empty ([`StoreError::NotEmpty`] otherwise,
    /// before anything is written), rebuilding every index; durable when
    /// it returns.
    fn import(&self, source: &mut dyn FnMut() -> Result<Option<dump::Record>>) -> Result<()>;
    /// Checks every stored entry: each record decodes, each index entry
    /// agrees with its record and each record has its index entries.
    /// Reports each problem to `report`; answers how many entries it read.
    fn check(&self, report: &mut dyn FnMut(Problem)) -> Result<u64>;
    /// The store shared by several nodes (PostgreSQL), through which the
    /// engine claims work; `None` for a store only this process opens
    /// (sled), whose due index the scheduler reads alone.
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        None
    }
    /// Per-table figures for `/metrics` (size, dead rows); empty where
    /// the backend has no such thing.
    fn table_stats(&self) -> Result<Vec<TableStats>> {
        Ok(Vec::new())
    }
}

/// One table's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table.
    pub table: String,
    /// Bytes on disk, indexes and TOAST included.
    pub bytes: i64,
    /// Rows live, as the server estimates.
    pub live_rows: i64,
    /// Dead rows not yet vacuumed.
    pub dead_rows: i64,
}

/// How long a claim keeps other nodes off a delivery: the node that
/// claimed it (or committed it) is about to send it; one that stalled or
/// died gives it up after this.
pub const CLAIM_MS: i64 = 10_000;

/// A node whose last heartbeat is older than this counts as gone (its
/// heartbeat comes every 5 s).
pub const NODE_ALIVE_MS: i64 = 15_000;

/// What [`ClusterStore::acquire`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Acquired {
    /// This node holds the send lease now: the delivery as stored.
    Mine(Box<Delivery>),
    /// Its endpoint already has its cap of requests in flight, counting
    /// every node's: try again shortly.
    Busy,
    /// Not due, ended, held, gone, or another node holds it: nothing to do.
    Skip,
    /// Its endpoint is ordered and an older delivery of it has not ended:
    /// it waits for that one (succeeded or given up).
    Behind,
    /// Its endpoint's rate limit allows no send before this moment.
    Throttled(Timestamp),
}

/// What an endpoint asks of its sends, for [`ClusterStore::acquire_limited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// Requests in flight to it at most, every node's together.
    pub cap: usize,
    /// FIFO: only its oldest delivery not ended may be sent, and only
    /// while none of its other deliveries is being sent.
    pub ordered: bool,
    /// Deliveries per second at most, every node's together
    /// ([`crate::domain::sendrate`]).
    pub rate_limit: Option<u32>,
}

impl SendLimits {
    /// Only an in-flight cap.
    pub fn cap(cap: usize) -> Self {
        Self {
            cap,
            ordered: false,
            rate_limit: None,
        }
    }
}

/// A node known to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its name (unique per process start).
    pub name: String,
    /// When it started.
    pub started: Timestamp,
    /// When it last said it was alive.
    pub seen: Timestamp,
}

/// Several Herald nodes sharing one store: due deliveries are claimed
/// with leases (owner node, expiry), so every node delivers and none
/// attempts a delivery another is sending.
///
/// Two leases on a delivery row: a *claim* (taken in batches by
/// [`ClusterStore::claim_due`], or at ingest by the node that committed
/// the event, short-lived: it only keeps other nodes from fetching what
/// this one is about to send) and the *send lease*
/// ([`ClusterStore::acquire`], committed before the HTTP request goes out
/// and lasting longer than the request may take). Any node may take over
/// a claim or lease that has expired; writing the attempt's outcome
/// clears this node's lease. No transaction stays open across a request.
///
/// NB: expiries compare the nodes' clocks: they must agree to well
/// within the margin a send lease has beyond the request timeout (NTP).
pub trait ClusterStore: Send + Sync {
    /// This node's name in leases.
    fn node(&self) -> &str;
    /// Claims, for this node until `claim_until`, up to `limit` deliveries
    /// due by `until` that no node holds (or whose holder's claim or
    /// lease ended before `now`), oldest due first. Rows another node
    /// holds are skipped, never waited for (`SKIP LOCKED`).
    fn claim_due(
        &self,
        now: Timestamp,
        until: Timestamp,
        claim_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Due>>;
    /// Takes the send lease on `delivery` until `until` if it is due by
    /// `now`, held by no other node (or theirs ended) and fewer than `cap`
    /// requests to its endpoint are in flight on all nodes together.
    fn acquire(
        &self,
        delivery: DeliveryId,
        endpoint: EndpointId,
        now: Timestamp,
        until: Timestamp,
        cap: usize,
    ) -> Result<Acquired> {
        self.acquire_limited(delivery, endpoint, now, until, SendLimits::cap(cap))
    }
    /// [`ClusterStore::acquire`] under all of an endpoint's limits: an
    /// ordered endpoint's delivery is taken only if no older delivery of
    /// it has not ended ([`Acquired::Behind`]) and none of its others is
    /// being sent ([`Acquired::Busy`]); under a rate limit, taking the
    /// lease spends the endpoint's next slot, shared by every node
    /// ([`Acquired::Throttled`] until it comes).
    fn acquire_limited(
        &self,
        delivery: DeliveryId,
        endpoint: EndpointId,
        now: Timestamp,
        until: Timestamp,
        limits: SendLimits,
    ) -> Result<Acquired>;
    /// Gives back this node's claim or lease on `delivery` (it will not be
    /// sent after all).
    fn release(&self, delivery: DeliveryId) -> Result<()>;
    /// Clears every claim and lease that ended before `before`; answers
    /// how many (the sweeper: an expired lease is free to take anyway,
    /// this keeps the in-flight counts and the table tidy).
    fn sweep(&self, before: Timestamp) -> Result<u64>;
    /// Holds the cluster-wide role `role` (one node runs the retention
    /// purge, scheduled backups, the sweeper) until `until` if no other
    /// node holds it now; `true` if this node holds it.
    fn hold_role(&self, role: &str, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// Says this node is alive at `now`.
    fn heartbeat(&self, now: Timestamp) -> Result<()>;
    /// While `on`, this node claims nothing it ingests (its engine has a
    /// backlog): the deliveries are left to whichever node claims them
    /// first, and the commit wakes the others.
    fn shed(&self, on: bool);
    /// The nodes seen since `since`, by name.
    fn nodes(&self, since: Timestamp) -> Result<Vec<NodeInfo>>;
    /// Calls `wake` (from a thread of the store's own) whenever another
    /// node, or this one, commits deliveries that are due, until the store
    /// is dropped; a lost connection is made again.
    fn watch(&self, wake: Box<dyn Fn() + Send>) -> Result<()>;
    /// Gives back every claim and lease this node holds (a clean stop).
    fn leave(&self) -> Result<()>;
}

/// Writes are failing: since when, and what the storage said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// When the first write failed.
    pub since: Timestamp,
    /// The storage's error, as one line.
    pub error: String,
}
