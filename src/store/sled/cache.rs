//! Read-through copies of the records every delivery and every ingest
//! reads: endpoints (one by one and as a tenant's whole list), tenants,
//! API keys and events.
//!
//! Why: sled 0.34 takes a process-wide read lock for every read, and
//! `apply_batch` takes it exclusively; the committer waits for every reader
//! to leave. Profiled during `fanout`, 43 % of the committer's waits were
//! in `RawRwLock::wait_for_readers` — readers preempted while holding the
//! lock on a busy 2-core machine. Each delivery read its endpoint, its
//! tenant and its event, and each ingest read every endpoint of the
//! tenant; served from memory, those reads no longer hold sled's lock.
//!
//! **Invariant:** a cached endpoint or tenant is never older than sled's
//! copy. Writers change sled first, then bump the generation and drop the
//! entry; a reader fills the cache only if the generation did not move
//! while it read sled, so a read that raced a write never caches the old
//! record. Events are written once and never changed; only the retention
//! purge removes them, and it bumps the generation under the events lock,
//! so a read that raced a purge does not bring a purged event back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::domain::apikey::ApiKey;
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::ids::EndpointId;
use crate::domain::tenant::Tenant;

/// Bytes of event bodies kept; past this the event cache starts over.
const EVENT_BYTES: usize = 8 << 20;

#[derive(Default)]
pub(super) struct ReadCache {
    generation: AtomicU64,
    endpoints: RwLock<HashMap<EndpointId, Endpoint>>,
    lists: RwLock<HashMap<String, Arc<Vec<Endpoint>>>>,
    tenants: RwLock<HashMap<String, Tenant>>,
    /// API keys by the SHA-256 of their text (only keys that exist: an
    /// unknown key is not remembered, so guessing fills nothing).
    keys: RwLock<HashMap<[u8; 32], ApiKey>>,
    events: RwLock<Events>,
}

#[derive(Default)]
struct Events {
    map: HashMap<u128, Arc<Event>>,
    bytes: usize,
}

/// Reads through a lock even if a panic poisoned it: the maps hold plain
/// copies, valid whatever a panicking thread was doing.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl ReadCache {
    /// Taken before reading sled; passed back when filling.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn unchanged_since(&self, generation: u64) -> bool {
        self.generation.load(Ordering::SeqCst) == generation
    }

    pub fn endpoint(&self, id: EndpointId) -> Option<Endpoint> {
        read(&self.endpoints).get(&id).cloned()
    }

    pub fn fill_endpoint(&self, generation: u64, e: &Endpoint) {
        let mut m = write(&self.endpoints);
        if self.unchanged_since(generation) {
            m.insert(e.id, e.clone());
        }
    }

    pub fn endpoint_list(&self, tenant: &str) -> Option<Arc<Vec<Endpoint>>> {
        read(&self.lists).get(tenant).cloned()
    }

    pub fn fill_endpoint_list(&self, generation: u64, tenant: &str, list: Vec<Endpoint>) {
        let mut m = write(&self.lists);
        if self.unchanged_since(generation) {
            m.insert(tenant.to_string(), Arc::new(list));
        }
    }

    /// After an endpoint was written or deleted in sled.
    pub fn endpoint_changed(&self, e: &Endpoint) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(&self.endpoints).remove(&e.id);
        write(&self.lists).remove(&e.tenant_id);
    }

    pub fn tenant(&self, id: &str) -> Option<Tenant> {
        read(&self.tenants).get(id).cloned()
    }

    pub fn fill_tenant(&self, generation: u64, t: &Tenant) {
        let mut m = write(&self.tenants);
        if self.unchanged_since(generation) {
            m.insert(t.id.clone(), t.clone());
        }
    }

    /// After a tenant was written in sled.
    pub fn tenant_changed(&self, id: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(&self.tenants).remove(id);
    }

    pub fn key(&self, hash: &[u8; 32]) -> Option<ApiKey> {
        read(&self.keys).get(hash).cloned()
    }

    pub fn fill_key(&self, generation: u64, hash: [u8; 32], k: &ApiKey) {
        let mut m = write(&self.keys);
        if self.unchanged_since(generation) {
            m.insert(hash, k.clone());
        }
    }

    /// After a key was written (created or revoked): keys change rarely,
    /// so all copies go.
    pub fn key_changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(&self.keys).clear();
    }

    /// Drops every copy (the store was reopened: what was read from the
    /// old database may be gone from the new one).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        write(&self.endpoints).clear();
        write(&self.lists).clear();
        write(&self.tenants).clear();
        write(&self.keys).clear();
        let mut ev = write(&self.events);
        ev.map.clear();
        ev.bytes = 0;
    }

    /// Drops purged events.
    pub fn events_removed(&self, keys: &[u128]) {
        let mut ev = write(&self.events);
        self.generation.fetch_add(1, Ordering::SeqCst);
        for k in keys {
            if let Some(e) = ev.map.remove(k) {
                ev.bytes -= e.body.len();
            }
        }
    }

    pub fn event(&self, key: u128) -> Option<Arc<Event>> {
        read(&self.events).map.get(&key).cloned()
    }

    /// Keeps a copy of an event read from sled at `generation`, unless a
    /// purge removed events meanwhile.
    pub fn fill_event(&self, generation: u64, e: Arc<Event>) {
        let mut ev = write(&self.events);
        if !self.unchanged_since(generation) {
            return;
        }
        if ev.bytes + e.body.len() > EVENT_BYTES {
            ev.map.clear();
            ev.bytes = 0;
        }
        ev.bytes += e.body.len();
        ev.map.insert(e.key, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

    fn tenant(name: &str) -> Tenant {
        let t = Timestamp::from_millis(1);
        Tenant {
            id: "acme".into(),
            name: name.into(),
            suspended: false,
            created_at: t,
            updated_at: t,
            metadata: Default::default(),
        }
    }

    #[test]
    fn a_fill_that_raced_a_write_is_not_kept() {
        let c = ReadCache::default();
        let g = c.generation();
        // A writer changes the tenant after our read of sled began.
        c.tenant_changed("acme");
        c.fill_tenant(g, &tenant("old"));
        assert!(c.tenant("acme").is_none());
        let g = c.generation();
        c.fill_tenant(g, &tenant("new"));
        assert_eq!(c.tenant("acme").unwrap().name, "new");
        c.tenant_changed("acme");
        assert!(c.tenant("acme").is_none());
    }
}
