//! The dispatcher: per-endpoint queues in front of the worker pool.
//!
//! A slow or dead endpoint must never delay anyone else's deliveries. So
//! the dispatcher lets at most `per_endpoint` deliveries of one endpoint be
//! in flight (queued for a worker or being sent) — and only one until its
//! last attempt succeeded; the rest wait in that endpoint's own queue. Endpoints with work and spare capacity take turns
//! (round robin), and the worker channel is bounded, so a backlog for one
//! endpoint sits in its queue, not in front of everyone else.
//!
//! It also keeps one delivery from being attempted twice at once: a job for
//! a delivery that is already queued or in flight waits aside (one per
//! delivery) and is queued once that job is done. It must not be dropped:
//! when a retry falls due before its attempt's slot is freed (a clock that
//! jumped, a short `Retry-After`), the scheduler's refill and the worker's
//! `schedule` message both hand the next job over while the slot is still
//! taken, and the scheduler never scans behind its cursor again, so a
//! dropped job would wait in the due index until the next start. A job
//! that turns out stale costs a re-read: the worker checks the delivery.
//!
//! Two limits an endpoint may set are decided by the worker (it reads the
//! endpoint) and kept here so that waiting costs nothing:
//! - *rate limit*: a job the worker found too early comes back
//!   ([`Dispatcher::throttled`]) and *parks* its endpoint: nothing more of
//!   it is handed out until that job returns from the scheduler at its
//!   slot, then it goes first.
//! - *ordered*: a job that is not its endpoint's oldest delivery not ended
//!   comes back ([`Dispatcher::behind`]) and waits aside, in id order;
//!   whenever a job of that endpoint is done, the oldest waiting one is
//!   queued again (first), so the next in line is looked at as soon as
//!   the one before it ended. Its scheduler timer (the worker sets one) is
//!   only a fallback for heads that end outside the engine.
//!
//! Paused (`herald serve --paused`, or `Dispatcher::pause`), it keeps
//! accepting jobs into the per-endpoint queues but hands none to the
//! workers; pausing takes back the jobs still waiting in the worker
//! channel (those a worker already took are attempted). The queues are a
//! cache of the due index like the rest, so nothing is dropped: resuming
//! feeds them to the workers as usual.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::domain::ids::{DeliveryId, EndpointId};
use crate::store::Due;

enum Msg {
    Jobs(Vec<Due>),
    /// A job ended; `Some(ok)` if it made an attempt.
    Done(Due, Option<bool>),
    /// A job waits for its endpoint's rate limit (it is in the wheel).
    Throttled(Due),
    /// A job waits for an older delivery of its ordered endpoint.
    Behind(Due),
    /// Hand workers nothing until `Resume`.
    Pause,
    /// Feed the workers again.
    Resume,
    Stop,
}

/// Gauges the dispatcher keeps.
#[derive(Debug, Default)]
pub struct DispatchStats {
    /// Jobs waiting in per-endpoint queues.
    pub queued: AtomicUsize,
    /// Jobs handed to workers and not yet done.
    pub in_flight: AtomicUsize,
    /// Worker threads running.
    pub workers_alive: AtomicUsize,
    /// Whether the dispatcher hands workers nothing (see the module doc).
    pub paused: AtomicBool,
}

/// Handle to the dispatcher thread.
#[derive(Clone)]
pub struct Dispatcher {
    tx: Sender<Msg>,
    work_rx: Receiver<Due>,
    /// Queue depth and in-flight gauges.
    pub stats: Arc<DispatchStats>,
}

impl Dispatcher {
    /// Starts the dispatcher for `workers` workers; its thread runs on,
    /// unjoined, until [`Dispatcher::stop`].
    pub fn start(per_endpoint: usize, workers: usize) -> Self {
        Self::spawn(per_endpoint, workers, false).0
    }

    /// Starts the dispatcher for `workers` workers, paused if `paused`;
    /// the handle joins its thread, which ends soon after
    /// [`Dispatcher::stop`].
    pub fn spawn(per_endpoint: usize, workers: usize, paused: bool) -> (Self, JoinHandle<()>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Bounded: only what workers can take soon leaves the fair queues.
        let (work_tx, work_rx) = crossbeam_channel::bounded(workers.max(1));
        let stats = Arc::new(DispatchStats::default());
        stats.paused.store(paused, Ordering::SeqCst);
        let mut state = State {
            paused,
            work_rx: work_rx.clone(),
            per_endpoint: per_endpoint.max(1),
            queues: HashMap::new(),
            in_flight: HashMap::new(),
            ready: VecDeque::new(),
            active: HashSet::new(),
            again: HashMap::new(),
            proven: HashSet::new(),
            parked: HashMap::new(),
            behind: HashMap::new(),
            serial: HashSet::new(),
            work_tx,
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("herald-dispatch".into())
            .spawn(move || {
                // Ends on `Stop`: dropping the state closes the worker
                // channel, and each worker ends after its current job.
                while let Ok(first) = rx.recv() {
                    let mut stop = !state.handle(first);
                    while let Ok(m) = rx.try_recv() {
                        stop |= !state.handle(m);
                    }
                    if stop {
                        return;
                    }
                    state.feed();
                }
            })
            .expect("spawning the dispatcher thread");
        (Self { tx, work_rx, stats }, thread)
    }

    /// Queues due deliveries.
    pub fn submit(&self, jobs: Vec<Due>) {
        if !jobs.is_empty() {
            let _ = self.tx.send(Msg::Jobs(jobs));
        }
    }

    /// Reports a job finished without an attempt, freeing its slot.
    pub fn done(&self, job: Due) {
        let _ = self.tx.send(Msg::Done(job, None));
    }

    /// Reports a job sent back without an attempt because its endpoint's
    /// rate limit allows none yet: its slot is freed and the endpoint
    /// parked until the job (scheduled for its slot) comes back.
    pub fn throttled(&self, job: Due) {
        let _ = self.tx.send(Msg::Throttled(job));
    }

    /// Reports a job of an ordered endpoint that is not the endpoint's
    /// oldest delivery not ended: it waits aside until a job of that
    /// endpoint is done.
    pub fn behind(&self, job: Due) {
        let _ = self.tx.send(Msg::Behind(job));
    }

    /// Reports a job's attempt recorded (durably), freeing its slot;
    /// `succeeded` sets the endpoint's cap (see `State::cap`).
    pub fn attempted(&self, job: Due, succeeded: bool) {
        let _ = self.tx.send(Msg::Done(job, Some(succeeded)));
    }

    /// Hands workers no further job until [`Dispatcher::resume`]; jobs keep
    /// queueing. Jobs still waiting in the worker channel go back to their
    /// queues; the attempts already being made finish.
    pub fn pause(&self) {
        self.stats.paused.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Msg::Pause);
    }

    /// Feeds the queued jobs to the workers again.
    pub fn resume(&self) {
        self.stats.paused.store(false, Ordering::SeqCst);
        let _ = self.tx.send(Msg::Resume);
    }

    /// Whether it is paused.
    pub fn is_paused(&self) -> bool {
        self.stats.paused.load(Ordering::SeqCst)
    }

    /// Stops the dispatcher; the workers finish their current job and end.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }

    /// The channel workers take jobs from.
    pub fn work_queue(&self) -> Receiver<Due> {
        self.work_rx.clone()
    }

    /// Jobs waiting in the per-endpoint queues.
    pub fn queued(&self) -> usize {
        self.stats.queued.load(Ordering::Relaxed)
    }
}

struct State {
    /// Hand workers nothing (the messages set it, in their order).
    paused: bool,
    /// The workers' end of the channel, to take jobs back at a pause.
    work_rx: Receiver<Due>,
    per_endpoint: usize,
    queues: HashMap<EndpointId, VecDeque<Due>>,
    in_flight: HashMap<EndpointId, usize>,
    /// Endpoints that may have work sent; an endpoint may appear more than
    /// once or be at its cap when popped (`feed` re-checks).
    ready: VecDeque<EndpointId>,
    active: HashSet<DeliveryId>,
    /// Jobs that came for an active delivery, queued when it is done.
    ///
    /// **Invariant:** every key is also in `active`.
    again: HashMap<DeliveryId, Due>,
    /// Endpoints whose last attempt succeeded: they get the full cap.
    proven: HashSet<EndpointId>,
    /// Endpoints waiting for their rate limit: none of their jobs is
    /// handed out until this delivery's job comes back.
    parked: HashMap<EndpointId, DeliveryId>,
    /// Jobs of ordered endpoints waiting for an older delivery, by id
    /// (counted in `stats.queued`).
    behind: HashMap<EndpointId, BTreeMap<[u8; 16], Due>>,
    /// Endpoints found ordered: one job at a time, so a follower is
    /// looked at only once the job before it is done (never while its
    /// head is in flight, which would leave it waiting for the fallback).
    serial: HashSet<EndpointId>,
    work_tx: Sender<Due>,
    stats: Arc<DispatchStats>,
}

impl State {
    /// How many of an endpoint's deliveries may be in flight.
    ///
    /// Why not always `per_endpoint`: a receiver that never answers ties up
    /// a worker per slot until the request timeout. With 4 slots each, 8 such
    /// endpoints took all 32 workers and healthy endpoints got nothing
    /// (the `failing` bench: 6 % of `fanout`). So an endpoint starts with
    /// one slot, gets the full cap once an attempt succeeds, and drops back
    /// to one when an attempt fails: a dead endpoint holds one worker.
    fn cap(&self, ep: &EndpointId) -> usize {
        if self.serial.contains(ep) {
            1
        } else if self.proven.contains(ep) {
            self.per_endpoint
        } else {
            1
        }
    }

    fn busy(&self, ep: &EndpointId) -> usize {
        self.in_flight.get(ep).copied().unwrap_or(0)
    }

    /// Queues a job, or (its delivery already queued or in flight) keeps
    /// it aside until that job is done.
    fn enqueue(&mut self, job: Due) {
        let ep = job.endpoint;
        // The job a parked endpoint waits for: the endpoint is free again,
        // and this job (the one that waited longest) goes first.
        let first = self.parked.get(&ep) == Some(&job.delivery);
        if first {
            self.parked.remove(&ep);
        }
        // One waiting behind an older delivery came back (its fallback
        // timer, a resend): it is looked at again.
        if let Some(b) = self.behind.get_mut(&ep) {
            if b.remove(&job.delivery.to_bytes()).is_some() {
                self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            }
            if b.is_empty() {
                self.behind.remove(&ep);
            }
        }
        if !self.active.insert(job.delivery) {
            // One per delivery is enough: the worker re-reads it anyway.
            self.again.insert(job.delivery, job);
            return;
        }
        let q = self.queues.entry(ep).or_default();
        let was_empty = q.is_empty();
        if first {
            q.push_front(job);
        } else {
            q.push_back(job);
        }
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        if (was_empty || first) && self.busy(&ep) < self.cap(&ep) && !self.parked.contains_key(&ep)
        {
            self.ready.push_back(ep);
        }
    }

    /// The oldest job waiting behind an older delivery of `ep` is queued
    /// again (first): a job of `ep` is done, so its head may have ended.
    fn next_in_line(&mut self, ep: EndpointId) {
        let Some(b) = self.behind.get_mut(&ep) else {
            return;
        };
        let Some((_, job)) = b.pop_first() else {
            return;
        };
        if b.is_empty() {
            self.behind.remove(&ep);
        }
        self.stats.queued.fetch_sub(1, Ordering::Relaxed);
        if !self.active.insert(job.delivery) {
            self.again.insert(job.delivery, job);
            return;
        }
        self.queues.entry(ep).or_default().push_front(job);
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        self.ready.push_back(ep);
    }

    fn handle(&mut self, m: Msg) -> bool {
        match m {
            Msg::Stop => return false,
            Msg::Pause => {
                self.paused = true;
                self.take_back();
            }
            Msg::Resume => self.paused = false,
            Msg::Jobs(jobs) => {
                for job in jobs {
                    self.enqueue(job);
                }
            }
            Msg::Throttled(job) => {
                self.parked.insert(job.endpoint, job.delivery);
                self.finish(job, None);
            }
            Msg::Behind(job) => {
                self.serial.insert(job.endpoint);
                let b = self.behind.entry(job.endpoint).or_default();
                if b.insert(job.delivery.to_bytes(), job).is_none() {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                self.finish(job, None);
            }
            Msg::Done(job, outcome) => {
                self.finish(job, outcome);
                self.next_in_line(job.endpoint);
            }
        }
        true
    }

    /// Frees a job's slot; `outcome` as in `Msg::Done`.
    fn finish(&mut self, job: Due, outcome: Option<bool>) {
        {
            {
                self.active.remove(&job.delivery);
                // Its slot is free: a hint that came meanwhile may run now.
                if let Some(again) = self.again.remove(&job.delivery) {
                    self.enqueue(again);
                }
                self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                let ep = job.endpoint;
                match outcome {
                    Some(true) => {
                        self.proven.insert(ep);
                    }
                    Some(false) => {
                        self.proven.remove(&ep);
                    }
                    None => {}
                }
                let n = self.in_flight.entry(ep).or_insert(1);
                *n = n.saturating_sub(1);
                let n = *n;
                if n == 0 {
                    self.in_flight.remove(&ep);
                }
                let has_work = self.queues.get(&ep).is_some_and(|q| !q.is_empty());
                if n == 0 && !has_work && !self.behind.contains_key(&ep) {
                    // Idle: one at a time only until it is found ordered
                    // again (its next follower comes back `behind`), so an
                    // endpoint made unordered gets its cap back.
                    self.serial.remove(&ep);
                }
                // NB: the cap may have grown by more than the one slot just
                // freed; `feed` pushes the endpoint again while it has room.
                if has_work && n < self.cap(&ep) {
                    self.ready.push_back(ep);
                }
            }
        }
    }

    /// Puts the jobs no worker has taken yet back at the head of their
    /// queues, undoing what `feed` counted for them.
    fn take_back(&mut self) {
        let back: Vec<Due> = self.work_rx.try_iter().collect();
        // Reversed, so each queue gets them back in the order they left.
        for job in back.into_iter().rev() {
            let ep = job.endpoint;
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.stats.queued.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = self.in_flight.get_mut(&ep) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.in_flight.remove(&ep);
                }
            }
            self.queues.entry(ep).or_default().push_front(job);
            // Possibly a duplicate entry: `feed` skips stale ones.
            self.ready.push_front(ep);
        }
    }

    fn feed(&mut self) {
        if self.paused {
            return;
        }
        while let Some(ep) = self.ready.pop_front() {
            if self.busy(&ep) >= self.cap(&ep) || self.parked.contains_key(&ep) {
                continue; // a stale entry: it is re-added when a slot frees
            }
            let Some(job) = self.queues.get_mut(&ep).and_then(VecDeque::pop_front) else {
                self.queues.remove(&ep);
                continue;
            };
            match self.work_tx.try_send(job) {
                Ok(()) => {
                    self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                    self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                    let n = self.in_flight.entry(ep).or_insert(0);
                    *n += 1;
                    let n = *n;
                    let more = self.queues.get(&ep).is_some_and(|q| !q.is_empty());
                    if more && n < self.cap(&ep) {
                        self.ready.push_back(ep);
                    } else if !more {
                        self.queues.remove(&ep);
                    }
                }
                Err(TrySendError::Full(job)) => {
                    if let Some(q) = self.queues.get_mut(&ep) {
                        q.push_front(job);
                    }
                    self.ready.push_front(ep);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use std::time::Duration;

    fn job(ep: EndpointId) -> Due {
        Due {
            due: Timestamp::from_millis(0),
            delivery: DeliveryId::new(Timestamp::from_millis(0)),
            endpoint: ep,
        }
    }

    #[test]
    fn a_busy_endpoint_holds_at_most_its_cap_and_others_flow() {
        let d = Dispatcher::start(2, 8);
        let slow = EndpointId::new(Timestamp::from_millis(1));
        let fast = EndpointId::new(Timestamp::from_millis(2));
        let work = d.work_queue();
        // One success each earns both endpoints the full cap.
        for ep in [slow, fast] {
            d.submit(vec![job(ep)]);
            let j = work.recv_timeout(Duration::from_secs(2)).unwrap();
            d.attempted(j, true);
        }
        d.submit((0..10).map(|_| job(slow)).collect());
        d.submit((0..5).map(|_| job(fast)).collect());
        let mut got = Vec::new();
        while let Ok(j) = work.recv_timeout(Duration::from_millis(200)) {
            got.push(j);
        }
        // Nothing was reported done, so each endpoint has exactly its cap out.
        let slow_n = got.iter().filter(|j| j.endpoint == slow).count();
        let fast_n = got.iter().filter(|j| j.endpoint == fast).count();
        assert_eq!((slow_n, fast_n), (2, 2));
        // Finishing a fast job lets the next fast job through, not a slow one.
        let f = *got.iter().find(|j| j.endpoint == fast).unwrap();
        d.done(f);
        let next = work.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(next.endpoint, fast);
    }

    /// Every job handed to the workers until none comes for 150 ms; there
    /// must be exactly `n`.
    fn handed_out(work: &Receiver<Due>, n: usize) -> Vec<Due> {
        let mut got = Vec::new();
        while let Ok(j) = work.recv_timeout(Duration::from_millis(150)) {
            got.push(j);
        }
        assert_eq!(got.len(), n);
        got
    }

    #[test]
    fn an_endpoint_gets_one_slot_until_an_attempt_succeeds_and_after_one_fails() {
        let d = Dispatcher::start(4, 16);
        let ep = EndpointId::new(Timestamp::from_millis(1));
        let work = d.work_queue();
        let out = |n: usize| handed_out(&work, n);
        d.submit((0..10).map(|_| job(ep)).collect());
        let first = out(1); // unproven: one at a time
        d.attempted(first[0], true);
        // Proven: the full cap.
        let four = out(4);
        // A failure: back to one slot. Three are still out, so nothing
        // more goes until all of them are back.
        d.attempted(four[3], false);
        out(0);
        for j in &four[..3] {
            d.done(*j);
        }
        let one = out(1);
        // A success earns the full cap back: the last four go at once.
        d.attempted(one[0], true);
        out(4);
    }

    /// An endpoint found ordered gets one slot; once it is idle (nothing
    /// queued, out or waiting behind) it is no longer taken as ordered, so
    /// one made unordered gets its full cap back without a restart.
    #[test]
    fn an_ordered_endpoint_is_one_at_a_time_until_it_is_idle() {
        let d = Dispatcher::start(4, 16);
        let ep = EndpointId::new(Timestamp::from_millis(1));
        let work = d.work_queue();
        let out = |n: usize| handed_out(&work, n);
        d.submit(vec![job(ep)]);
        d.attempted(out(1)[0], true); // proven: cap 4
        let jobs: Vec<Due> = (0..6)
            .map(|i| Due {
                delivery: DeliveryId::new(Timestamp::from_millis(10 + i)),
                ..job(ep)
            })
            .collect();
        d.submit(jobs.clone());
        let four = out(4);
        // Three were not the head: they wait behind it, and the endpoint
        // is one at a time from now on.
        for j in &four[1..] {
            d.behind(*j);
        }
        d.attempted(four[0], true);
        let next = out(1);
        assert_eq!(
            next[0].delivery, four[1].delivery,
            "the oldest behind goes first"
        );
        // Each done job lets exactly one more through.
        let mut left = 5;
        let mut current = next[0];
        while left > 1 {
            d.attempted(current, true);
            current = out(1)[0];
            left -= 1;
        }
        d.attempted(current, true);
        out(0);
        // Idle now: the full cap again.
        d.submit(
            (0..6)
                .map(|i| Due {
                    delivery: DeliveryId::new(Timestamp::from_millis(100 + i)),
                    ..job(ep)
                })
                .collect(),
        );
        out(4);
    }

    #[test]
    fn a_job_for_a_delivery_in_flight_runs_once_its_slot_is_free() {
        let d = Dispatcher::start(4, 8);
        let ep = EndpointId::new(Timestamp::from_millis(1));
        let j = job(ep);
        let work = d.work_queue();
        d.submit(vec![j]);
        let first = work.recv_timeout(Duration::from_secs(2)).unwrap();
        // Its retry falls due before the attempt is recorded: both the
        // refill and the worker's schedule message hand it over.
        d.submit(vec![j]);
        d.submit(vec![j]);
        assert!(
            work.recv_timeout(Duration::from_millis(100)).is_err(),
            "not while the first is in flight"
        );
        d.attempted(first, false);
        let again = work.recv_timeout(Duration::from_secs(2)).expect("kept");
        assert_eq!(again.delivery, j.delivery);
        assert!(
            work.recv_timeout(Duration::from_millis(100)).is_err(),
            "once"
        );
    }

    #[test]
    fn paused_it_hands_out_nothing_and_resumed_everything() {
        let (d, _thread) = Dispatcher::spawn(4, 8, true);
        let work = d.work_queue();
        let ep = EndpointId::new(Timestamp::from_millis(1));
        let jobs: Vec<Due> = (0..3)
            .map(|i| Due {
                due: Timestamp::from_millis(0),
                delivery: DeliveryId::new(Timestamp::from_millis(i)),
                endpoint: ep,
            })
            .collect();
        d.submit(jobs.clone());
        assert!(d.is_paused());
        assert!(
            work.recv_timeout(Duration::from_millis(150)).is_err(),
            "nothing while paused"
        );
        d.resume();
        let first = work.recv_timeout(Duration::from_secs(2)).expect("resumed");
        // Pausing again takes back what no worker took: after the one in
        // flight is done, nothing more comes until the next resume.
        d.pause();
        d.attempted(first, true);
        assert!(work.recv_timeout(Duration::from_millis(150)).is_err());
        d.resume();
        let mut rest = Vec::new();
        while let Ok(j) = work.recv_timeout(Duration::from_millis(300)) {
            rest.push(j.delivery);
        }
        rest.sort_by_key(|id| id.to_bytes());
        let mut want: Vec<_> = jobs[1..].iter().map(|j| j.delivery).collect();
        want.sort_by_key(|id| id.to_bytes());
        assert_eq!(rest, want, "each queued job exactly once");
        assert_eq!(d.queued(), 0);
    }

    #[test]
    fn pausing_takes_back_the_jobs_no_worker_has_taken() {
        let d = Dispatcher::start(4, 8);
        let work = d.work_queue();
        let eps: Vec<EndpointId> = (0..3)
            .map(|i| EndpointId::new(Timestamp::from_millis(i)))
            .collect();
        d.submit(eps.iter().map(|ep| job(*ep)).collect());
        // Wait until the three sit in the worker channel (nobody takes them).
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while work.len() < 3 {
            assert!(std::time::Instant::now() < deadline, "fed");
            std::thread::yield_now();
        }
        d.pause();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while d.queued() < 3 {
            assert!(std::time::Instant::now() < deadline, "taken back");
            std::thread::yield_now();
        }
        assert!(work.is_empty());
        assert_eq!(d.stats.in_flight.load(Ordering::Relaxed), 0);
        d.resume();
        let mut got = 0;
        while work.recv_timeout(Duration::from_millis(300)).is_ok() {
            got += 1;
        }
        assert_eq!(got, 3, "back in the channel once resumed");
    }

    #[test]
    fn a_delivery_already_active_is_not_queued_twice() {
        let d = Dispatcher::start(4, 8);
        let ep = EndpointId::new(Timestamp::from_millis(1));
        let j = job(ep);
        d.submit(vec![j, j]);
        d.submit(vec![j]);
        let work = d.work_queue();
        assert!(work.recv_timeout(Duration::from_secs(2)).is_ok());
        assert!(work.recv_timeout(Duration::from_millis(100)).is_err());
        d.done(j);
        d.submit(vec![j]);
        assert!(
            work.recv_timeout(Duration::from_secs(2)).is_ok(),
            "after done it may run again"
        );
    }
}
