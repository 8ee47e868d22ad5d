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
mod recorder;
mod scheduler;
pub mod wheel;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use dispatcher::Dispatcher;
pub use scheduler::Scheduler;

use crate::clock::Clock;

use crate::domain::health::Health;
use crate::domain::ids::EndpointId;
use crate::domain::time::Timestamp;
use crate::store::{Due, Store};

/// On a store shared by several nodes, a send lease lasts the request
/// timeout plus this: time for the outcome's write, and for the nodes'
/// clocks to disagree a little.
pub const SEND_LEASE_MARGIN_MS: i64 = 15_000;

/// Where durable, due deliveries go to be attempted (the delivery engine).
pub trait Dispatch: Send + Sync {
    /// Attempt these now (they are durable and due).
    fn dispatch(&self, jobs: Vec<Due>);
    /// Re-read the clock and the due index soon.
    fn wake(&self);
    /// Load the whole due index again: the store was reopened, and what the
    /// engine held in memory may no longer match it.
    fn reload(&self) {}
    /// The engine's gauges.
    fn stats(&self) -> EngineStats {
        EngineStats::default()
    }
    /// Stop handing deliveries to workers (they stay due).
    fn pause(&self) {}
    /// Deliver again after [`Dispatch::pause`].
    fn resume(&self) {}
    /// Whether deliveries are paused.
    fn paused(&self) -> bool {
        false
    }
}

/// Gauges of the delivery engine, for readiness and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Jobs waiting in per-endpoint queues.
    pub queued: usize,
    /// Jobs handed to workers and not yet recorded.
    pub in_flight: usize,
    /// Timers in the scheduler's wheel.
    pub in_wheel: usize,
    /// How late the last expiry ran, ms.
    pub scheduler_lag_ms: i64,
    /// When the scheduler loop last ran (unix ms).
    pub scheduler_tick_ms: i64,
    /// Worker threads running.
    pub workers_alive: usize,
    /// Worker threads configured.
    pub workers: usize,
}

/// A dispatcher that drops everything: for the CLI, which never delivers.
pub struct NoDispatch;

impl Dispatch for NoDispatch {
    fn dispatch(&self, _: Vec<Due>) {}
    fn wake(&self) {}
}

/// What the engine reports as it works, for alerting.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// An attempt was recorded; the endpoint's health after it.
    Attempted {
        /// The endpoint.
        endpoint: EndpointId,
        /// Its health now.
        health: Health,
        /// When.
        at: Timestamp,
    },
    /// Herald disabled an endpoint.
    Disabled {
        /// The endpoint.
        endpoint: EndpointId,
        /// Why.
        reason: String,
        /// When.
        at: Timestamp,
    },
}

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
    /// Where to report [`EngineEvent`]s, if anywhere.
    pub events: Option<crossbeam_channel::Sender<EngineEvent>>,
    /// Start paused: deliveries queue and wait for [`Dispatch::resume`]
    /// (`herald serve --paused`).
    pub paused: bool,
}

/// The running engine: scheduler, dispatcher and workers.
#[derive(Clone)]
pub struct Engine {
    dispatcher: Dispatcher,
    scheduler: Scheduler,
    workers: usize,
    /// Tells workers to take no further job (shared with them).
    stopping: Arc<AtomicBool>,
    /// The threads [`Engine::start`] started, until [`Engine::shutdown`]
    /// takes them to join (shared by every clone, so one shutdown joins
    /// them and a second finds nothing left).
    threads: Arc<Mutex<Option<Threads>>>,
}

/// The engine's threads.
struct Threads {
    scheduler: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    recorder: JoinHandle<()>,
}

/// A failure to start the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The HTTP client configuration is invalid.
    #[error("delivery client: {0}")]
    Client(#[from] client::ClientConfigError),
    /// A thread could not be started.
    #[error("starting a delivery thread: {0}")]
    Thread(std::io::Error),
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
        let (dispatcher, dispatcher_thread) =
            Dispatcher::spawn(config.per_endpoint, config.workers, config.paused);
        let (scheduler, scheduler_thread) =
            Scheduler::spawn(store.clone(), clock.clone(), dispatcher.clone());
        let stopping = Arc::new(AtomicBool::new(false));
        let (record_tx, record_rx) = crossbeam_channel::unbounded();
        let recorder = recorder::Recorder {
            store: store.clone(),
            dispatcher: dispatcher.clone(),
            scheduler: scheduler.clone(),
            disable_after_ms: config.disable_after.as_millis().min(i64::MAX as u128) as i64,
            events: config.events.clone(),
        };
        let recorder_thread = std::thread::Builder::new()
            .name("herald-recorder".into())
            .spawn(move || recorder.run(record_rx))
            .map_err(EngineError::Thread)?;
        let request_ms = config
            .client
            .request_timeout
            .as_millis()
            .min(i64::MAX as u128) as i64;
        let ctx = Arc::new(worker::Ctx {
            store,
            clock,
            http,
            lease_ms: request_ms.saturating_add(SEND_LEASE_MARGIN_MS),
            per_endpoint: config.per_endpoint,
            schedule: config.retry_schedule,
            events: config.events,
            dispatcher: dispatcher.clone(),
            scheduler: scheduler.clone(),
            recorder: record_tx,
            stopping: stopping.clone(),
        });
        let workers = worker::spawn_pool(ctx, dispatcher.work_queue(), config.workers);
        Ok(Self {
            dispatcher,
            scheduler,
            workers: config.workers,
            stopping,
            threads: Arc::new(Mutex::new(Some(Threads {
                scheduler: scheduler_thread,
                dispatcher: dispatcher_thread,
                workers,
                recorder: recorder_thread,
            }))),
        })
    }

    /// Stops the engine and joins every thread it started: the scheduler
    /// (so nothing more is dispatched), the dispatcher (which closes the
    /// workers' channel), then each worker once its current job is done
    /// (its attempt handed to the store), then the recorder once it has
    /// followed up every attempt made. Jobs not yet taken are dropped;
    /// pending deliveries stay in the store's due index for the next start.
    /// A second call (from any clone) does nothing.
    ///
    /// NB: never call it from an engine thread or a store continuation:
    /// it would wait for itself.
    pub fn shutdown(&self) {
        let threads = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(threads) = threads else {
            return;
        };
        // Before the channel closes: a worker woken by the close must not
        // start on the jobs still buffered in it.
        self.stopping.store(true, Ordering::SeqCst);
        self.scheduler.stop();
        join("scheduler", threads.scheduler);
        self.dispatcher.stop();
        join("dispatcher", threads.dispatcher);
        for w in threads.workers {
            join("worker", w);
        }
        // The workers are gone, and with them the recorder's senders: it
        // follows up what they handed it (their writes become durable on
        // the still-running committer), then ends.
        join("recorder", threads.recorder);
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

/// Joins an engine thread; one that panicked is logged, not propagated
/// (shutdown goes on to flush the store).
fn join(what: &str, thread: JoinHandle<()>) {
    if thread.join().is_err() {
        log::error!("the delivery {what} thread had panicked");
    }
}

impl Dispatch for Engine {
    fn dispatch(&self, jobs: Vec<Due>) {
        self.dispatcher.submit(jobs);
    }

    fn wake(&self) {
        self.scheduler.wake();
    }

    fn reload(&self) {
        self.scheduler.reload();
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
            workers_alive: d.workers_alive.load(Relaxed),
            workers: self.workers,
        }
    }

    fn pause(&self) {
        self.dispatcher.pause();
    }

    fn resume(&self) {
        self.dispatcher.resume();
        // The scheduler may be asleep on a long wait; what is due now
        // goes at once.
        self.scheduler.wake();
    }

    fn paused(&self) -> bool {
        self.dispatcher.is_paused()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn shutdown_joins_every_thread_once() {
        let store: Arc<dyn Store> = crate::store::temporary();
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_705_314_600_000)));
        let engine = Engine::start(
            store.clone(),
            clock,
            EngineConfig {
                workers: 3,
                per_endpoint: 4,
                retry_schedule: vec![],
                client: Default::default(),
                disable_after: Duration::from_secs(3600),
                events: None,
                paused: false,
            },
        )
        .unwrap();
        let alive = |e: &Engine| e.stats().workers_alive;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while alive(&engine) < 3 {
            assert!(std::time::Instant::now() < deadline, "workers started");
            std::thread::yield_now();
        }
        let clone = engine.clone();
        engine.shutdown();
        // Joined: every worker has ended (each counts itself out as its
        // thread ends), and the engine's threads let go of the store.
        assert_eq!(alive(&engine), 0);
        assert_eq!(Arc::strong_count(&store), 1, "no engine thread holds it");
        // Any clone's second shutdown finds nothing to join.
        clone.shutdown();
        engine.shutdown();
    }
}
