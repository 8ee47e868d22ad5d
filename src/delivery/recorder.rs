//! The recorder: what happens once a worker's write is durable.
//!
//! A worker hands its write (an attempt, or a state change without one) to
//! the store, which answers a ticket, and passes the ticket here with what
//! to do next; the worker is then free for its next job while the group
//! commit happens. This thread waits for each ticket (they resolve in about
//! the order they were submitted: one committer applies them in order),
//! then frees the dispatcher slot, schedules the next attempt, reports to
//! the alert watcher, and disables an endpoint that has failed for too
//! long ([`crate::domain::outcome::failing_too_long`]).
//!
//! **Invariant:** the dispatcher slot of a delivery is freed only after its
//! write is applied — visible to every later read — (or failed), so a
//! second job for the same delivery always reads the new state. A state
//! change's ticket answers once durable; an attempt's once applied
//! (`DeliveryStore::record_attempt_behind`: it is durable within the store's
//! bound, and a crash before that leaves the delivery due, so it is sent
//! again).

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::dispatcher::Dispatcher;
use super::scheduler::Scheduler;
use super::EngineEvent;
use crate::domain::delivery::{DeliveryState, Verdict};
use crate::domain::endpoint::Endpoint;
use crate::domain::health::Health;
use crate::domain::outcome::failing_too_long;
use crate::domain::time::Timestamp;
use crate::store::{modify_endpoint, Conflict, Due, ModifyError, Store, StoreError, Ticket};

/// A durable-to-be write of a worker's, and what follows it.
pub enum Recording {
    /// A state change without an attempt (held, or failed because its
    /// endpoint is gone).
    StateChange {
        /// The job that made it.
        job: Due,
        /// The write.
        ticket: Ticket<()>,
        /// The next attempt, if one is due.
        next: Option<Due>,
    },
    /// An attempt.
    Attempt {
        /// The job that made it.
        job: Due,
        /// The write; answers the endpoint's health after it.
        ticket: Ticket<Health>,
        /// The next attempt, if one is due.
        next: Option<Due>,
        /// What the attempt was, for the figures.
        summary: AttemptSummary,
    },
}

/// What the recorder needs to know of an attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptSummary {
    /// When it started.
    pub at: Timestamp,
    /// Its verdict.
    pub verdict: Verdict,
    /// The delivery's state after it.
    pub state: DeliveryState,
    /// Its latency, ms.
    pub latency_ms: u32,
    /// Whether the receiver answered at all.
    pub responded: bool,
}

/// What the recorder shares with the engine.
pub struct Recorder {
    /// The store, for disabling endpoints.
    pub store: Arc<dyn Store>,
    /// Where slots are freed.
    pub dispatcher: Dispatcher,
    /// Where next attempts go.
    pub scheduler: Scheduler,
    /// Disable an endpoint failing continuously this long (ms).
    pub disable_after_ms: i64,
    /// Where attempts and disables are reported.
    pub events: Option<crossbeam_channel::Sender<EngineEvent>>,
}

impl Recorder {
    /// Runs until every sender of `rx` is gone (the workers have stopped),
    /// after handling everything sent.
    pub fn run(self, rx: Receiver<Recording>) {
        for r in rx.iter() {
            // NB: a panic here must not stop the recording of others.
            let job = match &r {
                Recording::StateChange { job, .. } | Recording::Attempt { job, .. } => *job,
            };
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(r)));
            if handled.is_err() {
                log::error!("recording delivery {} panicked", job.delivery);
                self.dispatcher.done(job);
            }
        }
    }

    fn handle(&self, r: Recording) {
        match r {
            Recording::StateChange { job, ticket, next } => {
                match ticket.wait() {
                    Ok(()) => {
                        if let Some(n) = next {
                            self.scheduler.schedule(n);
                        }
                    }
                    // A guarded change that found the delivery moved on
                    // since it was read: the newer write stands.
                    Err(StoreError::Conflict(Conflict::Changed)) => {
                        log::debug!("delivery {} changed meanwhile; left as is", job.delivery)
                    }
                    Err(e) => log::error!("recording delivery {} failed: {e}", job.delivery),
                }
                self.dispatcher.done(job);
            }
            Recording::Attempt {
                job,
                ticket,
                next,
                summary,
            } => {
                let success = summary.verdict == Verdict::Success;
                match ticket.wait() {
                    Ok(health) => self.attempted(job, next, summary, &health),
                    Err(e) => log::error!("recording delivery {} failed: {e}", job.delivery),
                }
                self.dispatcher.attempted(job, success);
            }
        }
    }

    fn attempted(&self, job: Due, next: Option<Due>, s: AttemptSummary, health: &Health) {
        crate::telemetry::attempt(s.verdict, s.state, s.latency_ms, s.responded);
        if let Some(tx) = &self.events {
            let _ = tx.send(EngineEvent::Attempted {
                endpoint: job.endpoint,
                health: health.clone(),
                at: s.at,
            });
        }
        if let Some(n) = next {
            self.scheduler.schedule(n);
        }
        // Paused means no side effects beyond the attempts already under
        // way: the next failure after resuming disables it instead.
        if s.verdict != Verdict::Success && !self.dispatcher.is_paused() {
            if let Some(reason) = failing_too_long(health, self.disable_after_ms, s.at) {
                disable_endpoint(
                    self.store.as_ref(),
                    self.events.as_ref(),
                    job.endpoint,
                    reason.to_string(),
                    s.at,
                );
            }
        }
    }
}

/// Turns an endpoint off with a reason (its pending deliveries are then
/// held as they come due); a no-op if it is already off or gone. Uses the
/// same optimistic update as the endpoint service.
pub fn disable_endpoint(
    store: &dyn Store,
    events: Option<&crossbeam_channel::Sender<EngineEvent>>,
    endpoint: crate::domain::ids::EndpointId,
    reason: String,
    now: Timestamp,
) {
    let mut disabled = false;
    let written = modify_endpoint(store, endpoint, |ep| {
        disabled = ep.active;
        Ok::<_, std::convert::Infallible>(ep.active.then(|| Endpoint {
            active: false,
            disabled_reason: Some(reason.clone()),
            updated_at: now,
            ..ep.clone()
        }))
    });
    match written {
        Ok(Some(_)) if disabled => {
            log::warn!("endpoint {endpoint} disabled: {reason}");
            if let Some(tx) = events {
                let _ = tx.send(EngineEvent::Disabled {
                    endpoint,
                    reason,
                    at: now,
                });
            }
        }
        Ok(_) => {}
        Err(ModifyError::Store(e, _)) => log::error!("disabling endpoint {endpoint} failed: {e}"),
        Err(ModifyError::Refused(never)) => match never {},
    }
}
