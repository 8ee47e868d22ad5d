//! The retention purge: events whose deliveries have all ended, with
//! their deliveries and attempts, statistics rows and alert history go
//! once they are older than `--retention`; idempotency keys once their
//! window has passed.
//!
//! **Invariant:** nothing pending is purged. An event with a pending or
//! held delivery stays whatever its age, and the check and the removal
//! are one write on the committer thread (see `DeliveryStore::purge_events`).

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::events::IDEMPOTENCY_WINDOW_MS;
use super::{Herald, Result};
use crate::store::Purged;

/// Events looked at per write: bounds the committer's time on one job.
const PAGE: usize = 500;
/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// When the first pass runs after start: soon, so a server restarted more
/// often than hourly still purges, but not while start-up recovery and
/// the first retries are busy.
pub const FIRST_PURGE_AFTER: Duration = Duration::from_secs(300);

impl Herald {
    /// Runs one whole retention pass now, against the service's clock.
    pub fn purge_expired(&self) -> Result<Purged> {
        self.purge_expired_unless(&|| false)
    }

    /// A retention pass that ends early, between pages, once `stop` says
    /// so (a shutdown does not wait for a long pass).
    fn purge_expired_unless(&self, stop: &dyn Fn() -> bool) -> Result<Purged> {
        let now = self.clock.now();
        let retention = self.settings.retention.as_millis().min(i64::MAX as u128) as i64;
        let cutoff = now.plus_millis(-retention);
        // Events stay for the Idempotency-Key window at least, so a retried
        // request is still answered with the events it created.
        let idempotency_cutoff = now.plus_millis(-IDEMPOTENCY_WINDOW_MS);
        let events_cutoff = cutoff.min(idempotency_cutoff);
        let mut total = Purged::default();
        let mut after = None;
        loop {
            let (p, next) = self.store.purge_events(events_cutoff, after, PAGE)?;
            total += p;
            match next {
                Some(_) if stop() => return Ok(total),
                Some(k) => after = Some(k),
                None => break,
            }
        }
        let mut tenants = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = self.store.list_tenants(last.as_deref(), PAGE)?;
            let full = page.len() == PAGE;
            last = page.last().map(|t| t.id.clone());
            tenants.extend(page.into_iter().map(|t| t.id));
            if !full {
                break;
            }
        }
        total.rows += self
            .store
            .purge_rows(&tenants, cutoff, idempotency_cutoff)?;
        Ok(total)
    }
}

/// The purge thread; stops (and is joined) when dropped.
pub struct Retention {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Retention {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the purge thread: a pass `first` after start, then every `every`.
pub fn start_retention(herald: Herald, first: Duration, every: Duration) -> Retention {
    let (tx, rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let thread = std::thread::Builder::new()
        .name("herald-retention".into())
        .spawn(move || {
            let mut wait = first;
            loop {
                match rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => match herald.purge_expired_unless(&|| {
                        matches!(rx.try_recv(), Err(TryRecvError::Disconnected))
                    }) {
                        Ok(p) if p.events + p.rows > 0 => log::info!(
                            "retention: removed {} events ({} deliveries, {} attempts) and {} rows",
                            p.events,
                            p.deliveries,
                            p.attempts,
                            p.rows
                        ),
                        Ok(_) => {}
                        Err(e) => log::error!("retention: the purge failed: {e}"),
                    },
                    _ => return,
                }
                wait = every;
            }
        })
        .expect("spawning the retention thread");
    Retention {
        stop: Some(tx),
        thread: Some(thread),
    }
}
