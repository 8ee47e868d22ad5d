//! sled as a group-commit backend: the writes of one commit cycle, the
//! write-behind health and statistics rows, and [`SledBackend`], which the
//! generic committer (`store::committer`) drives.
//!
//! A cycle is a sled batch plus an overlay of its pending writes, so later
//! ops read what earlier ones wrote. Measured: one sled batch per event
//! made a 1,000-event request cost a 216 ms flush (sled logs each batch
//! separately); one batch per cycle, cut at op (or event) boundaries every
//! few hundred entries, brought it to ~1 ms.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use super::cache::ReadCache;
use super::delivery as ops;
use super::slot::Slot;
use crate::domain::health::Health;
use crate::domain::stats::Stats;
use crate::store::codec::Versioned;
use crate::store::committer::{CommitBackend, CommitSync};
use crate::store::ops::{OpOutput, WriteOp};
use crate::store::{Result, StoreError};

/// A sled batch is applied once it holds this many entries, at a boundary
/// between atomic units: sled's memory blows up on batches of ~10k.
const MAX_BATCH_ENTRIES: usize = 512;

// The health and statistics rows changed in memory are written to sled
// once a committer tick ([`crate::store::committer::TICK`], a second of
// the injected clock), at a flush and at shutdown.
//
// Why write-behind: every attempt changes its endpoint's health row and
// three statistics rows (minute, hour, day). Written with the attempt,
// that was four reads and four writes per attempt — half of what the
// committer spent on sled during `fanout`. Kept here and written once a
// second, a busy endpoint costs four writes a second however many
// attempts it gets. The price: a crash loses up to a tick of counts
// (never invents one: a row only counts attempts already applied).

fn wrong_kind(kind: &'static str) -> StoreError {
    StoreError::Corrupt {
        kind,
        reason: "key used for another kind of row".into(),
    }
}

/// A row kept decoded in memory.
#[derive(Clone)]
pub(super) enum Deferred {
    Health(Health),
    Stats(Stats),
}

impl Deferred {
    fn encode(&self) -> Vec<u8> {
        match self {
            Deferred::Health(h) => h.encode(),
            Deferred::Stats(s) => s.encode(),
        }
    }
}

/// The health and statistics rows, decoded, shared with readers.
///
/// **Invariant:** only the committer thread changes a row; a row in
/// `dirty` is newer than sled's copy, so readers look here first.
#[derive(Default)]
pub(super) struct Rows {
    inner: Mutex<RowsInner>,
}

#[derive(Default)]
struct RowsInner {
    /// Rows changed since they were last written.
    dirty: HashMap<Vec<u8>, Deferred>,
    /// Rows read or written recently (spares a sled read per attempt);
    /// emptied at every write-out, so it holds one interval's rows.
    clean: HashMap<Vec<u8>, Deferred>,
}

impl Rows {
    fn lock(&self) -> std::sync::MutexGuard<'_, RowsInner> {
        // NB: a panic while holding this lock can only come from a
        // HashMap operation; the maps stay valid, so go on with them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest copy of a row, if it is held here.
    pub fn get(&self, key: &[u8]) -> Option<Deferred> {
        let g = self.lock();
        g.dirty.get(key).or_else(|| g.clean.get(key)).cloned()
    }

    /// Changed rows whose key starts with `prefix`, for range reads.
    pub fn dirty_with_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Deferred)> {
        let g = self.lock();
        g.dirty
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn remember(&self, rows: impl Iterator<Item = (Vec<u8>, Deferred)>) {
        let mut g = self.lock();
        for (k, v) in rows {
            g.clean.remove(&k);
            g.dirty.insert(k, v);
        }
    }

    fn forget(&self, keys: &[Vec<u8>]) {
        let mut g = self.lock();
        for k in keys {
            g.dirty.remove(k);
            g.clean.remove(k);
        }
    }

    /// After a reopen: the rows held clean may have been written in a
    /// batch that never became durable, so they are written again (they
    /// are the newest copies either way).
    pub fn rewrite_all(&self) {
        let mut g = self.lock();
        let clean = std::mem::take(&mut g.clean);
        for (k, v) in clean {
            g.dirty.entry(k).or_insert(v);
        }
    }

    /// Takes the changed rows for writing; they stay readable as clean.
    fn take_dirty(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut g = self.lock();
        let dirty = std::mem::take(&mut g.dirty);
        g.clean.clear();
        let out = dirty.iter().map(|(k, v)| (k.clone(), v.encode())).collect();
        g.clean = dirty;
        out
    }
}

/// How to take back one write of the op being applied.
enum Undo {
    /// The overlay's entry for the key before the write (`None`: absent).
    Overlay(Vec<u8>, Option<Option<Vec<u8>>>),
    /// The cycle's copy of a write-behind row before the change.
    Row(Vec<u8>, Option<Deferred>),
    /// A row marked to be forgotten.
    Forget,
    /// An event marked as purged (for the read cache).
    Purged,
}

/// The writes of one commit cycle, not yet applied.
///
/// **Invariant:** everything between two [`Cycle::checkpoint`]s lands in
/// one sled batch, so it is applied all or nothing; reads through
/// [`Cycle::get`] see the pending writes first. The writes of the op being
/// applied since the last batch can be taken back ([`Cycle::discard_op`]).
pub(super) struct Cycle {
    slot: Arc<Slot>,
    /// The database, from `begin` to the end of `write` (so a reopen falls
    /// between cycles: see `slot`).
    db: Option<Arc<sled::Db>>,
    /// The pending writes (`None` removes); the sled batch is built from
    /// them when applied, so each key and value is held once.
    overlay: HashMap<Vec<u8>, Option<Vec<u8>>>,
    entries: usize,
    failed: Option<StoreError>,
    /// Health and statistics rows touched since the last checkpoint,
    /// decoded; handed to [`Rows`] when the batch is applied, so an op
    /// that fails leaves no count behind.
    deferred: HashMap<Vec<u8>, Deferred>,
    /// Write-behind rows being removed (dropped from memory with the batch).
    forgotten: Vec<Vec<u8>>,
    rows: Arc<Rows>,
    /// An op asked for the write-behind rows to be written in this cycle.
    rows_wanted: bool,
    /// Events removed in this cycle, for the read cache.
    pub purged: Vec<u128>,
    /// Undo records of the current op since the last batch was applied.
    undo: Vec<Undo>,
}

impl Cycle {
    fn new(slot: Arc<Slot>, rows: Arc<Rows>) -> Self {
        Self {
            slot,
            db: None,
            overlay: HashMap::new(),
            entries: 0,
            failed: None,
            deferred: HashMap::new(),
            forgotten: Vec::new(),
            rows,
            rows_wanted: false,
            purged: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// The write-behind row at `key`: this cycle's copy, else the one in
    /// memory, else sled's, decoded by `load` (`None`: not stored yet).
    fn deferred_mut(
        &mut self,
        key: Vec<u8>,
        load: impl FnOnce(Option<&[u8]>) -> Result<Deferred>,
    ) -> Result<&mut Deferred> {
        let before = self.deferred.get(&key).cloned();
        if before.is_none() {
            let row = match self.rows.get(&key) {
                Some(d) => d,
                None => load(self.get(&key)?.as_deref())?,
            };
            self.deferred.insert(key.clone(), row);
        }
        self.undo.push(Undo::Row(key.clone(), before));
        self.deferred
            .get_mut(&key)
            .ok_or_else(|| StoreError::Io("write-behind row vanished".into()))
    }

    /// The health row at `key`, to change in place.
    pub fn health_mut(&mut self, key: Vec<u8>) -> Result<&mut Health> {
        let row = self.deferred_mut(key, |v| {
            Ok(Deferred::Health(
                v.map_or(Ok(Health::default()), Health::decode)?,
            ))
        })?;
        match row {
            Deferred::Health(h) => Ok(h),
            Deferred::Stats(_) => Err(wrong_kind("endpoint health")),
        }
    }

    /// Adds `delta` to the statistics row at `key`.
    pub fn add_stats(&mut self, key: Vec<u8>, delta: &Stats) -> Result<()> {
        let row = self.deferred_mut(key, |v| {
            Ok(Deferred::Stats(
                v.map_or(Ok(Stats::default()), Stats::decode)?,
            ))
        })?;
        match row {
            Deferred::Stats(row) => {
                row.merge(delta);
                Ok(())
            }
            Deferred::Health(_) => Err(wrong_kind("stats")),
        }
    }

    /// The cycle's database handle, or (outside a cycle: the idle tick and
    /// close) one for this call.
    fn db(&self) -> Result<Arc<sled::Db>> {
        match &self.db {
            Some(db) => Ok(db.clone()),
            None => self.slot.db(),
        }
    }

    /// Reads a key as this cycle's writes so far leave it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self
                .db()?
                .get(key)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| self.slot.io(e)),
        }
    }

    /// Drops write-behind rows that are being removed, so they are not
    /// written back (once this cycle's batch is applied).
    pub fn forget_rows(&mut self, keys: &[Vec<u8>]) {
        for k in keys {
            self.deferred.remove(k);
            self.forgotten.push(k.clone());
            self.undo.push(Undo::Forget);
        }
    }

    /// Marks an event as removed, for the read cache.
    pub fn purged_event(&mut self, key: u128) {
        self.purged.push(key);
        self.undo.push(Undo::Purged);
    }

    /// The keys under `prefix` as this cycle's writes so far leave them,
    /// in no particular order.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for item in self.db()?.scan_prefix(prefix) {
            let (k, _) = item.map_err(|e| self.slot.io(e))?;
            if !self.overlay.contains_key(k.as_ref()) {
                out.push(k.to_vec());
            }
        }
        out.extend(
            self.overlay
                .iter()
                .filter(|(k, v)| v.is_some() && k.starts_with(prefix))
                .map(|(k, _)| k.clone()),
        );
        Ok(out)
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let before = self.overlay.insert(key.clone(), value);
        self.undo.push(Undo::Overlay(key, before));
        self.entries += 1;
    }

    /// Writes `key`.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.write(key, Some(value));
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.write(key, None);
    }

    /// Marks an atomic boundary: if the batch is large, apply it now.
    pub fn checkpoint(&mut self) {
        if self.entries >= MAX_BATCH_ENTRIES {
            self.apply();
        }
    }

    /// Starts an op: what follows can be taken back until the next batch.
    fn start_op(&mut self) {
        self.undo.clear();
    }

    /// Takes back the current op's writes since the last applied batch.
    fn discard_op(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Overlay(k, Some(v)) => {
                    self.overlay.insert(k, v);
                }
                Undo::Overlay(k, None) => {
                    self.overlay.remove(&k);
                }
                Undo::Row(k, Some(v)) => {
                    self.deferred.insert(k, v);
                }
                Undo::Row(k, None) => {
                    self.deferred.remove(&k);
                }
                Undo::Forget => {
                    self.forgotten.pop();
                }
                Undo::Purged => {
                    self.purged.pop();
                }
            }
        }
    }

    fn apply(&mut self) {
        self.undo.clear();
        if self.entries > 0 || !self.overlay.is_empty() {
            let mut batch = sled::Batch::default();
            for (k, v) in self.overlay.drain() {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            let applied = match self.db() {
                Ok(db) => db.apply_batch(batch).map_err(|e| self.slot.io(e)),
                Err(e) => Err(e),
            };
            if let Err(e) = applied {
                self.failed.get_or_insert(e);
            }
            self.entries = 0;
        }
        // The rows this batch's attempts changed become visible (and due
        // for writing) only with the batch itself.
        if self.failed.is_none() {
            self.rows.remember(self.deferred.drain());
            self.rows.forget(&self.forgotten);
        } else {
            self.deferred.clear();
        }
        self.forgotten.clear();
    }

    /// Writes the changed health and statistics rows in more batches;
    /// whether there were any.
    fn write_rows(&mut self) -> Result<bool> {
        let rows = self.rows.take_dirty();
        if rows.is_empty() {
            return Ok(false);
        }
        for chunk in rows.chunks(MAX_BATCH_ENTRIES) {
            let mut batch = sled::Batch::default();
            for (k, v) in chunk {
                batch.insert(k.as_slice(), v.as_slice());
            }
            let db = self.db()?;
            db.apply_batch(batch).map_err(|e| self.slot.io(e))?;
        }
        Ok(true)
    }
}

/// sled under the generic committer.
pub(super) struct SledBackend {
    cycle: Cycle,
    cache: Arc<ReadCache>,
}

impl SledBackend {
    pub fn new(slot: Arc<Slot>, rows: Arc<Rows>, cache: Arc<ReadCache>) -> Self {
        Self {
            cycle: Cycle::new(slot, rows),
            cache,
        }
    }
}

/// Makes sled's applied batches durable.
pub(super) struct SledSync(Arc<Slot>);

impl CommitSync for SledSync {
    fn sync(&self) -> Result<()> {
        let db = self.0.db()?;
        db.flush().map(|_| ()).map_err(|e| self.0.io(e))
    }
}

impl CommitBackend for SledBackend {
    type Sync = SledSync;

    fn sync_handle(&self) -> SledSync {
        SledSync(self.cycle.slot.clone())
    }

    fn begin(&mut self) -> Result<()> {
        let c = &mut self.cycle;
        c.db = Some(c.slot.db()?);
        c.failed = None;
        c.rows_wanted = false;
        c.purged.clear();
        Ok(())
    }

    fn apply(&mut self, op: &WriteOp) -> Result<OpOutput> {
        let c = &mut self.cycle;
        c.start_op();
        let out = match op {
            WriteOp::CommitEvents {
                events,
                idempotency,
            } => ops::apply_events(c, events, idempotency.as_ref()).map(OpOutput::Committed),
            WriteOp::UpdateDelivery {
                delivery,
                attempt,
                seen,
            } => ops::apply_update(c, delivery, attempt.as_ref(), seen.as_ref())
                .map(|()| OpOutput::Done),
            WriteOp::RecordAttempt {
                delivery,
                attempt,
                seen,
            } => ops::apply_attempt(c, delivery, attempt, seen.as_ref()).map(OpOutput::Health),
            WriteOp::PurgeEvents { candidates } => {
                ops::apply_purge(c, candidates).map(|(p, gone)| OpOutput::Purged(p, gone))
            }
            WriteOp::RemoveRows {
                rows,
                idempotency_before,
            } => ops::apply_remove_rows(c, rows, *idempotency_before).map(OpOutput::Removed),
            WriteOp::Flush => {
                c.rows_wanted = true;
                Ok(OpOutput::Done)
            }
        };
        if out.is_err() {
            c.discard_op();
        }
        c.checkpoint();
        out
    }

    fn discard_op(&mut self) {
        self.cycle.discard_op();
    }

    fn write(&mut self, tick: bool) -> Result<()> {
        let c = &mut self.cycle;
        c.apply();
        // Applied or not, the removed events' copies go: a copy must never
        // outlive its record.
        if !c.purged.is_empty() {
            self.cache.events_removed(&std::mem::take(&mut c.purged));
        }
        if let Some(e) = c.failed.take() {
            return Err(e);
        }
        if c.rows_wanted || tick {
            if let Err(e) = c.write_rows() {
                if c.rows_wanted {
                    return Err(e);
                }
                log::error!("{e}");
            }
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<bool> {
        // Idle: write what changed, so an idle server's rows are on disk a
        // tick after the last attempt.
        self.cycle.write_rows()
    }

    fn close(&mut self) -> Result<()> {
        self.cycle.write_rows()?;
        self.sync_handle().sync()
    }

    fn end(&mut self) {
        // The cycle is written: its handle goes back (see `slot`).
        self.cycle.db = None;
    }
}
