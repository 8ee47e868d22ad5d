//! `herald bench`: benchmarks that print figures (never pass/fail tests).
//!
//! Each scenario prints a table and writes `target/bench/<scenario>.json`
//! with the figures and the machine's core count. Figures on a shared
//! machine are noisy; compare ratios within one run.

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
    /// Start-up recovery with many pending retries in the store.
    Recovery {
        /// Pending retries to write before the restart.
        #[arg(long, default_value_t = 1_000_000)]
        retries: usize,
    },
}

/// Runs a scenario.
pub fn run(args: BenchArgs) -> Result<(), String> {
    let (name, figures) = match args.scenario {
        Scenario::Wheel { timers } => ("wheel", wheel::run(timers)),
        Scenario::Recovery { retries } => ("recovery", recovery::run(retries)?),
    };
    report(name, &figures, &args.out_dir)
}

/// One figure: a name, a value and its unit.
pub struct Figure {
    name: &'static str,
    value: f64,
    unit: &'static str,
}

fn fig(name: &'static str, value: f64, unit: &'static str) -> Figure {
    Figure { name, value, unit }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn report(scenario: &str, figures: &[Figure], out_dir: &std::path::Path) -> Result<(), String> {
    println!("scenario: {scenario}   cores: {}", cores());
    println!("{:<44} {:>16}  unit", "figure", "value");
    for f in figures {
        println!("{:<44} {:>16.1}  {}", f.name, f.value, f.unit);
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
