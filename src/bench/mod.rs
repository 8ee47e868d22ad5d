//! `herald bench`: benchmarks that print figures (never pass/fail tests).
//!
//! Each scenario prints a table and writes `target/bench/<scenario>.json`
//! with the figures and the machine's core count. Figures on a shared
//! machine are noisy; compare ratios within one run.

mod backup;
mod disk;
mod e2e;
mod load;
mod recovery;
mod wheel;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// `herald bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench", global = true)]
    out_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// The time wheel: insert and expiry throughput and memory.
    Wheel {
        /// Timers to insert.
        #[arg(long, default_value_t = 1_000_000)]
        timers: usize,
    },
    /// Single-event ingest from concurrent keep-alive clients (every 202 durable).
    Ingest {
        /// Seconds of load.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
    },
    /// 1,000-event batches.
    Batch {
        /// Batches to send.
        #[arg(long, default_value_t = 100)]
        batches: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
    /// Tenants × endpoints to a fast sink: deliveries/s and ingest→attempt latency.
    Fanout {
        /// Tenants.
        #[arg(long, default_value_t = 100)]
        tenants: usize,
        /// Endpoints per tenant.
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        /// Seconds of load per phase.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Also run it on this store (`postgres://…`, whose schema `herald`
        /// is dropped before each run), with one node and with two nodes
        /// sharing it, and print all three with the ratios; without it,
        /// sled only.
        #[arg(long, value_name = "LOCATION")]
        store: Option<String>,
    },
    /// Fanout, then again with 10 % of endpoints answering 500 and 1 % never answering; prints the ratio.
    Failing {
        /// Tenants.
        #[arg(long, default_value_t = 100)]
        tenants: usize,
        /// Endpoints per tenant.
        #[arg(long, default_value_t = 10)]
        endpoints: usize,
        /// Seconds of load per phase.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Overdue retries waiting at start-up: RSS, disk, time to the first retry.
    Backlog {
        /// Overdue retries.
        #[arg(long, default_value_t = 1_000_000)]
        retries: usize,
    },
    /// An idle server with many endpoints: RSS and CPU.
    Idle {
        /// Endpoints.
        #[arg(long, default_value_t = 10_000)]
        endpoints: usize,
        /// Seconds to watch.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Dump and restore of a data directory of pending deliveries: time, size, peak RSS, ingest p99 during an online dump.
    Backup {
        /// Pending deliveries to write first.
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: usize,
    },
    /// Disk per delivered delivery (sled), by table, and the directory under steady load with retention.
    Disk {
        /// Deliveries to write (a multiple of 10: one event fans out to 10 endpoints).
        #[arg(long, default_value_t = 20_000)]
        deliveries: usize,
        /// Rounds of steady load (a quarter of a day each, one day of retention).
        #[arg(long, default_value_t = 16)]
        rounds: usize,
    },
    /// Every scenario at tiny sizes: checks the harness, not the speed.
    Smoke,
    /// Start-up recovery with many pending retries in the store.
    Recovery {
        /// Pending retries to write before the restart.
        #[arg(long, default_value_t = 1_000_000)]
        retries: usize,
    },
}

/// Runs a scenario.
pub fn run(args: BenchArgs) -> Result<(), String> {
    let runs: Vec<(&str, Vec<Figure>)> = match args.scenario {
        Scenario::Wheel { timers } => vec![("wheel", wheel::run(timers))],
        Scenario::Recovery { retries } => vec![("recovery", recovery::run(retries)?)],
        Scenario::Backup { deliveries } => vec![("backup", backup::run(deliveries, 5.0)?)],
        Scenario::Ingest { secs, clients } => vec![("ingest", e2e::ingest(secs, clients)?)],
        Scenario::Batch { batches, clients } => vec![("batch", e2e::batch(batches, clients)?)],
        Scenario::Fanout {
            tenants,
            endpoints,
            secs,
            store: None,
        } => {
            vec![("fanout", e2e::fanout(tenants, endpoints, secs, false)?)]
        }
        Scenario::Fanout {
            tenants,
            endpoints,
            secs,
            store: Some(store),
        } => {
            // All in one run: machines this shared only compare within
            // one. On PostgreSQL once with one node, once with two sharing
            // the database (each run starts from an empty schema).
            let sled = e2e::fanout(tenants, endpoints, secs, false)?;
            let mut one = e2e::fanout_nodes(Some(&store), 1, tenants, endpoints, secs, false)?;
            let mut two = e2e::fanout_nodes(Some(&store), 2, tenants, endpoints, secs, false)?;
            let rate = |figs: &[Figure]| {
                figs.iter()
                    .find(|f| f.name.starts_with("deliveries/s to healthy"))
                    .map_or(0.0, |f| f.value)
            };
            let share = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            let (base, single) = (rate(&sled), rate(&one));
            one.push(fig(
                "deliveries/s as a share of sled's",
                share(single, base),
                "ratio",
            ));
            let double = rate(&two);
            two.push(fig(
                "deliveries/s as a share of sled's",
                share(double, base),
                "ratio",
            ));
            two.push(fig(
                "deliveries/s as a share of one node's",
                share(double, single),
                "ratio",
            ));
            vec![
                ("fanout", sled),
                ("fanout-store", one),
                ("fanout-store-2-nodes", two),
            ]
        }
        Scenario::Failing {
            tenants,
            endpoints,
            secs,
        } => {
            // `fanout` first, in the same run: the figure that matters is
            // the ratio, and machines this shared only compare within a run.
            let healthy = e2e::fanout(tenants, endpoints, secs, false)?;
            let mut failing = e2e::fanout(tenants, endpoints, secs, true)?;
            let rate = |figs: &[Figure]| {
                figs.iter()
                    .find(|f| f.name.starts_with("deliveries/s to healthy"))
                    .map_or(0.0, |f| f.value)
            };
            let base = rate(&healthy);
            let ratio = if base > 0.0 {
                rate(&failing) / base
            } else {
                0.0
            };
            failing.push(fig(
                "healthy deliveries/s as a share of fanout's",
                ratio,
                "ratio",
            ));
            vec![("fanout", healthy), ("failing", failing)]
        }
        Scenario::Disk { deliveries, rounds } => vec![("disk", disk::run(deliveries, rounds)?)],
        Scenario::Backlog { retries } => vec![("backlog", e2e::backlog(retries)?)],
        Scenario::Idle { endpoints, secs } => vec![("idle", e2e::idle(endpoints, secs)?)],
        Scenario::Smoke => vec![
            ("wheel", wheel::run(1000)),
            ("recovery", recovery::run(2000)?),
            ("backup", backup::run(2000, 0.5)?),
            ("ingest", e2e::ingest(0.5, 4)?),
            ("batch", e2e::batch(2, 2)?),
            ("fanout", e2e::fanout(2, 3, 0.5, false)?),
            ("failing", e2e::fanout(2, 10, 0.5, true)?),
            ("backlog", e2e::backlog(2000)?),
            ("idle", e2e::idle(20, 0.5)?),
            ("disk", disk::run(200, 4)?),
        ],
    };
    for (name, figures) in &runs {
        report(name, figures, &args.out_dir)?;
    }
    Ok(())
}

/// One figure: a name, a value and its unit.
pub struct Figure {
    name: std::borrow::Cow<'static, str>,
    value: f64,
    unit: &'static str,
}

fn fig(name: &'static str, value: f64, unit: &'static str) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
    }
}

/// [`fig`] with a name made at run time (e.g. one per table prefix).
fn fig_owned(name: String, value: f64, unit: &'static str) -> Figure {
    Figure {
        name: name.into(),
        value,
        unit,
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn report(scenario: &str, figures: &[Figure], out_dir: &std::path::Path) -> Result<(), String> {
    println!("scenario: {scenario}   cores: {}", cores());
    println!("{:<44} {:>16}  unit", "figure", "value");
    for f in figures {
        // A ratio near its target (0.9) needs the second decimal.
        let decimals = if f.unit == "ratio" { 2 } else { 1 };
        println!("{:<44} {:>16.decimals$}  {}", f.name, f.value, f.unit);
    }
    let mut map = serde_json::Map::new();
    for f in figures {
        map.insert(
            f.name.to_string(),
            json!({ "value": f.value, "unit": f.unit }),
        );
    }
    let doc: Value = json!({ "scenario": scenario, "cores": cores(), "figures": map });
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let path = out_dir.join(format!("{scenario}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    println!("written: {}", path.display());
    Ok(())
}

pub use crate::telemetry::rss_bytes;
