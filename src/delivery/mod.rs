//! The delivery engine: everything that happens after an event is durable.
//!
//! ```text
//! ingest ──(fast path: due now)──┐
//!                                ▼
//! scheduler (time wheel) ──► dispatcher ──► workers ──► client (HTTP)
//!        ▲                  (per-endpoint      │
//!        │                   caps, fair)       ▼
//!        └──── retry due ◄── recorder (group commit: attempt + next due)
//! ```
//!
//! **Invariant:** a delivery is in the durable due index from the moment its
//! event is acknowledged until an attempt's record (with its next due time,
//! if any) is flushed. Every in-memory structure here (wheel, queues) is a
//! cache of that index, rebuilt on start, so a crash never loses a delivery;
//! it can only repeat one (at least once).

pub mod client;
mod dispatcher;
mod scheduler;
pub mod wheel;
mod worker;

use std::sync::Arc;
use std::time::Duration;

pub use dispatcher::Dispatcher;
pub use scheduler::Scheduler;

use crate::clock::Clock;
use crate::service::{Dispatch, EngineStats};
use crate::store::{Due, Store};

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads.
    pub workers: usize,
    /// Requests in flight per endpoint at most.
    pub per_endpoint: usize,
    /// Delays between attempts.
    pub retry_schedule: Vec<Duration>,
    /// The HTTP client's settings.
    pub client: client::ClientConfig,
    /// Disable an endpoint that has failed continuously this long.
    pub disable_after: Duration,
}

/// The running engine: scheduler, dispatcher and workers.
#[derive(Clone)]
pub struct Engine {
    dispatcher: Dispatcher,
    scheduler: Scheduler,
}

/// A failure to start the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The HTTP client configuration is invalid.
    #[error("delivery client: {0}")]
    Client(#[from] client::ClientConfigError),
}

impl Engine {
    /// Starts the threads. The scheduler's first step rebuilds its timers
    /// from the store's due index, so deliveries pending at the last stop
    /// (or crash) are attempted when due.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Self, EngineError> {
        let http = client::DeliveryClient::new(config.client.clone())?;
        let dispatcher = Dispatcher::start(config.per_endpoint, config.workers);
        let scheduler = Scheduler::start(store.clone(), clock.clone(), dispatcher.clone());
        let ctx = Arc::new(worker::Ctx {
            store,
            clock,
            http,
            schedule: config.retry_schedule,
            disable_after_ms: config.disable_after.as_millis() as i64,
            dispatcher: dispatcher.clone(),
            scheduler: scheduler.clone(),
        });
        worker::spawn_pool(ctx, dispatcher.work_queue(), config.workers);
        Ok(Self {
            dispatcher,
            scheduler,
        })
    }

    /// The scheduler, for tests and gauges.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The dispatcher, for gauges.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }
}

impl Dispatch for Engine {
    fn dispatch(&self, jobs: Vec<Due>) {
        self.dispatcher.submit(jobs);
    }

    fn wake(&self) {
        self.scheduler.wake();
    }

    fn stats(&self) -> EngineStats {
        use std::sync::atomic::Ordering::Relaxed;
        let d = &self.dispatcher.stats;
        let s = &self.scheduler.stats;
        EngineStats {
            queued: d.queued.load(Relaxed),
            in_flight: d.in_flight.load(Relaxed),
            in_wheel: s.in_wheel.load(Relaxed),
            scheduler_lag_ms: s.lag_ms.load(Relaxed),
            scheduler_tick_ms: s.last_tick_ms.load(Relaxed),
        }
    }
}
