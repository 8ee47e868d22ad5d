//! Group commit: one thread applies every delivery-pipeline write and
//! flushes once for all the writes that queued up meanwhile.
//!
//! sled's `flush` is an fsync (110–250 µs here); one per request would cap
//! ingest near 7k/s, and `flush_async` hangs under concurrent callers
//! (DEPENDENCIES.md). So writers hand their batch to this thread and wait
//! (or leave a callback); the thread takes the first job, greedily drains
//! whatever else is queued, applies each job as its own atomic sled batch,
//! calls `flush` once, then answers every job. Under load the batches grow
//! by themselves; when idle a lone request pays one fsync and no added delay.
//!
//! Being the only writer of the event-id and idempotency indexes, this
//! thread also enforces their uniqueness without races: it checks and
//! writes in one step, with nothing interleaved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::{Result, StoreError};

/// Most jobs folded into one flush; bounds the latency a job can add to
/// others and the memory held between flushes.
const MAX_JOBS_PER_FLUSH: usize = 512;

/// What runs after the flush, with its outcome.
pub(super) type Continuation = Box<dyn FnOnce(Result<()>) + Send>;

/// A write that must become durable: applies its sled batches and returns
/// what to do once they are flushed (the continuation carries the apply's
/// own result, e.g. "duplicate", to the caller).
pub(super) type Job = Box<dyn FnOnce(&sled::Db) -> Continuation + Send>;

/// Figures for `/metrics`.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Flushes performed.
    pub flushes: AtomicU64,
    /// Jobs committed.
    pub jobs: AtomicU64,
    /// Total flush time, microseconds.
    pub flush_micros: AtomicU64,
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
        for job in jobs {
            // NB: a panic while applying one job must not take the others
            // (or the thread) down; it fails that job only.
            let cont = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&db)))
                .unwrap_or_else(|_| {
                    Box::new(|_| log::error!("a write panicked while being applied; not committed"))
                });
            pending.push(cont);
        }
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
            cont(match &flushed {
                Err(e) => Err(StoreError::Io(format!("flush failed: {e}"))),
                Ok(_) => Ok(()),
            });
        }
    }
}
