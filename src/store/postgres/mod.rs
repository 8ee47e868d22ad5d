//! The PostgreSQL backend: the store contract on a database server, for
//! operators who run one already (and, in a later step, for several
//! Herald nodes sharing it).
//!
//! Threads: the sync `postgres` client may not be called inside a tokio
//! runtime, and Herald calls its store from actix's threads too, so every
//! direct call runs on one of a few connection threads (`pool`), and the
//! pipeline's writes run on the committer thread, which owns a connection
//! of its own (`cycle`): one transaction per committer cycle. Tables and
//! migrations: `schema`. Dumps: `dump` (export from one REPEATABLE READ
//! snapshot). No copy of any record is kept in memory: every read asks
//! the server, so a second node writing the same database is never
//! hidden by a stale copy.

use std::sync::{Arc, Mutex};

mod cluster;
mod cycle;
mod dump;
mod partitions;
mod pool;
mod schema;
mod tls;

use pool::{Db, Pool, Spec};

use crate::clock::Clock;
use crate::domain::alert::{Alert, Rule, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::ids::{first_ulid_at, DeliveryId, EndpointId, KeyId};
use crate::domain::lastuse::LastUse;
use crate::domain::session::Session;
use crate::domain::stats::{Grain, Stats};
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::store::codec::Versioned;
use crate::store::committer::{on_committer_thread, Committer};
use crate::store::ops::{output, WriteOp};
use crate::store::{
    AlertStore, CommitOutcome, Conflict, DeliveryFilter, DeliveryPage, DeliveryStore, Due,
    EndpointStore, EventStore, EventTypeStore, Idempotency, KeyStore, NewEvent, Purged, Result,
    RowKey, SessionStore, StatsRow, StatsStore, Store, StoreError, StoreStats, TenantStore, Ticket,
    UserStore, WriteFailure,
};

/// The schema Herald's tables live in unless told otherwise.
pub const DEFAULT_SCHEMA: &str = "herald";

/// The first key of the advisory locks alert transitions take (the
/// second is the rule's code).
const ALERT_LOCK: i32 = 0x616c_7274;

/// Connection threads for direct calls (the committer has its own).
const POOL_SIZE: usize = 4;

/// Rows a log query may examine before it answers with what it has and a
/// cursor (as on sled): a selective filter on a huge log stays bounded.
const LOG_SCAN_BUDGET: usize = 20_000;

/// Whether writes fail, and since when (for `write_failure`).
pub(super) struct Failure {
    clock: Arc<dyn Clock>,
    state: Mutex<Option<WriteFailure>>,
}

impl Failure {
    fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(None),
        }
    }

    /// Notes an `Unavailable` (the first one since the last recovery
    /// stays: its time is when the trouble began).
    pub fn note(&self, e: &StoreError) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            let error = match e {
                StoreError::Unavailable(s) => s.clone(),
                other => other.to_string(),
            };
            log::error!("the PostgreSQL store is unavailable: {error}");
            *g = Some(WriteFailure {
                since: self.clock.now(),
                error,
            });
        }
    }

    fn get(&self) -> Option<WriteFailure> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn clear(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// A schema dropped when the last handle goes (tests).
struct DropSchema(Spec);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let spec = self.0.clone();
        // On a thread of its own: the client must not run inside a runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(mut db) = Db::connect(&spec) {
                let _ = db.batch(&format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    pool::ident(&spec.schema)
                ));
            }
        })
        .join();
    }
}

/// Herald's store in a PostgreSQL database.
///
/// NB: field order matters on drop: the committer and the connection
/// threads end before a temporary schema is dropped.
#[derive(Clone)]
pub struct PgStore {
    committer: Committer,
    pool: Arc<Pool>,
    failure: Arc<Failure>,
    /// Exports hold it shared; the event purge takes it exclusively, so
    /// it never removes an event under an export (the contract; the
    /// snapshot alone would not need it).
    export_gate: Arc<std::sync::RwLock<()>>,
    /// This process as a node of the cluster.
    node: Arc<cluster::Node>,
    /// How to open a connection of one's own (the listener's).
    spec: Spec,
    /// Dropped with the last handle: the listener thread then ends.
    alive: Arc<()>,
    _temporary: Option<Arc<DropSchema>>,
}

/// The 16 big-endian bytes of a key or id.
pub(super) fn b16(v: u128) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// A 16-byte column as a number.
pub(super) fn u128_of(b: &[u8], what: &'static str) -> Result<u128> {
    <[u8; 16]>::try_from(b)
        .map(u128::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            kind: what,
            reason: format!("{} bytes where an id of 16 was expected", b.len()),
        })
}

fn id16(b: &[u8], what: &'static str) -> Result<[u8; 16]> {
    u128_of(b, what).map(u128::to_be_bytes)
}

/// The `due_at` column of a delivery: its next attempt while pending and
/// not held, else NULL (the due index is exactly these rows).
pub(super) fn due_at(d: &Delivery) -> Option<i64> {
    match (d.state, d.held, d.next_attempt_at) {
        (DeliveryState::Pending, false, Some(at)) => Some(at.as_millis()),
        _ => None,
    }
}

/// A grain's code in the `stats` table.
pub(super) fn grain_code(g: Grain) -> i16 {
    match g {
        Grain::Minute => 0,
        Grain::Hour => 1,
        Grain::Day => 2,
    }
}

pub(super) fn grain_of(code: i16) -> Option<Grain> {
    Grain::ALL.into_iter().find(|g| grain_code(*g) == code)
}

/// An idempotency record's event keys, 16 bytes each.
pub(super) fn key_value(keys: &[u128]) -> Vec<u8> {
    keys.iter().flat_map(|k| k.to_be_bytes()).collect()
}

pub(super) fn parse_key_value(v: &[u8]) -> Option<Vec<u128>> {
    if v.len() % 16 != 0 {
        return None;
    }
    Some(
        v.chunks_exact(16)
            .filter_map(|c| c.try_into().ok().map(u128::from_be_bytes))
            .collect(),
    )
}

fn decode_rows<T: Versioned>(rows: Vec<postgres::Row>) -> Result<Vec<T>> {
    rows.iter()
        .map(|r| T::decode(&r.get::<_, Vec<u8>>(0)))
        .collect()
}

fn decode_opt<T: Versioned>(row: Option<postgres::Row>) -> Result<Option<T>> {
    row.map(|r| T::decode(&r.get::<_, Vec<u8>>(0))).transpose()
}

/// A `usize` limit as SQL's `LIMIT`.
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The same, for the event scan's chunks.
fn limit_of(n: usize) -> i64 {
    limit(n)
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host/db`, or
    /// key=value pairs), works in schema `herald`, and brings the schema
    /// up to date. The clock dates write failures.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open_in(url, DEFAULT_SCHEMA, clock)
    }

    /// [`PgStore::open`] in schema `schema` (created if missing).
    pub fn open_in(url: &str, schema: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        let spec = spec(url, schema)?;
        Self::start(spec, clock, None)
    }

    fn start(
        spec: Spec,
        clock: Arc<dyn Clock>,
        temporary: Option<Arc<DropSchema>>,
    ) -> Result<Self> {
        let failure = Arc::new(Failure::new(clock.clone()));
        let noted = failure.clone();
        let pool = Arc::new(Pool::start(
            spec.clone(),
            POOL_SIZE,
            Arc::new(move |e| noted.note(e)),
        )?);
        let schema = spec.schema.clone();
        pool.run(move |db| schema::run(db, &schema))?;
        // Today's partitions before the first ingest; without them rows
        // land in the default partitions, which only costs the drop.
        let now = clock.now();
        if let Err(e) = pool.run(move |db| partitions::ensure(db, now)) {
            log::warn!("could not create the partitions of the coming days yet: {e}");
        }
        let node = Arc::new(cluster::Node::new(clock.now()));
        let backend = cycle::PgBackend::new(spec.clone(), failure.clone(), node.clone());
        let committer = Committer::start(backend, clock)
            .map_err(|e| StoreError::Io(format!("starting the committer: {e}")))?;
        Ok(Self {
            committer,
            pool,
            failure,
            export_gate: Arc::default(),
            node,
            spec,
            alive: Arc::new(()),
            _temporary: temporary,
        })
    }

    /// Drops schema `herald` of the database at `url` with everything in
    /// it (see `store::reset`).
    pub fn drop_schema(url: &str) -> Result<()> {
        let spec = spec(url, DEFAULT_SCHEMA)?;
        // On a thread of its own: the client must not run inside a runtime.
        std::thread::spawn(move || {
            let mut db = Db::connect(&spec)?;
            db.batch(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                pool::ident(&spec.schema)
            ))
        })
        .join()
        .unwrap_or_else(|_| Err(StoreError::Io("dropping the schema panicked".into())))
    }

    /// A store in a fresh schema of the database at `url`, dropped with
    /// the last handle; for tests.
    pub fn temporary(url: &str) -> Result<Self> {
        let name = format!(
            "herald_test_{}",
            crate::domain::ids::new_ulid(Timestamp::from_millis(0))
                .to_string()
                .to_lowercase()
        );
        let spec = spec(url, &name)?;
        let guard = Arc::new(DropSchema(spec.clone()));
        Self::start(spec, Arc::new(crate::clock::SystemClock), Some(guard))
    }

    fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        self.pool.run(f)
    }

    /// Runs `f` in one transaction (committed if it answers `Ok`).
    fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        self.run(move |db| {
            db.batch("BEGIN")?;
            match f(db) {
                Ok(v) => {
                    db.batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = db.batch("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    fn get<T: Versioned + Send + 'static>(
        &self,
        sql: &'static str,
        key: Vec<u8>,
    ) -> Result<Option<T>> {
        self.run(move |db| decode_opt(db.query_opt(sql, &[&key])?))
    }

    fn get_text<T: Versioned + Send + 'static>(
        &self,
        sql: &'static str,
        key: &str,
    ) -> Result<Option<T>> {
        let key = key.to_string();
        self.run(move |db| decode_opt(db.query_opt(sql, &[&key])?))
    }

    fn list<T: Versioned + Send + 'static>(&self, sql: &'static str) -> Result<Vec<T>> {
        self.run(move |db| decode_rows(db.query(sql, &[])?))
    }
}

/// The connection spec of `url` in `schema`.
fn spec(url: &str, schema: &str) -> Result<Spec> {
    let (url, wanted) = tls::split(url)?;
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        StoreError::Io(format!("the PostgreSQL URL does not parse: {e}"))
    })?;
    let tls =
        match config.get_ssl_mode() {
            postgres::config::SslMode::Require => Some(tls::connector(&wanted)?),
            _ if wanted.root_cert.is_some() => return Err(StoreError::Io(
                "the PostgreSQL URL gives sslrootcert but not sslmode=require (or verify-full): \
                 without it the connection is not encrypted"
                    .into(),
            )),
            _ => None,
        };
    if config.get_application_name().is_none() {
        config.application_name("herald");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    Ok(Spec {
        config,
        schema: schema.to_string(),
        tls,
    })
}

impl TenantStore for PgStore {
    fn insert_tenant(&self, t: &Tenant) -> Result<bool> {
        let (id, v) = (t.id.clone(), t.encode());
        self.run(move |db| {
            Ok(db.execute(
                "INSERT INTO tenants (id, v) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &v],
            )? == 1)
        })
    }

    fn put_tenant(&self, t: &Tenant) -> Result<()> {
        let (id, v) = (t.id.clone(), t.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO tenants (id, v) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                &[&id, &v],
            )
            .map(drop)
        })
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.get_text("SELECT v FROM tenants WHERE id = $1", id)
    }

    fn delete_tenant(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.run(move |db| Ok(db.execute("DELETE FROM tenants WHERE id = $1", &[&id])? == 1))
    }

    fn list_tenants(&self, after: Option<&str>, n: usize) -> Result<Vec<Tenant>> {
        let after = after.map(str::to_string);
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM tenants WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&after, &limit(n)],
            )?)
        })
    }
}

impl crate::store::AnswerStore for PgStore {
    fn claim_answer(
        &self,
        scope: &[u8; 32],
        now: Timestamp,
    ) -> Result<crate::domain::idempotent::Claim> {
        use crate::domain::idempotent::{claim, Claim, Remembered};
        let scope = scope.to_vec();
        let mark = Remembered::Running { since: now }.encode();
        self.run(move |db| loop {
            let stored: Option<Vec<u8>> = db
                .query_opt("SELECT v FROM answers WHERE scope = $1", &[&scope])?
                .map(|r| r.get(0));
            // An undecodable record is treated as absent: it is replaced.
            let existing = stored.as_ref().and_then(|v| Remembered::decode(v).ok());
            match claim(existing.as_ref(), now) {
                Claim::Run => {
                    // A compare-and-swap, as on sled: of two concurrent
                    // claims exactly one changes the row.
                    let n = match &stored {
                        None => db.execute(
                            "INSERT INTO answers (scope, v) VALUES ($1, $2) \
                             ON CONFLICT (scope) DO NOTHING",
                            &[&scope, &mark],
                        )?,
                        Some(old) => db.execute(
                            "UPDATE answers SET v = $2 WHERE scope = $1 AND v = $3",
                            &[&scope, &mark, old],
                        )?,
                    };
                    if n == 1 {
                        return Ok(Claim::Run);
                    }
                }
                other => return Ok(other),
            }
        })
    }

    fn save_answer(
        &self,
        scope: &[u8; 32],
        answer: &crate::domain::idempotent::SavedAnswer,
    ) -> Result<()> {
        let scope = scope.to_vec();
        let v = crate::domain::idempotent::Remembered::Done(answer.clone()).encode();
        self.run(move |db| {
            db.execute(
                "INSERT INTO answers (scope, v) VALUES ($1, $2) \
                 ON CONFLICT (scope) DO UPDATE SET v = excluded.v",
                &[&scope, &v],
            )
            .map(drop)
        })
    }

    fn forget_answer(&self, scope: &[u8; 32]) -> Result<()> {
        let scope = scope.to_vec();
        self.run(move |db| {
            db.execute("DELETE FROM answers WHERE scope = $1", &[&scope])
                .map(drop)
        })
    }

    fn purge_answers(&self, now: Timestamp) -> Result<usize> {
        use crate::domain::idempotent::{expired, Remembered};
        self.run(move |db| {
            let mut n = 0;
            for r in db.query("SELECT scope, v FROM answers", &[])? {
                let (scope, v): (Vec<u8>, Vec<u8>) = (r.get(0), r.get(1));
                let at = Remembered::decode(&v).ok().map(|r| r.at());
                if at.is_none_or(|at| expired(at, now)) {
                    // Only the row as read: one saved meanwhile stays.
                    n += db.execute(
                        "DELETE FROM answers WHERE scope = $1 AND v = $2",
                        &[&scope, &v],
                    )? as usize;
                }
            }
            Ok(n)
        })
    }
}

impl KeyStore for PgStore {
    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        let (id, hash, v) = (k.id.to_bytes().to_vec(), k.hash.to_vec(), k.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO api_keys (id, hash, v) VALUES ($1, $2, $3)",
                &[&id, &hash, &v],
            )
            .map(drop)
        })
    }

    fn put_key(&self, k: &ApiKey) -> Result<()> {
        let (id, hash, v) = (k.id.to_bytes().to_vec(), k.hash.to_vec(), k.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO api_keys (id, hash, v) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, v = excluded.v",
                &[&id, &hash, &v],
            )
            .map(drop)
        })
    }

    fn key(&self, id: KeyId) -> Result<Option<ApiKey>> {
        self.get(
            "SELECT v FROM api_keys WHERE id = $1",
            id.to_bytes().to_vec(),
        )
    }

    fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
        self.get("SELECT v FROM api_keys WHERE hash = $1", hash.to_vec())
    }

    fn list_keys(&self, after: Option<KeyId>, n: usize) -> Result<Vec<ApiKey>> {
        let after = after.map(|a| a.to_bytes().to_vec());
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM api_keys WHERE ($1::bytea IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&after, &limit(n)],
            )?)
        })
    }

    fn record_key_use(&self, id: KeyId, at: Timestamp) -> Result<()> {
        let (id, v) = (id.to_bytes().to_vec(), LastUse { at }.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO key_uses (id, v) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                &[&id, &v],
            )
            .map(drop)
        })
    }

    fn key_last_used(&self, id: KeyId) -> Result<Option<Timestamp>> {
        Ok(self
            .get::<LastUse>(
                "SELECT v FROM key_uses WHERE id = $1",
                id.to_bytes().to_vec(),
            )?
            .map(|u| u.at))
    }
}

impl UserStore for PgStore {
    fn insert_user(&self, u: &User) -> Result<bool> {
        let (name, v) = (u.username.clone(), u.encode());
        self.run(move |db| {
            Ok(db.execute(
                "INSERT INTO users (username, v) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING",
                &[&name, &v],
            )? == 1)
        })
    }

    fn put_user(&self, u: &User) -> Result<()> {
        let (name, v) = (u.username.clone(), u.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO users (username, v) VALUES ($1, $2) \
                 ON CONFLICT (username) DO UPDATE SET v = excluded.v",
                &[&name, &v],
            )
            .map(drop)
        })
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        self.get_text("SELECT v FROM users WHERE username = $1", username)
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.list("SELECT v FROM users ORDER BY username")
    }

    fn delete_user(&self, username: &str) -> Result<bool> {
        let name = username.to_string();
        // One transaction: a user never goes without its last login.
        self.transaction(move |db| {
            let n = db.execute("DELETE FROM users WHERE username = $1", &[&name])?;
            db.execute("DELETE FROM user_logins WHERE username = $1", &[&name])?;
            Ok(n == 1)
        })
    }

    fn record_login(&self, username: &str, at: Timestamp) -> Result<()> {
        let (name, v) = (username.to_string(), LastUse { at }.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO user_logins (username, v) VALUES ($1, $2) \
                 ON CONFLICT (username) DO UPDATE SET v = excluded.v",
                &[&name, &v],
            )
            .map(drop)
        })
    }

    fn last_login(&self, username: &str) -> Result<Option<Timestamp>> {
        Ok(self
            .get_text::<LastUse>("SELECT v FROM user_logins WHERE username = $1", username)?
            .map(|u| u.at))
    }
}

impl SessionStore for PgStore {
    fn put_session(&self, s: &Session) -> Result<()> {
        let (id, v) = (s.id_hash.to_vec(), s.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO sessions (id_hash, v) VALUES ($1, $2) \
                 ON CONFLICT (id_hash) DO UPDATE SET v = excluded.v",
                &[&id, &v],
            )
            .map(drop)
        })
    }

    fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.get(
            "SELECT v FROM sessions WHERE id_hash = $1",
            id_hash.to_vec(),
        )
    }

    fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        let id = id_hash.to_vec();
        self.run(move |db| {
            db.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id])
                .map(drop)
        })
    }

    fn take_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        // One statement: of concurrent deletes of a row, one returns it.
        self.get(
            "DELETE FROM sessions WHERE id_hash = $1 RETURNING v",
            id_hash.to_vec(),
        )
    }

    fn list_sessions(&self) -> Result<Vec<Session>> {
        self.list("SELECT v FROM sessions ORDER BY id_hash")
    }
}

impl EventTypeStore for PgStore {
    fn insert_event_type(&self, t: &CustomEventType) -> Result<bool> {
        let (name, v) = (t.name.clone(), t.encode());
        self.run(move |db| {
            Ok(db.execute(
                "INSERT INTO event_types (name, v) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &v],
            )? == 1)
        })
    }

    fn put_event_type(&self, t: &CustomEventType) -> Result<()> {
        let (name, v) = (t.name.clone(), t.encode());
        self.run(move |db| {
            db.execute(
                "INSERT INTO event_types (name, v) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET v = excluded.v",
                &[&name, &v],
            )
            .map(drop)
        })
    }

    fn event_type(&self, name: &str) -> Result<Option<CustomEventType>> {
        self.get_text("SELECT v FROM event_types WHERE name = $1", name)
    }

    fn list_event_types(&self) -> Result<Vec<CustomEventType>> {
        self.list("SELECT v FROM event_types ORDER BY name")
    }

    fn delete_event_type(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.run(move |db| {
            Ok(db.execute("DELETE FROM event_types WHERE name = $1", &[&name])? == 1)
        })
    }
}

/// A unique violation on the endpoints' URL or uid constraint, as the
/// contract's conflict.
fn endpoint_conflict(e: pool::RawError) -> StoreError {
    match e.constraint() {
        Some("endpoints_url_key") => StoreError::Conflict(Conflict::UrlTaken),
        Some("endpoints_uid_key") => StoreError::Conflict(Conflict::UidTaken),
        _ => e.into_store(),
    }
}

impl EndpointStore for PgStore {
    fn insert_endpoint(&self, e: &Endpoint) -> Result<()> {
        let (id, tenant, url, uid) = (
            e.id.to_bytes().to_vec(),
            e.tenant_id.clone(),
            e.url.clone(),
            e.uid.clone(),
        );
        let (revision, v) = (e.revision as i64, e.encode());
        self.run(move |db| {
            db.execute_raw(
                "INSERT INTO endpoints (id, tenant, url, uid, revision, v) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &tenant, &url, &uid, &revision, &v],
            )
            .map(drop)
            .map_err(endpoint_conflict)
        })
    }

    fn update_endpoint(&self, e: &Endpoint) -> Result<Endpoint> {
        let written = Endpoint {
            revision: e.revision.wrapping_add(1),
            ..e.clone()
        };
        let (id, url, uid) = (e.id.to_bytes().to_vec(), e.url.clone(), e.uid.clone());
        let (before, after, v) = (e.revision as i64, written.revision as i64, written.encode());
        // The revision in the WHERE clause is the optimistic check: a
        // concurrent writer (another thread or node) bumped it, or the
        // endpoint is gone, and nothing is written.
        let n = self.run(move |db| {
            db.execute_raw(
                "UPDATE endpoints SET url = $2, uid = $3, revision = $5, v = $6 \
                 WHERE id = $1 AND revision = $4",
                &[&id, &url, &uid, &before, &after, &v],
            )
            .map_err(endpoint_conflict)
        })?;
        if n == 0 {
            return Err(StoreError::Conflict(Conflict::Changed));
        }
        Ok(written)
    }

    fn delete_endpoint(&self, e: &Endpoint) -> Result<()> {
        let id = e.id.to_bytes().to_vec();
        self.run(move |db| {
            db.execute("DELETE FROM endpoints WHERE id = $1", &[&id])
                .map(drop)
        })
    }

    fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        self.get(
            "SELECT v FROM endpoints WHERE id = $1",
            id.to_bytes().to_vec(),
        )
    }

    fn endpoint_by_uid(&self, tenant: &str, uid: &str) -> Result<Option<Endpoint>> {
        let (tenant, uid) = (tenant.to_string(), uid.to_string());
        self.run(move |db| {
            decode_opt(db.query_opt(
                "SELECT v FROM endpoints WHERE tenant = $1 AND uid = $2",
                &[&tenant, &uid],
            )?)
        })
    }

    fn list_endpoints(
        &self,
        tenant: &str,
        after: Option<EndpointId>,
        n: usize,
    ) -> Result<Vec<Endpoint>> {
        let tenant = tenant.to_string();
        let after = after.map(|a| a.to_bytes().to_vec());
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM endpoints WHERE tenant = $1 AND ($2::bytea IS NULL OR id > $2) \
                 ORDER BY id LIMIT $3",
                &[&tenant, &after, &limit(n)],
            )?)
        })
    }
}

impl AlertStore for PgStore {
    fn alert(&self, rule: Rule, endpoint: EndpointId) -> Result<Option<Alert>> {
        let (code, ep) = (i16::from(rule.code()), endpoint.to_bytes().to_vec());
        self.run(move |db| {
            decode_opt(db.query_opt(
                "SELECT v FROM alerts WHERE rule = $1 AND endpoint = $2",
                &[&code, &ep],
            )?)
        })
    }

    fn put_alert(&self, alert: &Alert, t: &Transition) -> Result<bool> {
        let (code, ep, v) = (
            i16::from(alert.rule.code()),
            alert.endpoint_id.to_bytes().to_vec(),
            alert.encode(),
        );
        let (at, seq, tv) = (
            t.at.as_millis(),
            b16(crate::domain::ids::new_ulid(t.at).0),
            t.encode(),
        );
        let to = alert.state;
        self.transaction(move |db| {
            // Nodes evaluating the same rule take turns on the row (or, for
            // a first transition, on the key's advisory lock: there is no
            // row to lock yet); the loser finds the state already made.
            db.execute(
                "SELECT pg_advisory_xact_lock($1::int4, $2::int4)",
                &[&ALERT_LOCK, &i32::from(code)],
            )?;
            let stored = decode_opt::<Alert>(db.query_opt(
                "SELECT v FROM alerts WHERE rule = $1 AND endpoint = $2 FOR UPDATE",
                &[&code, &ep],
            )?)?;
            if stored.map_or(crate::domain::alert::State::Ok, |a| a.state) == to {
                return Ok(false);
            }
            db.execute(
                "INSERT INTO alerts (rule, endpoint, v) VALUES ($1, $2, $3) \
                 ON CONFLICT (rule, endpoint) DO UPDATE SET v = excluded.v",
                &[&code, &ep, &v],
            )?;
            db.execute(
                "INSERT INTO alert_history (at, seq, v) VALUES ($1, $2, $3)",
                &[&at, &seq, &tv],
            )?;
            Ok(true)
        })
    }

    fn alerts(&self) -> Result<Vec<Alert>> {
        self.list("SELECT v FROM alerts ORDER BY rule, endpoint")
    }

    fn alert_history(&self, n: usize) -> Result<Vec<Transition>> {
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM alert_history ORDER BY at DESC, seq DESC LIMIT $1",
                &[&limit(n)],
            )?)
        })
    }
}

impl EventStore for PgStore {
    fn commit_events(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Ticket<CommitOutcome> {
        self.committer.submit(
            WriteOp::CommitEvents {
                events,
                idempotency,
            },
            output::committed,
        )
    }

    fn idempotent_events(
        &self,
        tenant: &str,
        key: &str,
        not_before: Timestamp,
    ) -> Result<Option<Vec<u128>>> {
        let (tenant, key) = (tenant.to_string(), key.to_string());
        let row = self.run(move |db| {
            db.query_opt(
                "SELECT at, events FROM idempotency WHERE tenant = $1 AND key = $2",
                &[&tenant, &key],
            )
        })?;
        Ok(row.and_then(|r| {
            let at = Timestamp::from_millis(r.get(0));
            crate::domain::retention::idempotency_answers(at, not_before)
                .then(|| parse_key_value(&r.get::<_, Vec<u8>>(1)))
                .flatten()
        }))
    }

    fn event(&self, key: u128) -> Result<Option<Event>> {
        self.get("SELECT v FROM events WHERE key = $1", b16(key))
    }

    fn scan_events(
        &self,
        tenant: &str,
        range: (u128, u128),
        ascending: bool,
        limit: usize,
        budget: usize,
        keep: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<crate::store::EventScan> {
        let mut out = crate::store::EventScan::default();
        if range.0 >= range.1 || limit == 0 {
            return Ok(out);
        }
        // As on sled, the budget counts events of every tenant; rows of
        // other tenants come without their record. A chunk at a time, so
        // a page that fills early reads little.
        let (mut lo, mut hi) = (b16(range.0), b16(range.1));
        let mut looked = 0usize;
        loop {
            let chunk = limit_of(budget.saturating_sub(looked).saturating_add(1).min(500));
            let (t, a, b) = (tenant.to_string(), lo.clone(), hi.clone());
            let rows = self.run(move |db| {
                if ascending {
                    db.query(
                        "SELECT key, CASE WHEN tenant = $1 THEN v END FROM events \
                         WHERE key > $2 AND key < $3 ORDER BY key LIMIT $4",
                        &[&t, &a, &b, &chunk],
                    )
                } else {
                    db.query(
                        "SELECT key, CASE WHEN tenant = $1 THEN v END FROM events \
                         WHERE key > $2 AND key < $3 ORDER BY key DESC LIMIT $4",
                        &[&t, &a, &b, &chunk],
                    )
                }
            })?;
            let got = rows.len() as i64;
            for r in rows {
                let key_bytes: Vec<u8> = r.get(0);
                let key = u128_of(&key_bytes, "event key")?;
                if looked >= budget {
                    out.stopped_at = Some(key);
                    return Ok(out);
                }
                looked += 1;
                if ascending {
                    lo = key_bytes;
                } else {
                    hi = key_bytes;
                }
                if let Some(v) = r.get::<_, Option<Vec<u8>>>(1) {
                    let e = Event::decode(&v)?;
                    if keep(&e) {
                        out.events.push(e);
                        if out.events.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
            }
            if got < chunk {
                return Ok(out);
            }
        }
    }

    fn event_by_id(&self, tenant: &str, id: &str) -> Result<Option<Event>> {
        // Every event, server-named or not, is in `event_ids`; its key
        // finds the event in its day's partition.
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.run(move |db| {
            decode_opt(db.query_opt(
                "SELECT e.v FROM event_ids i JOIN events e ON e.key = i.key \
                 WHERE i.tenant = $1 AND i.id = $2",
                &[&tenant, &id],
            )?)
        })
    }
}

/// The smallest and largest delivery ids created within `[since, until]`.
fn id_bounds(since: Option<Timestamp>, until: Option<Timestamp>) -> (Vec<u8>, Vec<u8>) {
    let lo = since.map_or(0, first_ulid_at);
    let hi = until.map_or(u128::MAX, |t| {
        first_ulid_at(t.max(Timestamp::from_millis(0)).plus_millis(1)) - 1
    });
    (b16(lo), b16(hi))
}

impl DeliveryStore for PgStore {
    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        self.get(
            "SELECT v FROM deliveries WHERE id = $1",
            id.to_bytes().to_vec(),
        )
    }

    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        let id = id.to_bytes().to_vec();
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM attempts WHERE delivery = $1 ORDER BY id",
                &[&id],
            )?)
        })
    }

    fn update_delivery(&self, delivery: &Delivery, attempt: Option<&Attempt>) -> Ticket<()> {
        self.committer.submit(
            WriteOp::UpdateDelivery {
                delivery: delivery.clone(),
                attempt: attempt.cloned(),
                seen: None,
            },
            output::done,
        )
    }

    fn update_delivery_if(&self, delivery: &Delivery, seen: &Delivery) -> Ticket<()> {
        self.committer.submit(
            WriteOp::UpdateDelivery {
                delivery: delivery.clone(),
                attempt: None,
                seen: Some(crate::store::ops::Seen::of(seen)),
            },
            output::done,
        )
    }

    fn record_attempt(&self, delivery: &Delivery, attempt: &Attempt) -> Ticket<Health> {
        self.committer.submit(
            WriteOp::RecordAttempt {
                delivery: delivery.clone(),
                attempt: attempt.clone(),
                seen: None,
            },
            output::health,
        )
    }

    fn record_attempt_if(
        &self,
        delivery: &Delivery,
        attempt: &Attempt,
        seen: &Delivery,
    ) -> Ticket<Health> {
        self.committer.submit(
            WriteOp::RecordAttempt {
                delivery: delivery.clone(),
                attempt: attempt.clone(),
                seen: Some(crate::store::ops::Seen::of(seen)),
            },
            output::health,
        )
    }

    fn list_deliveries(
        &self,
        f: &DeliveryFilter,
        before: Option<DeliveryId>,
        n: usize,
    ) -> Result<DeliveryPage> {
        let f = f.clone();
        let (lo, hi) = id_bounds(f.since, f.until);
        let mut cursor = match before {
            Some(b) if b.to_bytes().to_vec() <= hi => b.to_bytes().to_vec(),
            // Just past `hi`: the bound is inclusive, the cursor exclusive.
            _ => {
                let mut past = hi.clone();
                past.push(0);
                past
            }
        };
        let endpoint = f.endpoint.map(|e| e.to_bytes().to_vec());
        self.run(move |db| {
            let mut page = DeliveryPage::default();
            let mut scanned = 0;
            let mut last_seen = None;
            // A chunk at a time, newest first; filters the index cannot
            // serve (type, status) apply to the rows it yields.
            let chunk = limit(n.min(LOG_SCAN_BUDGET).saturating_add(1));
            loop {
                let rows = db.query(
                    "SELECT v FROM deliveries WHERE tenant = $1 \
                     AND ($2::bytea IS NULL OR endpoint = $2) AND id >= $3 AND id < $4 \
                     ORDER BY id DESC LIMIT $5",
                    &[&f.tenant, &endpoint, &lo, &cursor, &chunk],
                )?;
                let got = rows.len();
                for r in rows {
                    let d = Delivery::decode(&r.get::<_, Vec<u8>>(0))?;
                    if page.items.len() == n || scanned == LOG_SCAN_BUDGET {
                        page.next = last_seen;
                        return Ok(page);
                    }
                    scanned += 1;
                    last_seen = Some(d.id);
                    cursor = d.id.to_bytes().to_vec();
                    if f.event_type.as_deref().is_some_and(|e| e != d.event_type)
                        || f.status.is_some_and(|s| s != d.status())
                    {
                        continue;
                    }
                    page.items.push(d);
                }
                if (got as i64) < chunk {
                    return Ok(page);
                }
            }
        })
    }

    fn endpoint_deliveries(
        &self,
        endpoint: EndpointId,
        after: Option<DeliveryId>,
        n: usize,
    ) -> Result<Vec<Delivery>> {
        let ep = endpoint.to_bytes().to_vec();
        let after = after.map(|a| a.to_bytes().to_vec());
        self.run(move |db| {
            decode_rows(db.query(
                "SELECT v FROM deliveries WHERE endpoint = $1 AND ($2::bytea IS NULL OR id > $2) \
                 ORDER BY id LIMIT $3",
                &[&ep, &after, &limit(n)],
            )?)
        })
    }

    fn due_between(
        &self,
        after: Option<(Timestamp, DeliveryId)>,
        until: Timestamp,
        n: usize,
    ) -> Result<Vec<Due>> {
        let (at, id) = match after {
            Some((t, d)) => (t.as_millis(), d.to_bytes().to_vec()),
            None => (i64::MIN, Vec::new()),
        };
        let rows = self.run(move |db| {
            db.query(
                "SELECT due_at, id, endpoint FROM deliveries \
                 WHERE due_at IS NOT NULL AND (due_at, id) > ($1, $2) AND due_at <= $3 \
                 ORDER BY due_at, id LIMIT $4",
                &[&at, &id, &until.as_millis(), &limit(n)],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(Due {
                    due: Timestamp::from_millis(r.get(0)),
                    delivery: DeliveryId::from_bytes(id16(&r.get::<_, Vec<u8>>(1), "delivery id")?),
                    endpoint: EndpointId::from_bytes(id16(&r.get::<_, Vec<u8>>(2), "endpoint id")?),
                })
            })
            .collect()
    }

    fn first_pending(&self, endpoint: EndpointId) -> Result<Option<Delivery>> {
        let ep = endpoint.to_bytes().to_vec();
        self.run(move |db| {
            decode_opt(db.query_opt(
                "SELECT v FROM deliveries WHERE endpoint = $1 AND (due_at IS NOT NULL OR held) \
                 ORDER BY id LIMIT 1",
                &[&ep],
            )?)
        })
    }

    fn stream_ready(
        &self,
        endpoint: EndpointId,
        until: Timestamp,
        n: usize,
    ) -> Result<Vec<Delivery>> {
        // Held ones through the partial held index; then `due_at`, set
        // exactly while pending and not held, through the partial due
        // index, bounded like sled's scan.
        let ep = endpoint.to_bytes().to_vec();
        let rows = self.run(move |db| {
            let mut out = decode_rows::<Delivery>(db.query(
                "SELECT v FROM deliveries WHERE endpoint = $1 AND held ORDER BY id LIMIT $2",
                &[&ep, &limit(n)],
            )?)?;
            let left = n.saturating_sub(out.len());
            if left > 0 {
                out.extend(decode_rows::<Delivery>(db.query(
                    "SELECT v FROM (SELECT v, endpoint, due_at, id FROM deliveries \
                       WHERE due_at IS NOT NULL AND due_at <= $2 ORDER BY due_at, id LIMIT $3) d \
                     WHERE endpoint = $1 ORDER BY due_at, id LIMIT $4",
                    &[
                        &ep,
                        &until.as_millis(),
                        &limit(crate::store::ENDPOINT_DUE_SCAN),
                        &limit(left),
                    ],
                )?)?);
            }
            Ok(out)
        })?;
        Ok(rows.into_iter().filter(|d| d.stream_ready(until)).collect())
    }

    fn held_deliveries(&self, endpoint: EndpointId) -> Result<Vec<DeliveryId>> {
        let ep = endpoint.to_bytes().to_vec();
        let rows = self.run(move |db| {
            db.query(
                "SELECT id FROM deliveries WHERE endpoint = $1 AND held ORDER BY id",
                &[&ep],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryId::from_bytes(id16(
                    &r.get::<_, Vec<u8>>(0),
                    "delivery id",
                )?))
            })
            .collect()
    }
}

impl StatsStore for PgStore {
    fn endpoint_health(&self, endpoint: EndpointId) -> Result<Health> {
        Ok(self
            .get(
                "SELECT v FROM health WHERE endpoint = $1",
                endpoint.to_bytes().to_vec(),
            )?
            .unwrap_or_default())
    }

    fn stats_rows(
        &self,
        tenant: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatsRow>> {
        let tenant = tenant.to_string();
        let g = grain_code(grain);
        let rows = self.run(move |db| {
            db.query(
                "SELECT endpoint, start, v FROM stats WHERE grain = $1 AND tenant = $2 \
                 AND start >= $3 AND start <= $4 ORDER BY start, endpoint",
                &[&g, &tenant, &from.as_millis(), &to.as_millis()],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(StatsRow {
                    endpoint: EndpointId::from_bytes(id16(&r.get::<_, Vec<u8>>(0), "endpoint id")?),
                    start: Timestamp::from_millis(r.get(1)),
                    stats: Stats::decode(&r.get::<_, Vec<u8>>(2))?,
                })
            })
            .collect()
    }

    fn purge_events(
        &self,
        before: Timestamp,
        after: Option<u128>,
        n: usize,
    ) -> Result<(Purged, Option<u128>)> {
        // Waits while an export runs: it promises every acknowledged event.
        let _gate = self.export_gate.write().unwrap_or_else(|e| e.into_inner());
        let after = after.map(b16);
        let end = b16(first_ulid_at(before));
        let rows = self.run(move |db| {
            db.query(
                "SELECT key FROM events WHERE ($1::bytea IS NULL OR key > $1) AND key < $2 \
                 ORDER BY key LIMIT $3",
                &[&after, &end, &limit(n)],
            )
        })?;
        let candidates = rows
            .iter()
            .map(|r| u128_of(&r.get::<_, Vec<u8>>(0), "event key"))
            .collect::<Result<Vec<_>>>()?;
        let next = if candidates.len() == n {
            candidates.last().copied()
        } else {
            None
        };
        if candidates.is_empty() {
            return Ok((Purged::default(), next));
        }
        let (purged, _) = self
            .committer
            .submit(WriteOp::PurgeEvents { candidates }, output::purged)
            .wait()?;
        Ok((purged, next))
    }

    fn purge_whole_days(&self, before: Timestamp) -> Result<Purged> {
        // Waits while an export runs, as the row-wise purge does.
        let _gate = self.export_gate.write().unwrap_or_else(|e| e.into_inner());
        self.run(move |db| partitions::drop_expired(db, before))
    }

    fn prepare_days(&self, now: Timestamp) -> Result<usize> {
        self.run(move |db| partitions::ensure(db, now))
    }

    fn purge_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<usize> {
        let rows = self.expired_rows(tenants.to_vec(), before, idempotency_before)?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.committer
            .submit(
                WriteOp::RemoveRows {
                    rows,
                    idempotency_before,
                },
                output::removed,
            )
            .wait()
    }

    fn store_stats(&self) -> StoreStats {
        self.committer.stats()
    }
}

impl PgStore {
    /// The rows [`StatsStore::purge_rows`] removes, found by reading (off
    /// the committer thread, so a long scan holds up no write).
    fn expired_rows(
        &self,
        tenants: Vec<String>,
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<Vec<RowKey>> {
        self.run(move |db| {
            let mut out = Vec::new();
            // Statistics rows whose whole bucket lies before the cutoff.
            for grain in Grain::ALL {
                let end = before.plus_millis(1 - grain.ms()).as_millis();
                let rows = db.query(
                    "SELECT tenant, start, endpoint FROM stats WHERE grain = $1 \
                     AND tenant = ANY($2) AND start < $3",
                    &[&grain_code(grain), &tenants, &end],
                )?;
                for r in rows {
                    out.push(RowKey::Stats {
                        grain,
                        tenant: r.get(0),
                        start_ms: r.get(1),
                        endpoint: EndpointId::from_bytes(id16(
                            &r.get::<_, Vec<u8>>(2),
                            "endpoint id",
                        )?),
                    });
                }
            }
            for r in db.query(
                "SELECT at, seq FROM alert_history WHERE at < $1",
                &[&before.as_millis()],
            )? {
                out.push(RowKey::AlertHistory {
                    at_ms: r.get(0),
                    seq: u128_of(&r.get::<_, Vec<u8>>(1), "alert sequence")?,
                });
            }
            for r in db.query(
                "SELECT tenant, key FROM idempotency WHERE at < $1",
                &[&idempotency_before.as_millis()],
            )? {
                out.push(RowKey::Idempotency {
                    tenant: r.get(0),
                    key: r.get(1),
                });
            }
            Ok(out)
        })
    }
}

impl Store for PgStore {
    fn is_bootstrapped(&self) -> Result<bool> {
        self.run(|db| {
            Ok(db
                .query_opt("SELECT 1 FROM herald_meta WHERE k = 'bootstrapped'", &[])?
                .is_some())
        })
    }

    fn mark_bootstrapped(&self) -> Result<()> {
        self.run(|db| {
            db.execute(
                "INSERT INTO herald_meta (k, v) VALUES ('bootstrapped', '\\x01') \
                 ON CONFLICT (k) DO NOTHING",
                &[],
            )
            .map(drop)
        })
    }

    fn schema_version(&self) -> Result<u32> {
        self.run(schema::stored_version)
    }

    fn flush(&self) -> Result<()> {
        // Every direct write was committed when it returned; waiting for
        // a committer cycle means every pipeline write queued before this
        // call is committed too. (Not on the committer's own threads,
        // which cannot wait for a cycle.)
        if on_committer_thread() {
            return Ok(());
        }
        self.committer.submit(WriteOp::Flush, output::done).wait()
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.run(|db| {
            let r = db.query_opt("SELECT pg_database_size(current_database())", &[])?;
            Ok(r.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
        })
    }

    fn write_failure(&self) -> Option<WriteFailure> {
        self.failure.get()
    }

    fn recover(&self) -> Result<()> {
        if self.failure.get().is_none() {
            return Ok(());
        }
        // Broken connections were dropped when they failed; one that
        // answers now means the server is back (the committer reconnects
        // at its next cycle by itself).
        self.run(|db| db.batch("SELECT 1"))?;
        self.failure.clear();
        log::info!("the PostgreSQL store answers again");
        Ok(())
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn export(&self, sink: &mut dyn FnMut(crate::store::dump::Record) -> Result<()>) -> Result<()> {
        self.export_impl(sink)
    }

    fn import(
        &self,
        source: &mut dyn FnMut() -> Result<Option<crate::store::dump::Record>>,
    ) -> Result<()> {
        self.import_impl(source)
    }

    fn check(&self, report: &mut dyn FnMut(crate::store::Problem)) -> Result<u64> {
        self.check_impl(report)
    }

    fn cluster(&self) -> Option<&dyn crate::store::ClusterStore> {
        Some(self)
    }

    fn table_stats(&self) -> Result<Vec<crate::store::TableStats>> {
        let schema = self.spec.schema.clone();
        let rows = self.run(move |db| {
            // A partition counts into its table.
            db.query(
                "SELECT coalesce(p.relname, s.relname)::text, \
                 sum(pg_total_relation_size(s.relid))::bigint, \
                 sum(s.n_live_tup)::bigint, sum(s.n_dead_tup)::bigint \
                 FROM pg_stat_user_tables s \
                 LEFT JOIN pg_inherits i ON i.inhrelid = s.relid \
                 LEFT JOIN pg_class p ON p.oid = i.inhparent \
                 WHERE s.schemaname = $1 GROUP BY 1 ORDER BY 1",
                &[&schema],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| crate::store::TableStats {
                table: r.get(0),
                bytes: r.get(1),
                live_rows: r.get(2),
                dead_rows: r.get(3),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database the PostgreSQL tests use (`tests/pg/start.sh` starts
    /// one and sets it). Not set is a failure, never a skip: the suite
    /// runs on both backends.
    pub(crate) fn test_url() -> String {
        std::env::var("HERALD_TEST_PG").expect(
            "HERALD_TEST_PG is not set: run the tests through `bash tests/run.sh` \
             (or `bash tests/pg/start.sh cargo test …`), which starts a PostgreSQL cluster",
        )
    }

    fn temporary() -> Arc<dyn Store> {
        Arc::new(PgStore::temporary(&test_url()).expect("opening a PostgreSQL test store"))
    }

    // The whole store contract, on PostgreSQL.
    crate::store::conformance::suite!(super::temporary);

    /// `sslmode=require` with `sslrootcert`: every connection is TLS,
    /// verified against that CA; without the CA (public roots only) the
    /// test server's certificate is refused; and the role the test
    /// cluster allows only over TLS cannot connect in plain.
    #[test]
    fn tls_connections_are_encrypted_and_verified() {
        let url = std::env::var("HERALD_TEST_PG_TLS")
            .expect("HERALD_TEST_PG_TLS is not set: run the tests through tests/pg/start.sh");
        let s = PgStore::temporary(&url).expect("opening over TLS");
        let ssl = s
            .run(|db| {
                let r = db.query_opt(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )?;
                Ok(r.map(|r| r.get::<_, bool>(0)))
            })
            .unwrap();
        assert_eq!(ssl, Some(true));
        let t = Tenant {
            id: "acme".into(),
            name: "Acme".into(),
            suspended: false,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            metadata: Default::default(),
        };
        assert!(s.insert_tenant(&t).unwrap());
        assert_eq!(s.tenant("acme").unwrap(), Some(t));
        drop(s);

        let public = url.split("&sslrootcert=").next().unwrap();
        let e = PgStore::temporary(public)
            .err()
            .expect("the test CA is no public root");
        assert!(e.to_string().contains("certificate"), "{e}");
        let plain = std::env::var("HERALD_TEST_PG_TLS_PLAIN").unwrap();
        let e = PgStore::temporary(&plain)
            .err()
            .expect("plain is refused for this role");
        assert!(e.to_string().contains("pg_hba.conf"), "{e}");
        // A CA file without sslmode=require would give a plain connection.
        let e = PgStore::temporary(&format!("{plain}?sslrootcert=/tmp/ca.pem"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("sslmode=require"), "{e}");
    }

    /// Calls from inside a tokio runtime (as on an actix worker) work:
    /// the client never runs on the caller's thread.
    #[test]
    fn a_call_from_inside_a_tokio_runtime_works() {
        let s = temporary();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bootstrapped = rt.block_on(async {
            s.mark_bootstrapped().unwrap();
            let ep = crate::store::conformance::endpoint("acme", "https://a.test/hook");
            s.insert_endpoint(&ep).unwrap();
            let ne = crate::store::conformance::new_event(
                "acme",
                crate::store::conformance::t0(),
                None,
                &[ep.id],
            );
            // An ingest awaits its ticket on the runtime.
            let done = s.commit_events(vec![ne], None).await.unwrap();
            assert!(matches!(done, CommitOutcome::Done(_)));
            s.is_bootstrapped().unwrap()
        });
        assert!(bootstrapped);
        // Dropped inside a runtime too: the clients drop on their threads.
        rt.block_on(async move { drop(s) });
    }

    /// A schema newer than this build is refused, with the same error
    /// kind as sled's.
    #[test]
    fn a_newer_schema_is_refused() {
        let s = PgStore::temporary(&test_url()).unwrap();
        let newer = (schema::CURRENT + 1).to_be_bytes().to_vec();
        s.run(move |db| {
            db.execute(
                "UPDATE herald_meta SET v = $1 WHERE k = 'schema_version'",
                &[&newer],
            )
            .map(drop)
        })
        .unwrap();
        let spec = {
            let guard = s._temporary.as_ref().unwrap();
            guard.0.clone()
        };
        let url = test_url();
        match PgStore::open_in(&url, &spec.schema, Arc::new(crate::clock::SystemClock)) {
            Err(StoreError::TooNew { found, known }) => {
                assert_eq!((found, known), (schema::CURRENT + 1, schema::CURRENT))
            }
            Err(other) => panic!("expected TooNew, got {other}"),
            Ok(_) => panic!("a newer schema was opened"),
        }
        assert_eq!(s.schema_version().unwrap(), schema::CURRENT + 1);
    }

    /// A server that cannot be reached is `Unavailable`, named plainly.
    #[test]
    fn an_unreachable_server_is_unavailable() {
        match PgStore::open(
            "postgres://herald@127.0.0.1:1/none?connect_timeout=2",
            Arc::new(crate::clock::SystemClock),
        ) {
            Err(StoreError::Unavailable(e)) => assert!(e.contains("postgres"), "{e}"),
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("opened"),
        }
    }
}
