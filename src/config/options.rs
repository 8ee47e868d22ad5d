//! The `herald serve` option table: each option is written once, in the
//! [`options!`] invocation below, and that one entry makes
//!
//! - its [`ServeArgs`] field, the clap argument (`--flag`, `HERALD_…`
//!   environment variable, help text ending in `[default: …]`);
//! - its [`FileConfig`] field, the `--config` TOML key (the field name);
//! - its [`OptionSpec`] in [`OPTIONS`] and [`SPEC`]: flag, env, TOML key,
//!   default, help — what `--help`, error messages, the README test and the
//!   merge read;
//! - its step in [`ServeArgs::merge`]: flag or env, else the file, else the
//!   default, into one [`RawOptions`] field that `resolve` validates.
//!
//! How the three sources combine depends on the option's *shape* (a type
//! implementing [`Merge`]): a plain value, a value that may stay unset, a
//! comma-separated list, a repeatable flag, or a flag that is not a file key.

use std::fmt::Display;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use serde::Deserialize;

/// What an option is when nothing sets it, as `--help` and the README show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, read as the flag's text would be (`"16"`, `"15s"`).
    Value(&'static str),
    /// No value; the word says what that means (`"off"`, `"none"`,
    /// `"generated"`).
    Unset(&'static str),
}

impl Fallback {
    /// The text shown after `[default: ` in `--help` and in the README.
    pub const fn shown(self) -> &'static str {
        match self {
            Fallback::Value(s) | Fallback::Unset(s) => s,
        }
    }
}

/// One `herald serve` option, as the table defines it.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The long flag, e.g. `--data-dir` (also the name errors report).
    pub flag: &'static str,
    /// The environment variable, e.g. `HERALD_DATA_DIR`.
    pub env: &'static str,
    /// The key in the `--config` file (`data_dir`), if the file may set it.
    pub toml_key: Option<&'static str>,
    /// The default.
    pub default: Fallback,
    /// The doc comment's lines, as the macro received them.
    doc: &'static [&'static str],
}

impl OptionSpec {
    /// The help text: the doc comment on one line, then `[default: …]`.
    pub fn help(&self) -> String {
        let text: Vec<&str> = self.doc.iter().map(|l| l.trim()).collect();
        format!("{} [default: {}]", text.join(" "), self.default.shown())
    }
}

/// How one option's sources combine into its raw value: the flag or its
/// environment variable (clap has already chosen between those), else the
/// file, else the default. The associated types tie together the field
/// types the macro writes, so a mismatched entry does not compile.
pub(super) trait Merge {
    /// The `ServeArgs` field (what clap parsed).
    type Flag;
    /// The value in the TOML file.
    type File;
    /// The merged value that `resolve` validates.
    type Raw;
    /// Whether the file may set this option at all.
    const IN_FILE: bool = true;
    /// Combines; an `Err` says what is wrong with the built-in default.
    fn merge(
        flag: Self::Flag,
        file: Option<Self::File>,
        default: Fallback,
    ) -> Result<Self::Raw, String>;
}

/// Reads a built-in default like a flag's text. It can only fail if the
/// table is wrong, which a unit test rules out; still an error, never a
/// panic.
fn parse_default<T: FromStr>(default: Fallback) -> Result<T, String>
where
    T::Err: Display,
{
    match default {
        Fallback::Value(s) => s
            .parse()
            .map_err(|e| format!("built-in default {s:?} does not parse ({e})")),
        Fallback::Unset(word) => Err(format!("has no built-in value ({word})")),
    }
}

/// A value that always has one: the default is a [`Fallback::Value`].
pub(super) struct Plain<T>(PhantomData<T>);

impl<T: FromStr> Merge for Plain<T>
where
    T::Err: Display,
{
    type Flag = Option<T>;
    type File = T;
    type Raw = T;
    fn merge(flag: Option<T>, file: Option<T>, default: Fallback) -> Result<T, String> {
        match flag.or(file) {
            Some(v) => Ok(v),
            None => parse_default(default),
        }
    }
}

/// A value that may stay unset ([`Fallback::Unset`]), e.g. the metrics
/// listener.
pub(super) struct Maybe<T>(PhantomData<T>);

impl<T: FromStr> Merge for Maybe<T>
where
    T::Err: Display,
{
    type Flag = Option<T>;
    type File = T;
    type Raw = Option<T>;
    fn merge(flag: Option<T>, file: Option<T>, default: Fallback) -> Result<Option<T>, String> {
        match (flag.or(file), default) {
            (Some(v), _) => Ok(Some(v)),
            (None, Fallback::Unset(_)) => Ok(None),
            (None, value) => parse_default(value).map(Some),
        }
    }
}

/// A TOML value that may be one string or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StringOrList {
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

/// A comma-separated list kept as one string (validation splits it); the
/// file may give a string or an array. Unset means the empty list.
pub(super) struct Joined;

impl Merge for Joined {
    type Flag = Option<String>;
    type File = StringOrList;
    type Raw = String;
    fn merge(
        flag: Option<String>,
        file: Option<StringOrList>,
        default: Fallback,
    ) -> Result<String, String> {
        Ok(match (flag, file, default) {
            (Some(v), _, _) => v,
            (None, Some(f), _) => f.joined(),
            (None, None, Fallback::Value(s)) => s.to_string(),
            (None, None, Fallback::Unset(_)) => String::new(),
        })
    }
}

/// A repeatable, comma-separated flag (clap splits it). The file may give a
/// comma-separated string or an array; its items are trimmed and empty ones
/// dropped. Any flag value replaces the file's list rather than adding to it.
pub(super) struct List;

impl Merge for List {
    type Flag = Vec<String>;
    type File = StringOrList;
    type Raw = Vec<String>;
    fn merge(
        flag: Vec<String>,
        file: Option<StringOrList>,
        default: Fallback,
    ) -> Result<Vec<String>, String> {
        if !flag.is_empty() {
            return Ok(flag);
        }
        let text = match (file, default) {
            (Some(f), _) => f.joined(),
            (None, Fallback::Value(s)) => s.to_string(),
            (None, Fallback::Unset(_)) => String::new(),
        };
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// No value can have this type, and it has no `Deserialize`: a
/// [`FlagOnly`] option's file field must be `#[serde(skip)]`, or the table
/// does not compile.
#[derive(Debug)]
pub(super) enum NotAFileKey {}

/// An option only a flag or the environment sets (`--config` names the
/// file, so the file cannot name itself). The file field is skipped, so
/// serde reports the key as unknown, like any other.
pub(super) struct FlagOnly<T>(PhantomData<T>);

impl<T: FromStr> Merge for FlagOnly<T>
where
    T::Err: Display,
{
    type Flag = Option<T>;
    type File = NotAFileKey;
    type Raw = Option<T>;
    const IN_FILE: bool = false;
    fn merge(
        flag: Option<T>,
        _file: Option<NotAFileKey>,
        default: Fallback,
    ) -> Result<Option<T>, String> {
        Maybe::<T>::merge(flag, None, default)
    }
}

/// Writes the option table's outputs from one list of entries:
///
/// ```text
/// /// Help text (the default is appended).
/// #[arg(…)]                       // optional: clap-only settings
/// #[serde(skip)]                  // only for FlagOnly options
/// name: FlagType as Shape {
///     flag: "--name", env: "HERALD_NAME", default: Value("…") | Unset("…"),
/// }
/// ```
///
/// `FlagType` is spelled out (rather than taken from the shape) because
/// clap's derive reads the field's written type to tell an optional value
/// (`Option<T>`) from a repeatable one (`Vec<T>`).
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])+
        $(#[arg($($arg:tt)*)])*
        $(#[serde($($serde:tt)*)])*
        $name:ident: $flag_ty:ty as $shape:ty {
            flag: $flag:literal,
            env: $env:literal,
            default: $default:expr $(,)?
        }
    )*) => {
        /// `herald serve` options, as clap parsed them from flags and
        /// `HERALD_*` variables (`None` or empty: not given). Every one but
        /// `--config` can also come from the `--config` file; see
        /// [`OPTIONS`] for flags, variables and defaults.
        #[derive(Debug, Clone, Default, Args)]
        pub struct ServeArgs {
            $(
                $(#[doc = $doc])+
                #[arg(long, env = $env, help = SPEC.$name.help())]
                $(#[arg($($arg)*)])*
                pub $name: $flag_ty,
            )*
        }

        /// The `--config` file: the same options, under the flag names with
        /// `_` for `-`. Unknown keys are an error.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct FileConfig {
            $(
                $(#[serde($($serde)*)])*
                $name: Option<<$shape as Merge>::File>,
            )*
        }

        /// Every option merged (flag or env, else file, else default), not
        /// yet validated.
        pub(super) struct RawOptions {
            $( pub(super) $name: <$shape as Merge>::Raw, )*
        }

        /// The specification of each option, by name.
        #[derive(Debug, Clone, Copy)]
        pub struct Specs {
            $(
                #[doc = concat!("`", $flag, "`.")]
                pub $name: OptionSpec,
            )*
        }

        /// Each option's specification, by name (`SPEC.workers.flag`).
        pub const SPEC: Specs = Specs {
            $(
                $name: OptionSpec {
                    flag: $flag,
                    env: $env,
                    toml_key: if <$shape as Merge>::IN_FILE {
                        Some(stringify!($name))
                    } else {
                        None
                    },
                    default: $default,
                    doc: &[$($doc),+],
                },
            )*
        };

        /// Every option, in `--help` order.
        pub static OPTIONS: &[OptionSpec] = &[$(SPEC.$name),*];

        impl ServeArgs {
            /// Takes each option from the flag or env, else `file`, else its
            /// default. An error only if a built-in default is malformed.
            pub(super) fn merge(
                self,
                file: FileConfig,
            ) -> Result<RawOptions, super::ConfigError> {
                Ok(RawOptions {
                    $(
                        $name: <$shape as Merge>::merge(self.$name, file.$name, SPEC.$name.default)
                            .map_err(|m| super::invalid(SPEC.$name.flag, m))?,
                    )*
                })
            }
        }
    };
}

// The entries write `Value("…")` and `Unset("…")`.
use Fallback::{Unset, Value};

// The table. Its order is the order of `--help` and of the file keys that
// an unknown-key error lists; the README's configuration table follows it
// (a unit test compares them row by row).
options! {
    /// TOML file with any of the options below (keys as the long flag names
    /// with `_` for `-`, e.g. `data_dir = "/var/lib/herald"`).
    #[arg(value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf> as FlagOnly<PathBuf> {
        flag: "--config", env: "HERALD_CONFIG", default: Unset("none"),
    }

    /// Address to listen on; port 0 picks a free port (the bound address is
    /// logged).
    #[arg(value_name = "ADDR")]
    listen: Option<String> as Plain<String> {
        flag: "--listen", env: "HERALD_LISTEN", default: Value("127.0.0.1:8080"),
    }

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs
    /// `--tls-key`. SIGHUP reloads both files without dropping connections.
    #[arg(value_name = "FILE")]
    tls_cert: Option<PathBuf> as Maybe<PathBuf> {
        flag: "--tls-cert", env: "HERALD_TLS_CERT", default: Unset("off"),
    }

    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(value_name = "FILE")]
    tls_key: Option<PathBuf> as Maybe<PathBuf> {
        flag: "--tls-key", env: "HERALD_TLS_KEY", default: Unset("off"),
    }

    /// Also serve Prometheus `/metrics` here, without authentication (on the
    /// API listener it needs the platform key).
    #[arg(value_name = "ADDR")]
    metrics_listen: Option<String> as Maybe<String> {
        flag: "--metrics-listen", env: "HERALD_METRICS_LISTEN", default: Unset("off"),
    }

    /// URL that receives operational events (alert.firing, alert.resolved,
    /// endpoint.disabled), signed and retried like any delivery; repeat or
    /// comma-separate for several.
    #[arg(value_name = "URL", value_delimiter = ',')]
    alert_url: Vec<String> as List {
        flag: "--alert-url", env: "HERALD_ALERT_URL", default: Unset("none"),
    }

    /// Signing secret (`whsec_…`) for the alert URLs' deliveries, so the
    /// operator can verify them.
    #[arg(value_name = "SECRET", hide_env_values = true)]
    alert_secret: Option<String> as Maybe<String> {
        flag: "--alert-secret", env: "HERALD_ALERT_SECRET", default: Unset("generated"),
    }

    /// Alert when more than this fraction of attempts fail over the alert
    /// window.
    #[arg(value_name = "FRACTION")]
    alert_failure_rate: Option<f64> as Plain<f64> {
        flag: "--alert-failure-rate", env: "HERALD_ALERT_FAILURE_RATE", default: Value("0.05"),
    }

    /// Attempts needed in the window before the failure rate counts.
    #[arg(value_name = "N")]
    alert_min_sample: Option<u64> as Plain<u64> {
        flag: "--alert-min-sample", env: "HERALD_ALERT_MIN_SAMPLE", default: Value("20"),
    }

    /// Alert when the p95 response time over the window exceeds this.
    #[arg(value_name = "DURATION")]
    alert_slow: Option<String> as Plain<String> {
        flag: "--alert-slow", env: "HERALD_ALERT_SLOW", default: Value("5s"),
    }

    /// Alert "endpoint down" after this many consecutive failures.
    #[arg(value_name = "N")]
    alert_down_after: Option<u32> as Plain<u32> {
        flag: "--alert-down-after", env: "HERALD_ALERT_DOWN_AFTER", default: Value("5"),
    }

    /// The window the failure-rate and slow-response alerts look at.
    #[arg(value_name = "DURATION")]
    alert_window: Option<String> as Plain<String> {
        flag: "--alert-window", env: "HERALD_ALERT_WINDOW", default: Value("15m"),
    }

    /// Where Herald keeps its data: `sled:DIR` (sled in that directory:
    /// the same as `--data-dir DIR`) or `postgres://user@host:port/db` (a
    /// PostgreSQL database; Herald's tables in its schema `herald`).
    #[arg(value_name = "LOCATION")]
    store: Option<String> as Maybe<String> {
        flag: "--store", env: "HERALD_STORE", default: Unset("sled"),
    }

    /// Directory holding all of Herald's data.
    #[arg(value_name = "DIR")]
    data_dir: Option<PathBuf> as Plain<PathBuf> {
        flag: "--data-dir", env: "HERALD_DATA_DIR", default: Value("./data"),
    }

    /// Serve the API and the panel but send no deliveries and no alerts
    /// until resumed (`POST /api/v1/admin/resume`, the panel's button, or a
    /// start without it); ingest still stores events. For inspecting a
    /// restored or copied data directory.
    #[arg(value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    paused: Option<bool> as Plain<bool> {
        flag: "--paused", env: "HERALD_PAUSED", default: Value("false"),
    }

    /// Accept http:// endpoint URLs (otherwise https only).
    // A bare `--allow-http` means true; `--allow-http false` also parses.
    #[arg(value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    allow_http: Option<bool> as Plain<bool> {
        flag: "--allow-http", env: "HERALD_ALLOW_HTTP", default: Value("false"),
    }

    /// Comma-separated CIDR ranges deliveries may reach although they are
    /// loopback/private/link-local, e.g. 127.0.0.0/8,10.0.0.0/8.
    #[arg(value_name = "CIDRS")]
    allow_private_networks: Option<String> as Joined {
        flag: "--allow-private-networks", env: "HERALD_ALLOW_PRIVATE_NETWORKS",
        default: Unset("none"),
    }

    /// Delays between attempts after the immediate one; the delivery fails
    /// for good after the last.
    #[arg(value_name = "DURATIONS")]
    retry_schedule: Option<String> as Joined {
        flag: "--retry-schedule", env: "HERALD_RETRY_SCHEDULE",
        default: Value("5m,30m,2h,12h,24h"),
    }

    /// Whole-request timeout of one delivery attempt.
    #[arg(value_name = "DURATION")]
    request_timeout: Option<String> as Plain<String> {
        flag: "--request-timeout", env: "HERALD_REQUEST_TIMEOUT", default: Value("15s"),
    }

    /// Delivery worker threads.
    #[arg(value_name = "N")]
    workers: Option<usize> as Plain<usize> {
        flag: "--workers", env: "HERALD_WORKERS", default: Value("16"),
    }

    /// Requests in flight to one endpoint at most (one until its last
    /// attempt succeeded); with a shared PostgreSQL store, on all nodes
    /// together.
    #[arg(value_name = "N")]
    per_endpoint_concurrency: Option<usize> as Plain<usize> {
        flag: "--per-endpoint-concurrency", env: "HERALD_PER_ENDPOINT_CONCURRENCY", default: Value("4"),
    }

    /// Concurrent API connections, all HTTP workers together; more wait in
    /// the listen backlog. Lowered at start to what the open-file limit
    /// leaves after the delivery workers' and the store's descriptors.
    #[arg(value_name = "N")]
    max_connections: Option<usize> as Plain<usize> {
        flag: "--max-connections", env: "HERALD_MAX_CONNECTIONS", default: Value("10000"),
    }

    /// Ingest requests (`POST /api/v1/events`, `/events/batch`) each API
    /// key may make per second, refilled continuously; over it, 429
    /// `rate_limited` with `Retry-After`. 0 turns the limit off.
    #[arg(value_name = "N")]
    ingest_rate: Option<u32> as Plain<u32> {
        flag: "--ingest-rate", env: "HERALD_INGEST_RATE", default: Value("0"),
    }

    /// Ingest requests a key may make at once above its rate (the bucket's
    /// size).
    #[arg(value_name = "N")]
    ingest_burst: Option<u32> as Maybe<u32> {
        flag: "--ingest-burst", env: "HERALD_INGEST_BURST", default: Unset("auto"),
    }

    /// Other API calls each key may make per second; 0 turns the limit
    /// off.
    #[arg(value_name = "N")]
    management_rate: Option<u32> as Plain<u32> {
        flag: "--management-rate", env: "HERALD_MANAGEMENT_RATE", default: Value("0"),
    }

    /// Other API calls a key may make at once above its rate.
    #[arg(value_name = "N")]
    management_burst: Option<u32> as Maybe<u32> {
        flag: "--management-burst", env: "HERALD_MANAGEMENT_BURST", default: Unset("auto"),
    }

    /// Memory that batch bodies being parsed may take at once, all keys
    /// together, in MiB (a batch is costed at 17 bytes per body byte); each
    /// API key gets half. Past a key's half, 429 `key_busy`; past the
    /// whole, 503 `server_busy`; both with `Retry-After`. 0 turns it off.
    #[arg(value_name = "MIB")]
    ingest_memory_mb: Option<u64> as Plain<u64> {
        flag: "--ingest-memory-mb", env: "HERALD_INGEST_MEMORY_MB", default: Value("256"),
    }

    /// Disk space kept free on the data directory's filesystem, in MiB:
    /// below it new events are refused (507 `insufficient_storage`) while
    /// deliveries go on, `/readyz` fails and the `storage` alert fires.
    /// 0 turns the reserve off (a full disk still fails writes cleanly).
    #[arg(value_name = "MIB")]
    disk_reserve_mb: Option<u64> as Plain<u64> {
        flag: "--disk-reserve-mb", env: "HERALD_DISK_RESERVE_MB", default: Value("256"),
    }

    /// Write a backup (a verified dump, as `herald backup` writes) into this
    /// directory every `--backup-every`, keeping the newest
    /// `--backup-keep`. Off unless set.
    #[arg(value_name = "DIR")]
    backup_dir: Option<PathBuf> as Maybe<PathBuf> {
        flag: "--backup-dir", env: "HERALD_BACKUP_DIR", default: Unset("off"),
    }

    /// How often `--backup-dir` gets a backup (the first one is due at
    /// start when the newest there is older than this).
    #[arg(value_name = "DURATION")]
    backup_every: Option<String> as Plain<String> {
        flag: "--backup-every", env: "HERALD_BACKUP_EVERY", default: Value("6h"),
    }

    /// How many backups `--backup-dir` keeps (older ones are deleted once a
    /// new one is written and verified).
    #[arg(value_name = "N")]
    backup_keep: Option<usize> as Plain<usize> {
        flag: "--backup-keep", env: "HERALD_BACKUP_KEEP", default: Value("7"),
    }

    /// Origins allowed to frame the tenant portal (`frame-ancestors`), as
    /// scheme://host[:port]; repeat or comma-separate for several. Over
    /// TLS, portal cookies are then `SameSite=None; Secure` so they work
    /// inside the frame. Nothing may frame any page unless set.
    #[arg(value_name = "ORIGIN", value_delimiter = ',')]
    portal_frame_ancestors: Vec<String> as List {
        flag: "--portal-frame-ancestors", env: "HERALD_PORTAL_FRAME_ANCESTORS", default: Unset("none"),
    }

    /// The product name the tenant portal shows in its header.
    #[arg(value_name = "NAME")]
    portal_name: Option<String> as Plain<String> {
        flag: "--portal-name", env: "HERALD_PORTAL_NAME", default: Value("Webhooks"),
    }

    /// The tenant portal's accent colour, #rrggbb.
    #[arg(value_name = "COLOUR")]
    portal_accent: Option<String> as Maybe<String> {
        flag: "--portal-accent", env: "HERALD_PORTAL_ACCENT", default: Unset("none"),
    }

    /// URL of a logo, served by the platform, that the tenant portal shows
    /// beside its name.
    #[arg(value_name = "URL")]
    portal_logo_url: Option<String> as Maybe<String> {
        flag: "--portal-logo-url", env: "HERALD_PORTAL_LOGO_URL", default: Unset("none"),
    }

    /// The longest portal session a link may ask for (`expires_in`); a link
    /// asking for none gets one hour, or this if shorter.
    #[arg(value_name = "DURATION")]
    portal_max_session: Option<String> as Plain<String> {
        flag: "--portal-max-session", env: "HERALD_PORTAL_MAX_SESSION", default: Value("12h"),
    }

    /// How long delivered events and attempt logs are kept.
    #[arg(value_name = "DURATION")]
    retention: Option<String> as Plain<String> {
        flag: "--retention", env: "HERALD_RETENTION", default: Value("30d"),
    }

    /// How long a rotated-out signing secret keeps signing.
    #[arg(value_name = "DURATION")]
    secret_overlap: Option<String> as Plain<String> {
        flag: "--secret-overlap", env: "HERALD_SECRET_OVERLAP", default: Value("24h"),
    }

    /// Disable an endpoint that has failed continuously this long with no
    /// success.
    #[arg(value_name = "DURATION")]
    disable_after: Option<String> as Plain<String> {
        flag: "--disable-after", env: "HERALD_DISABLE_AFTER", default: Value("5d"),
    }

    /// Largest accepted event, in bytes.
    #[arg(value_name = "BYTES")]
    max_event_size: Option<usize> as Plain<usize> {
        flag: "--max-event-size", env: "HERALD_MAX_EVENT_SIZE", default: Value("262144"),
    }

    /// Storage page cache, in MiB.
    #[arg(value_name = "MIB")]
    cache_mb: Option<u64> as Plain<u64> {
        flag: "--cache-mb", env: "HERALD_CACHE_MB", default: Value("64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// `ServeArgs` wrapped as a command, as `herald serve` sees it.
    #[derive(Debug, clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn clap_arguments_follow_the_table() {
        let cmd = Serve::command();
        let args: Vec<_> = cmd
            .get_arguments()
            .filter(|a| a.get_id() != "help")
            .collect();
        assert_eq!(args.len(), OPTIONS.len(), "one argument per option");
        for (arg, spec) in args.iter().zip(OPTIONS) {
            assert_eq!(
                arg.get_long().map(|l| format!("--{l}")),
                Some(spec.flag.into())
            );
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(spec.env),
                "{}",
                spec.flag
            );
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                help.ends_with(&format!("[default: {}]", spec.default.shown())),
                "{}: {help}",
                spec.flag
            );
        }
    }

    #[test]
    fn file_keys_are_the_flag_names_with_underscores() {
        for spec in OPTIONS {
            let expected = spec.flag.trim_start_matches("--").replace('-', "_");
            match spec.toml_key {
                Some(key) => assert_eq!(key, expected),
                None => assert_eq!(spec.flag, "--config", "only --config is not a file key"),
            }
        }
    }

    #[test]
    fn the_file_cannot_name_a_config_file() {
        let err = toml::from_str::<FileConfig>("config = \"other.toml\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown field `config`"), "{err}");
    }

    #[test]
    fn the_defaults_are_valid_and_agree_with_the_alert_rules() {
        let c = ServeArgs::default().resolve().unwrap();
        assert_eq!(
            c.alert_thresholds,
            crate::domain::alert::Thresholds::default(),
            "the alert options' defaults are the domain's"
        );
        assert_eq!(c.listen, crate::config::DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(crate::config::DEFAULT_DATA_DIR));
        assert!(c.alert_urls.is_empty() && c.alert_secret.is_none());
        assert!(c.metrics_listen.is_none() && c.allowed_networks.is_empty());
    }

    /// The packaged `/etc/herald/herald.toml`: a header, then every file
    /// option as its help (wrapped) and its key commented out with the
    /// built-in default, except the keys in `set`, written as given.
    fn packaged_config(header: &str, set: &[(&str, &str)]) -> String {
        let mut out = header.to_string();
        for spec in OPTIONS {
            let Some(key) = spec.toml_key else { continue };
            out.push('\n');
            let text: Vec<&str> = spec.doc.iter().map(|l| l.trim()).collect();
            let mut line = String::from("#");
            for word in text.join(" ").split_whitespace() {
                if line.len() + 1 + word.len() > 76 {
                    out.push_str(&line);
                    out.push('\n');
                    line = String::from("#");
                }
                line.push(' ');
                line.push_str(word);
            }
            out.push_str(&line);
            out.push('\n');
            let value = match spec.default {
                Fallback::Value(v)
                    if v.parse::<i64>().is_ok()
                        || v.parse::<f64>().is_ok()
                        || v.parse::<bool>().is_ok() =>
                {
                    v.to_string()
                }
                Fallback::Value(v) => toml::Value::String(v.to_string()).to_string(),
                Fallback::Unset(word) => format!("…  (default: {word})"),
            };
            match set.iter().find(|(k, _)| *k == key) {
                Some((_, given)) => out.push_str(&format!("{key} = {given}\n")),
                None => out.push_str(&format!("# {key} = {value}\n")),
            }
        }
        out
    }

    const PACKAGED_HEADER: &str = "\
# /etc/herald/herald.toml: the herald service's configuration (its unit runs
# `herald serve --config /etc/herald/herald.toml`). Every option of
# `herald serve --help` may be set here, keyed by its flag name with `_`
# for `-`; a commented line shows the built-in default. Flags and HERALD_*
# variables (e.g. in /etc/herald/env) override this file. Apply a change
# with `systemctl restart herald`; a renewed TLS certificate needs only
# `systemctl reload herald`. The unit lets Herald write only under
# /var/lib/herald (ReadWritePaths=): another data_dir needs a drop-in too.
";

    /// The .deb's default configuration is this table, so it cannot fall
    /// behind an option; the file must also be a valid `--config` file.
    #[test]
    fn the_packaged_config_lists_every_option_with_its_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/deb/herald.toml");
        let expected = packaged_config(PACKAGED_HEADER, &[("data_dir", "\"/var/lib/herald\"")]);
        let found = std::fs::read_to_string(path).unwrap_or_default();
        if found != expected {
            let fresh = concat!(env!("CARGO_MANIFEST_DIR"), "/target/herald.toml.expected");
            let _ = std::fs::write(fresh, &expected);
            panic!("{path} is out of date: replace it with {fresh}");
        }
        let file: FileConfig = toml::from_str(&found).expect("a valid config file");
        assert_eq!(file.data_dir, Some(PathBuf::from("/var/lib/herald")));
    }

    /// The rows of the README's configuration table: (flag, env, default).
    /// A default cell starts with the default, in backticks when it is a
    /// value (`` `16` ``) or as a bare word when it is unset (`off`); what
    /// follows is commentary. The default comes back as written, backticks
    /// included.
    fn readme_rows(readme: &str) -> Vec<(String, String, String)> {
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("README has a ## Configuration section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let code = |cell: &str| {
            let cell = cell.trim();
            assert!(
                cell.starts_with('`') && cell.ends_with('`') && cell.matches('`').count() == 2,
                "one `code` span expected: {cell:?}"
            );
            cell.trim_matches('`').to_string()
        };
        let default = |cell: &str| {
            let cell = cell.trim();
            match cell.strip_prefix('`') {
                Some(rest) => format!("`{}`", rest.split('`').next().unwrap_or_default()),
                None => cell
                    .split(|c: char| !c.is_alphanumeric())
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        };
        section
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2) // the header and the |---| line
            .map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
                assert_eq!(cells.len(), 3, "flag | env | default: {line:?}");
                (code(cells[0]), code(cells[1]), default(cells[2]))
            })
            .collect()
    }

    #[test]
    fn the_readme_configuration_table_matches_the_options() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let rows = readme_rows(&readme);
        for (i, spec) in OPTIONS.iter().enumerate() {
            let default = match spec.default {
                Fallback::Value(v) => format!("`{v}`"),
                Fallback::Unset(word) => word.to_string(),
            };
            let expected = (spec.flag.to_string(), spec.env.to_string(), default);
            assert_eq!(
                rows.get(i),
                Some(&expected),
                "README configuration row {} should be | `{}` | `{}` | {} |",
                i + 1,
                expected.0,
                expected.1,
                expected.2
            );
        }
        assert_eq!(rows.len(), OPTIONS.len(), "README rows for unknown options");
    }
}
