//! The scheduler: one thread that turns due times into dispatches.
//!
//! The durable due index in the store is the whole queue. The wheel holds
//! only what falls due within [`HORIZON_MS`]; a refill step range-scans the
//! index as time advances, so a million pending retries cost disk, not RAM.
//!
//! Every index entry enters the wheel exactly once: by the refill scan if
//! it lies beyond the scan cursor when scanned, or by a [`Scheduler::schedule`]
//! message if it lies at or before the cursor when the message arrives
//! (the wheel replaces on re-insert, and workers re-check the delivery, so
//! the rare overlap of both is harmless).

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::dispatcher::Dispatcher;
use super::wheel::Wheel;
use crate::clock::Clock;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::time::Timestamp;
use crate::store::{Due, Store};

/// How far ahead the wheel holds timers.
pub const HORIZON_MS: i64 = 15 * 60 * 1000;
/// Wheel resolution.
const TICK_MS: u64 = 10;
/// Index entries read per refill step.
const SCAN_PAGE: usize = 10_000;
/// Refill pauses while this many jobs already wait in the dispatcher, so a
/// restart after a long outage feeds the backlog in at the pace it drains.
const MAX_QUEUED: usize = 50_000;
/// The longest the thread sleeps without looking at the clock (a manual
/// clock in tests moves without telling anyone; `wake` shortens this).
const MAX_SLEEP: Duration = Duration::from_millis(250);

enum Msg {
    Schedule(Due),
    Wake,
    Reload,
    Stop,
}

/// Gauges the scheduler keeps.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    /// Timers in the wheel.
    pub in_wheel: AtomicUsize,
    /// How late the last expiry ran relative to its due time, ms.
    pub lag_ms: AtomicI64,
    /// When the loop last ran (unix ms), for readiness.
    pub last_tick_ms: AtomicI64,
}

/// Handle to the scheduler thread.
#[derive(Clone)]
pub struct Scheduler {
    tx: Sender<Msg>,
    /// Gauges.
    pub stats: Arc<SchedulerStats>,
}

impl Scheduler {
    /// Starts the scheduler; its first refill loads everything overdue or
    /// due within the horizon from the store. Its thread runs on, unjoined,
    /// until [`Scheduler::stop`].
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>, dispatcher: Dispatcher) -> Self {
        Self::spawn(store, clock, dispatcher).0
    }

    /// Like [`Scheduler::start`]; the handle joins the thread, which ends
    /// soon after [`Scheduler::stop`] (at its next look at its messages:
    /// within a refill page or [`MAX_SLEEP`]).
    pub fn spawn(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        dispatcher: Dispatcher,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stats = Arc::new(SchedulerStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("herald-scheduler".into())
            .spawn(move || run(store, clock, dispatcher, rx, s))
            .expect("spawning the scheduler thread");
        (Self { tx, stats }, thread)
    }

    /// A retry was made durable for `due.due`.
    pub fn schedule(&self, due: Due) {
        let _ = self.tx.send(Msg::Schedule(due));
    }

    /// Ends the scheduler thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }

    /// Load the due index again from its start (the store was reopened:
    /// writes acknowledged as failed may have left the wheel ahead of it).
    /// Entries already in the wheel are replaced, not doubled.
    pub fn reload(&self) {
        let _ = self.tx.send(Msg::Reload);
    }

    /// Look at the clock now (a manual clock moved, or due entries were
    /// added behind the cursor's back).
    pub fn wake(&self) {
        let _ = self.tx.send(Msg::Wake);
    }
}

type Key = (DeliveryId, EndpointId);

struct Loop {
    store: Arc<dyn Store>,
    dispatcher: Dispatcher,
    wheel: Wheel<Key>,
    /// Everything in the index up to this key has been loaded.
    cursor: Option<(Timestamp, DeliveryId)>,
}

impl Loop {
    fn behind_cursor(&self, due: &Due) -> bool {
        self.cursor
            .is_some_and(|c| (due.due, due.delivery.to_bytes()) <= (c.0, c.1.to_bytes()))
    }

    /// Loads index entries up to `now + HORIZON_MS`; `true` if a full page
    /// was read (more may follow at once).
    fn refill(&mut self, now: Timestamp) -> bool {
        if self.dispatcher.queued() >= MAX_QUEUED {
            return false;
        }
        let until = now.plus_millis(HORIZON_MS);
        match self.store.due_between(self.cursor, until, SCAN_PAGE) {
            Ok(page) => {
                let full = page.len() == SCAN_PAGE;
                for d in &page {
                    self.wheel
                        .insert((d.delivery, d.endpoint), d.due.as_millis().max(0) as u64);
                }
                self.cursor = match (full, page.last()) {
                    (true, Some(last)) => Some((last.due, last.delivery)),
                    // Scanned to the horizon: everything up to it is loaded,
                    // including keys this scan did not see because they did
                    // not exist yet; those arrive as `schedule` messages or
                    // through the ingest fast path.
                    _ => Some((until, DeliveryId::from_bytes([0xff; 16]))),
                };
                full
            }
            Err(e) => {
                log::error!("scheduler: reading the due index failed: {e}");
                false
            }
        }
    }
}

fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    dispatcher: Dispatcher,
    rx: Receiver<Msg>,
    stats: Arc<SchedulerStats>,
) {
    let start = clock.now().as_millis().max(0) as u64;
    let mut lp = Loop {
        store,
        dispatcher,
        wheel: Wheel::new(start, TICK_MS),
        cursor: None,
    };
    let mut due = Vec::new();
    loop {
        let now = clock.now();
        let more = lp.refill(now);
        due.clear();
        lp.wheel.advance(now.as_millis().max(0) as u64, &mut due);
        if !due.is_empty() {
            let lag = due
                .first()
                .map_or(0, |(_, at)| now.as_millis() - *at as i64);
            stats.lag_ms.store(lag.max(0), Ordering::Relaxed);
            lp.dispatcher.submit(
                due.iter()
                    .map(|((delivery, endpoint), at)| Due {
                        due: Timestamp::from_millis(*at as i64),
                        delivery: *delivery,
                        endpoint: *endpoint,
                    })
                    .collect(),
            );
        } else {
            stats.lag_ms.store(0, Ordering::Relaxed);
        }
        stats.in_wheel.store(lp.wheel.len(), Ordering::Relaxed);
        stats.last_tick_ms.store(now.as_millis(), Ordering::Relaxed);
        let sleep = if more {
            Duration::ZERO
        } else {
            lp.wheel
                .next_due()
                .map(|d| Duration::from_millis(d.saturating_sub(now.as_millis().max(0) as u64)))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP)
        };
        let first = if sleep.is_zero() {
            rx.try_recv().ok()
        } else {
            match rx.recv_timeout(sleep) {
                Ok(m) => Some(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        };
        for m in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            match m {
                Msg::Schedule(d) => {
                    if lp.behind_cursor(&d) {
                        lp.wheel
                            .insert((d.delivery, d.endpoint), d.due.as_millis().max(0) as u64);
                    }
                }
                Msg::Wake => {}
                Msg::Reload => lp.cursor = None,
                Msg::Stop => return,
            }
        }
    }
}
