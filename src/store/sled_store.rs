//! The sled implementation of the store traits.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::cache::ReadCache;
use super::codec::Versioned;
use super::committer::Committer;
use super::{keys, migrations};
use super::{
    AlertStore, Conflict, EndpointStore, KeyStore, Result, SessionStore, Store, StoreError,
    TenantStore, UserStore,
};
use crate::domain::alert::{Alert, Rule, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::endpoint::Endpoint;
use crate::domain::ids::{EndpointId, KeyId};
use crate::domain::session::Session;
use crate::domain::tenant::Tenant;
use crate::domain::user::User;

/// Herald's data directory, opened.
#[derive(Clone)]
pub struct SledStore {
    pub(super) db: sled::Db,
    pub(super) committer: Committer,
    /// Copies of hot records, so hot reads skip sled's global lock.
    pub(super) cache: Arc<ReadCache>,
}

pub(super) fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn tx_err(e: TransactionError<Conflict>) -> StoreError {
    match e {
        TransactionError::Abort(c) => StoreError::Conflict(c),
        TransactionError::Storage(e) => io(e),
    }
}

impl SledStore {
    /// Opens (creating if needed) the data directory at `path`, with a page
    /// cache of `cache_bytes`, and brings its schema up to date.
    pub fn open(path: &Path, cache_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
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
                other => io(other),
            })?;
        migrations::run(&db)?;
        let committer = Committer::start(db.clone());
        Ok(Self {
            db,
            committer,
            cache: Arc::default(),
        })
    }

    /// A store in a temporary directory that vanishes on drop; for tests.
    pub fn temporary() -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(16 << 20)
            .open()
            .map_err(io)?;
        migrations::run(&db)?;
        let committer = Committer::start(db.clone());
        Ok(Self {
            db,
            committer,
            cache: Arc::default(),
        })
    }

    /// Flushes sled (an fsync) after a direct write; the write-behind
    /// rows are left to the committer.
    fn sync(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(io)
    }

    /// A record through the read cache: `cached` if it was there, else
    /// sled's copy at `key`, offered to `fill` with the cache generation
    /// taken before the read (so a read that raced a write is not kept).
    pub(super) fn read_through<T: Versioned>(
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

    pub(super) fn get<T: Versioned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.db.get(key).map_err(io)? {
            Some(bytes) => T::decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put<T: Versioned>(&self, key: &[u8], value: &T) -> Result<()> {
        self.db.insert(key, value.encode()).map_err(io)?;
        self.sync()
    }

    fn insert_new<T: Versioned>(&self, key: &[u8], value: &T) -> Result<bool> {
        let swapped = self
            .db
            .compare_and_swap(key, None as Option<&[u8]>, Some(value.encode()))
            .map_err(io)?;
        if swapped.is_ok() {
            self.sync()?;
        }
        Ok(swapped.is_ok())
    }

    /// Keys under `prefix`, strictly after `prefix ‖ after`, at most `limit`.
    pub(super) fn scan_after(
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
        for item in self.db.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = item.map_err(io)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k, v));
        }
        Ok(out)
    }

    pub(super) fn scan_records<T: Versioned>(
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
}

impl KeyStore for SledStore {
    fn insert_key(&self, k: &ApiKey) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(keys::key(k.id), k.encode());
        batch.insert(keys::key_hash(&k.hash), &k.id.to_bytes());
        let r = self.db.apply_batch(batch).map_err(io);
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
        let k = match self.db.get(keys::key_hash(hash)).map_err(io)? {
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
}

impl SessionStore for SledStore {
    fn put_session(&self, s: &Session) -> Result<()> {
        self.put(&keys::session(&s.id_hash), s)
    }

    fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.get(&keys::session(id_hash))
    }

    fn delete_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        self.db.remove(keys::session(id_hash)).map_err(io)?;
        self.sync()
    }

    fn list_sessions(&self) -> Result<Vec<Session>> {
        self.scan_records(keys::SESSION, None, usize::MAX)
    }
}

impl EndpointStore for SledStore {
    fn insert_endpoint(&self, e: &Endpoint) -> Result<()> {
        let url_key = keys::endpoint_url(&e.tenant_id, &e.url);
        let id = e.id.to_bytes();
        let record = e.encode();
        self.db
            .transaction(|tx| {
                if tx.get(&url_key)?.is_some() {
                    return Err(ConflictableTransactionError::Abort(Conflict::UrlTaken));
                }
                tx.insert(keys::endpoint(e.id), record.clone())?;
                tx.insert(keys::endpoint_by_tenant(&e.tenant_id, e.id), &[][..])?;
                tx.insert(url_key.clone(), &id[..])?;
                Ok(())
            })
            .map_err(tx_err)?;
        self.cache.endpoint_changed(e);
        self.sync()
    }

    fn update_endpoint(&self, before: &Endpoint, after: &Endpoint) -> Result<()> {
        debug_assert_eq!(before.id, after.id);
        let key = keys::endpoint(after.id);
        let old_url = keys::endpoint_url(&before.tenant_id, &before.url);
        let new_url = keys::endpoint_url(&after.tenant_id, &after.url);
        let id = after.id.to_bytes();
        let record = after.encode();
        let r = self
            .db
            .transaction(|tx| {
                let current = tx.get(&key)?;
                let unchanged = current
                    .as_deref()
                    .and_then(|b| Endpoint::decode(b).ok())
                    .is_some_and(|cur| &cur == before);
                if !unchanged {
                    return Err(ConflictableTransactionError::Abort(Conflict::Changed));
                }
                if old_url != new_url {
                    if tx.get(&new_url)?.is_some() {
                        return Err(ConflictableTransactionError::Abort(Conflict::UrlTaken));
                    }
                    tx.remove(old_url.clone())?;
                    tx.insert(new_url.clone(), &id[..])?;
                }
                tx.insert(key.clone(), record.clone())?;
                Ok(())
            })
            .map_err(tx_err);
        // Even a failed transaction may have raced another writer: drop
        // the copies either way.
        self.cache.endpoint_changed(before);
        r?;
        self.sync()
    }

    fn delete_endpoint(&self, e: &Endpoint) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.remove(keys::endpoint(e.id));
        batch.remove(keys::endpoint_by_tenant(&e.tenant_id, e.id));
        batch.remove(keys::endpoint_url(&e.tenant_id, &e.url));
        let r = self.db.apply_batch(batch).map_err(io);
        self.cache.endpoint_changed(e);
        r?;
        self.sync()
    }

    fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        self.read_through(self.cache.endpoint(id), &keys::endpoint(id), |g, e| {
            self.cache.fill_endpoint(g, e)
        })
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

    fn put_alert(&self, alert: &Alert, t: &Transition) -> Result<()> {
        let mut batch = sled::Batch::default();
        batch.insert(
            keys::alert(alert.rule.code(), alert.endpoint_id),
            alert.encode(),
        );
        batch.insert(
            keys::alert_history(t.at, crate::domain::ids::new_ulid(t.at).0),
            t.encode(),
        );
        self.db.apply_batch(batch).map_err(io)?;
        self.sync()
    }

    fn alerts(&self) -> Result<Vec<Alert>> {
        self.scan_records(keys::ALERT, None, usize::MAX)
    }

    fn alert_history(&self, limit: usize) -> Result<Vec<Transition>> {
        self.db
            .scan_prefix(keys::ALERT_HISTORY)
            .rev()
            .take(limit)
            .map(|r| r.map_err(io).and_then(|(_, v)| Transition::decode(&v)))
            .collect()
    }
}

impl Store for SledStore {
    fn is_bootstrapped(&self) -> Result<bool> {
        self.db.contains_key(keys::META_BOOTSTRAPPED).map_err(io)
    }

    fn mark_bootstrapped(&self) -> Result<()> {
        self.db
            .insert(keys::META_BOOTSTRAPPED, &[1u8][..])
            .map_err(io)?;
        self.sync()
    }

    fn schema_version(&self) -> Result<u32> {
        migrations::stored_version(&self.db)
    }

    fn flush(&self) -> Result<()> {
        // Through the committer, so the health and statistics rows it
        // holds in memory are written too — except on the committer's own
        // threads (a job or a continuation), which cannot wait for a cycle.
        if super::committer::on_committer_thread() {
            return self.sync();
        }
        let (tx, rx) = crossbeam_channel::bounded::<Result<()>>(1);
        self.committer.submit(Box::new(move |cycle| {
            cycle.request_rows_write();
            Box::new(move |flushed| {
                let _ = tx.send(flushed);
            })
        }));
        match rx.recv() {
            Ok(r) => r,
            // The committer has stopped (and wrote its rows on the way out).
            Err(_) => self.sync(),
        }
    }

    fn size_on_disk(&self) -> Result<u64> {
        self.db.size_on_disk().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    fn endpoint(tenant: &str, url: &str) -> Endpoint {
        let t = Timestamp::from_millis(1_700_000_000_000);
        Endpoint {
            id: EndpointId::new(t),
            tenant_id: tenant.into(),
            url: url.into(),
            events: vec!["*".into()],
            description: String::new(),
            active: true,
            secret: "whsec_x".into(),
            previous_secrets: vec![],
            disabled_reason: None,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn endpoint_url_is_unique_per_tenant_and_index_follows_updates() {
        let s = SledStore::temporary().unwrap();
        let a = endpoint("a", "https://x.test/1");
        s.insert_endpoint(&a).unwrap();
        let dup = endpoint("a", "https://x.test/1");
        assert!(matches!(
            s.insert_endpoint(&dup),
            Err(StoreError::Conflict(Conflict::UrlTaken))
        ));
        // Another tenant may use the same URL.
        s.insert_endpoint(&endpoint("b", "https://x.test/1"))
            .unwrap();

        let mut moved = a.clone();
        moved.url = "https://x.test/2".into();
        s.update_endpoint(&a, &moved).unwrap();
        // The old URL is free again, the new one taken.
        s.insert_endpoint(&endpoint("a", "https://x.test/1"))
            .unwrap();
        assert!(s
            .insert_endpoint(&endpoint("a", "https://x.test/2"))
            .is_err());
        // A stale `before` is refused.
        assert!(matches!(
            s.update_endpoint(&a, &moved),
            Err(StoreError::Conflict(Conflict::Changed))
        ));
        assert_eq!(s.list_endpoints("a", None, 10).unwrap().len(), 2);
        assert_eq!(s.list_endpoints("b", None, 10).unwrap().len(), 1);
        s.delete_endpoint(&moved).unwrap();
        assert_eq!(s.endpoint(moved.id).unwrap(), None);
        assert_eq!(s.list_endpoints("a", None, 10).unwrap().len(), 1);
    }

    #[test]
    fn list_pages_with_an_exclusive_cursor() {
        let s = SledStore::temporary().unwrap();
        let eps: Vec<_> = (0..5)
            .map(|i| endpoint("t", &format!("https://x.test/{i}")))
            .collect();
        for e in &eps {
            s.insert_endpoint(e).unwrap();
        }
        let page1 = s.list_endpoints("t", None, 2).unwrap();
        let page2 = s.list_endpoints("t", Some(page1[1].id), 2).unwrap();
        let page3 = s.list_endpoints("t", Some(page2[1].id), 2).unwrap();
        let ids: Vec<_> = [page1, page2, page3]
            .concat()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, eps.iter().map(|e| e.id).collect::<Vec<_>>());
    }

    /// Reads are served from memory once made; every write must still
    /// show in the next read (endpoints, a tenant's list, tenants, keys).
    #[test]
    fn cached_reads_follow_every_write() {
        let s = SledStore::temporary().unwrap();
        let whole = |s: &SledStore| -> Vec<(String, bool)> {
            s.list_endpoints("a", None, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|e| (e.url, e.active))
                .collect()
        };
        let a = endpoint("a", "https://x.test/1");
        s.insert_endpoint(&a).unwrap();
        assert_eq!(whole(&s), [("https://x.test/1".to_string(), true)]);
        assert!(s.endpoint(a.id).unwrap().unwrap().active);
        // Created after the list was cached.
        let b = endpoint("a", "https://x.test/2");
        s.insert_endpoint(&b).unwrap();
        assert_eq!(whole(&s).len(), 2);
        // Disabled after both were cached.
        let off = Endpoint {
            active: false,
            ..a.clone()
        };
        s.update_endpoint(&a, &off).unwrap();
        assert!(!s.endpoint(a.id).unwrap().unwrap().active);
        assert!(whole(&s).contains(&("https://x.test/1".to_string(), false)));
        s.delete_endpoint(&b).unwrap();
        assert!(s.endpoint(b.id).unwrap().is_none());
        assert_eq!(whole(&s).len(), 1);

        let t = Tenant {
            id: "a".into(),
            name: "a".into(),
            suspended: false,
            created_at: a.created_at,
            updated_at: a.created_at,
        };
        s.insert_tenant(&t).unwrap();
        assert!(!s.tenant("a").unwrap().unwrap().suspended);
        s.put_tenant(&Tenant {
            suspended: true,
            ..t
        })
        .unwrap();
        assert!(s.tenant("a").unwrap().unwrap().suspended);

        let key = ApiKey {
            id: KeyId::new(a.created_at),
            name: "k".into(),
            scope: crate::domain::apikey::KeyScope::Platform,
            hash: crate::domain::apikey::hash_key("hpk_cache_test"),
            hint: "hpk_cach".into(),
            created_at: a.created_at,
            revoked_at: None,
        };
        s.insert_key(&key).unwrap();
        assert!(s
            .key_by_hash(&key.hash)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none());
        s.put_key(&ApiKey {
            revoked_at: Some(a.created_at),
            ..key.clone()
        })
        .unwrap();
        assert!(s
            .key_by_hash(&key.hash)
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some());
    }

    #[test]
    fn sessions_round_trip_and_delete() {
        let s = SledStore::temporary().unwrap();
        let t = Timestamp::from_millis(1_700_000_000_000);
        let sess = Session {
            id_hash: [7; 32],
            username: "admin".into(),
            csrf: "c".into(),
            tenant: Some("acme".into()),
            created_at: t,
            last_seen_at: t,
        };
        s.put_session(&sess).unwrap();
        assert_eq!(s.session(&[7; 32]).unwrap(), Some(sess.clone()));
        assert_eq!(s.session(&[8; 32]).unwrap(), None);
        assert_eq!(s.list_sessions().unwrap(), vec![sess]);
        s.delete_session(&[7; 32]).unwrap();
        s.delete_session(&[7; 32]).unwrap();
        assert!(s.list_sessions().unwrap().is_empty());
    }

    #[test]
    fn a_second_open_reports_the_lock_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path(), 8 << 20).unwrap();
        match SledStore::open(dir.path(), 8 << 20) {
            Err(StoreError::Locked { .. }) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("expected Locked, opened twice"),
        }
    }
}
