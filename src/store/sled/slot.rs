//! The open sled database, replaceable in place.
//!
//! Why: once one write hits an I/O error (ENOSPC above all), sled sets a
//! global error and fails every later write until the process reopens it,
//! even after space returns (`../shared/DEPENDENCIES.md`; seen here). So
//! every user of the database reaches it through this slot, which notes
//! the failure and can close and reopen the files without a restart.
//!
//! **Invariant:** nobody keeps a database handle ([`Slot::db`]) beyond one
//! call, and nobody asks for a second handle while holding one: a reopen
//! takes the slot's lock, then waits until every handle handed out is
//! back. The committer's cycle holds one handle from `begin` to `write`,
//! so a reopen falls between cycles.
//!
//! What a reopen loses: writes applied in memory but never made durable —
//! the writes whose callers were answered with an error (a ticket answers
//! `Ok` only after the sync), and attempt records written behind
//! (`Committer::submit_behind`), whose deliveries are then still due and
//! are attempted again. What was acknowledged is on disk, and sled
//! recovers its log up to the last complete flush.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{Result, StoreError, WriteFailure};

/// How long a reopen waits for the handles in use to come back.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
/// How long a reopen retries while sled's old file lock is still held
/// (its background threads let go of the files a little after the drop).
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// The pause between two looks while waiting.
const POLL: Duration = Duration::from_millis(2);

/// How to open the database again.
pub(super) struct Reopen {
    /// The data directory.
    pub path: PathBuf,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
}

/// The database and what is known about its writes.
pub(super) struct Slot {
    /// `None` only after a reopen closed the old files and could not open
    /// them again; the next reopen tries again.
    current: RwLock<Option<Arc<sled::Db>>>,
    /// `None` for a temporary database, which vanishes when closed.
    reopen: Option<Reopen>,
    failing: AtomicBool,
    failure: Mutex<Option<WriteFailure>>,
    clock: Arc<dyn Clock>,
}

impl Slot {
    pub fn new(db: sled::Db, reopen: Option<Reopen>, clock: Arc<dyn Clock>) -> Self {
        Self {
            current: RwLock::new(Some(Arc::new(db))),
            reopen,
            failing: AtomicBool::new(false),
            failure: Mutex::new(None),
            clock,
        }
    }

    /// The database, for one call (see the invariant above).
    pub fn db(&self) -> Result<Arc<sled::Db>> {
        let g = self.current.read().unwrap_or_else(|e| e.into_inner());
        match &*g {
            Some(db) => Ok(db.clone()),
            None => Err(StoreError::Unavailable(self.describe(
                "the data directory is closed: reopening it after a write failure did not succeed yet",
            ))),
        }
    }

    fn describe(&self, fallback: &str) -> String {
        match &*self.failure.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(f) => f.error.clone(),
            None => fallback.to_string(),
        }
    }

    /// Turns a sled error into a store error, noting an I/O failure: from
    /// then on the store reports itself failing until a reopen.
    pub fn io(&self, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(ioe) => {
                // sled wraps the OS error's debug form in another error;
                // the common case gets a plain sentence.
                let error = match ioe.kind() {
                    std::io::ErrorKind::StorageFull => "no space left on device".to_string(),
                    _ => ioe.to_string(),
                };
                self.note_failure(&error);
                StoreError::Unavailable(error)
            }
            other => StoreError::Io(other.to_string()),
        }
    }

    fn note_failure(&self, error: &str) {
        let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            log::error!("the data directory cannot be written: {error}");
            *f = Some(WriteFailure {
                since: self.clock.now(),
                error: error.to_string(),
            });
        }
        self.failing.store(true, Ordering::SeqCst);
    }

    /// Whether writes are failing, since when and why.
    pub fn failure(&self) -> Option<WriteFailure> {
        if !self.failing.load(Ordering::SeqCst) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Closes the database and opens it again from disk; `after` runs
    /// with the new database in place while every user still waits (to
    /// drop what was derived from the old one). On success the failure is
    /// forgotten.
    pub fn reopen(&self, after: impl FnOnce()) -> Result<()> {
        let Some(how) = &self.reopen else {
            return Err(StoreError::Io(
                "a temporary store cannot be reopened".into(),
            ));
        };
        let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = g.take() {
            let mut waited = Duration::ZERO;
            while Arc::strong_count(&old) > 1 {
                if waited >= DRAIN_WAIT {
                    *g = Some(old);
                    return Err(StoreError::Unavailable(format!(
                        "reopening the data directory: it stayed in use for {} s; will try again",
                        DRAIN_WAIT.as_secs()
                    )));
                }
                std::thread::sleep(POLL);
                waited += POLL;
            }
            // The last handle: sled tries a last flush (which fails and
            // logs), stops its flusher and closes the files.
            drop(old);
        }
        let mut waited = Duration::ZERO;
        let db = loop {
            match super::open_db(&how.path, how.cache_bytes) {
                Ok(db) => break db,
                Err(StoreError::Locked { .. }) if waited < LOCK_WAIT => {
                    std::thread::sleep(POLL);
                    waited += POLL;
                }
                Err(e) => return Err(e),
            }
        };
        super::migrations::run(&db)?;
        *g = Some(Arc::new(db));
        after();
        self.failing.store(false, Ordering::SeqCst);
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        log::warn!(
            "the data directory {} was reopened: writes go on",
            how.path.display()
        );
        Ok(())
    }
}
