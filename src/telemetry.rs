//! Process-wide counters for Prometheus, and the text exposition.
//!
//! Counters are process-lifetime (Prometheus expects resets on restart);
//! the persisted statistics behind `/api/v1/metrics` are the durable record.
//! They are statics, like a metrics registry: every layer may count without
//! threading a handle through every call.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::domain::delivery::{DeliveryState, Verdict};
use crate::domain::stats::{bucket_of, BUCKETS_MS};

/// Events accepted (durable).
pub static EVENTS_INGESTED: AtomicU64 = AtomicU64::new(0);
/// Deliveries created by fan-out.
pub static DELIVERIES_CREATED: AtomicU64 = AtomicU64::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);
static GIVEN_UP: AtomicU64 = AtomicU64::new(0);
static ATTEMPT_SUCCESS: AtomicU64 = AtomicU64::new(0);
static ATTEMPT_RETRY: AtomicU64 = AtomicU64::new(0);
static ATTEMPT_PERMANENT: AtomicU64 = AtomicU64::new(0);
static LATENCY_SUM_MS: AtomicU64 = AtomicU64::new(0);
static LATENCY_COUNT: AtomicU64 = AtomicU64::new(0);
static LATENCY_BUCKETS: [AtomicU64; 13] = [const { AtomicU64::new(0) }; 13];
static RATE_LIMITED_INGEST: AtomicU64 = AtomicU64::new(0);
static RATE_LIMITED_MANAGEMENT: AtomicU64 = AtomicU64::new(0);

/// Counts an API request refused over its key's budget (`ingest`: the
/// ingest routes; otherwise a management call).
pub fn rate_limited(ingest: bool) {
    if ingest {
        &RATE_LIMITED_INGEST
    } else {
        &RATE_LIMITED_MANAGEMENT
    }
    .fetch_add(1, Relaxed);
}

/// Counts a recorded attempt (after it is durable).
pub fn attempt(verdict: Verdict, state: DeliveryState, latency_ms: u32, got_response: bool) {
    match verdict {
        Verdict::Success => &ATTEMPT_SUCCESS,
        Verdict::Retry => &ATTEMPT_RETRY,
        Verdict::Permanent => &ATTEMPT_PERMANENT,
    }
    .fetch_add(1, Relaxed);
    match state {
        DeliveryState::Succeeded => {
            DELIVERED.fetch_add(1, Relaxed);
        }
        DeliveryState::Failed => {
            GIVEN_UP.fetch_add(1, Relaxed);
        }
        DeliveryState::Pending => {}
    }
    if got_response {
        LATENCY_SUM_MS.fetch_add(u64::from(latency_ms), Relaxed);
        LATENCY_COUNT.fetch_add(1, Relaxed);
        LATENCY_BUCKETS[bucket_of(u64::from(latency_ms))].fetch_add(1, Relaxed);
    }
}

/// Gauges sampled at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Jobs waiting in the dispatcher.
    pub queued: usize,
    /// Requests in flight.
    pub in_flight: usize,
    /// Timers in the wheel.
    pub in_wheel: usize,
    /// Scheduler lag, ms.
    pub scheduler_lag_ms: i64,
    /// Group-commit flushes so far.
    pub commit_flushes: u64,
    /// Jobs committed so far.
    pub commit_jobs: u64,
    /// Time spent flushing, µs.
    pub commit_flush_micros: u64,
    /// Time spent preparing and applying batches, µs.
    pub commit_apply_micros: u64,
    /// Store size on disk.
    pub store_bytes: u64,
    /// Process resident memory.
    pub rss_bytes: u64,
    /// Whether deliveries and alerts are paused.
    pub paused: bool,
    /// Whether the store's writes succeed (`Store::write_failure`).
    pub store_writable: bool,
    /// Free bytes on the data directory's disk at the disk guard's last
    /// look, if known.
    pub disk_free_bytes: Option<u64>,
    /// Scheduled backups, when on.
    pub backup: Option<BackupFigures>,
    /// The store's tables (PostgreSQL): size and dead rows.
    pub tables: Vec<crate::store::TableStats>,
    /// Nodes sharing the store seen in the last minute (`None`: a store
    /// only this process opens).
    pub cluster_nodes: Option<usize>,
}

/// One figure of a store table.
type TableFigure = fn(&crate::store::TableStats) -> i64;

/// Scheduled backups' figures.
#[derive(Debug, Clone, Default)]
pub struct BackupFigures {
    /// Whether the last one succeeded (`None`: none ran yet).
    pub last_ok: Option<bool>,
    /// When the last successful one ended, unix seconds.
    pub last_success_secs: Option<i64>,
    /// How long the last one took, ms.
    pub last_duration_ms: Option<i64>,
    /// The last successful dump's size.
    pub last_bytes: Option<u64>,
    /// Failures since start.
    pub failures: u64,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The Prometheus text exposition (format 0.0.4).
pub fn render(g: &Gauges) -> String {
    let mut o = String::with_capacity(4096);
    family(
        &mut o,
        "herald_events_ingested_total",
        "counter",
        "Events accepted and made durable.",
    );
    let _ = writeln!(
        o,
        "herald_events_ingested_total {}",
        EVENTS_INGESTED.load(Relaxed)
    );
    family(
        &mut o,
        "herald_deliveries_created_total",
        "counter",
        "Deliveries created by fan-out.",
    );
    let _ = writeln!(
        o,
        "herald_deliveries_created_total {}",
        DELIVERIES_CREATED.load(Relaxed)
    );
    family(
        &mut o,
        "herald_deliveries_total",
        "counter",
        "Deliveries that ended, by outcome.",
    );
    let _ = writeln!(
        o,
        "herald_deliveries_total{{outcome=\"succeeded\"}} {}",
        DELIVERED.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "herald_deliveries_total{{outcome=\"failed\"}} {}",
        GIVEN_UP.load(Relaxed)
    );
    family(
        &mut o,
        "herald_attempts_total",
        "counter",
        "HTTP attempts, by verdict.",
    );
    for (v, c) in [
        ("success", &ATTEMPT_SUCCESS),
        ("retry", &ATTEMPT_RETRY),
        ("permanent", &ATTEMPT_PERMANENT),
    ] {
        let _ = writeln!(
            o,
            "herald_attempts_total{{verdict=\"{v}\"}} {}",
            c.load(Relaxed)
        );
    }
    family(
        &mut o,
        "herald_attempt_duration_seconds",
        "histogram",
        "Response time of attempts that got an HTTP response.",
    );
    let mut cumulative = 0;
    for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += b.load(Relaxed);
        let le = BUCKETS_MS
            .get(i)
            .map_or("+Inf".to_string(), |ms| format!("{}", *ms as f64 / 1000.0));
        let _ = writeln!(
            o,
            "herald_attempt_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        o,
        "herald_attempt_duration_seconds_sum {}",
        LATENCY_SUM_MS.load(Relaxed) as f64 / 1000.0
    );
    let _ = writeln!(
        o,
        "herald_attempt_duration_seconds_count {}",
        LATENCY_COUNT.load(Relaxed)
    );
    family(
        &mut o,
        "herald_rate_limited_total",
        "counter",
        "API requests answered 429 over their key's budget, by budget.",
    );
    for (budget, c) in [
        ("ingest", &RATE_LIMITED_INGEST),
        ("management", &RATE_LIMITED_MANAGEMENT),
    ] {
        let _ = writeln!(
            o,
            "herald_rate_limited_total{{budget=\"{budget}\"}} {}",
            c.load(Relaxed)
        );
    }
    let gauges: [(&str, &str, f64); 7] = [
        (
            "herald_paused",
            "1 while deliveries and alerts are paused (serve --paused, /api/v1/admin/pause).",
            if g.paused { 1.0 } else { 0.0 },
        ),
        (
            "herald_dispatch_queue_depth",
            "Deliveries waiting in per-endpoint queues.",
            g.queued as f64,
        ),
        (
            "herald_requests_in_flight",
            "Delivery requests being made or recorded.",
            g.in_flight as f64,
        ),
        (
            "herald_scheduler_timers",
            "Retries in the scheduler's time wheel.",
            g.in_wheel as f64,
        ),
        (
            "herald_scheduler_lag_seconds",
            "How late the scheduler's last expiry ran.",
            g.scheduler_lag_ms as f64 / 1000.0,
        ),
        (
            "herald_store_size_bytes",
            "Size of the data directory's store on disk.",
            g.store_bytes as f64,
        ),
        (
            "herald_store_writable",
            "1 while the store's writes succeed, 0 while they fail (a full disk).",
            if g.store_writable { 1.0 } else { 0.0 },
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut o, name, "gauge", help);
        let _ = writeln!(o, "{name} {v}");
    }
    if let Some(b) = &g.backup {
        family(
            &mut o,
            "herald_backup_failures_total",
            "counter",
            "Scheduled backups that failed since start.",
        );
        let _ = writeln!(o, "herald_backup_failures_total {}", b.failures);
        let figures = [
            (
                "herald_backup_last_ok",
                "1 if the last scheduled backup succeeded, 0 if it failed.",
                b.last_ok.map(|ok| if ok { 1.0 } else { 0.0 }),
            ),
            (
                "herald_backup_last_success_timestamp_seconds",
                "When the last successful scheduled backup ended (unix time).",
                b.last_success_secs.map(|s| s as f64),
            ),
            (
                "herald_backup_last_duration_seconds",
                "How long the last scheduled backup took.",
                b.last_duration_ms.map(|ms| ms as f64 / 1000.0),
            ),
            (
                "herald_backup_last_size_bytes",
                "The size of the last successful scheduled backup.",
                b.last_bytes.map(|n| n as f64),
            ),
        ];
        for (name, help, v) in figures {
            if let Some(v) = v {
                family(&mut o, name, "gauge", help);
                let _ = writeln!(o, "{name} {v}");
            }
        }
    }
    if let Some(free) = g.disk_free_bytes {
        family(
            &mut o,
            "herald_disk_free_bytes",
            "gauge",
            "Free bytes on the data directory's disk (new events are refused below --disk-reserve-mb).",
        );
        let _ = writeln!(o, "herald_disk_free_bytes {free}");
    }
    if let Some(n) = g.cluster_nodes {
        family(
            &mut o,
            "herald_cluster_nodes",
            "gauge",
            "Herald nodes sharing the store whose heartbeat is fresh (15 s).",
        );
        let _ = writeln!(o, "herald_cluster_nodes {n}");
    }
    if !g.tables.is_empty() {
        let tables: [(&str, &str, TableFigure); 3] = [
            (
                "herald_store_table_bytes",
                "A store table's size on disk, indexes included.",
                |t| t.bytes,
            ),
            (
                "herald_store_table_live_rows",
                "A store table's live rows (the server's estimate).",
                |t| t.live_rows,
            ),
            (
                "herald_store_table_dead_rows",
                "A store table's dead rows not yet vacuumed.",
                |t| t.dead_rows,
            ),
        ];
        for (name, help, v) in tables {
            family(&mut o, name, "gauge", help);
            for t in &g.tables {
                // Table names are Herald's own (letters and `_`).
                let _ = writeln!(o, "{name}{{table=\"{}\"}} {}", t.table, v(t));
            }
        }
    }
    family(
        &mut o,
        "herald_commit_flushes_total",
        "counter",
        "Group-commit flushes (fsyncs).",
    );
    let _ = writeln!(o, "herald_commit_flushes_total {}", g.commit_flushes);
    family(
        &mut o,
        "herald_commit_jobs_total",
        "counter",
        "Writes committed; divided by flushes, the mean batch size.",
    );
    let _ = writeln!(o, "herald_commit_jobs_total {}", g.commit_jobs);
    family(
        &mut o,
        "herald_commit_flush_seconds_total",
        "counter",
        "Time spent in flushes.",
    );
    let _ = writeln!(
        o,
        "herald_commit_flush_seconds_total {}",
        g.commit_flush_micros as f64 / 1e6
    );
    family(
        &mut o,
        "herald_commit_apply_seconds_total",
        "counter",
        "Time spent preparing and applying write batches.",
    );
    let _ = writeln!(
        o,
        "herald_commit_apply_seconds_total {}",
        g.commit_apply_micros as f64 / 1e6
    );
    family(
        &mut o,
        "process_resident_memory_bytes",
        "gauge",
        "Resident set size.",
    );
    let _ = writeln!(o, "process_resident_memory_bytes {}", g.rss_bytes);
    o
}

/// This process's resident set size, bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_types_and_a_cumulative_histogram() {
        let text = render(&Gauges::default());
        assert!(text.contains("# TYPE herald_deliveries_total counter"));
        assert!(text.contains("herald_attempt_duration_seconds_bucket{le=\"+Inf\"}"));
        assert!(text.contains("herald_attempt_duration_seconds_bucket{le=\"0.005\"}"));
        assert!(text.ends_with('\n'));
    }
}
