//! Configuration: raw flags, `HERALD_*` environment and an optional TOML
//! file, merged and validated into the [`Config`] the program uses.
//!
//! Precedence: command-line flag, then environment variable (clap reads
//! both into [`ServeArgs`]), then the `--config` file, then the defaults.
//! Each option is defined once, in the table in `options` ([`OPTIONS`]);
//! [`ServeArgs::resolve`] validates what that table merged.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::domain::apikey::MIN_SUPPLIED_KEY_LEN;
use crate::domain::netguard::IpPolicy;

mod options;

pub use options::{Fallback, OptionSpec, ServeArgs, Specs, OPTIONS, SPEC};
use options::{FileConfig, RawOptions};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = SPEC.listen.default.shown();
/// Default data directory (also the management commands' default).
pub const DEFAULT_DATA_DIR: &str = SPEC.data_dir.default.shown();
/// The seed's retry schedule.
pub const DEFAULT_RETRY_SCHEDULE: &str = SPEC.retry_schedule.default.shown();

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {err}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("config file {path}: {err}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        err: String,
    },
    /// An option has a bad value.
    #[error("invalid {option}: {message}")]
    Invalid {
        /// The option's flag name.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid(option: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        message: message.into(),
    }
}

/// The PEM files of the HTTPS listener (`--tls-cert`, `--tls-key`),
/// read at start and again at each SIGHUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The validated configuration of `herald serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// The certificate and key to serve HTTPS with; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Open Prometheus listener, if any.
    pub metrics_listen: Option<String>,
    /// Operational event receivers.
    pub alert_urls: Vec<String>,
    /// Their signing secret, if the operator set one.
    pub alert_secret: Option<String>,
    /// Alert rule thresholds.
    pub alert_thresholds: crate::domain::alert::Thresholds,
    /// Data directory (sled's, and where `--backup-dir` would be read
    /// relative to; a PostgreSQL store keeps nothing in it).
    pub data_dir: PathBuf,
    /// `--store` when it names PostgreSQL; `None`: sled in `data_dir`.
    pub postgres_url: Option<String>,
    /// Start with deliveries and alerts paused (`--paused`).
    pub paused: bool,
    /// Whether http:// endpoints are accepted.
    pub allow_http: bool,
    /// Private ranges deliveries may reach.
    pub allowed_networks: Vec<IpNet>,
    /// Delays between attempts.
    pub retry_schedule: Vec<Duration>,
    /// Per-attempt timeout.
    pub request_timeout: Duration,
    /// Delivery worker threads.
    pub workers: usize,
    /// Requests in flight to one endpoint at most.
    pub per_endpoint_concurrency: usize,
    /// Concurrent API connections asked for (the open-file limit may
    /// lower it at start: `domain::limits::connection_budget`).
    pub max_connections: usize,
    /// Each API key's request budgets.
    pub rate_limits: crate::service::RateLimits,
    /// Retention of delivered data.
    pub retention: Duration,
    /// Secret rotation overlap.
    pub secret_overlap: Duration,
    /// Auto-disable period for failing endpoints.
    pub disable_after: Duration,
    /// Largest accepted event, bytes.
    pub max_event_size: usize,
    /// The ingest memory budget, bytes (0: off).
    pub ingest_memory: usize,
    /// Disk kept free on the data directory's filesystem, bytes.
    pub disk_reserve: u64,
    /// Scheduled backups (`--backup-dir`), if on.
    pub backups: Option<crate::service::BackupPlan>,
    /// Storage cache, bytes.
    pub cache_bytes: u64,
    /// The tenant portal's framing origins, theme and longest session.
    pub portal: crate::domain::portal::PortalConfig,
    /// `HERALD_ADMIN_PASSWORD`, used on first start only.
    pub admin_password: Option<String>,
    /// `HERALD_PLATFORM_KEY`, used on first start only.
    pub platform_key: Option<String>,
}

impl Config {
    /// Where the store lives.
    pub fn store_location(&self) -> crate::store::Location {
        match &self.postgres_url {
            Some(url) => crate::store::Location::Postgres { url: url.clone() },
            None => crate::store::Location::Sled {
                dir: self.data_dir.clone(),
                cache_bytes: self.cache_bytes,
            },
        }
    }
}

impl Config {
    /// The network policy deliveries and URL checks follow.
    pub fn ip_policy(&self) -> IpPolicy {
        IpPolicy::new(self.allowed_networks.clone())
    }
}

/// The portal options, validated (each error names its option).
fn portal_config(
    ancestors: &[String],
    name: String,
    accent: Option<String>,
    logo_url: Option<String>,
    max_session: &str,
) -> Result<crate::domain::portal::PortalConfig, ConfigError> {
    use crate::domain::portal as p;
    if ancestors.len() > p::MAX_FRAME_ANCESTORS {
        return Err(invalid(
            SPEC.portal_frame_ancestors.flag,
            format!("at most {} origins", p::MAX_FRAME_ANCESTORS),
        ));
    }
    let frame_ancestors = ancestors
        .iter()
        .map(|a| p::parse_frame_ancestor(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid(SPEC.portal_frame_ancestors.flag, m))?;
    p::validate_product_name(&name).map_err(|m| invalid(SPEC.portal_name.flag, m))?;
    let accent = accent
        .map(|a| p::parse_accent(&a))
        .transpose()
        .map_err(|m| invalid(SPEC.portal_accent.flag, m))?;
    if let Some(u) = &logo_url {
        p::validate_logo_url(u).map_err(|m| invalid(SPEC.portal_logo_url.flag, m))?;
    }
    let max = parse_duration(SPEC.portal_max_session.flag, max_session)?.as_secs();
    if !(60..=30 * 86_400).contains(&max) {
        return Err(invalid(
            SPEC.portal_max_session.flag,
            "must be 1 minute to 30 days",
        ));
    }
    Ok(p::PortalConfig {
        frame_ancestors,
        name,
        accent,
        logo_url,
        max_session_secs: max,
    })
}

/// Parses a duration such as `30s`, `5m`, `2h`, `1d`.
pub fn parse_duration(option: &'static str, s: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        invalid(
            option,
            format!("{s:?} is not a duration like 30s, 5m, 2h ({e})"),
        )
    })
}

/// Parses a retry schedule: comma-separated durations, each 1 s to 7 days.
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, ConfigError> {
    let steps = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| parse_duration(SPEC.retry_schedule.flag, p))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.len() > 20 {
        return Err(invalid(SPEC.retry_schedule.flag, "at most 20 steps"));
    }
    if let Some(bad) = steps
        .iter()
        .find(|d| **d < Duration::from_secs(1) || **d > Duration::from_secs(7 * 86_400))
    {
        return Err(invalid(
            SPEC.retry_schedule.flag,
            format!("each step must be 1s to 7d, got {bad:?}"),
        ));
    }
    Ok(steps)
}

/// A per-key budget from its rate and burst options: a rate of 0 is off;
/// an unset burst is twice the rate (a second's worth of slack).
fn rate(
    rate_spec: &OptionSpec,
    per_second: u32,
    burst_spec: &OptionSpec,
    burst: Option<u32>,
) -> Result<crate::domain::ratelimit::Rate, ConfigError> {
    if per_second > 1_000_000 {
        return Err(invalid(rate_spec.flag, "must be 0 (off) to 1000000"));
    }
    let burst = burst.unwrap_or(per_second.saturating_mul(2));
    if per_second > 0 && !(1..=10_000_000).contains(&burst) {
        return Err(invalid(burst_spec.flag, "must be 1 to 10000000"));
    }
    Ok(crate::domain::ratelimit::Rate { per_second, burst })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Read {
        path: path.display().to_string(),
        err,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        err: e.to_string(),
    })
}

impl ServeArgs {
    /// Merges flags/env over the file over the defaults (the option table
    /// in `options` does that), then validates the merged values.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        // Named field by field, so an option added to the table and not
        // handled here does not compile.
        let RawOptions {
            config: _read_above,
            listen,
            tls_cert,
            tls_key,
            metrics_listen,
            alert_url: alert_urls,
            alert_secret,
            alert_failure_rate,
            alert_min_sample,
            alert_slow,
            alert_down_after,
            alert_window,
            store,
            data_dir,
            paused,
            allow_http,
            allow_private_networks,
            retry_schedule,
            request_timeout,
            workers,
            per_endpoint_concurrency,
            max_connections,
            ingest_rate,
            ingest_burst,
            management_rate,
            management_burst,
            ingest_memory_mb,
            disk_reserve_mb,
            backup_dir,
            backup_every,
            backup_keep,
            portal_frame_ancestors,
            portal_name,
            portal_accent,
            portal_logo_url,
            portal_max_session,
            retention,
            secret_overlap,
            disable_after,
            max_event_size,
            cache_mb,
        } = self.merge(file)?;

        let tls = match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    SPEC.tls_key.flag,
                    format!("missing: {} needs it", SPEC.tls_cert.flag),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    SPEC.tls_cert.flag,
                    format!("missing: {} needs it", SPEC.tls_key.flag),
                ))
            }
        };
        let portal = portal_config(
            &portal_frame_ancestors,
            portal_name,
            portal_accent,
            portal_logo_url,
            &portal_max_session,
        )?;
        for u in &alert_urls {
            url::Url::parse(u)
                .map_err(|e| invalid(SPEC.alert_url.flag, format!("{u:?} is not a URL ({e})")))?;
        }
        if let Some(s) = &alert_secret {
            if crate::wire::signing::Signer::new(&[s.as_str()]).is_err() {
                return Err(invalid(
                    SPEC.alert_secret.flag,
                    "must be whsec_ followed by base64",
                ));
            }
        }
        // Rules the options do not reach (e.g. slow_timeouts) keep the
        // domain's values.
        let mut alert_thresholds = crate::domain::alert::Thresholds::default();
        if !(0.0..1.0).contains(&alert_failure_rate) {
            return Err(invalid(
                SPEC.alert_failure_rate.flag,
                "must be a fraction from 0 to 1",
            ));
        }
        alert_thresholds.failure_rate = alert_failure_rate;
        alert_thresholds.failure_rate_resolve = alert_failure_rate / 2.0;
        alert_thresholds.min_sample = alert_min_sample.max(1);
        alert_thresholds.slow_p95_ms =
            parse_duration(SPEC.alert_slow.flag, &alert_slow)?.as_millis() as u64;
        alert_thresholds.down_after = alert_down_after.max(1);
        let window = parse_duration(SPEC.alert_window.flag, &alert_window)?;
        if window < Duration::from_secs(60) || window > Duration::from_secs(6 * 3600) {
            return Err(invalid(SPEC.alert_window.flag, "must be 1m to 6h"));
        }
        alert_thresholds.window_ms = window.as_millis() as i64;

        let allowed_networks = IpPolicy::parse_list(&allow_private_networks)
            .map_err(|e| invalid(SPEC.allow_private_networks.flag, e.to_string()))?;
        let retry_schedule = parse_schedule(&retry_schedule)?;
        let request_timeout = parse_duration(SPEC.request_timeout.flag, &request_timeout)?;
        if request_timeout < Duration::from_millis(100)
            || request_timeout > Duration::from_secs(300)
        {
            return Err(invalid(SPEC.request_timeout.flag, "must be 100ms to 5m"));
        }
        if !(1..=512).contains(&workers) {
            return Err(invalid(SPEC.workers.flag, "must be 1 to 512"));
        }
        if !(1..=256).contains(&per_endpoint_concurrency) {
            return Err(invalid(
                SPEC.per_endpoint_concurrency.flag,
                "must be 1 to 256",
            ));
        }
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(invalid(SPEC.max_connections.flag, "must be 1 to 1000000"));
        }
        let rate_limits = crate::service::RateLimits {
            ingest: rate(
                &SPEC.ingest_rate,
                ingest_rate,
                &SPEC.ingest_burst,
                ingest_burst,
            )?,
            management: rate(
                &SPEC.management_rate,
                management_rate,
                &SPEC.management_burst,
                management_burst,
            )?,
        };
        let backups = match backup_dir {
            None => None,
            Some(dir) => {
                let every = parse_duration(SPEC.backup_every.flag, &backup_every)?;
                if every < Duration::from_secs(60) {
                    return Err(invalid(SPEC.backup_every.flag, "must be at least 1m"));
                }
                if !(1..=10_000).contains(&backup_keep) {
                    return Err(invalid(SPEC.backup_keep.flag, "must be 1 to 10000"));
                }
                Some(crate::service::BackupPlan {
                    dir,
                    every,
                    keep: backup_keep,
                })
            }
        };
        let retention = parse_duration(SPEC.retention.flag, &retention)?;
        if retention < Duration::from_secs(3600) {
            return Err(invalid(SPEC.retention.flag, "must be at least 1h"));
        }
        let secret_overlap = parse_duration(SPEC.secret_overlap.flag, &secret_overlap)?;
        let disable_after = parse_duration(SPEC.disable_after.flag, &disable_after)?;
        if disable_after < Duration::from_secs(60) {
            return Err(invalid(SPEC.disable_after.flag, "must be at least 1m"));
        }
        if !(1024..=16 * 1024 * 1024).contains(&max_event_size) {
            return Err(invalid(SPEC.max_event_size.flag, "must be 1 KiB to 16 MiB"));
        }
        if ingest_memory_mb > 1_048_576 {
            return Err(invalid(SPEC.ingest_memory_mb.flag, "must be 0 to 1048576"));
        }
        if disk_reserve_mb > 1_048_576 {
            return Err(invalid(SPEC.disk_reserve_mb.flag, "must be 0 to 1048576"));
        }
        if !(4..=65_536).contains(&cache_mb) {
            return Err(invalid(SPEC.cache_mb.flag, "must be 4 to 65536"));
        }

        // Not serve options: read on the first start of an empty data
        // directory only, so they stay out of the table, the file and --help.
        let admin_password = std::env::var("HERALD_ADMIN_PASSWORD")
            .ok()
            .filter(|s| !s.is_empty());
        if admin_password
            .as_ref()
            .is_some_and(|p| p.len() < crate::domain::user::MIN_PASSWORD_LEN)
        {
            return Err(invalid(
                "HERALD_ADMIN_PASSWORD",
                "must be at least 8 characters",
            ));
        }
        let platform_key = std::env::var("HERALD_PLATFORM_KEY")
            .ok()
            .filter(|s| !s.is_empty());
        if platform_key
            .as_ref()
            .is_some_and(|k| k.len() < MIN_SUPPLIED_KEY_LEN)
        {
            return Err(invalid(
                "HERALD_PLATFORM_KEY",
                format!("must be at least {MIN_SUPPLIED_KEY_LEN} characters"),
            ));
        }
        // `--store sled:DIR` is `--data-dir DIR`; `postgres://…` keeps the
        // data in the database.
        let (data_dir, postgres_url) = match store.as_deref() {
            None => (data_dir, None),
            Some(text) => match crate::store::Location::parse(text, 0) {
                Some(crate::store::Location::Sled { dir, .. }) => (dir, None),
                Some(crate::store::Location::Postgres { url }) => (data_dir, Some(url)),
                None => {
                    return Err(invalid(
                        SPEC.store.flag,
                        "must be sled:DIR or a postgres://user@host:port/db URL",
                    ))
                }
            },
        };
        Ok(Config {
            listen,
            tls,
            metrics_listen,
            alert_urls,
            alert_secret,
            alert_thresholds,
            data_dir,
            postgres_url,
            paused,
            allow_http,
            allowed_networks,
            retry_schedule,
            request_timeout,
            workers,
            per_endpoint_concurrency,
            max_connections,
            rate_limits,
            retention,
            secret_overlap,
            disable_after,
            max_event_size,
            ingest_memory: (ingest_memory_mb as usize).saturating_mul(1024 * 1024),
            disk_reserve: disk_reserve_mb << 20,
            backups,
            cache_bytes: cache_mb * 1024 * 1024,
            portal,
            admin_password,
            platform_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_parsing() {
        let s = parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap();
        let secs: Vec<u64> = s.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, vec![300, 1800, 7200, 43_200, 86_400]);
        assert_eq!(parse_schedule("1s, 2s,3s").unwrap().len(), 3);
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("0s").is_err());
        assert!(parse_schedule("30d").is_err());
    }

    #[test]
    fn rate_limits_are_off_by_default_and_the_burst_defaults_to_twice_the_rate() {
        use crate::domain::ratelimit::Rate;
        let c = ServeArgs::default().resolve().unwrap();
        assert!(c.rate_limits.ingest.is_off() && c.rate_limits.management.is_off());
        assert_eq!(c.max_connections, 10_000);
        let c = ServeArgs {
            ingest_rate: Some(50),
            management_rate: Some(5),
            management_burst: Some(7),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let rate = |per_second, burst| Rate { per_second, burst };
        assert_eq!(c.rate_limits.ingest, rate(50, 100));
        assert_eq!(c.rate_limits.management, rate(5, 7));
        let bad = ServeArgs {
            ingest_rate: Some(5),
            ingest_burst: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            bad.resolve(),
            Err(ConfigError::Invalid {
                option: "--ingest-burst",
                ..
            })
        ));
        let bad = ServeArgs {
            max_connections: Some(0),
            ..Default::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn tls_needs_both_files() {
        let c = ServeArgs::default().resolve().unwrap();
        assert_eq!(c.tls, None, "plain HTTP by default");
        let both = ServeArgs {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            both.resolve().unwrap().tls,
            Some(TlsFiles {
                cert: "cert.pem".into(),
                key: "key.pem".into()
            })
        );
        let cert_only = ServeArgs {
            tls_cert: Some("cert.pem".into()),
            ..Default::default()
        };
        let err = cert_only.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid --tls-key: missing: --tls-cert needs it"
        );
        let key_only = ServeArgs {
            tls_key: Some("key.pem".into()),
            ..Default::default()
        };
        assert!(matches!(
            key_only.resolve(),
            Err(ConfigError::Invalid {
                option: "--tls-cert",
                ..
            })
        ));
    }

    #[test]
    fn file_values_apply_under_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nallow_http = true\nretry_schedule = [\"1s\", \"2s\"]\nworkers = 3\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            workers: Some(5),
            ..Default::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.listen, "127.0.0.1:9999");
        assert!(c.allow_http);
        assert_eq!(c.retry_schedule.len(), 2);
        assert_eq!(c.workers, 5, "the flag beats the file");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));

        std::fs::write(&path, "bogus_key = 1\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(args.resolve(), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn every_alert_option_and_disable_after_reach_the_config() {
        let c = ServeArgs {
            alert_failure_rate: Some(0.5),
            alert_min_sample: Some(4),
            alert_slow: Some("300ms".into()),
            alert_down_after: Some(3),
            alert_window: Some("2m".into()),
            disable_after: Some("90m".into()),
            metrics_listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let t = &c.alert_thresholds;
        assert_eq!((t.failure_rate, t.failure_rate_resolve), (0.5, 0.25));
        assert_eq!(t.min_sample, 4);
        assert_eq!(t.slow_p95_ms, 300);
        assert_eq!(t.down_after, 3);
        assert_eq!(t.window_ms, 120_000);
        assert_eq!(
            t.slow_timeouts,
            crate::domain::alert::Thresholds::default().slow_timeouts,
            "no option reaches it"
        );
        assert_eq!(c.disable_after, Duration::from_secs(90 * 60));
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9100"));
        // Zeros mean at least one, not "always".
        let c = ServeArgs {
            alert_min_sample: Some(0),
            alert_down_after: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            (c.alert_thresholds.min_sample, c.alert_thresholds.down_after),
            (1, 1)
        );
        let refused = |args: ServeArgs, flag: &str| {
            let err = args.resolve().unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { option, .. } if *option == flag),
                "{flag}: {err}"
            );
        };
        for rate in [1.0, -0.1, 2.0] {
            refused(
                ServeArgs {
                    alert_failure_rate: Some(rate),
                    ..Default::default()
                },
                "--alert-failure-rate",
            );
        }
        for window in ["59s", "7h", "soon"] {
            refused(
                ServeArgs {
                    alert_window: Some(window.into()),
                    ..Default::default()
                },
                "--alert-window",
            );
        }
        refused(
            ServeArgs {
                alert_slow: Some("fast".into()),
                ..Default::default()
            },
            "--alert-slow",
        );
        refused(
            ServeArgs {
                disable_after: Some("30s".into()),
                ..Default::default()
            },
            "--disable-after",
        );
    }
}
