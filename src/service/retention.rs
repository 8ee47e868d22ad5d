//! The retention purge: events whose deliveries have all ended, with
//! their deliveries and attempts, statistics rows and alert history go
//! once they are older than `--retention`; idempotency keys once their
//! window has passed.
//!
//! **Invariant:** nothing pending is purged. An event with a pending or
//! held delivery stays whatever its age, and the check and the removal
//! are one write on the committer thread (see `DeliveryStore::purge_events`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

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
        // Whole days first where the store keeps them apart, then event by
        // event what they left. Neither failing stops the other.
        if let Err(e) = self.store.prepare_days(now) {
            log::warn!("retention: making the coming days ready failed: {e}");
        }
        match self.store.purge_whole_days(events_cutoff) {
            Ok(p) => total += p,
            Err(e) => log::warn!("retention: dropping whole days failed: {e}"),
        }
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
        // Remembered answers of the Svix-compatible API's idempotent
        // requests, past their day.
        total.rows += self.store.purge_answers(now)?;
        Ok(total)
    }
}

/// The purge thread; stops (and is joined) when dropped.
#[must_use = "dropping the handle stops the purge thread"]
pub struct Retention {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    passes: Arc<AtomicU64>,
}

impl Retention {
    /// Passes run so far (whole or cut short by a stop, failed or not).
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::SeqCst)
    }
}

impl Drop for Retention {
    fn drop(&mut self) {
        // Disconnecting the stop channel wakes the thread from its wait
        // and ends a pass between pages.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the purge thread: a pass `first` after start, then one `every`
/// after the previous pass began, by the service's clock (so a manual
/// clock drives it in tests).
pub fn start_retention(herald: Herald, first: Duration, every: Duration) -> Retention {
    let (tx, rx): (Sender<()>, Receiver<()>) = crossbeam_channel::bounded(0);
    let passes = Arc::new(AtomicU64::new(0));
    let counted = passes.clone();
    let thread = std::thread::Builder::new()
        .name("herald-retention".into())
        .spawn(move || {
            let clock = herald.clock.clone();
            let mut due = clock.now().plus_millis(millis(first));
            while clock.wait_until(due, &rx) {
                // From the pass's start, not its deadline: a clock that
                // jumped (a suspended host) gets one pass, not a burst.
                let now = clock.now();
                due = now.plus_millis(millis(every));
                // Several nodes: one of them purges, the one holding the
                // role (kept across passes; another takes it over once it
                // lapses).
                if herald.holds_role("retention", now, now.plus_millis(2 * millis(every))) {
                    pass(&herald, &rx);
                }
                counted.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("spawning the retention thread");
    Retention {
        stop: Some(tx),
        thread: Some(thread),
        passes,
    }
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// One pass, logged; it ends early once `stop` is disconnected.
fn pass(herald: &Herald, stop: &Receiver<()>) {
    let stopped = || matches!(stop.try_recv(), Err(TryRecvError::Disconnected));
    match herald.purge_expired_unless(&stopped) {
        Ok(p) if p.events + p.rows > 0 => log::info!(
            "retention: removed {} events ({} deliveries, {} attempts) and {} rows",
            p.events,
            p.deliveries,
            p.attempts,
            p.rows
        ),
        Ok(_) => {}
        Err(e) => log::error!("retention: the purge failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::time::Timestamp;
    use crate::service::Settings;

    const T0: i64 = 1_705_314_600_000;
    const MIN: i64 = 60_000;

    /// Waits (bounded) for the retention thread to react to the clock.
    fn until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn first_pass_five_minutes_after_start_then_hourly_and_a_stop_is_prompt() {
        let t = |min: i64| Timestamp::from_millis(T0 + min * MIN);
        let clock = Arc::new(ManualClock::new(t(0)));
        let herald = Herald::new(
            crate::store::temporary(),
            clock.clone(),
            Settings {
                retention: Duration::from_secs(3600),
                ..Settings::offline()
            },
        );
        let r = start_retention(herald, FIRST_PURGE_AFTER, PURGE_EVERY);
        // The thread waits on the clock for five minutes after start ...
        until("the first alarm", || clock.alarms() == vec![t(5)]);
        clock.advance_ms(5 * MIN - 1);
        // ... (moving the clock fires due alarms before it returns, so an
        // alarm still armed means the thread is still waiting) ...
        assert_eq!(clock.alarms(), vec![t(5)], "no pass before 5 minutes");
        assert_eq!(r.passes(), 0);
        clock.advance_ms(1);
        until("the first pass", || r.passes() == 1);
        // ... then an hour after that pass began.
        until("the second alarm", || clock.alarms() == vec![t(65)]);
        clock.advance_ms(60 * MIN - 1);
        assert_eq!(clock.alarms(), vec![t(65)], "no pass before the hour");
        assert_eq!(r.passes(), 1);
        clock.advance_ms(1);
        until("the second pass", || r.passes() == 2);
        until("the third alarm", || clock.alarms() == vec![t(125)]);
        // A stop wakes the waiting thread: dropping joins it at once, with
        // the clock still an hour short of the next pass.
        let stopping = Instant::now();
        drop(r);
        assert!(
            stopping.elapsed() < Duration::from_secs(2),
            "stopped promptly: {:?}",
            stopping.elapsed()
        );
        assert_eq!(clock.now(), t(65));
    }
}
