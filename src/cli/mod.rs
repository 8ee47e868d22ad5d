//! The command line: `herald serve`, the operator's `tenants`, `keys`
//! and `users` commands, `backup`, `restore` and `check`, and the receiver
//! developer's `sign`, `verify`, `send-test` and `trigger` (`tools`).
//!
//! The management commands work in two ways: directly on the data directory
//! while the server is stopped, or through a running server's API with
//! `--server` and `--key`. sled locks the data directory while the server
//! runs; that case is reported plainly, with the way out.

mod admin;
mod backup;
mod listen;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::ServeArgs;

/// Herald: a self-hosted webhook delivery appliance.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: API, admin panel and delivery.
    Serve(Box<ServeArgs>),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantsCmd),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Manage admin panel users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Run a benchmark and print its figures (not a test).
    Bench(crate::bench::BenchArgs),
    /// Forward a tenant's deliveries to a local receiver through a stream
    /// endpoint (outgoing connections only; no tunnel needed).
    Listen(Box<listen::ListenArgs>),
    /// Write a dump of a running server (--server) or a stopped data directory.
    Backup {
        /// The dump to write: a temporary file next to it is written,
        /// fsynced, verified, then renamed to this name.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Data directory to dump directly (the server must be stopped).
        #[arg(long, env = "HERALD_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR, value_name = "DIR")]
        data_dir: PathBuf,
        /// Dump this store instead of --data-dir (`sled:DIR` or
        /// `postgres://…`; a PostgreSQL store may be in use: the dump is
        /// one snapshot). --server, when given, wins.
        #[arg(long, env = "HERALD_STORE", value_name = "LOCATION")]
        store: Option<String>,
        /// Dump a running server through its API instead, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "HERALD_SERVER", value_name = "URL")]
        server: Option<String>,
        /// Platform API key for --server.
        #[arg(
            long,
            env = "HERALD_API_KEY",
            value_name = "KEY",
            hide_env_values = true
        )]
        key: Option<String>,
    },
    /// Restore a dump into an empty or missing data directory (verified first).
    Restore {
        /// The dump file.
        file: PathBuf,
        /// The data directory to create (must be missing or empty).
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "store",
            conflicts_with = "store"
        )]
        data_dir: Option<PathBuf>,
        /// Or the store to load it into: `sled:DIR`, or `postgres://…` (a
        /// database holding no Herald records yet).
        #[arg(long, value_name = "LOCATION")]
        store: Option<String>,
    },
    /// Verify a dump file, or a stopped data directory; non-zero exit on problems.
    Check {
        /// A dump file to verify.
        #[arg(required_unless_present_any = ["data_dir", "store"], conflicts_with_all = ["data_dir", "store"])]
        file: Option<PathBuf>,
        /// A stopped data directory to check instead.
        #[arg(long, value_name = "DIR", conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        /// Or a store: `sled:DIR`, or `postgres://…` (checked in one
        /// snapshot, so it may be in use).
        #[arg(long, value_name = "LOCATION")]
        store: Option<String>,
    },
    /// Sign a body as Herald signs a delivery and print the headers
    /// (X-BrainSAIT-Signature and Standard Webhooks').
    Sign(tools::SignArgs),
    /// Check a captured request's signatures and say why they fail: exit
    /// code 0 when valid, 1 when not (2: the input could not be read).
    Verify(tools::VerifyArgs),
    /// Send one signed sample event straight to a receiver, as a delivery
    /// would (no server needed; loopback URLs allowed), and print its answer.
    SendTest(tools::SendTestArgs),
    /// Post a sample event of a type through a running server (its
    /// endpoints get it) and print its id and deliveries.
    Trigger(tools::TriggerArgs),
}

/// Where a management command acts: the data directory, or a server.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Data directory to open directly (the server must be stopped).
    #[arg(long, env = "HERALD_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Or the store to open directly: `sled:DIR` or `postgres://…` (a
    /// PostgreSQL store may be in use by a server meanwhile).
    #[arg(long, env = "HERALD_STORE", value_name = "LOCATION")]
    pub store: Option<String>,
    /// Act through a running server's API instead, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "HERALD_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Platform API key for --server.
    #[arg(
        long,
        env = "HERALD_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
enum TenantsCmd {
    /// Create a tenant.
    Create {
        /// The platform's tenant id, e.g. company_xyz.
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Pause a tenant's deliveries (events are still accepted and kept).
    Suspend {
        /// Tenant id.
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Resume a suspended tenant's deliveries.
    Resume {
        /// Tenant id.
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Create an API key; its text is printed once. On a stopped data
    /// directory, `--platform` is the way back in when every platform key
    /// is lost.
    #[command(group(clap::ArgGroup::new("scope").required(true).args(["tenant", "platform"])))]
    Create {
        /// What the key is for [default with --platform: "recovery platform key"].
        #[arg(long, required_unless_present = "platform")]
        name: Option<String>,
        /// Bind the key to this tenant (this or --platform is required).
        #[arg(long, value_name = "TENANT_ID")]
        tenant: Option<String>,
        /// Make a platform key, which acts for every tenant: never the
        /// default, so a forgotten --tenant cannot make one.
        #[arg(long)]
        platform: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List API keys.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke an API key.
    Revoke {
        /// Key id (key_…).
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Give a user a new random password and print it once (their
    /// sessions end): the way back in when a password is lost.
    ResetPassword {
        /// The username, e.g. admin.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// List the panel's users with their last login.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Disable a user: they cannot log in and their sessions end (never
    /// the last enabled operator).
    Disable {
        /// The username.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Enable a disabled user again.
    Enable {
        /// The username.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Remove a user; their sessions end (never the last enabled
    /// operator).
    Remove {
        /// The username.
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

fn init_logging(default: &str) {
    let env = env_logger::Env::default().default_filter_or(default);
    let _ = env_logger::Builder::from_env(env).try_init();
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // The developer's tools have exit codes of their own (verify: 1
        // for "checked and invalid", 2 for "cannot check").
        Command::Sign(args) => return tools::exit(tools::sign(args)),
        Command::Verify(args) => return tools::exit(tools::verify(args)),
        Command::SendTest(args) => {
            init_logging("warn");
            return tools::exit(tools::send_test(args));
        }
        Command::Trigger(args) => {
            init_logging("warn");
            return tools::exit(tools::trigger(args));
        }
        Command::Serve(args) => {
            init_logging("info,actix_server=warn");
            (*args)
                .resolve()
                .map_err(|e| e.to_string())
                .and_then(|cfg| crate::app::serve(cfg).map_err(|e| e.to_string()))
        }
        Command::Tenants(cmd) => {
            init_logging("warn");
            let (op, target) = match cmd {
                TenantsCmd::Create { id, name, target } => {
                    (admin::Op::CreateTenant { id, name }, target)
                }
                TenantsCmd::List { target } => (admin::Op::ListTenants, target),
                TenantsCmd::Suspend { id, target } => (
                    admin::Op::SetSuspended {
                        id,
                        suspended: true,
                    },
                    target,
                ),
                TenantsCmd::Resume { id, target } => (
                    admin::Op::SetSuspended {
                        id,
                        suspended: false,
                    },
                    target,
                ),
            };
            admin::run(op, &target)
        }
        Command::Keys(cmd) => {
            init_logging("warn");
            let (op, target) = match cmd {
                KeysCmd::Create {
                    name,
                    tenant,
                    platform,
                    target,
                } => {
                    // clap has checked: a name, or --platform; --tenant or
                    // --platform, not both.
                    let name = name.unwrap_or_else(|| "recovery platform key".to_string());
                    (
                        admin::Op::CreateKey {
                            name,
                            tenant,
                            platform,
                        },
                        target,
                    )
                }
                KeysCmd::List { target } => (admin::Op::ListKeys, target),
                KeysCmd::Revoke { id, target } => (admin::Op::RevokeKey { id }, target),
            };
            admin::run(op, &target)
        }
        Command::Users(cmd) => {
            init_logging("warn");
            let (op, target) = match cmd {
                UsersCmd::ResetPassword { name, target } => {
                    (admin::Op::ResetPassword { username: name }, target)
                }
                UsersCmd::List { target } => (admin::Op::ListUsers, target),
                UsersCmd::Disable { name, target } => {
                    (admin::Op::DisableUser { username: name }, target)
                }
                UsersCmd::Enable { name, target } => {
                    (admin::Op::EnableUser { username: name }, target)
                }
                UsersCmd::Remove { name, target } => {
                    (admin::Op::RemoveUser { username: name }, target)
                }
            };
            admin::run(op, &target)
        }
        Command::Listen(args) => {
            init_logging("warn");
            listen::run(*args)
        }
        Command::Bench(args) => {
            init_logging("warn");
            crate::bench::run(args)
        }
        Command::Backup {
            out,
            data_dir,
            store,
            server,
            key,
        } => {
            init_logging("warn");
            match backup::location(store.as_deref(), Some(data_dir.as_path())) {
                Ok(location) => {
                    let source = match &server {
                        Some(url) => backup::Source::Server {
                            url,
                            key: key.as_deref(),
                        },
                        None => backup::Source::Store(&location),
                    };
                    backup::backup(source, &out)
                }
                Err(e) => Err(e),
            }
        }
        Command::Restore {
            file,
            data_dir,
            store,
        } => {
            init_logging("warn");
            backup::location(store.as_deref(), data_dir.as_deref())
                .and_then(|l| backup::restore(&file, &l))
        }
        Command::Check {
            file,
            data_dir,
            store,
        } => {
            init_logging("warn");
            let location = match (store.as_deref(), data_dir.as_deref()) {
                (None, None) => Ok(None),
                (s, d) => backup::location(s, d).map(Some),
            };
            location.and_then(|l| backup::check(file.as_deref(), l.as_ref()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
