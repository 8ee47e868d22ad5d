//! Configuration: raw flags, `HERALD_*` environment and an optional TOML
//! file, merged and validated into the [`Config`] the program uses.
//!
//! Precedence: command-line flag, then environment variable (clap reads
//! both into [`ServeArgs`]), then the `--config` file, then the defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

use crate::domain::apikey::MIN_SUPPLIED_KEY_LEN;
use crate::domain::netguard::IpPolicy;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The seed's retry schedule.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5m,30m,2h,12h,24h";

/// `herald serve` options. Every one can also come from the environment or
/// the `--config` file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML file with any of the options below (keys as the long flag names
    /// with `_` for `-`, e.g. `data_dir = "/var/lib/herald"`).
    #[arg(long, env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on; port 0 picks a free port (the bound address is
    /// logged). [default: 127.0.0.1:8080]
    #[arg(long, env = "HERALD_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// Also serve Prometheus `/metrics` here, without authentication (on the
    /// API listener it needs the platform key). [default: off]
    #[arg(long, env = "HERALD_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,

    /// URL that receives operational events (alert.firing, alert.resolved,
    /// endpoint.disabled), signed and retried like any delivery; repeat or
    /// comma-separate for several. [default: none]
    #[arg(
        long,
        env = "HERALD_ALERT_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub alert_url: Vec<String>,

    /// Signing secret (`whsec_…`) for the alert URLs' deliveries, so the
    /// operator can verify them. [default: generated]
    #[arg(
        long,
        env = "HERALD_ALERT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub alert_secret: Option<String>,

    /// Alert when more than this fraction of attempts fail over the alert
    /// window. [default: 0.05]
    #[arg(long, env = "HERALD_ALERT_FAILURE_RATE", value_name = "FRACTION")]
    pub alert_failure_rate: Option<f64>,

    /// Attempts needed in the window before the failure rate counts. [default: 20]
    #[arg(long, env = "HERALD_ALERT_MIN_SAMPLE", value_name = "N")]
    pub alert_min_sample: Option<u64>,

    /// Alert when the p95 response time over the window exceeds this. [default: 5s]
    #[arg(long, env = "HERALD_ALERT_SLOW", value_name = "DURATION")]
    pub alert_slow: Option<String>,

    /// Alert "endpoint down" after this many consecutive failures. [default: 5]
    #[arg(long, env = "HERALD_ALERT_DOWN_AFTER", value_name = "N")]
    pub alert_down_after: Option<u32>,

    /// The window the failure-rate and slow-response alerts look at. [default: 15m]
    #[arg(long, env = "HERALD_ALERT_WINDOW", value_name = "DURATION")]
    pub alert_window: Option<String>,

    /// Directory holding all of Herald's data. [default: ./data]
    #[arg(long, env = "HERALD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Accept http:// endpoint URLs (otherwise https only). [default: false]
    #[arg(long, env = "HERALD_ALLOW_HTTP", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true")]
    pub allow_http: Option<bool>,

    /// Comma-separated CIDR ranges deliveries may reach although they are
    /// loopback/private/link-local, e.g. 127.0.0.0/8,10.0.0.0/8. [default: none]
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_NETWORKS", value_name = "CIDRS")]
    pub allow_private_networks: Option<String>,

    /// Delays between attempts after the immediate one; the delivery fails
    /// for good after the last. [default: 5m,30m,2h,12h,24h]
    #[arg(long, env = "HERALD_RETRY_SCHEDULE", value_name = "DURATIONS")]
    pub retry_schedule: Option<String>,

    /// Whole-request timeout of one delivery attempt. [default: 15s]
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// Delivery worker threads. [default: 16]
    #[arg(long, env = "HERALD_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// How long delivered events and attempt logs are kept. [default: 30d]
    #[arg(long, env = "HERALD_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,

    /// How long a rotated-out signing secret keeps signing. [default: 24h]
    #[arg(long, env = "HERALD_SECRET_OVERLAP", value_name = "DURATION")]
    pub secret_overlap: Option<String>,

    /// Disable an endpoint that has failed continuously this long with no
    /// success. [default: 5d]
    #[arg(long, env = "HERALD_DISABLE_AFTER", value_name = "DURATION")]
    pub disable_after: Option<String>,

    /// Largest accepted event, in bytes. [default: 262144]
    #[arg(long, env = "HERALD_MAX_EVENT_SIZE", value_name = "BYTES")]
    pub max_event_size: Option<usize>,

    /// Storage page cache, in MiB. [default: 64]
    #[arg(long, env = "HERALD_CACHE_MB", value_name = "MIB")]
    pub cache_mb: Option<u64>,
}

/// The `--config` file: the same options as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    alert_url: Option<StringOrList>,
    alert_secret: Option<String>,
    alert_failure_rate: Option<f64>,
    alert_min_sample: Option<u64>,
    alert_slow: Option<String>,
    alert_down_after: Option<u32>,
    alert_window: Option<String>,
    data_dir: Option<PathBuf>,
    allow_http: Option<bool>,
    allow_private_networks: Option<StringOrList>,
    retry_schedule: Option<StringOrList>,
    request_timeout: Option<String>,
    workers: Option<usize>,
    retention: Option<String>,
    secret_overlap: Option<String>,
    disable_after: Option<String>,
    max_event_size: Option<usize>,
    cache_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn joined(self) -> String {
        match self {
            StringOrList::One(s) => s,
            StringOrList::Many(v) => v.join(","),
        }
    }
}

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

/// The validated configuration of `herald serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: String,
    /// Open Prometheus listener, if any.
    pub metrics_listen: Option<String>,
    /// Operational event receivers.
    pub alert_urls: Vec<String>,
    /// Their signing secret, if the operator set one.
    pub alert_secret: Option<String>,
    /// Alert rule thresholds.
    pub alert_thresholds: crate::domain::alert::Thresholds,
    /// Data directory.
    pub data_dir: PathBuf,
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
    /// Retention of delivered data.
    pub retention: Duration,
    /// Secret rotation overlap.
    pub secret_overlap: Duration,
    /// Auto-disable period for failing endpoints.
    pub disable_after: Duration,
    /// Largest accepted event, bytes.
    pub max_event_size: usize,
    /// Storage cache, bytes.
    pub cache_bytes: u64,
    /// `HERALD_ADMIN_PASSWORD`, used on first start only.
    pub admin_password: Option<String>,
    /// `HERALD_PLATFORM_KEY`, used on first start only.
    pub platform_key: Option<String>,
}

impl Config {
    /// Where the store lives.
    pub fn store_location(&self) -> crate::store::Location {
        crate::store::Location::Sled {
            dir: self.data_dir.clone(),
            cache_bytes: self.cache_bytes,
        }
    }
}

impl Config {
    /// The network policy deliveries and URL checks follow.
    pub fn ip_policy(&self) -> IpPolicy {
        IpPolicy::new(self.allowed_networks.clone())
    }
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
        .map(|p| parse_duration("--retry-schedule", p))
        .collect::<Result<Vec<_>, _>>()?;
    if steps.len() > 20 {
        return Err(invalid("--retry-schedule", "at most 20 steps"));
    }
    if let Some(bad) = steps
        .iter()
        .find(|d| **d < Duration::from_secs(1) || **d > Duration::from_secs(7 * 86_400))
    {
        return Err(invalid(
            "--retry-schedule",
            format!("each step must be 1s to 7d, got {bad:?}"),
        ));
    }
    Ok(steps)
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
    /// Merges flags/env over the file over the defaults, and validates.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let metrics_listen = self.metrics_listen.or(file.metrics_listen);
        let alert_urls: Vec<String> = if self.alert_url.is_empty() {
            file.alert_url
                .map(StringOrList::joined)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            self.alert_url
        };
        for u in &alert_urls {
            url::Url::parse(u)
                .map_err(|e| invalid("--alert-url", format!("{u:?} is not a URL ({e})")))?;
        }
        let alert_secret = self.alert_secret.or(file.alert_secret);
        if let Some(s) = &alert_secret {
            if crate::signing::Signer::new(&[s.as_str()]).is_err() {
                return Err(invalid(
                    "--alert-secret",
                    "must be whsec_ followed by base64",
                ));
            }
        }
        let mut alert_thresholds = crate::domain::alert::Thresholds::default();
        if let Some(r) = self.alert_failure_rate.or(file.alert_failure_rate) {
            if !(0.0..1.0).contains(&r) {
                return Err(invalid(
                    "--alert-failure-rate",
                    "must be a fraction from 0 to 1",
                ));
            }
            alert_thresholds.failure_rate = r;
            alert_thresholds.failure_rate_resolve = r / 2.0;
        }
        if let Some(n) = self.alert_min_sample.or(file.alert_min_sample) {
            alert_thresholds.min_sample = n.max(1);
        }
        if let Some(d) = self.alert_slow.or(file.alert_slow) {
            alert_thresholds.slow_p95_ms = parse_duration("--alert-slow", &d)?.as_millis() as u64;
        }
        if let Some(n) = self.alert_down_after.or(file.alert_down_after) {
            alert_thresholds.down_after = n.max(1);
        }
        if let Some(d) = self.alert_window.or(file.alert_window) {
            let w = parse_duration("--alert-window", &d)?;
            if w < Duration::from_secs(60) || w > Duration::from_secs(6 * 3600) {
                return Err(invalid("--alert-window", "must be 1m to 6h"));
            }
            alert_thresholds.window_ms = w.as_millis() as i64;
        }
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let allow_http = self.allow_http.or(file.allow_http).unwrap_or(false);
        let nets = self
            .allow_private_networks
            .or(file.allow_private_networks.map(StringOrList::joined))
            .unwrap_or_default();
        let allowed_networks = IpPolicy::parse_list(&nets)
            .map_err(|e| invalid("--allow-private-networks", e.to_string()))?;
        let schedule = self
            .retry_schedule
            .or(file.retry_schedule.map(StringOrList::joined))
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.to_string());
        let retry_schedule = parse_schedule(&schedule)?;
        let request_timeout = parse_duration(
            "--request-timeout",
            &self
                .request_timeout
                .or(file.request_timeout)
                .unwrap_or("15s".into()),
        )?;
        if request_timeout < Duration::from_millis(100)
            || request_timeout > Duration::from_secs(300)
        {
            return Err(invalid("--request-timeout", "must be 100ms to 5m"));
        }
        let workers = self.workers.or(file.workers).unwrap_or(16);
        if !(1..=512).contains(&workers) {
            return Err(invalid("--workers", "must be 1 to 512"));
        }
        let retention = parse_duration(
            "--retention",
            &self.retention.or(file.retention).unwrap_or("30d".into()),
        )?;
        if retention < Duration::from_secs(3600) {
            return Err(invalid("--retention", "must be at least 1h"));
        }
        let secret_overlap = parse_duration(
            "--secret-overlap",
            &self
                .secret_overlap
                .or(file.secret_overlap)
                .unwrap_or("24h".into()),
        )?;
        let disable_after = parse_duration(
            "--disable-after",
            &self
                .disable_after
                .or(file.disable_after)
                .unwrap_or("5d".into()),
        )?;
        if disable_after < Duration::from_secs(60) {
            return Err(invalid("--disable-after", "must be at least 1m"));
        }
        let max_event_size = self
            .max_event_size
            .or(file.max_event_size)
            .unwrap_or(256 * 1024);
        if !(1024..=16 * 1024 * 1024).contains(&max_event_size) {
            return Err(invalid("--max-event-size", "must be 1 KiB to 16 MiB"));
        }
        let cache_mb = self.cache_mb.or(file.cache_mb).unwrap_or(64);
        if !(4..=65_536).contains(&cache_mb) {
            return Err(invalid("--cache-mb", "must be 4 to 65536"));
        }
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
        Ok(Config {
            listen,
            metrics_listen,
            alert_urls,
            alert_secret,
            alert_thresholds,
            data_dir,
            allow_http,
            allowed_networks,
            retry_schedule,
            request_timeout,
            workers,
            retention,
            secret_overlap,
            disable_after,
            max_event_size,
            cache_bytes: cache_mb * 1024 * 1024,
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
}
