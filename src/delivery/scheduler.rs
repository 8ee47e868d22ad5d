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
    /// Another node (or this one) committed due deliveries no node holds.
    Claim,
    Reload,
    Stop,
}

/// Several nodes (a store with [`crate::store::ClusterStore`]): what the
/// scheduler claims, how far ahead, how often.
mod cluster {
    /// Claims look this far ahead (the wheel fires them on time).
    pub const AHEAD_MS: i64 = 1_000;
    /// Claims are looked for at least this often without a wake-up:
    /// expired leases of a node that died, retries made by another node.
    pub const EVERY_MS: i64 = 1_000;
    /// Wake-ups from notifications claim at most this often.
    pub const WAKE_GAP_MS: i64 = 20;
    /// Claimed jobs waiting in the dispatcher at most: claims are made
    /// for what this node can send soon, the rest left to the others.
    pub const QUEUE: usize = 2_000;
    /// Rows claimed per query.
    pub const PAGE: usize = 500;
    /// Past this many queued jobs, ingest here claims nothing.
    pub const SHED_AT: usize = 1_000;
    /// Heartbeat and sweeper period.
    pub const HEARTBEAT_MS: i64 = 5_000;
    /// The sweeper's role lasts this long without renewal.
    pub const ROLE_MS: i64 = 15_000;
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
        if let Some(c) = store.cluster() {
            let wake = tx.clone();
            if let Err(e) = c.watch(Box::new(move || {
                let _ = wake.send(Msg::Claim);
            })) {
                // Claims still run every second without it.
                log::error!("cluster: no listener for due deliveries: {e}");
            }
        }
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
    /// On a cluster store: when to claim next, and the last heartbeat.
    next_claim: Timestamp,
    next_heartbeat: Timestamp,
}

impl Loop {
    /// On a store shared by several nodes, the due index is everyone's:
    /// this node loads what it claims (rows due soon that no node holds),
    /// as much as it can send soon; `true` if a full page was claimed.
    fn claim(&mut self, cluster: &dyn crate::store::ClusterStore, now: Timestamp) -> bool {
        let queued = self.dispatcher.queued();
        cluster.shed(queued >= cluster::SHED_AT);
        if now >= self.next_heartbeat {
            self.next_heartbeat = now.plus_millis(cluster::HEARTBEAT_MS);
            if let Err(e) = cluster.heartbeat(now) {
                log::error!("cluster: heartbeat failed: {e}");
            }
            let sweeper = cluster.hold_role("sweeper", now, now.plus_millis(cluster::ROLE_MS));
            if let Ok(true) = sweeper {
                match cluster.sweep(now) {
                    Ok(0) => {}
                    Ok(n) => log::info!("cluster: {n} expired claims and leases cleared"),
                    Err(e) => log::error!("cluster: sweeping expired leases failed: {e}"),
                }
            }
        }
        if now < self.next_claim || queued >= cluster::QUEUE {
            return false;
        }
        self.next_claim = now.plus_millis(cluster::EVERY_MS);
        let n = cluster::PAGE.min(cluster::QUEUE - queued);
        let until = now.plus_millis(cluster::AHEAD_MS);
        let claim_until = until.plus_millis(crate::store::CLAIM_MS);
        match cluster.claim_due(now, until, claim_until, n) {
            Ok(page) => {
                for d in &page {
                    self.wheel
                        .insert((d.delivery, d.endpoint), d.due.as_millis().max(0) as u64);
                }
                let full = page.len() == n;
                if full {
                    self.next_claim = now;
                }
                full
            }
            Err(e) => {
                log::error!("scheduler: claiming due deliveries failed: {e}");
                false
            }
        }
    }

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
    let clustered = store.cluster().is_some();
    let mut lp = Loop {
        store,
        dispatcher,
        wheel: Wheel::new(start, TICK_MS),
        cursor: None,
        next_claim: Timestamp::from_millis(0),
        next_heartbeat: Timestamp::from_millis(0),
    };
    let mut due = Vec::new();
    loop {
        let now = clock.now();
        let store = lp.store.clone();
        let more = match store.cluster() {
            Some(c) => lp.claim(c, now),
            None => lp.refill(now),
        };
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
            let mut sleep = lp
                .wheel
                .next_due()
                .map(|d| Duration::from_millis(d.saturating_sub(now.as_millis().max(0) as u64)))
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            if clustered {
                let to_claim = (lp.next_claim.as_millis() - now.as_millis()).max(0) as u64;
                sleep = sleep.min(Duration::from_millis(to_claim));
            }
            sleep
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
                    // Clustered, nothing is scanned behind a cursor: what
                    // this node scheduled is its to try (the send lease
                    // decides who sends).
                    if clustered || lp.behind_cursor(&d) {
                        lp.wheel
                            .insert((d.delivery, d.endpoint), d.due.as_millis().max(0) as u64);
                    }
                }
                Msg::Wake => {}
                Msg::Claim => {
                    let soonest = clock.now().plus_millis(cluster::WAKE_GAP_MS);
                    if lp.next_claim > soonest {
                        lp.next_claim = soonest;
                    }
                }
                Msg::Reload => lp.cursor = None,
                Msg::Stop => return,
            }
        }
    }
}
