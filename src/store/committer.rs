//! Group commit: one thread applies every delivery-pipeline write and
//! flushes once for all the writes that queued up meanwhile.
//!
//! sled's `flush` is an fsync (110–250 µs here); one per request would cap
//! ingest near 7k/s, and `flush_async` hangs under concurrent callers
//! (DEPENDENCIES.md). So writers hand their job to this thread and wait (or
//! leave a callback); the thread takes the first job, greedily drains
//! whatever else is queued, runs every job against one [`Cycle`] — a sled
//! batch plus an overlay of its pending writes, so later jobs read what
//! earlier ones wrote — applies the batch, calls `flush` once, then answers
//! every job. Under load the batches grow by themselves; when idle a lone
//! request pays one fsync and no added delay.
//!
//! Measured: one sled batch per event made a 1,000-event request cost a
//! 216 ms flush (sled logs each batch separately); one batch per cycle, cut
//! at job boundaries every few hundred entries, brought it to ~1 ms.
//!
//! Being the only writer of the event-id and idempotency indexes, this
//! thread also enforces their uniqueness without races: it checks and
//! writes in one step, with nothing interleaved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::codec::Versioned;
use super::{Result, StoreError};
use crate::domain::health::Health;
use crate::domain::stats::Stats;

/// Most jobs folded into one flush; bounds the latency a job can add to
/// others and the memory held between flushes.
const MAX_JOBS_PER_FLUSH: usize = 512;

/// What runs after the flush, with its outcome.
pub(super) type Continuation = Box<dyn FnOnce(Result<()>) + Send>;

/// A write that must become durable: records its writes in the cycle and
/// returns what to do once they are flushed (the continuation carries the
/// job's own result, e.g. "duplicate", to the caller).
pub(super) type Job = Box<dyn FnOnce(&mut Cycle) -> Continuation + Send>;

/// A sled batch is applied once it holds this many entries, at a boundary
/// between atomic units: sled's memory blows up on batches of ~10k.
const MAX_BATCH_ENTRIES: usize = 512;

/// The writes of one commit cycle, not yet applied.
///
/// **Invariant:** everything between two [`Cycle::checkpoint`]s lands in
/// one sled batch, so it is applied all or nothing; reads through
/// [`Cycle::get`] see the pending writes first.
pub(super) struct Cycle<'a> {
    db: &'a sled::Db,
    batch: sled::Batch,
    overlay: HashMap<Vec<u8>, Option<Vec<u8>>>,
    entries: usize,
    failed: Option<String>,
    /// Health and statistics rows touched in this batch, decoded once and
    /// encoded once when the batch is applied (in that same batch): many
    /// attempts to one endpoint in a cycle cost one read and one write.
    deferred: HashMap<Vec<u8>, Deferred>,
}

/// A row kept decoded until its batch is applied.
enum Deferred {
    Health(Health),
    Stats(Stats),
}

impl<'a> Cycle<'a> {
    fn new(db: &'a sled::Db) -> Self {
        Self {
            db,
            batch: sled::Batch::default(),
            overlay: HashMap::new(),
            entries: 0,
            failed: None,
            deferred: HashMap::new(),
        }
    }

    /// The health row at `key`, to change in place.
    pub fn health_mut(&mut self, key: Vec<u8>) -> Result<&mut Health> {
        if !self.deferred.contains_key(&key) {
            let h = match self.get(&key)? {
                Some(v) => Health::decode(&v)?,
                None => Health::default(),
            };
            self.deferred.insert(key.clone(), Deferred::Health(h));
        }
        match self.deferred.get_mut(&key) {
            Some(Deferred::Health(h)) => Ok(h),
            _ => Err(StoreError::Corrupt {
                kind: "endpoint health",
                reason: "key used for another kind of row".into(),
            }),
        }
    }

    /// Adds `delta` to the statistics row at `key`.
    pub fn add_stats(&mut self, key: Vec<u8>, delta: &Stats) -> Result<()> {
        if !self.deferred.contains_key(&key) {
            let row = match self.get(&key)? {
                Some(v) => Stats::decode(&v)?,
                None => Stats::default(),
            };
            self.deferred.insert(key.clone(), Deferred::Stats(row));
        }
        match self.deferred.get_mut(&key) {
            Some(Deferred::Stats(row)) => {
                row.merge(delta);
                Ok(())
            }
            _ => Err(StoreError::Corrupt {
                kind: "stats",
                reason: "key used for another kind of row".into(),
            }),
        }
    }

    /// Reads a key as this cycle's writes so far leave it.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.overlay.get(key) {
            Some(v) => Ok(v.clone()),
            None => self
                .db
                .get(key)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(|e| StoreError::Io(e.to_string())),
        }
    }

    /// Writes `key`.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(key.clone(), value.clone());
        self.overlay.insert(key, Some(value));
        self.entries += 1;
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.batch.remove(key.clone());
        self.overlay.insert(key, None);
        self.entries += 1;
    }

    /// Marks an atomic boundary: if the batch is large, apply it now.
    pub fn checkpoint(&mut self) {
        if self.entries >= MAX_BATCH_ENTRIES {
            self.apply();
        }
    }

    fn apply(&mut self) {
        for (k, d) in self.deferred.drain() {
            let v = match d {
                Deferred::Health(h) => h.encode(),
                Deferred::Stats(s) => s.encode(),
            };
            self.batch.insert(k, v);
            self.entries += 1;
        }
        if self.entries == 0 {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Err(e) = self.db.apply_batch(batch) {
            self.failed.get_or_insert(e.to_string());
        }
        self.overlay.clear();
        self.entries = 0;
    }
}

/// Figures for `/metrics`.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Flushes performed.
    pub flushes: AtomicU64,
    /// Jobs committed.
    pub jobs: AtomicU64,
    /// Total flush time, microseconds.
    pub flush_micros: AtomicU64,
    /// Total time preparing and applying batches, microseconds.
    pub apply_micros: AtomicU64,
}

/// The handle writers use.
#[derive(Clone)]
pub(super) struct Committer {
    tx: Sender<Job>,
    pub stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the committer thread for `db`. It stops when every handle
    /// is dropped, after committing what was queued.
    pub fn start(db: sled::Db) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = Arc::new(CommitStats::default());
        let s = stats.clone();
        std::thread::Builder::new()
            .name("herald-commit".into())
            .spawn(move || run(db, rx, s))
            .expect("spawning the committer thread");
        Self { tx, stats }
    }

    /// Queues a job. If the committer has stopped, the job is dropped
    /// unapplied: a caller waiting on a channel inside it sees the channel
    /// close, and nothing was written or acknowledged.
    pub fn submit(&self, job: Job) {
        if self.tx.send(job).is_err() {
            log::error!("write dropped: the committer has stopped");
        }
    }
}

fn run(db: sled::Db, rx: Receiver<Job>, stats: Arc<CommitStats>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_FLUSH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut pending = Vec::with_capacity(jobs.len());
        let applying = Instant::now();
        let mut cycle = Cycle::new(&db);
        for job in jobs {
            // NB: a panic inside a job must not take the others (or the
            // thread) down. Its partial writes are dropped with the batch
            // it was building; the jobs before it in that batch are then
            // answered with an error too (nothing they wrote is applied).
            let before = cycle.entries;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut cycle))) {
                Ok(cont) => pending.push(cont),
                Err(_) => {
                    log::error!("a write panicked while being prepared; not committed");
                    if before > 0 || cycle.entries > 0 || !cycle.deferred.is_empty() {
                        cycle.batch = sled::Batch::default();
                        cycle.overlay.clear();
                        cycle.deferred.clear();
                        cycle.entries = 0;
                        cycle
                            .failed
                            .get_or_insert("a write in the same batch panicked".into());
                    }
                }
            }
            cycle.checkpoint();
        }
        cycle.apply();
        let failed = cycle.failed.take();
        stats
            .apply_micros
            .fetch_add(applying.elapsed().as_micros() as u64, Ordering::Relaxed);
        let started = Instant::now();
        let flushed = db.flush();
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats
            .jobs
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        stats
            .flush_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        for cont in pending {
            cont(match (&failed, &flushed) {
                (Some(e), _) => Err(StoreError::Io(format!("write failed: {e}"))),
                (None, Err(e)) => Err(StoreError::Io(format!("flush failed: {e}"))),
                (None, Ok(_)) => Ok(()),
            });
        }
    }
}
