//! Wiring: open the store, initialise on first start, run the HTTP server,
//! shut down in order (HTTP, retention, the engine, the alert watcher,
//! then flush the store), joining every thread on the way.

use std::sync::Arc;

use actix_web::{web, App, HttpServer};

use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::delivery::client::ClientConfig;
use crate::delivery::{Engine, EngineConfig};
use crate::service::{Herald, ServiceError, Settings};
use crate::store::{Location, Store, StoreError};

/// Connections the `--metrics-listen` listener accepts at once: scrapers
/// are few, and its descriptors come out of the store's reserve
/// (`domain::limits::OTHER_FDS`).
const METRICS_MAX_CONNECTIONS: usize = 16;

/// The API's HTTP workers: one per core, at most 4 (the ingest path holds
/// no thread, and blocking service calls run on actix's blocking pool).
fn http_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4)
}

/// Raises the soft open-file limit to the hard one and returns the soft
/// limit in force (`None` where the platform has none). Herald needs a
/// descriptor per API connection and per delivery socket, and the
/// default soft limit (often 1,024) is far below what a server needs;
/// the hard limit is what the operator allows (`LimitNOFILE=` in the
/// systemd unit).
#[cfg(unix)]
fn raise_nofile() -> Option<u64> {
    use rlimit::Resource;
    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            log::warn!("cannot read the open-file limit: {e}");
            return None;
        }
    };
    match rlimit::increase_nofile_limit(hard) {
        Ok(now) => {
            log::info!("open-file limit: {now} (was {soft}, hard limit {hard})");
            Some(now)
        }
        Err(e) => {
            log::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            Some(soft)
        }
    }
}

/// No `RLIMIT_NOFILE` here: the connection cap is what was asked for.
#[cfg(not(unix))]
fn raise_nofile() -> Option<u64> {
    None
}

/// Raises the open-file limit and works out the API's connection cap
/// under it, logging both.
fn connection_budget(cfg: &Config) -> crate::domain::limits::ConnectionBudget {
    let nofile = raise_nofile();
    let b = crate::domain::limits::connection_budget(
        nofile,
        cfg.workers,
        http_workers(),
        cfg.max_connections,
    );
    let limit = nofile.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    log::info!(
        "API connections: at most {} ({} per HTTP worker); open-file limit {limit}, \
         {} kept for {} delivery workers, {} for the store and the rest",
        b.api_connections,
        b.per_http_worker,
        b.delivery_reserve,
        cfg.workers,
        b.other_reserve,
    );
    if b.lowered {
        log::warn!(
            "--max-connections {} lowered to {} to fit the open-file limit; \
             raise the hard limit (systemd: LimitNOFILE=) for more",
            cfg.max_connections,
            b.api_connections
        );
    }
    b
}

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data directory could not be opened (the message says why and
    /// what to do: [`open_failure`]).
    #[error("{}", open_failure(.dir, .err))]
    Open {
        /// The data directory.
        dir: std::path::PathBuf,
        /// Why.
        err: StoreError,
    },
    /// The PostgreSQL store could not be opened.
    #[error("cannot open the PostgreSQL store at {location}: {err}")]
    OpenDatabase {
        /// The database, its password blanked.
        location: String,
        /// Why.
        err: StoreError,
    },
    /// The store failed after it was opened.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The delivery engine could not start.
    #[error("{0}")]
    Engine(#[from] crate::delivery::EngineError),
    /// First-start initialisation failed.
    #[error("first-start initialisation failed: {0}")]
    Bootstrap(#[from] ServiceError),
    /// A background thread could not be started.
    #[error("starting the {what} thread: {err}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        err: std::io::Error,
    },
    /// The `--tls-cert`/`--tls-key` pair could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] crate::http::tls::TlsError),
    /// The listen address could not be bound, or the server failed.
    #[error("HTTP server on {addr}: {err}")]
    Http {
        /// The listen address.
        addr: String,
        /// Why.
        err: std::io::Error,
    },
}

/// What an operator reads when the data directory `dir` does not open:
/// the directory, the cause and the way out. A damaged directory is left
/// as it is (it may be needed to recover more) and a backup restored in
/// its place; a lock or a newer schema needs no restore.
pub fn open_failure(dir: &std::path::Path, err: &StoreError) -> String {
    let d = dir.display();
    let restore = format!(
        "If it is damaged, move it aside (mv {d} {d}.damaged) and restore the latest backup \
         into its place: herald restore BACKUP_FILE --data-dir {d} \
         (then start with --paused to check it before anything is delivered)."
    );
    match err {
        StoreError::Locked { .. } => format!(
            "cannot open the data directory {d}: it is in use by another process \
             (is herald serve already running on it?). Stop that process, or use another --data-dir."
        ),
        StoreError::TooNew { found, known } => format!(
            "cannot open the data directory {d}: it was written by a newer herald \
             (schema {found}; this binary knows up to {known}). Run the newer herald on it, \
             or restore a backup made with this version: herald restore BACKUP_FILE --data-dir NEW_DIR."
        ),
        StoreError::Io(cause) if cause.contains("ermission denied") => format!(
            "cannot open the data directory {d}: {cause}. \
             The user running herald must own it and its files (e.g. chown -R herald: {d}). {restore}"
        ),
        other => format!("cannot open the data directory {d}: {other}. {restore}"),
    }
}

/// The service settings a configuration implies.
pub fn settings(cfg: &Config) -> Settings {
    Settings {
        allow_http: cfg.allow_http,
        ip_policy: cfg.ip_policy(),
        secret_overlap_ms: cfg.secret_overlap.as_millis() as i64,
        max_event_size: cfg.max_event_size,
        // The disk guard watches sled's directory; a PostgreSQL server
        // watches its own disk (and a write it refuses for want of room
        // makes the store `Unavailable`, which the guard still handles).
        data_dir: cfg.postgres_url.is_none().then(|| cfg.data_dir.clone()),
        retention: cfg.retention,
        rate_limits: cfg.rate_limits,
        ingest_memory: cfg.ingest_memory,
        disk_reserve: cfg.disk_reserve,
        backups: cfg.backups.clone(),
        retry_schedule: cfg.retry_schedule.clone(),
        portal: cfg.portal.clone(),
    }
}

/// The delivery engine's settings a configuration implies.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    EngineConfig {
        workers: cfg.workers,
        per_endpoint: cfg.per_endpoint_concurrency,
        retry_schedule: cfg.retry_schedule.clone(),
        disable_after: cfg.disable_after,
        events: None,
        paused: cfg.paused,
        client: ClientConfig {
            request_timeout: cfg.request_timeout,
            connect_timeout: cfg.request_timeout.min(Duration::from_secs(5)),
            max_response_bytes: 16 * 1024,
            pool_size: cfg.workers,
            user_agent: crate::wire::headers::USER_AGENT.to_string(),
            policy: cfg.ip_policy(),
        },
    }
}

/// Opens the store the configuration names: the one place `serve`, the
/// CLI and the bench get a store from.
pub fn open_store(
    location: &Location,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    crate::store::open(location, clock)
}

/// An opened data directory with its services and engine, before HTTP.
struct Parts {
    store: Arc<dyn Store>,
    herald: Herald,
    engine: Engine,
    /// `None` once a test has taken over the passes.
    retention: Option<crate::service::Retention>,
    alerts: crate::service::AlertWatcher,
    disk: crate::service::DiskGuard,
    backups: Option<crate::service::BackupSchedule>,
}

fn open(cfg: &Config, clock: Arc<dyn Clock>) -> Result<Parts, AppError> {
    let location = cfg.store_location();
    let store = open_store(&location, clock.clone()).map_err(|err| match &location {
        Location::Postgres { .. } => AppError::OpenDatabase {
            location: location.describe(),
            err,
        },
        Location::Sled { .. } => AppError::Open {
            dir: cfg.data_dir.clone(),
            err,
        },
    })?;
    match &location {
        Location::Postgres { .. } => {
            log::info!("PostgreSQL store {} opened", location.describe())
        }
        Location::Sled { .. } => log::info!("data directory {} opened", cfg.data_dir.display()),
    }
    let (events_tx, events_rx) = crossbeam_channel::unbounded();
    let mut ecfg = engine_config(cfg);
    ecfg.events = Some(events_tx);
    let engine = Engine::start(store.clone(), clock.clone(), ecfg)?;
    log::info!(
        "delivery engine started: {} workers, retry schedule {:?}",
        cfg.workers,
        cfg.retry_schedule
    );
    if cfg.paused {
        log::warn!(
            "started paused (--paused): the API and the panel answer and ingest stores events, \
             but nothing is delivered and no alert is sent until resumed \
             (POST /api/v1/admin/resume, the panel's banner, or a start without --paused)"
        );
    }
    let herald =
        Herald::new(store.clone(), clock, settings(cfg)).with_dispatch(Arc::new(engine.clone()));
    herald.sync_alert_endpoints(&cfg.alert_urls, cfg.alert_secret.as_deref())?;
    let alerts =
        crate::service::start_alerts(herald.clone(), events_rx, cfg.alert_thresholds.clone());
    let retention = crate::service::start_retention(
        herald.clone(),
        crate::service::FIRST_PURGE_AFTER,
        crate::service::PURGE_EVERY,
    );
    let disk =
        crate::service::start_disk_guard(herald.clone()).map_err(|err| AppError::Thread {
            what: "disk guard",
            err,
        })?;
    let backups =
        crate::service::start_backups(herald.clone()).map_err(|err| AppError::Thread {
            what: "backup",
            err,
        })?;
    Ok(Parts {
        store,
        herald,
        engine,
        retention: Some(retention),
        alerts,
        disk,
        backups,
    })
}

impl Parts {
    /// Everything after HTTP, in order: scheduled backups (one under way
    /// finishes), the disk guard, the retention thread, the engine
    /// (every thread joined), the alert watcher, the store flush. Each
    /// step's threads have ended before the next begins, so once the
    /// caller drops the last `Arc` of the store, nothing holds the data
    /// directory.
    fn shut_down(self) -> Result<(), StoreError> {
        drop(self.backups);
        drop(self.disk);
        drop(self.retention);
        self.engine.shutdown();
        // The last attempts' reports reach the watcher from the store's
        // continuations: a flush runs after them, so when it returns they
        // are all queued, and the watcher handles them before it ends.
        let reported = self.store.flush();
        drop(self.alerts);
        let flushed = reported.and(self.store.flush());
        // Every attempt made is recorded: what this node still claims goes
        // back to the other nodes now rather than when the claims expire.
        if let Some(c) = self.store.cluster() {
            if let Err(e) = c.leave() {
                log::warn!("cluster: giving back this node's claims failed: {e}");
            }
        }
        flushed
    }
}

/// First start: creates the admin user and a platform key and prints
/// them. Called only once the listeners are bound, so a start that fails
/// (a busy port) prints nothing and stores no credentials nobody saw; the
/// next start that binds creates them.
fn first_start(herald: &Herald, cfg: &Config) -> Result<(), AppError> {
    if let Some(first) =
        herald.bootstrap(cfg.admin_password.as_deref(), cfg.platform_key.as_deref())?
    {
        print_first_run(&first);
    }
    Ok(())
}

/// The API listener, HTTPS with `tls`; each HTTP worker accepts at most
/// `per_worker_connections` connections, the rest wait in the backlog.
/// `bound` runs once the address is bound and before any request is
/// served; its error stops the start.
fn http_server(
    herald: Herald,
    listen: &str,
    tls: Option<rustls::ServerConfig>,
    signals: bool,
    per_worker_connections: usize,
    bound: impl FnOnce() -> Result<(), AppError>,
) -> Result<(actix_web::dev::Server, Vec<std::net::SocketAddr>), AppError> {
    let http_err = |err| AppError::Http {
        addr: listen.to_string(),
        err,
    };
    let data = web::Data::new(herald);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::http::security::headers,
            ))
            .app_data(data.clone())
            .configure(crate::http::routes)
    })
    .workers(http_workers())
    .max_connections(per_worker_connections);
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(listen, config),
        None => server.bind(listen),
    }
    .map_err(http_err)?;
    bound()?;
    let server = if signals {
        server
    } else {
        server.disable_signals()
    };
    let addrs = server.addrs();
    for (addr, scheme) in server.addrs_with_scheme() {
        log::info!(
            "herald {} listening on {scheme}://{addr}",
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok((server.run(), addrs))
}

/// The open Prometheus listener of `--metrics-listen`.
fn metrics_server(herald: Herald, listen: &str) -> Result<actix_web::dev::Server, std::io::Error> {
    let data = web::Data::new(herald);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(crate::http::metrics_routes)
    })
    .workers(1)
    .max_connections(METRICS_MAX_CONNECTIONS)
    .disable_signals()
    .bind(listen)?;
    for addr in server.addrs() {
        log::info!("prometheus metrics on http://{addr}/metrics");
    }
    Ok(server.run())
}

/// The certificate of `--tls-cert`/`--tls-key`, if given.
fn tls_resolver(
    cfg: &Config,
) -> Result<Option<Arc<crate::http::tls::CertResolver>>, crate::http::tls::TlsError> {
    cfg.tls
        .as_ref()
        .map(|f| crate::http::tls::CertResolver::load(&f.cert, &f.key))
        .transpose()
}

/// Runs `herald serve` until SIGINT/SIGTERM (SIGHUP reloads the TLS pair).
pub fn serve(cfg: Config) -> Result<(), AppError> {
    // Before the store and the engine open anything.
    let budget = connection_budget(&cfg);
    let certs = tls_resolver(&cfg)?;
    let tls = certs.as_ref().map(|r| r.server_config()).transpose()?;
    let parts = open(&cfg, Arc::new(SystemClock))?;
    let http_err = |err| AppError::Http {
        addr: cfg.listen.clone(),
        err,
    };
    let served = actix_web::rt::System::new().block_on(async {
        crate::http::tls::reload_on_sighup(certs)?;
        if let Some(addr) = &cfg.metrics_listen {
            let m = metrics_server(parts.herald.clone(), addr).map_err(|err| AppError::Http {
                addr: addr.clone(),
                err,
            })?;
            actix_web::rt::spawn(m);
        }
        let (server, _) = http_server(
            parts.herald.clone(),
            &cfg.listen,
            tls,
            true,
            budget.per_http_worker,
            || first_start(&parts.herald, &cfg),
        )?;
        server.await.map_err(http_err)
    });
    if let Err(e) = served {
        // Not serving (a busy port): stop what `open` started, in order.
        if let Err(flush) = parts.shut_down() {
            log::error!("flushing the store after a failed start: {flush}");
        }
        return Err(e);
    }
    log::info!("HTTP server stopped; stopping delivery and flushing the store");
    parts.shut_down()?;
    Ok(())
}

/// A server running on a background thread, for in-process tests that
/// drive time with a manual clock.
pub struct Running {
    /// The bound address.
    pub addr: std::net::SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
    parts: Parts,
}

/// How long [`Running::stop`] waits for actix's worker threads to drop
/// their copies of the services.
const HTTP_WORKERS_EXIT: Duration = Duration::from_secs(10);

impl Running {
    /// Makes the scheduler look at the clock now (after moving a manual clock).
    pub fn wake(&self) {
        self.parts.engine.scheduler().wake();
    }

    /// The engine, for gauges.
    pub fn engine(&self) -> &Engine {
        &self.parts.engine
    }

    /// Runs a retention pass now (the thread runs one every hour).
    pub fn purge_expired(&self) -> Result<crate::store::Purged, crate::service::ServiceError> {
        self.parts.herald.purge_expired()
    }

    /// Stops (and joins) the retention thread, for a test that runs every
    /// pass itself with [`Running::purge_expired`]: the thread follows the
    /// injected clock, so moving it would run passes of its own.
    pub fn stop_retention(&mut self) {
        self.parts.retention.take();
    }

    /// Stops HTTP, then the retention thread, the engine and the alert
    /// watcher (joining each), then flushes the store. When it returns,
    /// the data directory is released and can be opened again.
    pub fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        let _ = self.thread.join();
        let store = self.parts.store.clone();
        if let Err(e) = self.parts.shut_down() {
            log::error!("flushing the store at shutdown failed: {e}");
        }
        // NB: actix reports its workers stopped just before their threads
        // drop the services they hold (each a `Herald`, so the store), and
        // never joins those threads. Every other holder has been joined
        // above, so this waits only for those threads to end.
        let deadline = std::time::Instant::now() + HTTP_WORKERS_EXIT;
        while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if Arc::strong_count(&store) > 1 {
            log::warn!("the store is still in use after shutdown");
        }
        // The last handle: dropping it joins the store's committer, which
        // writes what is left and releases the directory.
        drop(store);
    }
}

/// Starts the server on a background thread with the given clock; signals
/// are left to the caller.
pub fn start(cfg: Config, clock: Arc<dyn Clock>) -> Result<Running, AppError> {
    let per_worker = connection_budget(&cfg).per_http_worker;
    let tls = tls_resolver(&cfg)?.map(|r| r.server_config()).transpose()?;
    let parts = open(&cfg, clock)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let listen = cfg.listen.clone();
    let herald = parts.herald.clone();
    let first = cfg.clone();
    let thread = std::thread::spawn(move || {
        let sys = actix_web::rt::System::new();
        sys.block_on(async move {
            let h = herald.clone();
            let bound = move || first_start(&h, &first);
            let (server, addrs) = match http_server(herald, &listen, tls, false, per_worker, bound)
            {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let addr = addrs.first().copied();
            let _ = tx.send(
                addr.map(|a| (server.handle(), a))
                    .ok_or_else(|| AppError::Http {
                        addr: listen.clone(),
                        err: std::io::Error::other("bound no address"),
                    }),
            );
            let _ = server.await;
        });
    });
    let http_err = |err| AppError::Http {
        addr: cfg.listen.clone(),
        err,
    };
    let (handle, addr) = match rx
        .recv()
        .map_err(|_| http_err(std::io::Error::other("server thread died")))
        .and_then(|r| r)
    {
        Ok(bound) => bound,
        Err(err) => {
            // Not listening: stop what `open` started before reporting.
            let _ = thread.join();
            let _ = parts.shut_down();
            return Err(err);
        }
    };
    Ok(Running {
        addr,
        handle,
        thread,
        parts,
    })
}

/// Prints first-start credentials once, on stdout (not the log, which may
/// be shipped elsewhere).
fn print_first_run(first: &crate::service::FirstRun) {
    println!("==================== herald first start ====================");
    match &first.generated_password {
        Some(p) => println!("admin panel user: admin   password: {p}"),
        None => println!("admin panel user: admin   password: (from HERALD_ADMIN_PASSWORD)"),
    }
    match &first.generated_platform_key {
        Some(k) => println!("platform API key: {k}"),
        None => println!("platform API key: (from HERALD_PLATFORM_KEY)"),
    }
    println!("These are shown only once. Store them somewhere safe.");
    println!("=============================================================");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_failure_names_the_directory_the_cause_and_the_way_out() {
        let dir = std::path::Path::new("/var/lib/herald");
        let restore = "herald restore BACKUP_FILE --data-dir /var/lib/herald";
        let damaged = open_failure(dir, &StoreError::Io("Read corrupted data".into()));
        assert!(damaged.starts_with("cannot open the data directory /var/lib/herald: "));
        assert!(damaged.contains("Read corrupted data"), "{damaged}");
        assert!(damaged.contains(restore), "{damaged}");
        let denied = open_failure(
            dir,
            &StoreError::Io("Permission denied (os error 13)".into()),
        );
        assert!(
            denied.contains("chown -R herald: /var/lib/herald"),
            "{denied}"
        );
        assert!(denied.contains(restore), "{denied}");
        let newer = open_failure(dir, &StoreError::TooNew { found: 3, known: 1 });
        assert!(
            newer.contains("schema 3") && newer.contains("up to 1"),
            "{newer}"
        );
        assert!(newer.contains("herald restore"), "{newer}");
        // A lock is not damage: no restore.
        let locked = open_failure(
            dir,
            &StoreError::Locked {
                path: dir.display().to_string(),
            },
        );
        assert!(locked.contains("in use by another process"), "{locked}");
        assert!(!locked.contains("herald restore"), "{locked}");
    }
}
