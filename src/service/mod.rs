//! The operations both the JSON API and the admin panel call.
//!
//! **Architecture invariant:** every rule about who may do what (keys,
//! tenants, suspension) and every validation lives here or in `domain`;
//! the HTTP layer only translates requests and [`ServiceError`]s.
//! Service calls are blocking (they touch the store); async callers run
//! them on a blocking pool.

mod auth;
mod bootstrap;
mod deliveries;
mod endpoints;
mod error;
mod events;
mod keys;
mod page;
mod sessions;
mod tenants;
mod users;

use std::sync::Arc;

pub use auth::{Caller, Principal, TenantScope};
pub use bootstrap::FirstRun;
pub use deliveries::LogQuery;
pub use endpoints::{EndpointPatch, NewEndpoint};
pub use error::ServiceError;
pub use events::{IngestOutcome, IngestedEvent, MAX_BATCH};
pub use keys::{CreatedKey, NewKey};
pub use page::{Page, PageRequest};
pub use sessions::{
    Login, SessionInfo, BAD_LOGIN, FAILURE_WINDOW_MS, MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_USER,
};
pub use tenants::{NewTenant, TenantPatch};
pub use users::NewUser;

use crate::clock::Clock;
use crate::domain::netguard::IpPolicy;
use crate::store::{Due, Store};

/// A service result.
pub type Result<T> = std::result::Result<T, ServiceError>;

/// The knobs the services need from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether `http://` endpoint URLs are accepted.
    pub allow_http: bool,
    /// Which addresses endpoints may point at.
    pub ip_policy: IpPolicy,
    /// How long a rotated-out secret keeps signing, in milliseconds.
    pub secret_overlap_ms: i64,
    /// The largest event (its compact `data`), in bytes.
    pub max_event_size: usize,
}

/// Where durable, due deliveries go to be attempted (the delivery engine).
/// Defined here so services can hand work over without depending on the
/// engine's implementation.
pub trait Dispatch: Send + Sync {
    /// Attempt these now (they are durable and due).
    fn dispatch(&self, jobs: Vec<Due>);
    /// Re-read the clock and the due index soon.
    fn wake(&self);
    /// The engine's gauges.
    fn stats(&self) -> EngineStats {
        EngineStats::default()
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
}

/// A dispatcher that drops everything: for the CLI, which never delivers.
pub struct NoDispatch;

impl Dispatch for NoDispatch {
    fn dispatch(&self, _: Vec<Due>) {}
    fn wake(&self) {}
}

/// The service layer: one per process, shared by every request.
#[derive(Clone)]
pub struct Herald {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    dispatch: Arc<dyn Dispatch>,
    logins: Arc<sessions::LoginGuard>,
}

impl Herald {
    /// Wires the services to a store and a clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            store,
            clock,
            settings: Arc::new(settings),
            dispatch: Arc::new(NoDispatch),
            logins: Arc::default(),
        }
    }

    /// Connects the delivery engine.
    pub fn with_dispatch(mut self, dispatch: Arc<dyn Dispatch>) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// The store, for the layers that own background work (delivery).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock every service reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The delivery engine's gauges.
    pub fn engine_stats(&self) -> EngineStats {
        self.dispatch.stats()
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
