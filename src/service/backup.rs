//! Backup, restore and check: the store's export and import through the
//! dump format (`store::dump`).
//!
//! - [`Herald::backup`] writes a dump of the open store to any `Write`
//!   (the CLI on a stopped data directory);
//! - [`Herald::start_backup`] runs the same on a thread of its own and
//!   hands the bytes over in chunks (the API's `GET /api/v1/backup`
//!   streams them), platform key only;
//! - [`verify_dump`] checks a dump file whole (checksum, then every
//!   record and the trailer's counts), [`restore`] imports one into an
//!   empty or missing directory after verifying it, [`check_store`]
//!   checks a stopped data directory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Caller, Herald, Principal, Result, ServiceError};
use crate::clock::Clock;
use crate::store::dump::{self, DumpError, Header, Summary};
use crate::store::{Location, Problem, Store, StoreError};

/// Bytes per chunk handed to the API's response stream.
const CHUNK: usize = 256 << 10;
/// Chunks buffered between the export thread and the response: a slow
/// client slows the export (which holds no lock a writer needs) rather
/// than filling memory.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Why a backup, restore or check failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The dump file is not a whole, intact dump.
    #[error("{path}: {source}")]
    Dump {
        /// The file.
        path: String,
        /// What is wrong with it.
        source: DumpError,
    },
    /// The store failed (or is locked, or holds records already).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The target directory holds something.
    #[error(
        "{0} is not empty: restore only into an empty or missing directory (nothing was written)"
    )]
    NotEmpty(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
}

/// A dump being produced on its own thread, chunk by chunk.
pub struct BackupStream {
    rx: tokio::sync::mpsc::Receiver<std::result::Result<Vec<u8>, String>>,
}

impl BackupStream {
    /// The next chunk; `None` once the dump is complete. An error ends the
    /// stream (the client then holds a file without its trailer, which
    /// `herald check` and `herald restore` refuse).
    pub fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Vec<u8>, String>>> {
        self.rx.poll_recv(cx)
    }
}

/// A `Write` that hands full chunks to a [`BackupStream`].
struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<std::result::Result<Vec<u8>, String>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Writes a dump of `store` to `out`.
pub(super) fn export_to(
    store: &dyn Store,
    clock: &dyn Clock,
    out: &mut dyn Write,
) -> Result<Summary> {
    let header = Header::new(clock.now(), store.backend_name(), store.schema_version()?);
    let dump_err =
        |e: DumpError| ServiceError::from(StoreError::Io(format!("writing the dump: {e}")));
    let mut w = dump::Writer::new(out, header).map_err(dump_err)?;
    store.export(&mut |r| {
        w.record(&r)
            .map_err(|e| StoreError::Io(format!("writing the dump: {e}")))
    })?;
    let (summary, _) = w.finish().map_err(dump_err)?;
    Ok(summary)
}

impl Herald {
    /// Writes a dump of the whole store to `out` (see `Store::export` for
    /// what it holds). Platform key only.
    pub fn backup(&self, caller: &Caller, out: &mut dyn Write) -> Result<Summary> {
        self.require_platform_key(caller)?;
        export_to(self.store.as_ref(), self.clock.as_ref(), out)
    }

    /// Starts a backup on a thread of its own, for streaming: checks the
    /// caller first (platform key only), so a refusal is an answer, not a
    /// broken stream.
    pub fn start_backup(&self, caller: &Caller) -> Result<BackupStream> {
        self.require_platform_key(caller)?;
        let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let (store, clock) = (self.store.clone(), self.clock.clone());
        std::thread::Builder::new()
            .name("herald-backup".into())
            .spawn(move || {
                let mut w = ChunkWriter {
                    tx: tx.clone(),
                    buf: Vec::with_capacity(CHUNK),
                };
                let started = std::time::Instant::now();
                match export_to(store.as_ref(), clock.as_ref(), &mut w).and_then(|s| {
                    w.flush()
                        .map(|()| s)
                        .map_err(|e| StoreError::Io(e.to_string()).into())
                }) {
                    Ok(s) => log::info!(
                        "backup streamed: {} bytes, {} records in {:.1} s",
                        s.bytes,
                        s.counts.values().sum::<u64>(),
                        started.elapsed().as_secs_f64()
                    ),
                    Err(e) => {
                        log::error!("backup failed: {e}");
                        let _ = tx.blocking_send(Err(e.to_string()));
                    }
                }
            })
            .map_err(|e| StoreError::Io(format!("starting the backup thread: {e}")))?;
        Ok(BackupStream { rx })
    }

    /// A platform API key (or the local CLI), not a panel session: a dump
    /// holds every tenant's secrets.
    fn require_platform_key(&self, caller: &Caller) -> Result<()> {
        match self.authenticate(caller)? {
            Principal::Platform { .. } => Ok(()),
            _ => Err(ServiceError::Forbidden(
                "a backup needs the platform API key".into(),
            )),
        }
    }
}

fn open_file(path: &Path) -> std::result::Result<(File, u64), BackupError> {
    let f = File::open(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
    let len = f
        .metadata()
        .map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?
        .len();
    Ok((f, len))
}

fn dump_error(path: &Path) -> impl Fn(DumpError) -> BackupError + '_ {
    move |source| BackupError::Dump {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the dump at `path` through, handing each record to `each`.
fn read_dump(
    path: &Path,
    mut each: impl FnMut(dump::Record) -> std::result::Result<(), BackupError>,
) -> std::result::Result<Summary, BackupError> {
    let (f, len) = open_file(path)?;
    let mut r =
        dump::Reader::new(BufReader::with_capacity(1 << 20, f)).map_err(dump_error(path))?;
    while let Some(rec) = r.next_record().map_err(dump_error(path))? {
        each(rec)?;
    }
    Ok(Summary {
        header: r.header.clone(),
        counts: r.counts().clone(),
        bytes: len,
    })
}

/// Verifies the dump at `path` whole: its checksum over the raw bytes,
/// then every record decodes and the trailer's counts agree.
pub fn verify_dump(path: &Path) -> std::result::Result<Summary, BackupError> {
    let (f, len) = open_file(path)?;
    dump::verify_checksum(BufReader::with_capacity(1 << 20, f), len).map_err(dump_error(path))?;
    read_dump(path, |_| Ok(()))
}

/// Whether `dir` is missing or an empty directory.
fn is_empty_dir(dir: &Path) -> std::result::Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(BackupError::Io(format!("{}: {e}", dir.display()))),
    }
}

/// Restores the dump at `path` into the data directory `dir`, which must
/// be missing or empty (refused before anything is written otherwise).
/// The dump is verified whole before the directory is created; if the
/// import then fails, what it wrote is removed again.
pub fn restore(
    path: &Path,
    dir: &Path,
    clock: Arc<dyn Clock>,
) -> std::result::Result<Summary, BackupError> {
    restore_into(
        path,
        &Location::Sled {
            dir: dir.to_path_buf(),
            cache_bytes: 64 << 20,
        },
        clock,
    )
}

/// Restores the dump at `path` into the store at `location`: a sled
/// directory as [`restore`] says; a PostgreSQL database must hold no
/// record (its import refuses one that does, before writing, and writes
/// in one transaction: a failed restore leaves it empty).
pub fn restore_into(
    path: &Path,
    location: &Location,
    clock: Arc<dyn Clock>,
) -> std::result::Result<Summary, BackupError> {
    let dir = match location {
        Location::Sled { dir, .. } => Some(dir.as_path()),
        Location::Postgres { .. } => None,
    };
    if let Some(dir) = dir {
        if !is_empty_dir(dir)? {
            return Err(BackupError::NotEmpty(dir.display().to_string()));
        }
    }
    verify_dump(path)?;
    let existed = dir.is_some_and(Path::exists);
    let result = (|| {
        let store = crate::store::open(location, clock)?;
        let (f, len) = open_file(path)?;
        let mut r =
            dump::Reader::new(BufReader::with_capacity(1 << 20, f)).map_err(dump_error(path))?;
        let mut failure = None;
        store
            .import(&mut || match r.next_record() {
                Ok(rec) => Ok(rec),
                Err(e) => {
                    let msg = e.to_string();
                    failure = Some(e);
                    Err(StoreError::Io(msg))
                }
            })
            .map_err(|e| match failure.take() {
                Some(d) => dump_error(path)(d),
                None => BackupError::Store(e),
            })?;
        store.flush()?;
        Ok(Summary {
            header: r.header.clone(),
            counts: r.counts().clone(),
            bytes: len,
        })
    })();
    if let (Err(_), Some(dir)) = (&result, dir) {
        // Leave the directory as it was found: empty (or missing).
        if existed {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let _ = std::fs::remove_dir_all(e.path())
                        .or_else(|_| std::fs::remove_file(e.path()));
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// Opens a stopped data directory that must exist (never creates one),
/// or a PostgreSQL store.
fn open_stopped(
    location: &Location,
    clock: Arc<dyn Clock>,
) -> std::result::Result<Arc<dyn Store>, BackupError> {
    if let Location::Sled { dir, .. } = location {
        if !dir.is_dir() {
            return Err(BackupError::Io(format!(
                "{}: no such data directory",
                dir.display()
            )));
        }
    }
    Ok(crate::store::open(location, clock)?)
}

fn sled_at(dir: &Path) -> Location {
    Location::Sled {
        dir: dir.to_path_buf(),
        cache_bytes: 64 << 20,
    }
}

/// Checks a stopped data directory; answers how many entries were read
/// and every problem found.
pub fn check_store(
    dir: &Path,
    clock: Arc<dyn Clock>,
) -> std::result::Result<(u64, Vec<Problem>), BackupError> {
    check_location(&sled_at(dir), clock)
}

/// [`check_store`] on any store (a PostgreSQL one may be in use: its
/// check reads one snapshot).
pub fn check_location(
    location: &Location,
    clock: Arc<dyn Clock>,
) -> std::result::Result<(u64, Vec<Problem>), BackupError> {
    let store = open_stopped(location, clock)?;
    let mut problems = Vec::new();
    let n = store.check(&mut |p| problems.push(p))?;
    Ok((n, problems))
}

/// Writes a dump of the store at `dir` (stopped) to `out`.
pub fn backup_dir(
    dir: &Path,
    clock: Arc<dyn Clock>,
    out: &mut dyn Write,
) -> std::result::Result<Summary, BackupError> {
    backup_location(&sled_at(dir), clock, out)
}

/// [`backup_dir`] from any store (a PostgreSQL one may be in use: its
/// export reads one snapshot).
pub fn backup_location(
    location: &Location,
    clock: Arc<dyn Clock>,
    out: &mut dyn Write,
) -> std::result::Result<Summary, BackupError> {
    let store = open_stopped(location, clock.clone())?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let s = export_to(store.as_ref(), clock.as_ref(), &mut w).map_err(|e| match e {
        ServiceError::Store { message, .. } => BackupError::Io(message),
        other => BackupError::Io(other.to_string()),
    })?;
    w.flush().map_err(|e| BackupError::Io(e.to_string()))?;
    Ok(s)
}
