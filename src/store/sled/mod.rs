//! The sled backend: Herald's default store, one data directory.
//!
//! One sled tree holds every table under its own prefix (`keys`), each
//! record versioned (`store::codec`), the schema migrated in order
//! (`migrations`). Records other than the pipeline's are written directly,
//! each write flushed; the pipeline's writes go through the generic group
//! committer with sled as its backend (`cycle`); `cache` keeps read-through
//! copies of hot records (sled takes a global lock for every read that its
//! batch writes wait on).

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};

mod answers;
mod cache;
mod cycle;
mod delivery;
mod dump;
mod keys;
mod migrations;
mod params;
mod slot;
mod usage;

pub use usage::{usage, DirUsage, TableUsage};

use cache::ReadCache;
use cycle::{Rows, SledBackend};
use slot::{Reopen, Slot};

use crate::clock::{Clock, SystemClock};
use crate::domain::alert::{Alert, Rule, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::endpoint::Endpoint;
use crate::domain::event_type::CustomEventType;
use crate::domain::ids::{EndpointId, KeyId};
use crate::domain::lastuse::LastUse;
use crate::domain::session::Session;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::store::codec::Versioned;
use crate::store::committer::{on_committer_thread, Committer};
use crate::store::ops::{output, WriteOp};
use crate::store::{
    AlertStore, Conflict, EndpointStore, EventTypeStore, KeyStore, Result, SessionStore, Store,
    StoreError, TenantStore, UserStore, WriteFailure,
};

/// Herald's data directory, opened.
#[derive(Clone)]
pub struct SledStore {
    /// The database, replaceable in place after write failures.
    slot: Arc<Slot>,
    /// The group committer, over [`SledBackend`].
    committer: Committer,
    /// The write-behind health and statistics rows (the committer's
    /// backend changes them; readers look here first).
    rows: Arc<Rows>,
    /// Copies of hot records, so hot reads skip sled's global lock.
    cache: Arc<ReadCache>,
    /// Exports hold it shared for their whole scan; the event purge takes
    /// it exclusively, so it never removes an event under an export.
    export_gate: Arc<std::sync::RwLock<()>>,
}

/// Opens sled at `path`.
fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    // A directory keeps the parameters it was created with (`params`).
    let p = params::for_dir(path);
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .use_compression(p.compression)
        .compression_factor(params::COMPRESSION_LEVEL)
        .segment_size(p.segment_size)
        // We flush explicitly before acknowledging; the background
        // flusher only bounds how much unacknowledged work a crash loses.
        .flush_every_ms(Some(1000))
        .open()
        .map_err(|e| match e {
            // sled reports its file lock as a generic I/O error; this is
            // the one an operator meets when the server is running.
            sled::Error::Io(ref ioe) if ioe.to_string().contains("could not acquire lock") => {
                StoreError::Locked {
                    path: path.display().to_string(),
                }
            }
            other => StoreError::Io(other.to_string()),
        })?;
    params::remember(path, p).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
    Ok(db)
}

impl SledStore {
    /// Opens (creating if needed) the data directory at `path`, with a page
    /// cache of `cache_bytes`, and brings its schema up to date. The
    /// write-behind rows are written on `clock`'s ticks.
    pub fn open(path: &Path, cache_bytes: u64, clock: Arc<dyn Clock>) -> Result<Self> {
        let held_data = migrations::holds_data(path);
        let db = open_db(path, cache_bytes)?;
        migrations::check_recovered(&db, held_data)?;
        let reopen = Reopen {
            path: path.to_path_buf(),
            cache_bytes,
        };
        Self::with_db(db, Some(reopen), clock)
    }

    fn with_db(db: sled::Db, reopen: Option<Reopen>, clock: Arc<dyn Clock>) -> Result<Self> {
        migrations::run(&db)?;
        let slot = Arc::new(Slot::new(db, reopen, clock.clone()));
        let (rows, cache) = (Arc::new(Rows::default()), Arc::new(ReadCache::default()));
        let backend = SledBackend::new(slot.clone(), rows.clone(), cache.clone());
        let committer = Committer::start(backend, clock)
            .map_err(|e| StoreError::Io(format!("starting the committer: {e}")))?;
        Ok(Self {
            slot,
            committer,
            rows,
            cache,
            export_gate: Arc::default(),
        })
    }

    /// A store in a temporary directory that vanishes on drop; for tests.
    pub fn temporary() -> Result<Self> {
        Self::temporary_with(Arc::new(SystemClock))
    }

    /// [`SledStore::temporary`] on a given clock.
    pub fn temporary_with(clock: Arc<dyn Clock>) -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(16 << 20)
            .use_compression(params::NEW.compression)
            .compression_factor(params::COMPRESSION_LEVEL)
            .segment_size(params::NEW.segment_size)
            .open()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Self::with_db(db, None, clock)
    }

    /// The database, for one call (never held while asking again: see
    /// `slot`).
    fn db(&self) -> Result<Arc<sled::Db>> {
        self.slot.db()
    }

    /// A sled error as a store error; an I/O error marks the store failing.
    fn io(&self, e: sled::Error) -> StoreError {
        self.slot.io(e)
    }

    fn tx_err(&self, e: TransactionError<Conflict>) -> StoreError {
        match e {
            TransactionError::Abort(c) => StoreError::Conflict(c),
            TransactionError::Storage(e) => self.io(e),
        }
    }

    /// Flushes sled (an fsync) after a direct write; the write-behind
    /// rows are left to the committer.
    fn sync(&self) -> Result<()> {
        self.db()?.flush().map(|_| ()).map_err(|e| self.io(e))
    }

    /// A record through the read cache: `cached` if it was there, else
    /// sled's copy at `key`, offered to `fill` with the cache generation
    /// taken before the read (so a read that raced a write is not kept).
    fn read_through<T: Versioned>(
        &self,
        cached: Option<T>,
        key: &[u8],
        fill: impl FnOnce(u64, &T),
    ) -> Result<Option<T>> {
        if cached.is_some() {
            return Ok(cached);
        }
        let generation = self.cache.generation();
        let t: Option<T> = self.get(key)?;
        if let Some(t) = &t {
            fill(generation, t);
        }
        Ok(t)
    }

    fn get<T: Versioned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.db()?.get(key).map_err(|e| self.io(e))? {
            Some(bytes) => T::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put<T: Versioned>(&self, key: &[u8], value: &T) -> Result<()> {
        self.db()?
            .insert(key, value.encode())
            .map_err(|e| self.io(e))?;
        self.sync()
    }

    fn insert_new<T: Versioned>(&self, key: &[u8], value: &T) -> Result<bool> {
        let swapped = self
            .db()?
            .compare_and_swap(key, None as Option<&[u8]>, Some(value.encode()))
            .map_err(|e| self.io(e))?;
        if swapped.is_ok() {
            self.sync()?;
        }
        Ok(swapped.is_ok())
    }

    /// Keys under `prefix`, strictly after `prefix ‖ after`, at most `limit`.
    fn scan_after(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(sled::IVec, sled::IVec)>> {
        let start = match after {
            Some(a) => Bound::Excluded([prefix, a].concat()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for item in self.db()?.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k, v));
        }
        Ok(out)
    }

    fn scan_records<T: Versioned>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<T>> {
        self.scan_after(prefix, after, limit)?
            .into_iter()
            .map(|(_, v)| T::decode(&v))
            .collect()
    }
}

impl TenantStore for SledStore {
    fn insert_tenant(&self, t: &Tenant) -> Result<bool> {
        let r = self.insert_new(&keys::tenant(&t.id), t);
        self.cache.tenant_changed(&t.id);
        r
    }

    fn put_tenant(&self, t: &Tenant) -> Result<()> {
        let r = self.put(&keys::tenant(&t.id), t);
        self.cache.tenant_changed(&t.id);
        r
    }

    fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.read_through(self.cache.tenant(id), &keys::tenant(id), |g, t| {
            self.cache.fill_tenant(g, t)
        })
    }

    fn list_tenants(&self, after: Option<&str>, limit: usize) -> Result<Vec<Tenant>> {
        self.scan_records(keys::TENANT, after.map(str::as_bytes), limit)
    }

    fn delete_tenant(&self, id: &str) -> Result<bool> {
        let old = self
            .db()?
            .remove(keys::tenant(id))
            .map_err(|e| self.io(e))?;
        self.cache.tenant_changed(id);
        self.sync()?;
        Ok(old.is_some())
    }
}

impl KeyStore for SledStore {
    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(keys::key(k.id), k.encode());
        batch.insert(keys::key_hash(&k.hash), &k.id.to_bytes());
        let r = self.db()?.apply_batch(batch).map_err(|e| self.io(e));
        self.cache.key_changed();
        r?;
        self.sync()
    }

    fn put_key(&self, k: &ApiKey) -> Result<()> {
        let r = self.put(&keys::key(k.id), k);
        self.cache.key_changed();
        r
    }

    fn key(&self, id: KeyId) -> Result<Option<ApiKey>> {
        self.get(&keys::key(id))
    }

    fn key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKey>> {
        // Every API request asks: served from memory it skips two sled
        // reads (and sled's global lock).
        if let Some(k) = self.cache.key(hash) {
            return Ok(Some(k));
        }
        let generation = self.cache.generation();
        // NB: the handle goes before the record is read (no nested use).
        let id = self
            .db()?
            .get(keys::key_hash(hash))
            .map_err(|e| self.io(e))?;
        let k = match id {
            Some(id) => match <[u8; 16]>::try_from(id.as_ref()) {
                Ok(b) => self.key(KeyId::from_bytes(b))?,
                Err(_) => {
                    return Err(StoreError::Corrupt {
                        kind: "key hash index",
                        reason: format!("{} bytes", id.len()),
                    })
                }
            },
            None => None,
        };
        if let Some(k) = &k {
            self.cache.fill_key(generation, *hash, k);
        }
        Ok(k)
    }

    fn list_keys(&self, after: Option<KeyId>, limit: usize) -> Result<Vec<ApiKey>> {
        let after = after.map(KeyId::to_bytes);
        self.scan_records(keys::KEY, after.as_ref().map(|a| &a[..]), limit)
    }

    fn record_key_use(&self, id: KeyId, at: Timestamp) -> Result<()> {
        // No flush: this runs on the request's thread (ingest authenticates
        // on the HTTP workers), and a flush there waits for whatever the
        // committer wrote meanwhile. sled's own flusher and the next
        // flush of any other write make it durable.
        self.db()?
            .insert(keys::key_use(id), LastUse { at }.encode())
            .map_err(|e| self.io(e))?;
        Ok(())
    }

    fn key_last_used(&self, id: KeyId) -> Result<Option<Timestamp>> {
        Ok(self.get::<LastUse>(&keys::key_use(id))?.map(|u| u.at))
    }
}

impl UserStore for SledStore {
    fn insert_user(&self, u: &User) -> Result<bool> {
        self.insert_new(&keys::user(&u.username), u)
    }

    fn put_user(&self, u: &User) -> Result<()> {
        self.put(&keys::user(&u.username), u)
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        self.get(&keys::user(username))
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.scan_records(keys::USER, None, usize::MAX)
    }

    fn delete_user(&self, username: &str) -> Result<bool> {
        let key = keys::user(username);
        let existed = self.db()?.get(&key).map_err(|e| self.io(e))?.is_some();
        // One batch: a user never goes without its last-login row, nor
        // the other way round.
        let mut batch = sled::Batch::default();
        batch.remove(key);
        batch.remove(keys::user_login(username));
        self.db()?.apply_batch(batch).map_err(|e| self.io(e))?;
        self.sync()?;
        Ok(existed)
    }

    fn record_login(&self, username: &str, at: Timestamp) -> Result<()> {
        self.put(&keys::user_login(username), &LastUse { at })
    }

    fn last_login(&self, username: &str) -> Result<Option<Timestamp>> {
        Ok(self
            .get::<LastUse>(&keys::user_login(username))?
            .map(|u| u.at))
    }
}

impl EventTypeStore for SledStore {
    fn insert_event_type(&self, t: &CustomEventType) -> Result<bool> {
        self.insert_new(&keys::event_type(&t.name), t)
    }

    fn put_event_type(&self, t: &CustomEventType) -> Result<()> {
        self.put(&keys::event_type(&t.name), t)
    }

    fn event_type(&self, name: &str) -> Result<Option<CustomEventType>> {
        self.get(&keys::event_type(name))
    }

    fn list_event_types(&self) -> Result<Vec<CustomEventType>> {
        self.scan_records(keys::EVENT_TYPE, None, usize::MAX)
    }

    fn delete_event_type(&self, name: &str) -> Result<bool> {
        let old = self
            .db()?
            .remove(keys::event_type(name))
            .map_err(|e| self.io(e))?;
        self.sync()?;
        Ok(old.is_some())
    }
}

impl SessionStore for SledStore {
    fn put_session(&self, s: &Session) -> Result<()> {
        self.put(&keys::session(&s.id_hash), s)
    }

    fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.get(&keys::session(id_hash))
    }

    fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        self.db()?
            .remove(keys::session(id_hash))
            .map_err(|e| self.io(e))?;
        self.sync()
    }

    fn take_session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        // sled's `remove` is atomic: only one caller gets the old value.
        let old = self
            .db()?
            .remove(keys::session(id_hash))
            .map_err(|e| self.io(e))?;
        self.sync()?;
        old.map(|v| Session::decode(&v)).transpose()
    }

    fn list_sessions(&self) -> Result<Vec<Session>> {
        self.scan_records(keys::SESSION, None, usize::MAX)
    }
}

impl EndpointStore for SledStore {
    fn insert_endpoint(&self, e: &Endpoint) -> Result<()> {
        let url_key = keys::endpoint_url(&e.tenant_id, &e.url);
        let uid_key = e.uid.as_ref().map(|u| keys::endpoint_uid(&e.tenant_id, u));
        let id = e.id.to_bytes();
        let record = e.encode();
        self.db()?
            .transaction(|tx| {
                if tx.get(&url_key)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(Conflict::UrlTaken));
                }
                if let Some(k) = &uid_key {
                    if tx.get(k)?.is_some() {
                        return Err(ConflictableTransactionError::Abort(Conflict::UidTaken));
                    }
                    tx.insert(k.clone(), &id[..])?;
                }
                tx.insert(keys::endpoint(e.id), record.clone())?;
                tx.insert(keys::endpoint_by_tenant(&e.tenant_id, e.id), &[][..])?;
                tx.insert(url_key.clone(), &id[..])?;
                Ok(())
            })
            .map_err(|e| self.tx_err(e))?;
        self.cache.endpoint_changed(e);
        self.sync()
    }

    fn update_endpoint(&self, e: &Endpoint) -> Result<Endpoint> {
        let key = keys::endpoint(e.id);
        let new_url = keys::endpoint_url(&e.tenant_id, &e.url);
        let id = e.id.to_bytes();
        let written = Endpoint {
            revision: e.revision.wrapping_add(1),
            ..e.clone()
        };
        let record = written.encode();
        let r = self
            .db()?
            .transaction(|tx| {
                let current = match tx.get(&key)? {
                    Some(b) => Endpoint::decode(&b).ok(),
                    None => None,
                };
                let Some(current) = current.filter(|c| c.revision == e.revision) else {
                    return Err(ConflictableTransactionError::Abort(Conflict::Changed));
                };
                let old_url = keys::endpoint_url(&current.tenant_id, &current.url);
                if old_url != new_url {
                    if tx.get(&new_url)?.is_some() {
                        return Err(ConflictableTransactionError::Abort(Conflict::UrlTaken));
                    }
                    tx.remove(old_url)?;
                    tx.insert(new_url.clone(), &id[..])?;
                }
                if current.uid != e.uid {
                    if let Some(u) = &e.uid {
                        let k = keys::endpoint_uid(&e.tenant_id, u);
                        if tx.get(&k)?.is_some() {
                            return Err(ConflictableTransactionError::Abort(Conflict::UidTaken));
                        }
                        tx.insert(k, &id[..])?;
                    }
                    if let Some(u) = &current.uid {
                        tx.remove(keys::endpoint_uid(&current.tenant_id, u))?;
                    }
                }
                tx.insert(key.clone(), record.clone())?;
                Ok(())
            })
            .map_err(|e| self.tx_err(e));
        // Even a failed transaction may have raced another writer: drop
        // the copies either way.
        self.cache.endpoint_changed(e);
        r?;
        self.sync()?;
        Ok(written)
    }

    fn delete_endpoint(&self, e: &Endpoint) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.remove(keys::endpoint(e.id));
        batch.remove(keys::endpoint_by_tenant(&e.tenant_id, e.id));
        batch.remove(keys::endpoint_url(&e.tenant_id, &e.url));
        if let Some(u) = &e.uid {
            batch.remove(keys::endpoint_uid(&e.tenant_id, u));
        }
        let r = self.db()?.apply_batch(batch).map_err(|e| self.io(e));
        self.cache.endpoint_changed(e);
        r?;
        self.sync()
    }

    fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        self.read_through(self.cache.endpoint(id), &keys::endpoint(id), |g, e| {
            self.cache.fill_endpoint(g, e)
        })
    }

    fn endpoint_by_uid(&self, tenant: &str, uid: &str) -> Result<Option<Endpoint>> {
        // NB: the handle goes before the record is read (no nested use).
        let id = self
            .db()?
            .get(keys::endpoint_uid(tenant, uid))
            .map_err(|e| self.io(e))?;
        let Some(id) = id else {
            return Ok(None);
        };
        let Ok(id) = <[u8; 16]>::try_from(&id[..]) else {
            return Err(StoreError::Corrupt {
                kind: "endpoint uid index",
                reason: format!("{} bytes, not an id", id.len()),
            });
        };
        Ok(self
            .endpoint(EndpointId::from_bytes(id))?
            .filter(|e| e.tenant_id == tenant && e.uid.as_deref() == Some(uid)))
    }

    fn list_endpoints(
        &self,
        tenant: &str,
        after: Option<EndpointId>,
        limit: usize,
    ) -> Result<Vec<Endpoint>> {
        // Ingest asks for the whole list on every event: keep that one.
        let whole = after.is_none() && limit == usize::MAX;
        if whole {
            if let Some(list) = self.cache.endpoint_list(tenant) {
                return Ok(list.as_ref().clone());
            }
        }
        let generation = self.cache.generation();
        let after = after.map(EndpointId::to_bytes);
        let prefix = keys::endpoints_of(tenant);
        let mut out = Vec::new();
        for (k, _) in self.scan_after(&prefix, after.as_ref().map(|a| &a[..]), limit)? {
            let id = keys::trailing_id(&k).map(EndpointId::from_bytes);
            // An index entry without its record would be a bug; skip it
            // rather than fail the whole listing, and say so.
            match id.map(|id| self.endpoint(id)).transpose()? {
                Some(Some(e)) => out.push(e),
                _ => log::warn!("endpoint index entry without a record: {k:?}"),
            }
        }
        if whole {
            self.cache
                .fill_endpoint_list(generation, tenant, out.clone());
        }
        Ok(out)
    }
}

impl AlertStore for SledStore {
    fn alert(&self, rule: Rule, endpoint: EndpointId) -> Result<Option<Alert>> {
        self.get(&keys::alert(rule.code(), endpoint))
    }

    fn put_alert(&self, alert: &Alert, t: &Transition) -> Result<bool> {
        // One process owns a sled directory and one watcher thread
        // writes alerts, so a read before the write is enough here.
        let stored = self.alert(alert.rule, alert.endpoint_id)?;
        if stored.map_or(crate::domain::alert::State::Ok, |a| a.state) == alert.state {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.insert(
            keys::alert(alert.rule.code(), alert.endpoint_id),
            alert.encode(),
        );
        batch.insert(
            keys::alert_history(t.at, crate::domain::ids::new_ulid(t.at).0),
            t.encode(),
        );
        self.db()?.apply_batch(batch).map_err(|e| self.io(e))?;
        self.sync()?;
        Ok(true)
    }

    fn alerts(&self) -> Result<Vec<Alert>> {
        self.scan_records(keys::ALERT, None, usize::MAX)
    }

    fn alert_history(&self, limit: usize) -> Result<Vec<Transition>> {
        self.db()?
            .scan_prefix(keys::ALERT_HISTORY)
            .rev()
            .take(limit)
            .map(|r| {
                r.map_err(|e| self.io(e))
                    .and_then(|(_, v)| Transition::decode(&v))
            })
            .collect()
    }
}

impl Store for SledStore {
    fn is_bootstrapped(&self) -> Result<bool> {
        self.db()?
            .contains_key(keys::META_BOOTSTRAPPED)
            .map_err(|e| self.io(e))
    }

    fn mark_bootstrapped(&self) -> Result<()> {
        self.db()?
            .insert(keys::META_BOOTSTRAPPED, &[1u8][..])
            .map_err(|e| self.io(e))?;
        self.sync()
    }

    fn schema_version(&self) -> Result<u32> {
        // Read here rather than through `migrations`, so an I/O error is
        // noted like any other (readiness asks this on every probe).
        let stored = self.db()?.get(keys::META_SCHEMA).map_err(|e| self.io(e))?;
        migrations::decode_version(stored.as_deref())
    }

    fn flush(&self) -> Result<()> {
        // Through the committer, so the health and statistics rows it
        // holds in memory are written too — except on the committer's own
        // threads, which cannot wait for a cycle.
        if on_committer_thread() {
            return self.sync();
        }
        self.committer.submit(WriteOp::Flush, output::done).wait()
    }

    fn write_failure(&self) -> Option<WriteFailure> {
        self.slot.failure()
    }

    fn recover(&self) -> Result<()> {
        if self.slot.failure().is_none() && self.slot.db().is_ok() {
            return Ok(());
        }
        self.slot.reopen(|| {
            self.cache.clear();
            self.rows.rewrite_all();
        })
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.db()?.size_on_disk().map_err(|e| self.io(e))
    }

    fn backend_name(&self) -> &'static str {
        "sled"
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
}

#[cfg(test)]
mod tests {
    use super::*;

    // The whole store contract, on sled.
    crate::store::conformance::suite!(|| Arc::new(SledStore::temporary().unwrap()));

    /// A filesystem of the test's own, `bytes` big: a tmpfs, which needs
    /// root (`None` otherwise). Unmounted on drop.
    struct SmallFs(tempfile::TempDir);

    impl SmallFs {
        fn mount(bytes: u64) -> Option<Self> {
            let dir = tempfile::tempdir().ok()?;
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            mounted.then_some(SmallFs(dir))
        }

        fn path(&self) -> &Path {
            self.0.path()
        }

        /// Writes a file until the filesystem is full.
        fn fill(&self, name: &str) {
            use std::io::Write;
            let mut f = std::fs::File::create(self.path().join(name)).unwrap();
            let chunk = vec![0u8; 64 << 10];
            while f.write_all(&chunk).and_then(|_| f.sync_data()).is_ok() {}
        }
    }

    impl Drop for SmallFs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.path())
                .status();
        }
    }

    #[test]
    fn a_full_disk_fails_writes_as_unavailable_until_recover_reopens_in_place() {
        use crate::store::conformance::{endpoint, new_event, t0};
        use crate::store::{CommitOutcome, DeliveryStore, EventStore, StatsStore};
        let Some(fs) = SmallFs::mount(16 << 20) else {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return;
        };
        let s = SledStore::open(&fs.path().join("data"), 4 << 20, Arc::new(SystemClock)).unwrap();
        let ep = endpoint("acme", "https://a.test/hook");
        s.insert_endpoint(&ep).unwrap();
        let commit = |id: &str| {
            s.commit_events(vec![new_event("acme", t0(), Some(id), &[ep.id])], None)
                .wait()
        };
        let mut acked = Vec::new();
        for i in 0..20 {
            let id = format!("early_{i}");
            assert!(matches!(commit(&id), Ok(CommitOutcome::Done(_))));
            acked.push(id);
        }
        fs.fill("filler");
        // The disk is full: the next writes fail, as "unavailable", and
        // the store says so.
        let mut refused = None;
        for i in 0..100_000 {
            let id = format!("late_{i}");
            match commit(&id) {
                Ok(_) => acked.push(id),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert!(
            matches!(refused, Some(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        let failure = s.write_failure().expect("the store reports its failure");
        assert!(failure.error.contains("no space"), "{}", failure.error);
        let t = Tenant {
            id: "globex".into(),
            name: "Globex".into(),
            suspended: false,
            created_at: t0(),
            updated_at: t0(),
            metadata: Default::default(),
        };
        assert!(matches!(
            s.insert_tenant(&t),
            Err(StoreError::Unavailable(_))
        ));
        std::fs::remove_file(fs.path().join("filler")).unwrap();
        // Readers go on while the store reopens (they wait for it, briefly).
        // Before the reopen sled's reads may fail too (its global error):
        // they are counted, not fatal; after it every read succeeds.
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
        let (stop, reads, reopened) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let reader = {
            let (s, stop, reads, reopened, first) = (
                s.clone(),
                stop.clone(),
                reads.clone(),
                reopened.clone(),
                acked[0].clone(),
            );
            std::thread::spawn(move || -> std::result::Result<(), String> {
                while !stop.load(SeqCst) {
                    let after = reopened.load(SeqCst);
                    match s.event_by_id("acme", &first) {
                        Ok(Some(_)) => {}
                        Ok(None) => return Err(format!("{first} not found")),
                        Err(e) if after => return Err(format!("after the reopen: {e}")),
                        Err(_) => {}
                    }
                    s.store_stats();
                    reads.fetch_add(1, SeqCst);
                }
                Ok(())
            })
        };
        let wait_for_reads = |at_least: u64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while reads.load(SeqCst) < at_least && !reader.is_finished() {
                assert!(std::time::Instant::now() < deadline, "the reader is stuck");
                std::thread::yield_now();
            }
        };
        wait_for_reads(1);
        s.recover().unwrap();
        reopened.store(true, SeqCst);
        let so_far = reads.load(SeqCst);
        wait_for_reads(so_far + 10);
        stop.store(true, SeqCst);
        reader.join().unwrap().unwrap();
        assert_eq!(s.write_failure(), None);
        // Everything acknowledged is there, with its deliveries due.
        for id in &acked {
            assert!(s.event_by_id("acme", id).unwrap().is_some(), "{id} lost");
        }
        let due = s.due_between(None, t0(), usize::MAX).unwrap();
        assert_eq!(due.len(), acked.len());
        // And writes go on.
        assert!(matches!(commit("after"), Ok(CommitOutcome::Done(_))));
        assert!(s.insert_tenant(&t).unwrap());
        assert_eq!(s.tenant("globex").unwrap(), Some(t));
    }

    #[test]
    fn a_second_open_reports_the_lock_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let clock = || Arc::new(SystemClock);
        let _first = SledStore::open(dir.path(), 8 << 20, clock()).unwrap();
        match SledStore::open(dir.path(), 8 << 20, clock()) {
            Err(StoreError::Locked { .. }) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("expected Locked, opened twice"),
        }
    }
}
