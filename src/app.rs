//! Wiring: open the store, initialise on first start, run the HTTP server,
//! shut down in order (HTTP first, then flush the store).

use std::sync::Arc;

use actix_web::{web, App, HttpServer};

use std::time::Duration;

use crate::clock::SystemClock;
use crate::config::Config;
use crate::delivery::client::ClientConfig;
use crate::delivery::{Engine, EngineConfig};
use crate::service::{Herald, ServiceError, Settings};
use crate::store::{SledStore, Store, StoreError};

/// Requests in flight per endpoint: a slow endpoint ties up at most this
/// many workers.
pub const PER_ENDPOINT_IN_FLIGHT: usize = 4;

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The data directory could not be opened.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The delivery engine could not start.
    #[error("{0}")]
    Engine(#[from] crate::delivery::EngineError),
    /// First-start initialisation failed.
    #[error("first-start initialisation failed: {0}")]
    Bootstrap(#[from] ServiceError),
    /// The listen address could not be bound, or the server failed.
    #[error("HTTP server on {addr}: {err}")]
    Http {
        /// The listen address.
        addr: String,
        /// Why.
        err: std::io::Error,
    },
}

/// The service settings a configuration implies.
pub fn settings(cfg: &Config) -> Settings {
    Settings {
        allow_http: cfg.allow_http,
        ip_policy: cfg.ip_policy(),
        secret_overlap_ms: cfg.secret_overlap.as_millis() as i64,
        max_event_size: cfg.max_event_size,
    }
}

/// The delivery engine's settings a configuration implies.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    EngineConfig {
        workers: cfg.workers,
        per_endpoint: PER_ENDPOINT_IN_FLIGHT,
        retry_schedule: cfg.retry_schedule.clone(),
        client: ClientConfig {
            request_timeout: cfg.request_timeout,
            connect_timeout: cfg.request_timeout.min(Duration::from_secs(5)),
            max_response_bytes: 16 * 1024,
            pool_size: cfg.workers,
            user_agent: concat!("Herald/", env!("CARGO_PKG_VERSION")).to_string(),
            policy: cfg.ip_policy(),
        },
    }
}

/// Runs `herald serve` until SIGINT/SIGTERM.
pub fn serve(cfg: Config) -> Result<(), AppError> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
        StoreError::Io(format!(
            "cannot create data directory {}: {e}",
            cfg.data_dir.display()
        ))
    })?;
    let store = Arc::new(SledStore::open(&cfg.data_dir, cfg.cache_bytes)?);
    log::info!("data directory {} opened", cfg.data_dir.display());
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(SystemClock);
    let engine = Engine::start(store.clone(), clock.clone(), engine_config(&cfg))?;
    log::info!(
        "delivery engine started: {} workers, retry schedule {:?}",
        cfg.workers,
        cfg.retry_schedule
    );
    let herald = Herald::new(store.clone(), clock, settings(&cfg)).with_dispatch(Arc::new(engine));
    if let Some(first) =
        herald.bootstrap(cfg.admin_password.as_deref(), cfg.platform_key.as_deref())?
    {
        print_first_run(&first);
    }
    let data = web::Data::new(herald);
    let listen = cfg.listen.clone();
    let http_err = |err| AppError::Http {
        addr: listen.clone(),
        err,
    };
    actix_web::rt::System::new().block_on(async {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(crate::http::routes)
        })
        .workers(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(4),
        )
        .bind(&cfg.listen)
        .map_err(http_err)?;
        for addr in server.addrs() {
            log::info!(
                "herald {} listening on http://{addr}",
                env!("CARGO_PKG_VERSION")
            );
        }
        server.run().await.map_err(http_err)
    })?;
    log::info!("HTTP server stopped; flushing the store");
    store.flush()?;
    Ok(())
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
