//! Scheduled backups (`--backup-dir`, `--backup-every`, `--backup-keep`):
//! a thread on the injected clock writes a dump of the running store into
//! the directory, exactly as `herald backup` does (a temporary file,
//! fsynced, verified whole, then renamed, the directory synced), keeps the
//! newest `keep` and deletes the rest. The last result is in memory for
//! `/readyz`, Prometheus and the panel's Backups page; a failure fires the
//! `backup` alert (about Herald itself), the next success resolves it.
//!
//! Files are named `herald-<UTC time>.hdump` (`herald-20261201T114000.000Z.hdump`),
//! so they sort by time and the schedule survives restarts: the next
//! backup is due `every` after the newest one in the directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::Herald;
use crate::domain::alert::{Rule, State, HERALD_ITSELF};
use crate::domain::time::Timestamp;

/// What `--backup-dir` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    /// Where the dumps go.
    pub dir: PathBuf,
    /// How often.
    pub every: Duration,
    /// How many are kept.
    pub keep: usize,
}

/// One scheduled backup's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRun {
    /// When it started.
    pub started: Timestamp,
    /// When it ended.
    pub finished: Timestamp,
    /// The dump written (its file name), on success.
    pub file: Option<String>,
    /// Its size, bytes (0 on failure).
    pub bytes: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl BackupRun {
    /// How long it took, ms.
    pub fn duration_ms(&self) -> i64 {
        self.finished.as_millis() - self.started.as_millis()
    }
}

/// A dump in the backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// Its name.
    pub name: String,
    /// When it was written (from its name).
    pub at: Timestamp,
    /// Its size, bytes.
    pub bytes: u64,
}

/// What the Backups page shows.
#[derive(Debug, Clone)]
pub struct BackupsView {
    /// The schedule (`None`: off).
    pub plan: Option<BackupPlan>,
    /// The last run.
    pub last: Option<BackupRun>,
    /// The last successful run.
    pub last_success: Option<BackupRun>,
    /// Failures since start.
    pub failures: u64,
    /// The dumps in the directory, newest first.
    pub files: Vec<BackupFile>,
    /// Why the directory could not be listed.
    pub files_error: Option<String>,
}

/// What the schedule remembers, shared with readers.
#[derive(Debug, Default)]
pub(super) struct BackupState {
    last: Mutex<Option<BackupRun>>,
    last_success: Mutex<Option<BackupRun>>,
    failures: AtomicU64,
}

const PREFIX: &str = "herald-";
const SUFFIX: &str = ".hdump";

/// `herald-20261201T114000.123Z.hdump` for a time (milliseconds, so a
/// "Back up now" right after a scheduled one gets a name of its own).
fn file_name(at: Timestamp) -> String {
    let t: String = at
        .to_rfc3339_millis()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{PREFIX}{t}{SUFFIX}")
}

/// The time a dump's name carries (`None`: not one of ours).
fn time_of(name: &str) -> Option<Timestamp> {
    let t = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    // 20261201T114000.123Z → 2026-12-01T11:40:00.123Z
    let b = t.as_bytes();
    if b.len() != 20 || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' || !t.is_ascii() {
        return None;
    }
    let s = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..19]
    );
    Timestamp::parse_rfc3339(&s)
}

/// Our dumps in `dir`, oldest first.
fn list(dir: &Path) -> std::io::Result<Vec<BackupFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(at) = time_of(&name) {
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(BackupFile { name, at, bytes });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The files of `files` (oldest first) beyond the newest `keep`.
fn beyond_keep(files: &[BackupFile], keep: usize) -> &[BackupFile] {
    &files[..files.len().saturating_sub(keep)]
}

/// When the next backup is due: `every` after the newest one, or now.
fn next_due(files: &[BackupFile], every: Duration, now: Timestamp) -> Timestamp {
    match files.last() {
        Some(f) => Timestamp::from_millis(f.at.as_millis() + every.as_millis() as i64).max(now),
        None => now,
    }
}

fn sync_dir(dir: &Path) {
    // The rename is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Herald {
    /// The schedule, if `--backup-dir` is set.
    pub fn backup_plan(&self) -> Option<&BackupPlan> {
        self.settings.backups.as_ref()
    }

    /// The last scheduled backup (and the last successful one), if any ran.
    pub fn last_backups(&self) -> (Option<BackupRun>, Option<BackupRun>) {
        let lock =
            |m: &Mutex<Option<BackupRun>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (lock(&self.backups.last), lock(&self.backups.last_success))
    }

    /// The schedule and its last results, as `/readyz` shows them (`null`
    /// when scheduled backups are off).
    pub fn backup_status(&self) -> serde_json::Value {
        use serde_json::json;
        let Some(plan) = self.backup_plan() else {
            return serde_json::Value::Null;
        };
        let run = |r: &BackupRun| {
            json!({
                "started": r.started.to_rfc3339_secs(),
                "finished": r.finished.to_rfc3339_secs(),
                "duration_ms": r.duration_ms(),
                "file": r.file,
                "bytes": r.bytes,
                "error": r.error,
            })
        };
        let (last, ok) = self.last_backups();
        json!({
            "dir": plan.dir.display().to_string(),
            "every_secs": plan.every.as_secs(),
            "keep": plan.keep,
            "ok": last.as_ref().is_none_or(|r| r.error.is_none()),
            "last": last.as_ref().map(run),
            "last_success": ok.as_ref().map(run),
            "failures": self.backup_failures(),
        })
    }

    /// The Backups page: the schedule, the last results and the dumps in
    /// the directory. Operators and platform keys only.
    pub fn backups_view(&self, caller: &super::Caller) -> super::Result<BackupsView> {
        self.require_platform(caller)?;
        let (last, last_success) = self.last_backups();
        let (files, files_error) = match self.backup_files() {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(BackupsView {
            plan: self.backup_plan().cloned(),
            last,
            last_success,
            failures: self.backup_failures(),
            files,
            files_error,
        })
    }

    /// "Back up now" (operators): one scheduled backup at once, as the
    /// schedule would write it. `None` when scheduled backups are off.
    pub fn backup_now(&self, caller: &super::Caller) -> super::Result<Option<BackupRun>> {
        self.require_platform(caller)?;
        Ok(self.run_scheduled_backup())
    }

    /// Scheduled backups that failed since start.
    pub fn backup_failures(&self) -> u64 {
        self.backups.failures.load(Ordering::Relaxed)
    }

    /// The dumps in the backup directory, newest first (empty when off).
    pub fn backup_files(&self) -> std::io::Result<Vec<BackupFile>> {
        match self.backup_plan() {
            Some(p) => {
                let mut files = list(&p.dir)?;
                files.reverse();
                Ok(files)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Runs one scheduled backup now (the thread calls this when one is
    /// due): writes, verifies, renames, rotates; records the outcome and
    /// fires or resolves the `backup` alert.
    pub fn run_scheduled_backup(&self) -> Option<BackupRun> {
        let plan = self.backup_plan()?.clone();
        let started = self.clock.now();
        let written = self.write_backup(&plan, started);
        let finished = self.clock.now();
        let run = match written {
            Ok((file, bytes)) => BackupRun {
                started,
                finished,
                file: Some(file),
                bytes,
                error: None,
            },
            Err(e) => BackupRun {
                started,
                finished,
                file: None,
                bytes: 0,
                error: Some(e),
            },
        };
        match &run.error {
            None => {
                log::info!(
                    "backup {} written: {} bytes in {} ms",
                    run.file.as_deref().unwrap_or_default(),
                    run.bytes,
                    run.duration_ms()
                );
                *self
                    .backups
                    .last_success
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(run.clone());
            }
            Some(e) => {
                self.backups.failures.fetch_add(1, Ordering::Relaxed);
                log::error!("scheduled backup into {} failed: {e}", plan.dir.display());
            }
        }
        *self.backups.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(run.clone());
        self.backup_alert(&run);
        Some(run)
    }

    /// The dump at its final name, or why not. Nothing half-written ever
    /// carries a dump's name: a failure removes the temporary file.
    fn write_backup(&self, plan: &BackupPlan, at: Timestamp) -> Result<(String, u64), String> {
        std::fs::create_dir_all(&plan.dir)
            .map_err(|e| format!("cannot create {}: {e}", plan.dir.display()))?;
        let name = file_name(at);
        let target = plan.dir.join(&name);
        let tmp = plan.dir.join(format!("{name}.partial"));
        let result = (|| -> Result<u64, String> {
            let file = std::fs::File::create(&tmp)
                .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            let summary =
                super::backup::export_to(self.store.as_ref(), self.clock.as_ref(), &mut w)
                    .map_err(|e| e.to_string())?;
            let file = w.into_inner().map_err(|e| e.to_string())?;
            file.sync_all()
                .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
            drop(file);
            super::verify_dump(&tmp).map_err(|e| format!("the dump is not whole: {e}"))?;
            Ok(summary.bytes)
        })();
        match result {
            Ok(bytes) => {
                std::fs::rename(&tmp, &target).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    format!("cannot rename {} into place: {e}", tmp.display())
                })?;
                sync_dir(&plan.dir);
                self.rotate(plan);
                Ok((name, bytes))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Deletes the dumps beyond the newest `keep` (a failure to delete one
    /// is logged; the next backup tries again).
    fn rotate(&self, plan: &BackupPlan) {
        let files = match list(&plan.dir) {
            Ok(f) => f,
            Err(e) => {
                log::error!("listing {}: {e}", plan.dir.display());
                return;
            }
        };
        for f in beyond_keep(&files, plan.keep) {
            if let Err(e) = std::fs::remove_file(plan.dir.join(&f.name)) {
                log::error!("removing the old backup {}: {e}", f.name);
            }
        }
    }

    fn backup_alert(&self, run: &BackupRun) {
        let current = match self.store.alert(Rule::Backup, HERALD_ITSELF) {
            Ok(a) => a.map_or(State::Ok, |a| a.state),
            Err(e) => {
                log::error!("reading the backup alert: {e}");
                return;
            }
        };
        let (to, detail) = match &run.error {
            Some(e) => (State::Firing, format!("the scheduled backup failed: {e}")),
            None => (
                State::Ok,
                format!("backup {} written", run.file.as_deref().unwrap_or_default()),
            ),
        };
        if to != current {
            let dir = self
                .backup_plan()
                .map(|p| p.dir.display().to_string())
                .unwrap_or_default();
            if let Err(e) = self.herald_transition(Rule::Backup, to, detail, &dir) {
                log::error!("recording the backup alert: {e}");
            }
        }
    }
}

/// The backup thread; stops (and is joined) when dropped. A backup under
/// way finishes first.
#[must_use = "dropping the handle stops the schedule"]
pub struct BackupSchedule {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BackupSchedule {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts scheduled backups if `--backup-dir` is set (`Ok(None)` if not).
pub fn start_backups(herald: Herald) -> std::io::Result<Option<BackupSchedule>> {
    let Some(plan) = herald.backup_plan().cloned() else {
        return Ok(None);
    };
    let (tx, rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let thread = std::thread::Builder::new()
        .name("herald-backups".into())
        .spawn(move || {
            let clock = herald.clock.clone();
            loop {
                let files = list(&plan.dir).unwrap_or_default();
                let due = next_due(&files, plan.every, clock.now());
                if !clock.wait_until(due, &rx) {
                    return;
                }
                let now = clock.now();
                let every = plan.every.as_millis().min(i64::MAX as u128 / 4) as i64;
                if !herald.holds_role("backups", now, now.plus_millis(2 * every)) {
                    // Another node of the cluster takes the backups.
                    if !clock.wait_until(now.plus_millis(every), &rx) {
                        return;
                    }
                    continue;
                }
                herald.run_scheduled_backup();
                // A failed run is retried `every` later too (its alert
                // fires meanwhile) — unless the directory's newest dump is
                // older still, which `next_due` sees.
                if herald.last_backups().0.is_some_and(|r| r.error.is_some()) {
                    let later = clock.now().plus_millis(plan.every.as_millis() as i64);
                    if !clock.wait_until(later, &rx) {
                        return;
                    }
                }
            }
        })?;
    Ok(Some(BackupSchedule {
        stop: Some(tx),
        thread: Some(thread),
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::service::Settings;

    const T0: i64 = 1_764_590_400_000; // 2025-12-01T12:00:00Z

    #[test]
    fn names_carry_their_time_and_sort_by_it() {
        let at = Timestamp::from_millis(T0);
        let name = file_name(at);
        assert_eq!(name, "herald-20251201T120000.000Z.hdump");
        assert_eq!(time_of(&name), Some(at));
        assert_eq!(time_of("herald-20251201T120000.000Z.hdump.partial"), None);
        assert_eq!(time_of("notes.txt"), None);
        assert_eq!(time_of("herald-2025.hdump"), None);
        assert!(file_name(at) < file_name(at.plus_millis(1)));
    }

    #[test]
    fn the_schedule_follows_the_newest_dump_and_keeps_the_newest_n() {
        let every = Duration::from_secs(6 * 3600);
        let now = Timestamp::from_millis(T0);
        assert_eq!(next_due(&[], every, now), now, "none yet: at once");
        let f = |h: i64| BackupFile {
            name: file_name(Timestamp::from_millis(T0 - h * 3_600_000)),
            at: Timestamp::from_millis(T0 - h * 3_600_000),
            bytes: 1,
        };
        let files = vec![f(10), f(5), f(1)];
        assert_eq!(next_due(&files, every, now), now.plus_millis(5 * 3_600_000));
        assert_eq!(next_due(&[f(10)], every, now), now, "overdue: at once");
        assert_eq!(beyond_keep(&files, 2), &files[..1]);
        assert!(beyond_keep(&files, 7).is_empty());
    }

    fn herald_with(dir: &Path, keep: usize) -> (Herald, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(T0)));
        let settings = Settings {
            backups: Some(BackupPlan {
                dir: dir.to_path_buf(),
                every: Duration::from_secs(3600),
                keep,
            }),
            ..Settings::offline()
        };
        (
            Herald::new(crate::store::temporary(), clock.clone(), settings),
            clock,
        )
    }

    #[test]
    fn a_backup_is_a_verified_dump_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let (h, clock) = herald_with(dir.path(), 2);
        for _ in 0..3 {
            let run = h.run_scheduled_backup().unwrap();
            assert_eq!(run.error, None);
            assert!(run.bytes > 0);
            let name = run.file.unwrap();
            crate::service::verify_dump(&dir.path().join(&name)).unwrap();
            clock.advance_ms(3_600_000);
        }
        let names: Vec<String> = h
            .backup_files()
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            vec![
                "herald-20251201T140000.000Z.hdump".to_string(),
                "herald-20251201T130000.000Z.hdump".to_string()
            ],
            "the newest two"
        );
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")));
        assert_eq!(h.backup_failures(), 0);
    }

    #[test]
    fn a_failed_backup_fires_the_alert_and_the_next_success_resolves_it() {
        let dir = tempfile::tempdir().unwrap();
        // The backup "directory" is a file: every write fails.
        let blocked = dir.path().join("not-a-dir");
        std::fs::write(&blocked, b"x").unwrap();
        let (h, _clock) = herald_with(&blocked, 7);
        let run = h.run_scheduled_backup().unwrap();
        assert!(run.error.is_some(), "{run:?}");
        assert_eq!(h.backup_failures(), 1);
        let a = h.store.alert(Rule::Backup, HERALD_ITSELF).unwrap().unwrap();
        assert_eq!(a.state, State::Firing);
        assert!(a.detail.contains("failed"), "{}", a.detail);
        // The same store, a directory that works.
        let good = Herald::new(
            h.store.clone(),
            h.clock.clone(),
            Settings {
                backups: Some(BackupPlan {
                    dir: dir.path().join("good"),
                    every: Duration::from_secs(3600),
                    keep: 7,
                }),
                ..Settings::offline()
            },
        );
        assert_eq!(good.run_scheduled_backup().unwrap().error, None);
        let a = good
            .store
            .alert(Rule::Backup, HERALD_ITSELF)
            .unwrap()
            .unwrap();
        assert_eq!(a.state, State::Ok);
        assert_eq!(good.last_backups().1.unwrap().error, None);
    }
}
