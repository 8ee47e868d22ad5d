//! Workers: take a due delivery, make one signed attempt, record it.
//!
//! A job is only a hint; the worker re-reads the delivery and attempts it
//! only if it is still pending, not held, and due. The attempt, the new
//! delivery state and its next due time are written as one group-committed
//! batch; the dispatcher slot is freed only once that is applied (an
//! attempt) or durable (a state change), so a second job for the same
//! delivery always reads the new state. An attempt's record is not waited
//! for on the disk (`DeliveryStore::record_attempt_behind`): until it is durable
//! the delivery stays due in what is, so a crash repeats it, never loses it.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::client::{DeliveryClient, Response};
use super::dispatcher::Dispatcher;
use super::recorder::{disable_endpoint, AttemptSummary, Recording};
use super::scheduler::Scheduler;
use crate::clock::Clock;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::ids::AttemptId;
use crate::domain::outcome::{self, Answer, Outcome};
use crate::domain::sendrate::Pace;
use crate::domain::time::Timestamp;
use crate::store::{Acquired, Due, SendLimits, Store, StoreError};
use crate::wire::headers;

/// How long a job whose processing panicked waits before it runs again.
const PANIC_BACKOFF_MS: i64 = 30_000;
/// How long a job waits when its endpoint has its cap of requests in
/// flight on the other nodes.
const BUSY_BACKOFF_MS: i64 = 50;
/// A job waiting behind an older delivery of its ordered endpoint is
/// looked at again after this long even if nothing of that endpoint was
/// done here meanwhile (its head may have ended another way).
const BEHIND_RECHECK_MS: i64 = 30_000;
/// The same on a store shared by several nodes, where the head may be
/// attempted by another node (whose dispatcher this one never hears).
const BEHIND_RECHECK_CLUSTER_MS: i64 = 1_000;

/// What every worker shares.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: DeliveryClient,
    pub schedule: Vec<Duration>,
    /// Where 410 Gone disables are reported.
    pub events: Option<crossbeam_channel::Sender<super::EngineEvent>>,
    pub dispatcher: Dispatcher,
    pub scheduler: Scheduler,
    /// Set at shutdown: a worker then takes no further job. Jobs still in
    /// the channel are dropped; they are hints, their deliveries stay in
    /// the due index for the next start.
    pub stopping: Arc<AtomicBool>,
    /// Where durable-to-be writes go to be followed up.
    pub recorder: crossbeam_channel::Sender<Recording>,
    /// On a store shared by several nodes: how long a send lease lasts
    /// (longer than a request may take), and the per-endpoint cap counted
    /// across nodes.
    pub lease_ms: i64,
    pub per_endpoint: usize,
    /// The rate limits' send slots (one process; a shared store keeps
    /// them itself).
    pub pacer: Arc<super::pacer::Pacer>,
}

impl Ctx {
    /// Hands a write to the recorder; if it has stopped (shutdown), frees
    /// the slot here: the delivery is still in the due index.
    fn record(&self, r: Recording) {
        if let Err(crossbeam_channel::SendError(r)) = self.recorder.send(r) {
            let job = match r {
                Recording::StateChange { job, .. } | Recording::Attempt { job, .. } => job,
            };
            self.dispatcher.done(job);
        }
    }
}

/// Starts `n` worker threads taking jobs from `jobs`. Each ends once
/// `ctx.stopping` is set (after its current job) or `jobs` is closed.
pub fn spawn_pool(ctx: Arc<Ctx>, jobs: Receiver<Due>, n: usize) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let ctx = ctx.clone();
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("herald-worker-{i}"))
                .spawn(move || {
                    let _alive = Alive::new(&ctx.dispatcher.stats.workers_alive);
                    for job in jobs.iter() {
                        if ctx.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        guarded(&ctx, job, || process(&ctx, job));
                    }
                })
                .expect("spawning a worker thread")
        })
        .collect()
}

/// Counts a running worker for readiness; the count drops when the thread
/// ends, however it ends.
struct Alive<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Alive<'a> {
    fn new(n: &'a std::sync::atomic::AtomicUsize) -> Self {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(n)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs one job's processing. NB: a panic must not kill the worker nor
/// lose the job: the delivery is still in the due index, so it is put back
/// in the wheel for a later try (as is one that failed on a store error).
fn guarded(ctx: &Ctx, job: Due, work: impl FnOnce() -> Result<(), StoreError>) {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            log::error!("delivery {}: {e}", job.delivery);
            retry_later(ctx, job);
        }
        Err(_) => {
            log::error!("delivery {}: worker panicked; will retry", job.delivery);
            retry_later(ctx, job);
        }
    }
}

fn retry_later(ctx: &Ctx, job: Due) {
    let at = ctx.clock.now().plus_millis(PANIC_BACKOFF_MS);
    ctx.scheduler.schedule(Due { due: at, ..job });
    ctx.dispatcher.done(job);
}

/// Writes `after` (a state change without an attempt); the recorder frees
/// the dispatcher slot once it is durable and, if a next attempt is due,
/// tells the scheduler.
///
/// Written only if the stored delivery is still as `read` (guarded): a
/// stream poll or an operator action that moved it since the read wins,
/// and this stale change is dropped.
fn commit(ctx: &Ctx, job: Due, after: Delivery, read: &Delivery) {
    let next = next_due(&after);
    let ticket = ctx.store.update_delivery_if(&after, read);
    ctx.record(Recording::StateChange { job, ticket, next });
}

/// One job: re-read the delivery, then skip it, change its state without
/// an attempt, or attempt it. The slot is freed on every path (by `done`,
/// `commit` or `record`), or by `guarded` on an error.
fn process(ctx: &Ctx, job: Due) -> Result<(), StoreError> {
    if ctx.store.write_failure().is_some() {
        // Its outcome could not be recorded, so a send now would only be
        // repeated later: the job goes, and the reload that follows the
        // store's recovery brings it back from the due index.
        ctx.dispatcher.done(job);
        return Ok(());
    }
    let now = ctx.clock.now();
    let cluster = ctx.store.cluster();
    let read = match cluster {
        None => ctx.store.delivery(job.delivery)?,
        // Shared by several nodes: the send lease, committed before the
        // request goes out, is what keeps two nodes from sending it at once.
        Some(c) => {
            let until = now.plus_millis(ctx.lease_ms);
            // The endpoint's limits are decided in the store, under its
            // lock, for every node together.
            // A stream endpoint's deliveries are only parked for its
            // client here: its limits do not apply.
            let ep = ctx.store.endpoint(job.endpoint)?.filter(|e| !e.is_stream());
            let limits = SendLimits {
                cap: ctx.per_endpoint,
                ordered: ep.as_ref().is_some_and(|e| e.ordered),
                rate_limit: ep.as_ref().and_then(|e| e.rate_limit),
            };
            match c.acquire_limited(job.delivery, job.endpoint, now, until, limits)? {
                Acquired::Mine(d) => Some(*d),
                Acquired::Skip => None,
                Acquired::Busy if limits.ordered => {
                    wait_behind(ctx, job, now);
                    return Ok(());
                }
                Acquired::Busy => {
                    let later = now.plus_millis(BUSY_BACKOFF_MS);
                    ctx.scheduler.schedule(Due { due: later, ..job });
                    None
                }
                Acquired::Behind => {
                    wait_behind(ctx, job, now);
                    return Ok(());
                }
                Acquired::Throttled(at) => {
                    wait_throttled(ctx, job, at);
                    return Ok(());
                }
            }
        }
    };
    let Some(d) = read else {
        ctx.dispatcher.done(job);
        return Ok(());
    };
    match next_step(ctx, &d, now)? {
        Step::Skip => {
            if let Some(c) = cluster {
                c.release(d.id)?;
            }
            ctx.dispatcher.done(job)
        }
        Step::Change(after) => commit(ctx, job, after, &d),
        Step::Behind => wait_behind(ctx, job, now),
        Step::Throttled(at) => wait_throttled(ctx, job, at),
        Step::Send(send) => attempt(ctx, job, &d, &send.0, &send.1, now)?,
    }
    Ok(())
}

/// A job of an ordered endpoint whose head has not ended waits aside in
/// the dispatcher, with a fallback timer.
fn wait_behind(ctx: &Ctx, job: Due, now: Timestamp) {
    let recheck = if ctx.store.cluster().is_some() {
        BEHIND_RECHECK_CLUSTER_MS
    } else {
        BEHIND_RECHECK_MS
    };
    ctx.scheduler.schedule(Due {
        due: now.plus_millis(recheck),
        ..job
    });
    ctx.dispatcher.behind(job);
}

/// A job its endpoint's rate limit holds back comes back at the slot `at`
/// (no attempt: waiting is not failing); its endpoint is parked till then.
fn wait_throttled(ctx: &Ctx, job: Due, at: Timestamp) {
    ctx.scheduler.schedule(Due { due: at, ..job });
    ctx.dispatcher.throttled(job);
}

/// What a fresh read of a job's delivery says to do.
enum Step {
    /// Nothing: it ended, is held or is not due (the job was a stale hint).
    Skip,
    /// A state change without an attempt.
    Change(Delivery),
    /// Not yet: its ordered endpoint's oldest delivery not ended is
    /// another one.
    Behind,
    /// Not yet: its endpoint's rate limit allows the next send at this
    /// moment.
    Throttled(Timestamp),
    /// Attempt it: to this endpoint, with this event (boxed: an endpoint
    /// with its header and metadata maps is large beside the other steps).
    Send(Box<(Endpoint, Event)>),
}

fn next_step(ctx: &Ctx, d: &Delivery, now: Timestamp) -> Result<Step, StoreError> {
    if !d.attemptable(now) {
        return Ok(Step::Skip);
    }
    let Some(ep) = ctx.store.endpoint(d.endpoint_id)? else {
        return Ok(Step::Change(d.given_up("endpoint deleted", now)));
    };
    let suspended = ctx.store.tenant(&d.tenant_id)?.is_some_and(|t| t.suspended);
    if !ep.active || suspended {
        // Held until the endpoint is enabled or the tenant resumed; those
        // operations put it back in the due index.
        return Ok(Step::Change(d.held(now)));
    }
    if ep.is_stream() {
        // No HTTP request goes out from here: it is parked in the held
        // index, out of the due index (so no node's scheduler or claim
        // keeps picking it up), until a stream client takes it
        // (`service::streams`).
        return Ok(Step::Change(d.held(now)));
    }
    let Some(event) = ctx.store.event(d.event_key)? else {
        return Err(StoreError::Corrupt {
            kind: "delivery",
            reason: format!("its event {} is missing", d.event_id),
        });
    };
    // One process: the limits are decided here (a shared store decided
    // them in `acquire_limited`). The rate limit last: it spends a slot.
    if ctx.store.cluster().is_none() {
        if ep.ordered {
            let head = ctx.store.first_pending(ep.id)?;
            if head.is_some_and(|h| h.id != d.id) {
                return Ok(Step::Behind);
            }
        }
        if let Some(r) = ep.rate_limit {
            if let Pace::Wait(at) = ctx.pacer.take(ep.id, r, now) {
                return Ok(Step::Throttled(at));
            }
        }
    }
    Ok(Step::Send(Box::new((ep, event))))
}

/// Signs and sends one attempt started at `now`, then hands its outcome
/// to `record` (disabling the endpoint first if the answer says so).
fn attempt(
    ctx: &Ctx,
    job: Due,
    d: &Delivery,
    ep: &Endpoint,
    event: &Event,
    now: Timestamp,
) -> Result<(), StoreError> {
    let headers = signed_headers(ep, event, now)?;
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()))
        .collect();
    let response = ctx.http.send(&ep.url, &refs, &event.body);
    let finished = ctx.clock.now();
    let number = d.attempts + 1;
    let answer = answer_of(&response);
    let outcome = outcome::outcome(&answer, number, &ctx.schedule, finished);
    let after = outcome.apply(d, number, &answer);
    log::debug!(
        "delivery {} attempt {number} → {:?} {}",
        d.id,
        response.status,
        outcome.verdict.as_str()
    );
    if let Some(reason) = outcome.disable {
        disable_endpoint(
            ctx.store.as_ref(),
            ctx.events.as_ref(),
            ep.id,
            reason.to_string(),
            finished,
        );
    }
    let attempt = attempt_of(d, ep, number, now, headers, response, &outcome);
    record(ctx, job, after, attempt);
    Ok(())
}

/// The record of attempt `number` of `d`, started at `now`, that sent
/// `headers`, got `response` and decided `outcome`.
fn attempt_of(
    d: &Delivery,
    ep: &Endpoint,
    number: u32,
    now: Timestamp,
    headers: Vec<(Cow<'static, str>, String)>,
    response: Response,
    outcome: &Outcome,
) -> Attempt {
    let (error_kind, error_message) = match response.error {
        Some(e) => (Some(e.kind.as_str().to_string()), Some(e.message)),
        None => (None, None),
    };
    Attempt {
        id: AttemptId::new(now),
        delivery_id: d.id,
        number,
        started_at: now,
        url: ep.url.clone(),
        request_headers: headers
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v))
            .collect(),
        status: response.status,
        response_headers: response.headers,
        response_body: response.body_excerpt,
        response_truncated: response.truncated,
        latency_ms: response.latency.as_millis().min(u32::MAX as u128) as u32,
        error_kind,
        error_message,
        verdict: outcome.verdict,
        next_attempt_at: outcome.next_attempt_at,
    }
}

/// What the rules need from a response.
fn answer_of(r: &Response) -> Answer<'_> {
    Answer {
        status: r.status,
        error_kind: r.error.as_ref().map(|e| e.kind.as_str()),
        retry_after: r
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .map(|(_, v)| v.as_str()),
        control: r
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(outcome::CONTROL_HEADER))
            .map(|(_, v)| v.as_str()),
    }
}

/// The request headers of an attempt at `now` ([`headers::delivery`]),
/// with every live secret of the endpoint (rotation overlap).
fn signed_headers(
    ep: &Endpoint,
    event: &Event,
    now: Timestamp,
) -> Result<Vec<(Cow<'static, str>, String)>, StoreError> {
    let secrets: Vec<&str> = ep.live_secrets(now).collect();
    headers::delivery(&secrets, event, now.as_secs(), &ep.headers, ep.svix_headers).map_err(|e| {
        StoreError::Corrupt {
            kind: "endpoint secret",
            reason: e.to_string(),
        }
    })
}

/// Records an attempt; once it is applied (readable: see
/// [`crate::store::DeliveryStore::record_attempt_behind`]) the recorder
/// frees the slot, schedules the next attempt, and disables the endpoint if
/// it has now failed for too long. Its record becomes durable within the
/// store's bound; a crash before that sends the delivery again.
fn record(ctx: &Ctx, job: Due, after: Delivery, attempt: Attempt) {
    let next = next_due(&after);
    let summary = AttemptSummary {
        at: attempt.started_at,
        verdict: attempt.verdict,
        state: after.state,
        latency_ms: attempt.latency_ms,
        responded: attempt.status.is_some(),
    };
    let ticket = ctx.store.record_attempt_behind(&after, &attempt);
    ctx.record(Recording::Attempt {
        job,
        ticket,
        next,
        summary,
    });
}

fn next_due(after: &Delivery) -> Option<Due> {
    match (after.state, after.held, after.next_attempt_at) {
        (DeliveryState::Pending, false, Some(at)) => Some(Due {
            due: at,
            delivery: after.id,
            endpoint: after.endpoint_id,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::ids::{DeliveryId, EndpointId};

    #[test]
    fn a_panicking_job_comes_back_through_the_wheel_later() {
        let t0 = Timestamp::from_millis(1_705_314_600_000);
        let clock = Arc::new(ManualClock::new(t0));
        let store: Arc<dyn Store> = crate::store::temporary();
        let dispatcher = Dispatcher::start(4, 1);
        let scheduler = Scheduler::start(store.clone(), clock.clone(), dispatcher.clone());
        let ctx = Ctx {
            store,
            clock: clock.clone(),
            http: DeliveryClient::new(Default::default()).unwrap(),
            schedule: vec![],
            events: None,
            dispatcher: dispatcher.clone(),
            scheduler: scheduler.clone(),
            stopping: Arc::default(),
            recorder: crossbeam_channel::unbounded().0,
            lease_ms: 30_000,
            per_endpoint: 4,
            pacer: Arc::default(),
        };
        let job = Due {
            due: t0,
            delivery: DeliveryId::new(t0),
            endpoint: EndpointId::new(t0),
        };
        // The worker survives the panic (we are still here) ...
        guarded(&ctx, job, || panic!("boom"));
        let work = dispatcher.work_queue();
        scheduler.wake();
        assert!(
            work.recv_timeout(Duration::from_millis(300)).is_err(),
            "not retried at once"
        );
        // ... and the job is dispatched again once its back-off has passed.
        clock.advance_ms(PANIC_BACKOFF_MS);
        scheduler.wake();
        let again = work.recv_timeout(Duration::from_secs(5)).expect("retried");
        assert_eq!(again.delivery, job.delivery);
    }
}
