//! The data directory's disk, watched: new events are refused while less
//! than the reserve is free (`--disk-reserve-mb`, rules in
//! [`crate::domain::disk`]), a store whose writes failed is reopened once
//! there is room again (no restart), the engine then reloads its due
//! index, and the `storage` alert fires and resolves with it.
//!
//! Nothing acknowledged is lost on the way: a write that failed was never
//! acknowledged, and the store's reopen keeps everything made durable
//! ([`crate::store::Store::recover`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::{Herald, Result, ServiceError};
use crate::domain::alert::{Rule, State, HERALD_ITSELF};
use crate::domain::disk::{below_reserve, may_reopen};
use crate::domain::time::Timestamp;
use crate::store::{StoreError, WriteFailure};

/// How often the guard looks at the disk.
pub const DISK_CHECK_EVERY: Duration = Duration::from_secs(1);
/// The least time between two reopens of a failing store; also the
/// `Retry-After` of a 503 `store_unavailable`.
pub const RECOVER_EVERY_SECS: u64 = 5;

/// The last look at the disk, shared with ingest (which must not pay a
/// `statvfs` per request).
#[derive(Debug, Default)]
pub(super) struct DiskState {
    known: AtomicBool,
    free: AtomicU64,
}

impl DiskState {
    pub(super) fn free(&self) -> Option<u64> {
        self.known
            .load(Ordering::SeqCst)
            .then(|| self.free.load(Ordering::SeqCst))
    }

    fn set(&self, free: Option<u64>) {
        self.free.store(free.unwrap_or(0), Ordering::SeqCst);
        self.known.store(free.is_some(), Ordering::SeqCst);
    }
}

/// What a look at the disk and the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskReading {
    /// Bytes free for Herald on the data directory's filesystem (`None`:
    /// no data directory, or it could not be read).
    pub free_bytes: Option<u64>,
    /// Why the free space is unknown, if it is.
    pub error: Option<String>,
    /// The reserve (`--disk-reserve-mb`), bytes.
    pub reserve_bytes: u64,
    /// Whether new events are refused for want of space.
    pub below_reserve: bool,
    /// Whether the store's writes are failing.
    pub store_failure: Option<WriteFailure>,
}

impl DiskReading {
    /// The `storage` alert's verdict and its detail.
    fn alert(&self) -> (State, String) {
        let mib = |b: u64| b >> 20;
        if let Some(f) = &self.store_failure {
            return (
                State::Firing,
                format!(
                    "the data directory cannot be written since {}: {}",
                    f.since.to_rfc3339_secs(),
                    f.error
                ),
            );
        }
        match self.free_bytes {
            Some(free) if self.below_reserve => (
                State::Firing,
                format!(
                    "{} MiB free on the data directory's disk, below the reserve of {} MiB: new events are refused",
                    mib(free),
                    mib(self.reserve_bytes)
                ),
            ),
            Some(free) => (State::Ok, format!("{} MiB free", mib(free))),
            None => (State::Ok, "writes succeed".into()),
        }
    }
}

impl Herald {
    /// Looks at the data directory's disk now and remembers what it found
    /// for ingest's check.
    pub fn check_disk(&self) -> DiskReading {
        let reserve = self.settings.disk_reserve;
        let (free, error) = match &self.settings.data_dir {
            Some(dir) => match fs4::available_space(dir) {
                Ok(f) => (Some(f), None),
                Err(e) => (
                    None,
                    Some(format!("reading free space of {}: {e}", dir.display())),
                ),
            },
            None => (None, None),
        };
        self.disk.set(free);
        DiskReading {
            free_bytes: free,
            error,
            reserve_bytes: reserve,
            below_reserve: below_reserve(free, reserve),
            store_failure: self.store.write_failure(),
        }
    }

    /// Refuses new events while the store cannot take them: its writes
    /// fail (503 `store_unavailable`), or the disk is below the reserve
    /// at the guard's last look (507 `insufficient_storage`).
    pub(super) fn room_for_events(&self) -> Result<()> {
        if let Some(f) = self.store.write_failure() {
            return Err(StoreError::Unavailable(f.error).into());
        }
        let reserve = self.settings.disk_reserve;
        match self.disk.free() {
            Some(free) if below_reserve(Some(free), reserve) => Err(ServiceError::DiskFull {
                free_bytes: free,
                reserve_bytes: reserve,
            }),
            _ => Ok(()),
        }
    }

    /// One round of the disk guard: look at the disk; reopen a store whose
    /// writes fail once there is room (then the engine reloads its due
    /// index); fire or resolve the `storage` alert.
    pub fn guard_disk(&self, memory: &mut GuardMemory) -> DiskReading {
        let now = self.clock.now();
        let mut reading = self.check_disk();
        let due = memory
            .last_reopen
            .is_none_or(|t| now.as_millis() - t.as_millis() >= (RECOVER_EVERY_SECS * 1000) as i64);
        if reading.store_failure.is_some()
            && due
            && may_reopen(reading.free_bytes, reading.reserve_bytes)
        {
            memory.last_reopen = Some(now);
            match self.store.recover() {
                Ok(()) => {
                    log::warn!("the store writes again; reloading the due deliveries");
                    self.dispatch.reload();
                }
                Err(e) => log::error!("reopening the store failed (will try again): {e}"),
            }
            reading.store_failure = self.store.write_failure();
        }
        let (want, detail) = reading.alert();
        let stored = match memory.alert {
            Some(s) => s,
            None => match self.store.alert(Rule::Storage, HERALD_ITSELF) {
                Ok(a) => a.map_or(State::Ok, |a| a.state),
                Err(e) => {
                    log::error!("reading the storage alert: {e}");
                    return reading;
                }
            },
        };
        memory.alert = Some(stored);
        if want != stored {
            // A full disk may refuse this write too: the guard tries again
            // next round (the log line above already said what is wrong).
            match self.storage_transition(want, detail) {
                Ok(()) => memory.alert = Some(want),
                Err(e) => log::error!("recording the storage alert: {e}"),
            }
        }
        reading
    }
}

/// What the guard remembers between rounds.
#[derive(Debug, Default)]
pub struct GuardMemory {
    /// When the store was last reopened.
    last_reopen: Option<Timestamp>,
    /// The `storage` alert's stored state, once known.
    alert: Option<State>,
}

/// The disk guard thread; stops (and is joined) when dropped.
#[must_use = "dropping the handle stops the guard"]
pub struct DiskGuard {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for DiskGuard {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the disk guard: a round at once, then every
/// [`DISK_CHECK_EVERY`] of the injected clock.
pub fn start_disk_guard(herald: Herald) -> std::io::Result<DiskGuard> {
    let (tx, rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let thread = std::thread::Builder::new()
        .name("herald-disk".into())
        .spawn(move || {
            let clock = herald.clock.clone();
            let mut memory = GuardMemory::default();
            loop {
                herald.guard_disk(&mut memory);
                let next = clock.now().plus_millis(DISK_CHECK_EVERY.as_millis() as i64);
                if !clock.wait_until(next, &rx) {
                    return;
                }
            }
        })?;
    Ok(DiskGuard {
        stop: Some(tx),
        thread: Some(thread),
    })
}

/// The guard's rounds with a real store: its checks on a healthy store;
/// the full-disk path is the integration test's (it needs a small
/// filesystem of its own).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::service::Settings;
    use std::sync::Arc;

    fn herald(reserve: u64, dir: Option<std::path::PathBuf>) -> Herald {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let settings = Settings {
            data_dir: dir,
            disk_reserve: reserve,
            ..Settings::offline()
        };
        Herald::new(crate::store::temporary(), clock, settings)
    }

    #[test]
    fn a_disk_below_the_reserve_refuses_events_and_fires_the_alert_once() {
        let dir = tempfile::tempdir().unwrap();
        // A reserve no disk here has: everything is "below" it.
        let h = herald(u64::MAX, Some(dir.path().to_path_buf()));
        assert!(
            h.room_for_events().is_ok(),
            "nothing is refused before a look"
        );
        let mut memory = GuardMemory::default();
        let reading = h.guard_disk(&mut memory);
        assert!(reading.below_reserve && reading.free_bytes.is_some());
        match h.room_for_events() {
            Err(ServiceError::DiskFull { reserve_bytes, .. }) => {
                assert_eq!(reserve_bytes, u64::MAX)
            }
            other => panic!("expected DiskFull, got {other:?}"),
        }
        let firing = h
            .store
            .alert(Rule::Storage, HERALD_ITSELF)
            .unwrap()
            .unwrap();
        assert_eq!(firing.state, State::Firing);
        assert!(
            firing.detail.contains("below the reserve"),
            "{}",
            firing.detail
        );
        // A second round changes nothing: one transition, not one a second.
        h.guard_disk(&mut memory);
        assert_eq!(h.store.alert_history(10).unwrap().len(), 1);
    }

    #[test]
    fn room_again_resolves_the_alert() {
        let dir = tempfile::tempdir().unwrap();
        let full = herald(u64::MAX, Some(dir.path().to_path_buf()));
        full.guard_disk(&mut GuardMemory::default());
        // The same store, now with a reserve the disk has.
        let roomy = Herald::new(
            full.store.clone(),
            full.clock.clone(),
            Settings {
                data_dir: Some(dir.path().to_path_buf()),
                disk_reserve: 0,
                ..Settings::offline()
            },
        );
        let reading = roomy.guard_disk(&mut GuardMemory::default());
        assert!(!reading.below_reserve);
        assert!(roomy.room_for_events().is_ok());
        let a = roomy
            .store
            .alert(Rule::Storage, HERALD_ITSELF)
            .unwrap()
            .unwrap();
        assert_eq!(a.state, State::Ok);
        assert_eq!(roomy.store.alert_history(10).unwrap().len(), 2);
    }

    #[test]
    fn without_a_data_directory_nothing_is_refused() {
        let h = herald(u64::MAX, None);
        let reading = h.guard_disk(&mut GuardMemory::default());
        assert_eq!(reading.free_bytes, None);
        assert!(!reading.below_reserve);
        assert!(h.room_for_events().is_ok());
        assert!(h
            .store
            .alert(Rule::Storage, HERALD_ITSELF)
            .unwrap()
            .is_none());
    }
}
