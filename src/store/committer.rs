//! Group commit, for any backend: one thread applies every write of the
//! delivery pipeline ([`WriteOp`]) and makes each cycle of them durable at
//! once, answering every writer of the cycle through its ticket.
//!
//! Why: a durable write costs an fsync (110–250 µs here) or a database
//! commit; one per request would cap ingest near 7k/s. Writers hand their
//! op to this thread; it takes the first op, greedily drains whatever else
//! is queued (up to [`MAX_OPS_PER_CYCLE`]), applies each op to the open
//! cycle, writes the cycle, and hands it to a second thread which makes
//! every cycle written meanwhile durable with one call and then answers
//! their tickets. While that thread syncs, this one applies the next
//! cycle. Under load cycles grow by themselves; when idle a lone request
//! pays one sync and no added delay.
//!
//! Writes submitted *behind* ([`Committer::submit_behind`]: the delivery
//! engine's attempt records, which acknowledge nothing) are the exception:
//! they are applied in cycles of their own, after the synced ops drained
//! with them and cut short as soon as a synced op is queued, answer once
//! applied, and are synced by the next synced cycle's sync or
//! [`SYNC_BEHIND`] after the oldest of them, whichever comes first.
//! Measured (issue 20, `bench fanout` at 100 events/s): an event's cycle
//! had spent 7 ms (p50) applying the attempts drained with it, and waited
//! for their cycles' syncs; the syncs themselves were ~0.5 ms.
//!
//! Guarantees (tested in this module with a backend that fails on demand,
//! and by the conformance suite on each real backend):
//! - a ticket answers `Ok` only after its op is durable (one submitted
//!   behind: after it is applied; durable within [`SYNC_BEHIND`]);
//! - an op is applied all or nothing (the backend's contract);
//! - a failed cycle write or a failed sync answers every op of the cycles
//!   concerned with an error;
//! - a panicking op fails only its own ticket: the backend discards what
//!   it had written of it, and the thread goes on.
//!
//! Being the only writer of the pipeline's tables, this thread also lets a
//! backend enforce uniqueness (event ids, idempotency keys) and read-
//! modify-write counters (health, statistics) without races.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::ops::{OpOutput, Reply, Ticket, WriteOp};
use super::{Result, StoreError, StoreStats};
use crate::clock::Clock;

/// Most ops folded into one cycle: bounds the latency one op can add to
/// others and the memory held between syncs.
pub const MAX_OPS_PER_CYCLE: usize = 512;

/// The longest a write submitted with [`Committer::submit_behind`] stays
/// applied but not durable: the sync thread makes it durable with the
/// next synced write's sync, or on its own once this much time has passed
/// since the oldest such write.
///
/// Why 50 ms: such writes (a worker's attempt records) must not keep the
/// single sync pipeline busy in front of the writes whose callers wait
/// for the disk (an event's 202), yet a crash should repeat little: at
/// most this window's attempts are sent again.
pub const SYNC_BEHIND: Duration = Duration::from_millis(50);

/// How often the backend may write what it keeps in memory (its
/// write-behind rows): every tick of the injected clock, in the next cycle
/// if ops are waiting, else at once ([`CommitBackend::tick`]).
pub const TICK: Duration = Duration::from_secs(1);

/// What a storage engine provides for group commit.
///
/// The committer calls, on its own thread: [`CommitBackend::begin`], then
/// [`CommitBackend::apply`] for each op (with
/// [`CommitBackend::discard_op`] after one that panicked), then
/// [`CommitBackend::write`]; then, on the sync thread,
/// [`CommitSync::sync`] once for every cycle written meanwhile.
pub trait CommitBackend: Send + 'static {
    /// The part that makes written cycles durable, used from the sync
    /// thread.
    type Sync: CommitSync;

    /// A handle for the sync thread.
    fn sync_handle(&self) -> Self::Sync;

    /// Opens a cycle.
    fn begin(&mut self) -> Result<()>;

    /// Applies one op to the open cycle, atomically: on `Err` none of its
    /// writes remain in the cycle. Reads inside see the writes of the ops
    /// applied before it in the cycle.
    fn apply(&mut self, op: &WriteOp) -> Result<OpOutput>;

    /// Discards what an op that panicked had written into the cycle.
    fn discard_op(&mut self);

    /// Writes the cycle (not yet durable). `Err` fails every op of it.
    /// `tick`: a [`TICK`] passed since the last tick, so state kept in
    /// memory is due to be written with this cycle.
    fn write(&mut self, tick: bool) -> Result<()>;

    /// A [`TICK`] passed and no op is waiting: a chance to write state kept
    /// in memory. Returns whether anything was written (then it is synced).
    fn tick(&mut self) -> Result<bool> {
        Ok(false)
    }

    /// Called once when the committer stops, after the last cycle was
    /// synced: write and sync what is still only in memory.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }

    /// After a successful [`CommitBackend::write`]: completes the output
    /// of the cycle's op number `index` (0-based, in apply order), for a
    /// backend that finished part of an op's work in the write.
    fn complete(&mut self, _index: usize, _output: &mut OpOutput) {}

    /// The cycle is over (written, or failed): let go of what it held.
    fn end(&mut self) {}
}

/// Makes written cycles durable.
pub trait CommitSync: Send + 'static {
    /// Makes everything written before this call durable.
    fn sync(&self) -> Result<()>;
}

/// Group-commit counters.
#[derive(Debug, Default)]
struct Counters {
    syncs: AtomicU64,
    ops: AtomicU64,
    sync_micros: AtomicU64,
    apply_micros: AtomicU64,
}

/// An op on its way to the committer.
struct Submitted {
    op: WriteOp,
    reply: Reply,
    /// Answered once applied; made durable within [`SYNC_BEHIND`].
    behind: bool,
}

/// The writers' handle.
///
/// NB: field order matters: `tx` drops before `_thread`, so when the last
/// handle goes the channel closes, then the thread is joined — it has
/// answered everything and closed the backend when `drop` returns.
#[derive(Clone)]
pub struct Committer {
    tx: Sender<Submitted>,
    counters: Arc<Counters>,
    /// Synced writes queued and not yet taken by the committer thread.
    waiting: Arc<AtomicUsize>,
    _thread: Arc<JoinOnDrop>,
}

/// The committer thread's name.
pub const THREAD_NAME: &str = "herald-commit";
/// The thread that makes cycles durable and answers their tickets.
pub const SYNC_THREAD_NAME: &str = "herald-fsync";

/// Joins the committer thread when the last handle is dropped.
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            // The last handle may be dropped by the committer's own
            // threads (a backend holding a store handle); they cannot wait
            // for themselves.
            let here = std::thread::current();
            if !matches!(here.name(), Some(THREAD_NAME | SYNC_THREAD_NAME)) {
                let _ = h.join();
            }
        }
    }
}

impl Committer {
    /// Starts the committer thread over `backend`. It stops when every
    /// handle is dropped, after answering everything queued.
    ///
    /// Ticks ([`TICK`]) follow `clock`, so a test drives them with a manual
    /// clock.
    pub fn start<B: CommitBackend>(backend: B, clock: Arc<dyn Clock>) -> std::io::Result<Self> {
        Self::start_with(backend, clock, SYNC_BEHIND)
    }

    /// [`Committer::start`] with another bound than [`SYNC_BEHIND`] for the
    /// writes submitted with [`Committer::submit_behind`] (tests).
    pub fn start_with<B: CommitBackend>(
        backend: B,
        clock: Arc<dyn Clock>,
        sync_behind: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let waiting = Arc::new(AtomicUsize::new(0));
        let w = waiting.clone();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || run(backend, rx, c, clock, sync_behind, w))?;
        Ok(Self {
            tx,
            counters,
            waiting,
            _thread: Arc::new(JoinOnDrop(Some(thread))),
        })
    }

    /// Queues `op`; its ticket answers once it is durable or failed. If the
    /// committer has stopped, the ticket answers an error: nothing was
    /// written.
    pub fn submit<T>(&self, op: WriteOp, extract: fn(OpOutput) -> Option<T>) -> Ticket<T> {
        self.send(op, extract, false)
    }

    /// Queues `op` as a write that may be lost in a crash: its ticket
    /// answers once it is applied (every later read sees it), before it is
    /// durable; it becomes durable with the next sync, at the latest
    /// [`SYNC_BEHIND`] later. A sync that fails then is logged and
    /// reported by the backend ([`CommitSync::sync`]), not to this ticket.
    ///
    /// Only for writes whose loss a crash may cost without losing anything
    /// acknowledged: a worker's attempt record, whose delivery stays due
    /// in what is durable, so it is sent again (at least once). Such ops
    /// are applied in a cycle of their own, after the other ops drained
    /// with them, so a synced write never waits behind them.
    pub fn submit_behind<T>(&self, op: WriteOp, extract: fn(OpOutput) -> Option<T>) -> Ticket<T> {
        self.send(op, extract, true)
    }

    fn send<T>(&self, op: WriteOp, extract: fn(OpOutput) -> Option<T>, behind: bool) -> Ticket<T> {
        let (ticket, reply) = Ticket::new(extract);
        if !behind {
            self.waiting.fetch_add(1, Ordering::AcqRel);
        }
        if self.tx.send(Submitted { op, reply, behind }).is_err() {
            if !behind {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
            }
            log::error!("write dropped: the committer has stopped");
        }
        ticket
    }

    /// The group-commit figures so far.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            syncs: c.syncs.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            sync_micros: c.sync_micros.load(Ordering::Relaxed),
            apply_micros: c.apply_micros.load(Ordering::Relaxed),
        }
    }
}

/// Whether the caller runs on the committer's threads, which must never
/// wait for a cycle.
pub fn on_committer_thread() -> bool {
    let here = std::thread::current();
    matches!(here.name(), Some(THREAD_NAME | SYNC_THREAD_NAME))
}

/// A cycle's ops, written, waiting for the sync.
struct Written {
    failed: Option<StoreError>,
    answers: Vec<(Reply, Result<OpOutput>)>,
    /// A cycle of writes already answered ([`Committer::submit_behind`]),
    /// written at this instant: to be synced within the bound.
    behind: Option<Instant>,
}

fn run<B: CommitBackend>(
    mut backend: B,
    rx: Receiver<Submitted>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    sync_behind: Duration,
    waiting: Arc<AtomicUsize>,
) {
    let (sync_tx, sync_rx) = crossbeam_channel::unbounded::<Written>();
    let syncer = {
        let (sync, counters) = (backend.sync_handle(), counters.clone());
        std::thread::Builder::new()
            .name(SYNC_THREAD_NAME.into())
            .spawn(move || sync_loop(sync, sync_rx, counters, sync_behind))
    };
    let syncer = match syncer {
        Ok(t) => t,
        Err(e) => {
            log::error!("cannot start the store's sync thread: {e}");
            return;
        }
    };
    let idle_sync = backend.sync_handle();
    let tick_ms = TICK.as_millis() as i64;
    let mut alarm = clock.alarm(clock.now().plus_millis(tick_ms));
    // A tick came while ops were waiting: the next cycle carries it.
    let mut tick_due = false;
    // The ops taken from the channel, by kind, each in its order. Each
    // round runs one cycle of synced ops, then one of ops answered on
    // apply (so neither kind starves the other).
    let mut synced_q: VecDeque<Submitted> = VecDeque::new();
    let mut behind_q: VecDeque<Submitted> = VecDeque::new();
    loop {
        let mut taken = Vec::new();
        if synced_q.is_empty() && behind_q.is_empty() {
            let first = crossbeam_channel::select! {
                recv(rx) -> msg => match msg {
                    Ok(s) => s,
                    Err(_) => break,
                },
                recv(alarm) -> _ => {
                    alarm = clock.alarm(clock.now().plus_millis(tick_ms));
                    if !rx.is_empty() {
                        tick_due = true;
                        continue;
                    }
                    match backend.tick() {
                        Ok(true) => {
                            if let Err(e) = idle_sync.sync() {
                                log::error!("syncing the store while idle failed: {e}");
                            }
                        }
                        Ok(false) => {}
                        Err(e) => log::error!("writing the store's in-memory rows failed: {e}"),
                    }
                    continue;
                },
            };
            taken.push(first);
        }
        // All that is queued (it is in memory already): a synced op queued
        // behind many attempts goes in this round's synced cycle.
        taken.extend(rx.try_iter());
        let mut synced_taken = 0;
        for s in taken {
            if s.behind {
                behind_q.push_back(s);
            } else {
                synced_taken += 1;
                synced_q.push_back(s);
            }
        }
        waiting.fetch_sub(synced_taken, Ordering::AcqRel);
        for behind in [false, true] {
            let q = if behind { &mut behind_q } else { &mut synced_q };
            if q.is_empty() {
                continue;
            }
            // Cut short for a synced op that comes meanwhile, unless ops
            // answered on apply pile up (over capacity: then throughput
            // comes first, and every cycle is full).
            let cut = (behind && q.len() <= MAX_OPS_PER_CYCLE).then_some(waiting.as_ref());
            let n = q.len().min(MAX_OPS_PER_CYCLE);
            let ops: Vec<Submitted> = q.drain(..n).collect();
            let started = Instant::now();
            let tick = std::mem::take(&mut tick_due);
            let mut rest = Vec::new();
            let mut written = cycle(&mut backend, ops, tick, cut, &mut rest);
            for s in rest.into_iter().rev() {
                behind_q.push_front(s);
            }
            counters
                .apply_micros
                .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            if behind {
                // Applied: every later read sees these writes, so their
                // writers may go on now; the sync follows within the bound.
                let failed = written.failed.is_some();
                answer(&counters, written, &Ok(()));
                if failed {
                    continue;
                }
                written = Written {
                    failed: None,
                    answers: Vec::new(),
                    behind: Some(Instant::now()),
                };
            }
            if sync_tx.send(written).is_err() {
                log::error!("the store's sync thread has stopped");
            }
        }
    }
    // Every handle is gone: answer what was written, then let the backend
    // write what is still only in memory.
    drop(sync_tx);
    let _ = syncer.join();
    if let Err(e) = backend.close() {
        log::error!("closing the store's committer failed: {e}");
    }
}

/// Applies one cycle of ops and writes it.
///
/// With `cut`, the cycle ends early once that counter says a synced write
/// is waiting (after at least one op, so every cycle makes progress); the
/// ops not applied are handed back in `rest`, in their order.
fn cycle<B: CommitBackend>(
    backend: &mut B,
    batch: Vec<Submitted>,
    tick: bool,
    cut: Option<&AtomicUsize>,
    rest: &mut Vec<Submitted>,
) -> Written {
    let mut answers = Vec::with_capacity(batch.len());
    if let Err(e) = backend.begin() {
        backend.end();
        for s in batch {
            answers.push((s.reply, Err(write_failed(&e))));
        }
        let _ = (cut, rest);
        return Written {
            failed: Some(e),
            answers,
            behind: None,
        };
    }
    let mut ops = batch.into_iter();
    while let Some(Submitted { op, reply, .. }) = ops.next() {
        // NB: a panic inside one op must not take the others (or the
        // thread) down: the backend drops that op's partial writes.
        let out = match catch_unwind(AssertUnwindSafe(|| backend.apply(&op))) {
            Ok(r) => r,
            Err(_) => {
                log::error!(
                    "a {} write panicked while being applied; not committed",
                    op.name()
                );
                backend.discard_op();
                Err(StoreError::Io(format!(
                    "the {} write failed unexpectedly; nothing of it was written",
                    op.name()
                )))
            }
        };
        answers.push((reply, out));
        if cut.is_some_and(|c| c.load(Ordering::Acquire) > 0) {
            rest.extend(ops);
            break;
        }
    }
    let failed = match catch_unwind(AssertUnwindSafe(|| backend.write(tick))) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(StoreError::Io("writing the cycle panicked".into())),
    };
    if failed.is_none() {
        for (i, (_, out)) in answers.iter_mut().enumerate() {
            if let Ok(out) = out {
                backend.complete(i, out);
            }
        }
    }
    backend.end();
    Written {
        failed,
        answers,
        behind: None,
    }
}

/// What an op of a failed cycle answers: the store's own word when it
/// cannot write (callers tell that apart), else an I/O error saying so.
fn write_failed(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(_) => e.clone(),
        other => StoreError::Io(format!("write failed: {other}")),
    }
}

/// The sync thread: makes durable, then answers every cycle written before
/// the sync began.
///
/// Why a second thread: a sync takes about as long as applying a cycle,
/// and the two need not wait for each other. A cycle is sent here only
/// once written, so every cycle received before the call is covered by it.
///
/// Cycles of writes already answered ([`Committer::submit_behind`]) start
/// no sync of their own while younger than `behind`: the next synced
/// cycle's sync covers them, or one made when the oldest of them reaches
/// that age.
fn sync_loop<S: CommitSync>(
    sync: S,
    rx: Receiver<Written>,
    counters: Arc<Counters>,
    behind: Duration,
) {
    // The oldest cycle written and answered but not yet synced.
    let mut unsynced: Option<Instant> = None;
    loop {
        let first = match unsynced {
            None => rx.recv().ok(),
            Some(since) => match rx.recv_deadline(since + behind) {
                Ok(c) => Some(c),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    // The committer stops: its `close` syncs after us.
                    break;
                }
            },
        };
        let mut cycles = Vec::new();
        match first {
            Some(c) => cycles.push(c),
            None if unsynced.is_none() => break,
            None => {}
        }
        while let Ok(c) = rx.try_recv() {
            cycles.push(c);
        }
        // Answered cycles wait for a synced one, or for their bound.
        let mut waiting = Vec::with_capacity(cycles.len());
        for c in cycles {
            match c.behind {
                Some(at) => {
                    unsynced = Some(unsynced.map_or(at, |u| u.min(at)));
                }
                None => waiting.push(c),
            }
        }
        let due = unsynced.is_some_and(|u| u.elapsed() >= behind);
        if waiting.is_empty() && !due {
            continue;
        }
        unsynced = None;
        let started = Instant::now();
        let synced = catch_unwind(AssertUnwindSafe(|| sync.sync()))
            .unwrap_or_else(|_| Err(StoreError::Io("the sync panicked".into())));
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        counters
            .sync_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if waiting.is_empty() {
            if let Err(e) = &synced {
                // Its writers were answered already: what the crash of a
                // failed disk loses of them is sent again (see
                // `Committer::submit_behind`); the backend has noted the
                // failure for the store's recovery.
                log::error!("syncing attempt records failed: {e}");
            }
        }
        for c in waiting {
            answer(&counters, c, &synced);
        }
    }
    if unsynced.is_some() {
        if let Err(e) = sync.sync() {
            log::error!("syncing attempt records at shutdown failed: {e}");
        }
    }
}

/// Answers a cycle's writers: its own failure, else the sync's.
fn answer(counters: &Counters, written: Written, synced: &Result<()>) {
    let Written {
        failed, answers, ..
    } = written;
    counters
        .ops
        .fetch_add(answers.len() as u64, Ordering::Relaxed);
    for (reply, out) in answers {
        let answer = match (&failed, synced) {
            (Some(e), _) => Err(write_failed(e)),
            (None, Err(e @ StoreError::Unavailable(_))) => Err(e.clone()),
            (None, Err(e)) => Err(StoreError::Io(format!("flush failed: {e}"))),
            (None, Ok(())) => out,
        };
        // A writer that stopped waiting is no error of ours.
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    //! The committer's failure paths, over a backend that fails on demand
    //! (the real backends' behaviour is the conformance suite's business).

    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    use super::*;
    use crate::clock::{ManualClock, SystemClock};
    use crate::domain::time::Timestamp;
    use crate::store::ops::output;

    /// A map of committed values; each `RemoveRows` op with `n` rows
    /// "writes" key `n` (a stand-in for an op's writes). Fails where told.
    #[derive(Clone, Default)]
    struct Faulty {
        durable: Arc<Mutex<BTreeMap<usize, u32>>>,
        written: Arc<Mutex<BTreeMap<usize, u32>>>,
        open: Arc<Mutex<Vec<usize>>>,
        fail_write: Arc<AtomicBool>,
        fail_sync: Arc<AtomicBool>,
        ticks: Arc<AtomicU64>,
    }

    impl CommitSync for Faulty {
        fn sync(&self) -> Result<()> {
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(StoreError::Io("disk full".into()));
            }
            let w = self.written.lock().unwrap().clone();
            *self.durable.lock().unwrap() = w;
            Ok(())
        }
    }

    impl CommitBackend for Faulty {
        type Sync = Faulty;
        fn sync_handle(&self) -> Faulty {
            self.clone()
        }
        fn begin(&mut self) -> Result<()> {
            self.open.lock().unwrap().clear();
            Ok(())
        }
        fn apply(&mut self, op: &WriteOp) -> Result<OpOutput> {
            let WriteOp::RemoveRows { rows, .. } = op else {
                return Ok(OpOutput::Done);
            };
            let n = rows.len();
            self.open.lock().unwrap().push(n);
            if n == 13 {
                panic!("unlucky op");
            }
            Ok(OpOutput::Removed(n))
        }
        fn discard_op(&mut self) {
            self.open.lock().unwrap().pop();
        }
        fn tick(&mut self) -> Result<bool> {
            self.ticks.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        }
        fn write(&mut self, tick: bool) -> Result<()> {
            if tick {
                self.ticks.fetch_add(1, Ordering::SeqCst);
            }
            if self.fail_write.load(Ordering::SeqCst) {
                return Err(StoreError::Io("apply failed".into()));
            }
            let open = std::mem::take(&mut *self.open.lock().unwrap());
            let mut w = self.written.lock().unwrap();
            for n in open {
                *w.entry(n).or_default() += 1;
            }
            Ok(())
        }
    }

    fn op(n: usize) -> WriteOp {
        WriteOp::RemoveRows {
            rows: vec![crate::store::RowKey::AlertHistory { at_ms: 0, seq: 0 }; n],
            idempotency_before: crate::domain::time::Timestamp::from_millis(0),
        }
    }

    #[test]
    fn an_answer_comes_only_after_the_sync() {
        let b = Faulty::default();
        let c = Committer::start(b.clone(), Arc::new(SystemClock)).unwrap();
        assert_eq!(c.submit(op(2), output::removed).wait().unwrap(), 2);
        assert_eq!(b.durable.lock().unwrap().get(&2), Some(&1));
        let s = c.stats();
        assert!(s.syncs >= 1 && s.ops == 1, "{s:?}");
    }

    #[test]
    fn a_failed_write_or_sync_answers_errors_and_nothing_succeeds() {
        let b = Faulty::default();
        let c = Committer::start(b.clone(), Arc::new(SystemClock)).unwrap();
        b.fail_write.store(true, Ordering::SeqCst);
        let tickets: Vec<_> = (1..5).map(|n| c.submit(op(n), output::removed)).collect();
        for t in tickets {
            assert!(t.wait().is_err());
        }
        assert!(b.durable.lock().unwrap().is_empty());
        b.fail_write.store(false, Ordering::SeqCst);
        b.fail_sync.store(true, Ordering::SeqCst);
        assert!(c.submit(op(5), output::removed).wait().is_err());
        assert!(b.durable.lock().unwrap().is_empty(), "nothing durable");
        // Once the disk works again, the committer is still there.
        b.fail_sync.store(false, Ordering::SeqCst);
        assert_eq!(c.submit(op(6), output::removed).wait().unwrap(), 6);
    }

    #[test]
    fn a_panicking_op_fails_only_its_own_caller() {
        let b = Faulty::default();
        let c = Committer::start(b.clone(), Arc::new(SystemClock)).unwrap();
        // Queued together, so they share a cycle.
        let tickets: Vec<_> = [11, 13, 12]
            .into_iter()
            .map(|n| c.submit(op(n), output::removed))
            .collect();
        let answers: Vec<_> = tickets.into_iter().map(|t| t.wait().ok()).collect();
        assert_eq!(answers, [Some(11), None, Some(12)]);
        let durable = b.durable.lock().unwrap().clone();
        assert!(durable.contains_key(&11) && durable.contains_key(&12));
        assert!(!durable.contains_key(&13), "the panicked op left nothing");
        // And the thread lives on.
        assert_eq!(c.submit(op(1), output::removed).wait().unwrap(), 1);
    }

    /// The backend's in-memory state is written on the injected clock's
    /// ticks, not on real time.
    #[test]
    fn ticks_follow_the_injected_clock() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let b = Faulty::default();
        let c = Committer::start(b.clone(), clock.clone()).unwrap();
        assert_eq!(c.submit(op(1), output::removed).wait().unwrap(), 1);
        let armed = |clock: &ManualClock| !clock.alarms().is_empty();
        wait_for(|| armed(&clock));
        assert_eq!(
            b.ticks.load(Ordering::SeqCst),
            0,
            "no tick before the clock moves"
        );
        for n in 1..=3 {
            clock.advance_ms(TICK.as_millis() as i64);
            wait_for(|| b.ticks.load(Ordering::SeqCst) == n);
            wait_for(|| armed(&clock));
        }
        assert_eq!(c.submit(op(2), output::removed).wait().unwrap(), 2);
        assert_eq!(b.ticks.load(Ordering::SeqCst), 3);
    }

    /// Waits (bounded) for the committer thread to react.
    fn wait_for(cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "the committer did not react");
            std::thread::yield_now();
        }
    }

    /// A write answered on apply is readable but not yet durable when its
    /// ticket answers; the next synced write's sync covers it.
    #[test]
    fn a_write_behind_answers_on_apply_and_the_next_sync_covers_it() {
        // No tick (manual clock) and a bound never reached: only a synced
        // write can make it durable.
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let b = Faulty::default();
        let c = Committer::start_with(b.clone(), clock, Duration::from_secs(3600)).unwrap();
        assert_eq!(c.submit_behind(op(3), output::removed).wait().unwrap(), 3);
        assert_eq!(b.written.lock().unwrap().get(&3), Some(&1), "applied");
        assert_eq!(b.durable.lock().unwrap().get(&3), None, "not synced yet");
        assert_eq!(c.submit(op(4), output::removed).wait().unwrap(), 4);
        let durable = b.durable.lock().unwrap().clone();
        assert_eq!(durable.get(&3), Some(&1), "covered by the event's sync");
        assert_eq!(durable.get(&4), Some(&1));
    }

    /// With nothing else written, a write behind is synced on its own once
    /// the bound has passed.
    #[test]
    fn a_write_behind_is_synced_within_its_bound() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let b = Faulty::default();
        let c = Committer::start_with(b.clone(), clock, Duration::from_millis(5)).unwrap();
        assert_eq!(c.submit_behind(op(7), output::removed).wait().unwrap(), 7);
        wait_for(|| b.durable.lock().unwrap().get(&7) == Some(&1));
        assert!(c.stats().syncs >= 1);
    }

    /// A failed write behind answers its error (nothing was applied), and a
    /// failed sync of writes already answered is only logged: the
    /// committer goes on.
    #[test]
    fn a_failed_write_behind_answers_an_error() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_000_000)));
        let b = Faulty::default();
        let c = Committer::start_with(b.clone(), clock, Duration::from_millis(1)).unwrap();
        b.fail_write.store(true, Ordering::SeqCst);
        assert!(c.submit_behind(op(2), output::removed).wait().is_err());
        b.fail_write.store(false, Ordering::SeqCst);
        b.fail_sync.store(true, Ordering::SeqCst);
        assert_eq!(c.submit_behind(op(5), output::removed).wait().unwrap(), 5);
        assert!(
            c.submit(op(6), output::removed).wait().is_err(),
            "its sync failed"
        );
        b.fail_sync.store(false, Ordering::SeqCst);
        assert_eq!(c.submit(op(8), output::removed).wait().unwrap(), 8);
        let durable = b.durable.lock().unwrap().clone();
        assert!(durable.contains_key(&5) && durable.contains_key(&8));
        assert!(!durable.contains_key(&2));
    }

    #[test]
    fn a_stopped_committer_answers_an_error_not_success() {
        let (ticket, reply) = Ticket::<usize>::new(output::removed);
        drop(reply);
        assert!(ticket.wait().is_err());
    }
}
