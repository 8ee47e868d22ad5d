//! `disk`: what a delivered delivery costs on disk with sled.
//!
//! Herald runs in this process on a manual clock (so a day of retention
//! passes in a moment), with a real keep-alive sink on loopback. Two
//! phases, each on a fresh data directory:
//!
//! 1. **Per delivery.** `n` deliveries (one 2xx attempt each, a small
//!    payload, 10 tenants × 10 endpoints, so one event fans out to 10),
//!    everything retained; the server is stopped (which flushes), then the
//!    growth of the data directory over the directory just after set-up is
//!    divided by `n`. The directory is then opened with sled itself: its
//!    `size_on_disk`, and every key counted by table prefix (keys, key and
//!    value bytes), so the figure can be traced to what is stored.
//! 2. **Steady state.** `rounds` rounds of `n / 4` deliveries with a
//!    retention of one day, the clock moved a quarter of a day and a
//!    retention pass run after each: the directory size at four points of
//!    the run shows whether it levels off once the purge keeps pace.
//!
//! Bytes are not timing: these figures do not depend on the machine's load.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::e2e::{dir_size, event_text, metrics_at, start_sink, SinkState, KEY};
use super::load::RawClient;
use super::{fig, fig_owned, Figure};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::ServeArgs;

const TENANTS: usize = 10;
const PER_TENANT: usize = 10;
/// Deliveries per event (every endpoint of a tenant subscribes to `*`).
const FANOUT: usize = PER_TENANT;
const DAY_MS: i64 = 86_400_000;

/// One Herald in this process on its own directory and manual clock.
struct Node {
    running: Option<crate::app::Running>,
    clock: Arc<ManualClock>,
    base: String,
    dir: PathBuf,
}

impl Node {
    fn start(dir: PathBuf, retention: &str) -> Result<Self, String> {
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.clone()),
            allow_http: Some(true),
            allow_private_networks: Some("127.0.0.0/8".into()),
            workers: Some(8),
            retention: Some(retention.into()),
            ..Default::default()
        };
        let mut cfg = args.resolve().map_err(|e| e.to_string())?;
        cfg.platform_key = Some(KEY.into());
        cfg.admin_password = Some("bench-password-1".into());
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let mut running = crate::app::start(cfg, clock.clone()).map_err(|e| e.to_string())?;
        // The passes are run by the bench, after each move of the clock.
        running.stop_retention();
        let base = format!("http://{}", running.addr);
        Ok(Self {
            running: Some(running),
            clock,
            base,
            dir,
        })
    }

    /// Stops the server (joining its threads and flushing the store).
    fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }

    fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms);
        if let Some(r) = &self.running {
            r.wake();
        }
    }

    fn purge(&self) -> Result<(), String> {
        match &self.running {
            Some(r) => r.purge_expired().map(|_| ()).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "herald-bench-disk-{what}-{}-{}",
        std::process::id(),
        crate::domain::ids::new_ulid(SystemClock.now())
    ))
}

/// Creates the endpoints (10 tenants × 10, all on the sink).
fn endpoints(node: &Node, port: u16) -> Result<(), String> {
    let a = super::e2e::agent();
    for t in 0..TENANTS {
        for e in 0..PER_TENANT {
            let (code, v) = super::e2e::api(
                &a,
                &node.base,
                "POST",
                "/api/v1/webhooks",
                Some(&format!("t{t}")),
                Some(&serde_json::json!({
                    "url": format!("http://127.0.0.1:{port}/ok/{t}/{e}"),
                    "events": ["*"],
                })),
            )?;
            if code != 201 {
                return Err(format!("creating an endpoint: {code} {v}"));
            }
        }
    }
    Ok(())
}

/// Attempts the server has recorded (its Prometheus counter).
fn attempts(node: &Node) -> u64 {
    metrics_at(&node.base)
        .into_iter()
        .filter(|(k, _)| k.starts_with("herald_attempts_total{"))
        .map(|(_, v)| v)
        .sum::<f64>() as u64
}

/// Posts `events` events (ids carry `phase`) from 4 clients, then waits
/// until the sink has answered their deliveries and the server has
/// recorded the attempts.
fn deliver(
    node: &Node,
    st: &SinkState,
    phase: &str,
    events: usize,
    before: u64,
) -> Result<u64, String> {
    const CLIENTS: usize = 4;
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for c in 0..CLIENTS {
            let base = node.base.clone();
            hs.push(s.spawn(move || -> Result<(), String> {
                let mut client = RawClient::new(&base, KEY);
                for i in (c..events).step_by(CLIENTS) {
                    let tenant = format!("t{}", i % TENANTS);
                    let id = format!("evt_{phase}_{i}");
                    let body = event_text(i as u64, Some(&id));
                    match client.post("/api/v1/events", Some(&tenant), body.as_bytes()) {
                        Ok(202) => {}
                        Ok(code) => return Err(format!("posting an event: {code}")),
                        Err(e) => return Err(format!("posting an event: {e}")),
                    }
                }
                Ok(())
            }));
        }
        hs.into_iter()
            .try_for_each(|h| h.join().unwrap_or(Err("a client panicked".into())))
    })?;
    let target = before + (events * FANOUT) as u64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while st.ok.load(Ordering::Relaxed) < target || attempts(node) < target {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {target} deliveries arrived",
                st.ok.load(Ordering::Relaxed)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(target)
}

/// Runs both phases: `n` deliveries, then `rounds` rounds of `n / 4`.
pub fn run(n: usize, rounds: usize) -> Result<Vec<Figure>, String> {
    let (port, st) = start_sink(2)?;
    let events = n.div_ceil(FANOUT).max(1);
    let n = events * FANOUT;
    let mut figs = Vec::new();

    // Phase 1: every delivery retained.
    let mut node = Node::start(temp_dir("per"), "30d")?;
    endpoints(&node, port)?;
    let base_size = dir_size(&node.dir);
    let sent0 = st.ok.load(Ordering::Relaxed);
    deliver(&node, &st, "per", events, sent0)?;
    node.stop();
    let grown = dir_size(&node.dir).saturating_sub(base_size);
    let dir = crate::store::sled::usage(&node.dir).map_err(|e| e.to_string())?;
    let (on_disk, usage) = (dir.size_on_disk, dir.tables);
    let per = |bytes: u64| bytes as f64 / n as f64;
    figs.push(fig("deliveries (1 attempt, 2xx)", n as f64, "count"));
    figs.push(fig(
        "data directory per delivery",
        per(grown),
        "bytes/delivery",
    ));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    figs.push(fig(
        "data directory after the deliveries",
        mib(base_size + grown),
        "MiB",
    ));
    figs.push(fig(
        "sled size_on_disk after the deliveries",
        mib(on_disk),
        "MiB",
    ));
    let logical: u64 = usage.values().map(|u| u.key_bytes + u.value_bytes).sum();
    figs.push(fig(
        "keys + values stored per delivery",
        per(logical),
        "bytes/delivery",
    ));
    figs.push(fig(
        "keys stored per delivery",
        per(usage.values().map(|u| u.keys).sum()),
        "keys/delivery",
    ));
    for (prefix, u) in &usage {
        figs.push(fig_owned(
            format!("table {prefix}: keys per delivery"),
            per(u.keys),
            "keys/delivery",
        ));
        figs.push(fig_owned(
            format!("table {prefix}: key + value bytes per delivery"),
            per(u.key_bytes + u.value_bytes),
            "bytes/delivery",
        ));
    }
    drop(node);

    // Phase 2: a day of retention, a quarter of a day per round.
    let per_round = (events / 4).max(1);
    let rounds = rounds.max(4);
    let node = Node::start(temp_dir("steady"), "1d")?;
    endpoints(&node, port)?;
    let mut sizes = Vec::new();
    let mut sent = st.ok.load(Ordering::Relaxed);
    for r in 0..rounds {
        sent = deliver(&node, &st, &format!("r{r}"), per_round, sent)?;
        node.advance(DAY_MS / 4);
        node.purge()?;
        sizes.push(dir_size(&node.dir));
    }
    let at = |q: usize| sizes[(rounds * q / 4).clamp(1, rounds) - 1];
    figs.push(fig(
        "steady: deliveries per round (a quarter day)",
        (per_round * FANOUT) as f64,
        "count",
    ));
    figs.push(fig("steady: rounds", rounds as f64, "count"));
    figs.push(fig(
        "steady: directory at 25 % of the run",
        mib(at(1)),
        "MiB",
    ));
    figs.push(fig(
        "steady: directory at 50 % of the run",
        mib(at(2)),
        "MiB",
    ));
    figs.push(fig(
        "steady: directory at 75 % of the run",
        mib(at(3)),
        "MiB",
    ));
    figs.push(fig("steady: directory at the end", mib(at(4)), "MiB"));
    figs.push(fig(
        "steady: retained deliveries per MiB at the end",
        // A day of retention keeps the last four rounds.
        (4 * per_round * FANOUT) as f64 / mib(at(4)).max(f64::MIN_POSITIVE),
        "deliveries/MiB",
    ));
    Ok(figs)
}
