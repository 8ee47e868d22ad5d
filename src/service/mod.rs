//! The operations both the JSON API and the admin panel call.
//!
//! **Architecture invariant:** every rule about who may do what (keys,
//! tenants, suspension) and every validation lives here or in `domain`;
//! the HTTP layer only translates requests and [`ServiceError`]s.
//! Service calls are blocking (they touch the store); async callers run
//! them on a blocking pool.

mod alerts;
mod auth;
mod backup;
mod backups;
mod bootstrap;
mod deliveries;
mod disk;
mod endpoints;
mod error;
mod event_types;
mod events;
mod idempotency;
mod keys;
mod memory;
mod metrics;
mod page;
mod pause;
mod portal;
mod ratelimit;
mod retention;
mod sessions;
mod streams;
pub mod svix;
pub mod svix_event_types;
mod tenants;
mod users;

use std::sync::Arc;

pub use alerts::{start_alerts, AlertWatcher, INTERNAL_TENANT};
pub use auth::{Caller, Principal, TenantScope};
pub use backup::{
    backup_dir, backup_location, check_location, check_store, restore, restore_into, verify_dump,
    BackupError, BackupStream,
};
pub use backups::{start_backups, BackupFile, BackupPlan, BackupRun, BackupSchedule, BackupsView};
pub use bootstrap::FirstRun;
pub use deliveries::{LogQuery, Requeued};
pub use disk::{
    start_disk_guard, DiskGuard, DiskReading, GuardMemory, DISK_CHECK_EVERY, RECOVER_EVERY_SECS,
};
pub use endpoints::{EndpointPatch, NewEndpoint};
pub use error::{ServiceError, StoreFault};
pub use event_types::{EventTypeInfo, EventTypePatch, EventTypes, NewEventType};
pub use events::{BatchIngest, IngestOutcome, IngestedEvent, Ingesting, RawEvent, MAX_BATCH};
pub use idempotency::{Claimed, Idempotent};
pub use keys::{CreatedKey, KeyInfo, NewKey};
pub use memory::{MemoryReservation, COST_PER_BODY_BYTE};
pub use metrics::{
    grain_for, parse_window, EndpointMetrics, FailingNow, MetricsReport, RETRYING_COUNT_MAX,
};
pub use page::{Page, PageRequest};
pub use portal::{
    AppPortalAccessIn, NewPortalSession, PortalLink, PortalOpened,
    LINK_REFUSED as PORTAL_LINK_REFUSED,
};
pub use ratelimit::{Budget, RateLimits};
pub use retention::{start_retention, Retention, FIRST_PURGE_AFTER, PURGE_EVERY};
pub use sessions::{
    Login, SessionInfo, BAD_LOGIN, DISABLED_LOGIN, FAILURE_WINDOW_MS, MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_USER,
};
pub use streams::{Acked, Offer, StreamAck};
pub use tenants::{NewTenant, TenantPatch};
pub use users::{NewUser, UserInfo};

use crate::clock::Clock;
use crate::delivery::{Dispatch, EngineStats, NoDispatch};
use crate::domain::netguard::IpPolicy;
use crate::store::Store;

/// Deserialises a request field that may be absent (outer `None`), `null`
/// (`Some(None)`: clear it) or a value: the patch bodies' one way to tell
/// "leave it" from "remove it".
pub(crate) fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

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
    /// The data directory, for the free-space check.
    pub data_dir: Option<std::path::PathBuf>,
    /// Bytes kept free on the data directory's disk: below it, new events
    /// are refused (507) while deliveries go on.
    pub disk_reserve: u64,
    /// Scheduled backups (`--backup-dir`), if on.
    pub backups: Option<BackupPlan>,
    /// How long ended deliveries, their events and attempts, statistics
    /// and alert history are kept.
    pub retention: std::time::Duration,
    /// Each API key's request budgets.
    pub rate_limits: RateLimits,
    /// Bytes of batch bodies being parsed at once, costed at
    /// [`COST_PER_BODY_BYTE`] each (0: no budget); each key gets half.
    pub ingest_memory: usize,
    /// The retry schedule (`--retry-schedule`): stream acknowledgements
    /// are judged by it like the engine's attempts.
    pub retry_schedule: Vec<std::time::Duration>,
    /// The tenant portal: who may frame it, its theme, its longest session.
    pub portal: crate::domain::portal::PortalConfig,
}

impl Settings {
    /// Settings for a Herald that serves no one over HTTP (the local CLI,
    /// tests): no `http://` URLs, no private networks, no secret overlap,
    /// no data directory to watch, nothing ever purged, no limits.
    pub fn offline() -> Self {
        Self {
            allow_http: false,
            ip_policy: IpPolicy::default(),
            secret_overlap_ms: 0,
            max_event_size: 0,
            data_dir: None,
            disk_reserve: 0,
            backups: None,
            retention: std::time::Duration::MAX,
            rate_limits: RateLimits::default(),
            ingest_memory: 0,
            retry_schedule: Vec::new(),
            portal: Default::default(),
        }
    }
}

/// Readiness fails when the scheduler runs this late or stops ticking.
const MAX_SCHEDULER_LAG_MS: i64 = 30_000;

/// The service layer: one per process, shared by every request.
#[derive(Clone)]
pub struct Herald {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    dispatch: Arc<dyn Dispatch>,
    logins: Arc<sessions::LoginGuard>,
    limiter: Arc<ratelimit::Limiter>,
    memory: Arc<memory::MemoryBudget>,
    disk: Arc<disk::DiskState>,
    backups: Arc<backups::BackupState>,
    key_uses: Arc<keys::KeyUses>,
    event_types: Arc<event_types::Registry>,
}

impl Herald {
    /// Wires the services to a store and a clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        let memory = memory::MemoryBudget::new(settings.ingest_memory, settings.ingest_memory / 2);
        Self {
            store,
            clock,
            settings: Arc::new(settings),
            dispatch: Arc::new(NoDispatch),
            logins: Arc::default(),
            limiter: Arc::default(),
            memory: Arc::new(memory),
            disk: Arc::default(),
            backups: Arc::default(),
            key_uses: Arc::default(),
            event_types: Arc::default(),
        }
    }

    /// Connects the delivery engine.
    pub fn with_dispatch(mut self, dispatch: Arc<dyn Dispatch>) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// The clock every service reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The delivery engine's gauges.
    pub fn engine_stats(&self) -> EngineStats {
        self.dispatch.stats()
    }

    /// Readiness: each check's verdict and detail, and the overall verdict.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        use serde_json::json;
        let e = self.engine_stats();
        let now = self.clock.now().as_millis();
        let reading = self.check_disk();
        // A write failure first: on a full disk sled's reads may fail
        // too, and the failure is what says why.
        let store = match (&reading.store_failure, self.store.schema_version()) {
            (Some(f), _) => json!({
                "ok": false,
                "error": format!("writes fail: {}", f.error),
                "since": f.since.to_rfc3339_secs(),
            }),
            (None, Ok(v)) => json!({ "ok": true, "schema_version": v }),
            (None, Err(err)) => json!({ "ok": false, "error": err.to_string() }),
        };
        let workers = json!({
            "ok": e.workers > 0 && e.workers_alive == e.workers,
            "alive": e.workers_alive,
            "configured": e.workers,
        });
        let stale_ms = now - e.scheduler_tick_ms;
        let scheduler = json!({
            "ok": e.workers == 0 || (e.scheduler_lag_ms < MAX_SCHEDULER_LAG_MS && stale_ms < MAX_SCHEDULER_LAG_MS),
            "lag_ms": e.scheduler_lag_ms,
            "last_tick_ms_ago": stale_ms,
        });
        let disk = match (&reading.free_bytes, &reading.error) {
            (Some(free), _) => json!({
                "ok": !reading.below_reserve,
                "free_bytes": free,
                "reserve_bytes": reading.reserve_bytes,
                "error": reading.below_reserve.then_some(
                    "free space is below the reserve (--disk-reserve-mb): new events are refused"
                ),
            }),
            (None, Some(err)) => json!({ "ok": false, "error": err }),
            (None, None) => json!({ "ok": true }),
        };
        let ok = [&store, &workers, &scheduler, &disk]
            .iter()
            .all(|c| c["ok"] == true);
        // Paused is still ready: the API and ingest answer, which is what
        // a load balancer or an orchestrator asks; the flag (and the
        // `herald_paused` gauge) tell a monitor that nothing goes out.
        (
            ok,
            json!({
                "status": if ok { "ready" } else { "unavailable" },
                "paused": self.paused(),
                "checks": { "store": store, "workers": workers, "scheduler": scheduler, "disk": disk },
                "delivery": {
                    "queued": e.queued,
                    "in_flight": e.in_flight,
                    "in_wheel": e.in_wheel,
                    "scheduler_lag_ms": e.scheduler_lag_ms,
                },
                // Informative: a failed backup fires its alert but does
                // not take the node out of service.
                "backup": self.backup_status(),
            }),
        )
    }

    /// Gauges for the Prometheus exposition.
    pub fn telemetry_gauges(&self) -> Result<crate::telemetry::Gauges> {
        let e = self.engine_stats();
        let c = self.store.store_stats();
        Ok(crate::telemetry::Gauges {
            queued: e.queued,
            in_flight: e.in_flight,
            in_wheel: e.in_wheel,
            scheduler_lag_ms: e.scheduler_lag_ms,
            commit_flushes: c.syncs,
            commit_jobs: c.ops,
            commit_flush_micros: c.sync_micros,
            commit_apply_micros: c.apply_micros,
            store_bytes: self.store.size_on_disk()?,
            rss_bytes: crate::telemetry::rss_bytes(),
            paused: self.paused(),
            store_writable: self.store.write_failure().is_none(),
            disk_free_bytes: self.disk.free(),
            backup: self.backup_plan().map(|_| {
                let (last, ok) = self.last_backups();
                crate::telemetry::BackupFigures {
                    last_ok: last.as_ref().map(|r| r.error.is_none()),
                    last_success_secs: ok.as_ref().map(|r| r.finished.as_millis() / 1000),
                    last_duration_ms: last.as_ref().map(|r| r.duration_ms()),
                    last_bytes: ok.as_ref().map(|r| r.bytes),
                    failures: self.backup_failures(),
                }
            }),
            tables: self.store.table_stats()?,
            cluster_nodes: match self.store.cluster() {
                None => None,
                Some(c) => Some(
                    c.nodes(self.clock.now().plus_millis(-crate::store::NODE_ALIVE_MS))?
                        .len(),
                ),
            },
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl Herald {
    /// Whether this node runs the cluster-wide job `role` until `until`:
    /// always on a store only this process opens; on a shared one, if no
    /// other node holds the role (a failed look counts as not holding it,
    /// so a job never runs twice at once).
    pub(crate) fn holds_role(
        &self,
        role: &str,
        now: crate::domain::time::Timestamp,
        until: crate::domain::time::Timestamp,
    ) -> bool {
        match self.store.cluster() {
            None => true,
            Some(c) => c.hold_role(role, now, until).unwrap_or_else(|e| {
                log::error!("cluster: taking the {role} role failed: {e}");
                false
            }),
        }
    }
}
