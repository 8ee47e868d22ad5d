//! Workers: take a due delivery, make one signed attempt, record it.
//!
//! A job is only a hint; the worker re-reads the delivery and attempts it
//! only if it is still pending, not held, and due. The attempt, the new
//! delivery state and its next due time are written as one group-committed
//! batch; the dispatcher slot is freed only once that is durable, so a
//! second job for the same delivery always sees the new state.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::client::{DeliveryClient, Response};
use super::dispatcher::Dispatcher;
use super::recorder::{disable_endpoint, AttemptSummary, Recording};
use super::scheduler::Scheduler;
use crate::clock::Clock;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState, Verdict};
use crate::domain::ids::AttemptId;
use crate::domain::retry;
use crate::domain::time::Timestamp;
use crate::store::{Due, Store, StoreError};
use crate::wire::signing::Signer;

/// How long a job whose processing panicked waits before it runs again.
const PANIC_BACKOFF_MS: i64 = 30_000;

/// What every worker shares.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: DeliveryClient,
    pub schedule: Vec<Duration>,
    /// Where attempts (410 Gone) disable endpoints are reported.
    pub events: Option<crossbeam_channel::Sender<super::EngineEvent>>,
    pub dispatcher: Dispatcher,
    pub scheduler: Scheduler,
    /// Where durable-to-be writes go to be followed up.
    pub recorder: crossbeam_channel::Sender<Recording>,
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

/// Starts `n` worker threads taking jobs from `jobs`.
pub fn spawn_pool(ctx: Arc<Ctx>, jobs: Receiver<Due>, n: usize) {
    for i in 0..n {
        let ctx = ctx.clone();
        let jobs = jobs.clone();
        std::thread::Builder::new()
            .name(format!("herald-worker-{i}"))
            .spawn(move || {
                let _alive = Alive::new(&ctx.dispatcher.stats.workers_alive);
                for job in jobs.iter() {
                    guarded(&ctx, job, || process(&ctx, job));
                }
            })
            .expect("spawning a worker thread");
    }
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

/// Whether a delivery should be attempted now.
fn attemptable(d: &Delivery, now: Timestamp) -> bool {
    d.state == DeliveryState::Pending && !d.held && d.next_attempt_at.is_some_and(|t| t <= now)
}

/// Writes `after` (a state change without an attempt); the recorder frees
/// the dispatcher slot once it is durable and, if a next attempt is due,
/// tells the scheduler.
fn commit(ctx: &Ctx, job: Due, after: Delivery) {
    let next = next_due(&after);
    let ticket = ctx.store.update_delivery(&after, None);
    ctx.record(Recording::StateChange { job, ticket, next });
}

fn process(ctx: &Ctx, job: Due) -> Result<(), StoreError> {
    let now = ctx.clock.now();
    let Some(d) = ctx.store.delivery(job.delivery)? else {
        ctx.dispatcher.done(job);
        return Ok(());
    };
    if !attemptable(&d, now) {
        ctx.dispatcher.done(job);
        return Ok(());
    }
    let Some(ep) = ctx.store.endpoint(d.endpoint_id)? else {
        let after = Delivery {
            state: DeliveryState::Failed,
            next_attempt_at: None,
            last_error: Some("endpoint deleted".into()),
            updated_at: now,
            ..d.clone()
        };
        commit(ctx, job, after);
        return Ok(());
    };
    let suspended = ctx.store.tenant(&d.tenant_id)?.is_some_and(|t| t.suspended);
    if !ep.active || suspended {
        // Held until the endpoint is enabled or the tenant resumed; those
        // operations put it back in the due index.
        let after = Delivery {
            held: true,
            next_attempt_at: None,
            updated_at: now,
            ..d.clone()
        };
        commit(ctx, job, after);
        return Ok(());
    }
    let Some(event) = ctx.store.event(d.event_key)? else {
        return Err(StoreError::Corrupt {
            kind: "delivery",
            reason: format!("its event {} is missing", d.event_id),
        });
    };

    let secrets: Vec<&str> = ep.live_secrets(now).collect();
    let timestamp = now.as_secs();
    let timestamp_text = timestamp.to_string();
    let (brainsait, standard) = match Signer::new(&secrets) {
        Ok(s) => (
            s.brainsait(&event.body),
            s.webhook_signature(&event.id, timestamp, &event.body),
        ),
        Err(e) => {
            return Err(StoreError::Corrupt {
                kind: "endpoint secret",
                reason: e.to_string(),
            })
        }
    };
    let user_agent = crate::wire::headers::USER_AGENT;
    let headers: [(&str, &str); 7] = [
        ("Content-Type", "application/json"),
        ("User-Agent", user_agent),
        ("X-BrainSAIT-Signature", &brainsait),
        ("X-BrainSAIT-Event", &event.event_type),
        ("webhook-id", &event.id),
        ("webhook-timestamp", &timestamp_text),
        ("webhook-signature", &standard),
    ];
    let response = ctx.http.send(&ep.url, &headers, &event.body);
    let finished = ctx.clock.now();
    let number = d.attempts + 1;
    let (verdict, next_at) = decide(&ctx.schedule, &response, number, finished);
    let error = response.error.as_ref();
    let attempt = Attempt {
        id: AttemptId::new(now),
        delivery_id: d.id,
        number,
        started_at: now,
        url: ep.url.clone(),
        request_headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        status: response.status,
        response_headers: response.headers.clone(),
        response_body: response.body_excerpt.clone(),
        response_truncated: response.truncated,
        latency_ms: response.latency.as_millis().min(u32::MAX as u128) as u32,
        error_kind: error.map(|e| e.kind.as_str().to_string()),
        error_message: error.map(|e| e.message.clone()),
        verdict,
        next_attempt_at: next_at,
    };
    let state = match (verdict, next_at) {
        (Verdict::Success, _) => DeliveryState::Succeeded,
        (Verdict::Retry, Some(_)) => DeliveryState::Pending,
        _ => DeliveryState::Failed,
    };
    let after = Delivery {
        state,
        attempts: number,
        next_attempt_at: next_at,
        last_status: response.status,
        last_error: error.map(|e| e.kind.as_str().to_string()),
        updated_at: finished,
        ..d.clone()
    };
    log::debug!(
        "delivery {} attempt {number} → {:?} {}",
        d.id,
        response.status,
        verdict.as_str()
    );
    if response.status == Some(410) {
        // Standard Webhooks: 410 Gone means "stop sending to this URL".
        disable_endpoint(
            ctx.store.as_ref(),
            ctx.events.as_ref(),
            ep.id,
            format!(
                "the receiver answered 410 Gone at {}",
                finished.to_rfc3339_secs()
            ),
            finished,
        );
    }
    record(ctx, job, after, attempt);
    Ok(())
}

/// Records an attempt; once it is durable the recorder frees the slot,
/// schedules the next attempt, and disables the endpoint if it has now
/// failed for too long.
fn record(ctx: &Ctx, job: Due, after: Delivery, attempt: Attempt) {
    let next = next_due(&after);
    let summary = AttemptSummary {
        at: attempt.started_at,
        verdict: attempt.verdict,
        state: after.state,
        latency_ms: attempt.latency_ms,
        responded: attempt.status.is_some(),
    };
    let ticket = ctx.store.record_attempt(&after, &attempt);
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

/// The seed's rules: the verdict for this response, and when to try next.
fn decide(
    schedule: &[Duration],
    r: &Response,
    attempts: u32,
    now: Timestamp,
) -> (Verdict, Option<Timestamp>) {
    // A status line counts even if reading the body then failed: the
    // receiver has answered.
    let verdict = retry::verdict_for(r.status);
    if verdict != Verdict::Retry {
        return (verdict, None);
    }
    let retry_after = if r.status == Some(429) {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| retry::parse_retry_after(v, now))
    } else {
        None
    };
    (
        Verdict::Retry,
        retry::next_due(schedule, attempts, now, retry_after),
    )
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
            recorder: crossbeam_channel::unbounded().0,
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
