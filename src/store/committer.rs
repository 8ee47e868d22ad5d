//! Group commit: one thread applies every delivery-pipeline write and
//! flushes once for all the writes that queued up meanwhile.
//!
//! sled's `flush` is an fsync (110–250 µs here); one per request would cap
//! ingest near 7k/s, and `flush_async` hangs under concurrent callers
//! (DEPENDENCIES.md). So writers hand their job to this thread and wait (or
//! leave a callback); the thread takes the first job, greedily drains
//! whatever else is queued, runs every job against one [`Cycle`] — a sled
//! batch plus an overlay of its pending writes, so later jobs read what
//! earlier ones wrote — applies the batch and hands the cycle to a second
//! thread, which calls `flush` once for every cycle applied meanwhile and
//! then answers their jobs (see [`fsync`]). Under load the batches grow by themselves; when idle a lone
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
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

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
    /// The pending writes (`None` removes); the sled batch is built from
    /// them when applied, so each key and value is held once.
    overlay: HashMap<Vec<u8>, Option<Vec<u8>>>,
    entries: usize,
    failed: Option<String>,
    /// Health and statistics rows touched since the last checkpoint,
    /// decoded; handed to [`Rows`] when the batch is applied, so a job
    /// that panics leaves no count behind.
    deferred: HashMap<Vec<u8>, Deferred>,
    rows: &'a Rows,
    /// A job asked for the write-behind rows to be written in this cycle.
    rows_wanted: bool,
}

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

/// How often the health and statistics rows changed in memory are written
/// to sled.
///
/// Why write-behind: every attempt changes its endpoint's health row and
/// three statistics rows (minute, hour, day). Written with the attempt,
/// that was four reads and four writes per attempt — half of what the
/// committer spent on sled during `fanout`. Kept here and written once a
/// second, a busy endpoint costs four writes a second however many
/// attempts it gets. The price: a crash loses up to this much of counts
/// (never invents one: a row only counts attempts already applied).
pub(super) const ROWS_WRITE_EVERY: Duration = Duration::from_secs(1);

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

impl<'a> Cycle<'a> {
    fn new(db: &'a sled::Db, rows: &'a Rows) -> Self {
        Self {
            db,
            overlay: HashMap::new(),
            entries: 0,
            failed: None,
            deferred: HashMap::new(),
            rows,
            rows_wanted: false,
        }
    }

    /// Has this cycle write the health and statistics rows held in memory
    /// too (for a shutdown or an explicit flush).
    pub fn request_rows_write(&mut self) {
        self.rows_wanted = true;
    }

    /// The write-behind row at `key`: this cycle's copy, else the one in
    /// memory, else sled's, decoded by `load` (`None`: not stored yet).
    fn deferred_mut(
        &mut self,
        key: Vec<u8>,
        load: impl FnOnce(Option<&[u8]>) -> Result<Deferred>,
    ) -> Result<&mut Deferred> {
        if !self.deferred.contains_key(&key) {
            let row = match self.rows.get(&key) {
                Some(d) => d,
                None => load(self.get(&key)?.as_deref())?,
            };
            self.deferred.insert(key.clone(), row);
        }
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

    /// Drops write-behind rows that are being removed, so they are not
    /// written back.
    pub fn forget_rows(&mut self, keys: &[Vec<u8>]) {
        let mut g = self.rows.lock();
        for k in keys {
            self.deferred.remove(k);
            g.dirty.remove(k);
            g.clean.remove(k);
        }
    }

    /// The keys under `prefix` as this cycle's writes so far leave them,
    /// in no particular order.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for item in self.db.scan_prefix(prefix) {
            let (k, _) = item.map_err(|e| StoreError::Io(e.to_string()))?;
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

    /// Writes `key`.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.overlay.insert(key, Some(value));
        self.entries += 1;
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
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
        if self.entries > 0 {
            let mut batch = sled::Batch::default();
            for (k, v) in self.overlay.drain() {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            if let Err(e) = self.db.apply_batch(batch) {
                self.failed.get_or_insert(e.to_string());
            }
            self.entries = 0;
        }
        // The rows this batch's attempts changed become visible (and due
        // for writing) only with the batch itself.
        if self.failed.is_none() {
            self.rows.remember(self.deferred.drain());
        } else {
            self.deferred.clear();
        }
    }

    /// Writes the changed health and statistics rows in more batches;
    /// whether there were any.
    fn write_rows(&mut self) -> bool {
        let rows = self.rows.take_dirty();
        if rows.is_empty() {
            return false;
        }
        for chunk in rows.chunks(MAX_BATCH_ENTRIES) {
            let mut batch = sled::Batch::default();
            for (k, v) in chunk {
                batch.insert(k.as_slice(), v.as_slice());
            }
            if let Err(e) = self.db.apply_batch(batch) {
                log::error!("writing health and statistics rows failed: {e}");
            }
        }
        true
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
///
/// NB: field order matters: `tx` drops before `_thread`, so when the last
/// handle goes, the channel closes and then the thread is joined — it has
/// written its rows and released the data directory when `drop` returns.
#[derive(Clone)]
pub(super) struct Committer {
    tx: Sender<Job>,
    pub stats: Arc<CommitStats>,
    /// The write-behind health and statistics rows.
    pub rows: Arc<Rows>,
    _thread: Arc<JoinOnDrop>,
}

/// The committer thread's name.
const THREAD_NAME: &str = "herald-commit";
/// The thread that flushes applied cycles and runs their continuations.
const FSYNC_THREAD_NAME: &str = "herald-fsync";

/// Whether the caller runs on the committer or its fsync thread (a job or
/// a continuation): such a caller must never wait for a cycle.
pub(super) fn on_committer_thread() -> bool {
    let here = std::thread::current();
    matches!(here.name(), Some(THREAD_NAME | FSYNC_THREAD_NAME))
}

/// Joins the committer thread when the last handle is dropped.
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            // A job or continuation on the committer's own threads may
            // hold the last handle; they cannot wait for themselves (the
            // committer joins the fsync thread as it ends).
            if !on_committer_thread() {
                let _ = h.join();
            }
        }
    }
}

impl Committer {
    /// Starts the committer thread for `db`. It stops when every handle
    /// is dropped, after committing what was queued.
    pub fn start(db: sled::Db) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = Arc::new(CommitStats::default());
        let rows = Arc::new(Rows::default());
        let (s, r) = (stats.clone(), rows.clone());
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || run(db, rx, s, r))
            .expect("spawning the committer thread");
        Self {
            tx,
            stats,
            rows,
            _thread: Arc::new(JoinOnDrop(Some(thread))),
        }
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

fn run(db: sled::Db, rx: Receiver<Job>, stats: Arc<CommitStats>, rows: Arc<Rows>) {
    let (flush_tx, flush_rx) = crossbeam_channel::unbounded();
    let flusher = {
        let (db, stats) = (db.clone(), stats.clone());
        std::thread::Builder::new()
            .name(FSYNC_THREAD_NAME.into())
            .spawn(move || fsync(db, flush_rx, stats))
            .expect("spawning the fsync thread")
    };
    let mut rows_written = Instant::now();
    loop {
        let first = match rx.recv_timeout(ROWS_WRITE_EVERY) {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => {
                // Idle: write what changed, so an idle server's rows
                // are on disk a second after the last attempt.
                if Cycle::new(&db, &rows).write_rows() {
                    if let Err(e) = db.flush() {
                        log::error!("flushing health and statistics rows failed: {e}");
                    }
                }
                rows_written = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS_PER_FLUSH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut pending = Vec::with_capacity(jobs.len());
        let applying = Instant::now();
        let mut cycle = Cycle::new(&db, &rows);
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
        if cycle.rows_wanted || rows_written.elapsed() >= ROWS_WRITE_EVERY {
            cycle.write_rows();
            rows_written = Instant::now();
        }
        let failed = cycle.failed.take();
        stats
            .apply_micros
            .fetch_add(applying.elapsed().as_micros() as u64, Ordering::Relaxed);
        if flush_tx.send(Applied { failed, pending }).is_err() {
            log::error!("the fsync thread has stopped");
        }
    }
    // Every handle is gone: answer what is applied, then write what is
    // still only in memory.
    drop(flush_tx);
    let _ = flusher.join();
    Cycle::new(&db, &rows).write_rows();
    if let Err(e) = db.flush() {
        log::error!("flushing health and statistics rows at shutdown failed: {e}");
    }
}

/// A cycle's jobs, applied to sled, waiting for an fsync.
struct Applied {
    failed: Option<String>,
    pending: Vec<Continuation>,
}

/// The fsync thread: flushes, then answers every cycle applied before the
/// flush began.
///
/// Why a second thread: an fsync takes about as long as applying a
/// cycle, and the two need not wait for each other. While this thread
/// syncs, the committer applies the next cycle; sled's `flush` makes
/// durable everything applied before it was called, and a cycle is sent
/// here only once applied, so every cycle received before the call is
/// covered by it.
fn fsync(db: sled::Db, rx: Receiver<Applied>, stats: Arc<CommitStats>) {
    while let Ok(first) = rx.recv() {
        let mut cycles = vec![first];
        while let Ok(c) = rx.try_recv() {
            cycles.push(c);
        }
        let started = Instant::now();
        let flushed = db.flush();
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats
            .flush_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        for Applied { failed, pending } in cycles {
            stats
                .jobs
                .fetch_add(pending.len() as u64, Ordering::Relaxed);
            for cont in pending {
                cont(match (&failed, &flushed) {
                    (Some(e), _) => Err(StoreError::Io(format!("write failed: {e}"))),
                    (None, Err(e)) => Err(StoreError::Io(format!("flush failed: {e}"))),
                    (None, Ok(_)) => Ok(()),
                });
            }
        }
    }
}
