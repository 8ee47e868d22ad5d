//! `herald bench backup`: a data directory of N pending deliveries (written
//! through the store, due in a week so a server on it sends nothing), then
//! an offline dump, a restore, a check of the restored directory, and an
//! online dump through a running server while events are ingested at
//! 1,000/s: ingest p99 with and without the dump running.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::e2e::{dir_size, pct, post_load, Server, KEY};
use super::{fig, rss_bytes, Figure};
use crate::clock::{Clock, SystemClock};
use crate::domain::ids::EndpointId;

/// Samples this process's RSS until dropped; answers the peak.
struct PeakRss {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_bytes()));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.fetch_max(rss_bytes(), Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn backup_via_server(base: &str, out: &Path) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let o = std::process::Command::new(exe)
        .args(["backup", "--server", base, "--key", KEY, "--out"])
        .arg(out)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "online backup failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Runs the scenario with `n` deliveries; each ingest phase lasts 1.5× as
/// long as the offline dump took, and at least `min_secs`.
pub fn run(n: usize, min_secs: f64) -> Result<Vec<Figure>, String> {
    let root = std::env::temp_dir().join(format!("herald-bench-backup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let (dir, restored, dump, online) = (
        root.join("data"),
        root.join("restored"),
        root.join("offline.dump"),
        root.join("online.dump"),
    );
    let result = (|| {
        let now = SystemClock.now();
        let endpoints: Vec<EndpointId> = (0..10).map(|_| EndpointId::new(now)).collect();
        let t = Instant::now();
        {
            let store = super::recovery::open(&dir)?;
            super::recovery::fill(
                store.as_ref(),
                "bench",
                &endpoints,
                n,
                now.plus_millis(7 * 86_400_000),
            )?;
        }
        let fill = t.elapsed().as_secs_f64();
        // The store's threads may still be letting go of the directory.
        drop(super::recovery::open(&dir)?);
        let dir_bytes = dir_size(&dir);

        let rss_idle = mib(rss_bytes());
        let peak = PeakRss::start();
        let t = Instant::now();
        let summary = {
            let mut f = std::fs::File::create(&dump).map_err(|e| e.to_string())?;
            let s = crate::service::backup_dir(&dir, Arc::new(SystemClock), &mut f)
                .map_err(|e| e.to_string())?;
            f.sync_all().map_err(|e| e.to_string())?;
            s
        };
        let dump_secs = t.elapsed().as_secs_f64();
        let dump_rss = peak.finish();
        let dumped = summary.counts.get("deliveries").copied().unwrap_or(0);
        if dumped != n as u64 {
            return Err(format!("dumped {dumped} of {n} deliveries"));
        }

        let t = Instant::now();
        crate::service::verify_dump(&dump).map_err(|e| e.to_string())?;
        let verify_secs = t.elapsed().as_secs_f64();

        let peak = PeakRss::start();
        let t = Instant::now();
        let s = crate::service::restore(&dump, &restored, Arc::new(SystemClock))
            .map_err(|e| e.to_string())?;
        let restore_secs = t.elapsed().as_secs_f64();
        let restore_rss = peak.finish();
        if s.counts.get("deliveries").copied() != Some(n as u64) {
            return Err("restore counted other deliveries".into());
        }
        let restored_bytes = dir_size(&restored);

        let t = Instant::now();
        let (checked, problems) = crate::service::check_store(&restored, Arc::new(SystemClock))
            .map_err(|e| e.to_string())?;
        let check_secs = t.elapsed().as_secs_f64();
        if !problems.is_empty() {
            return Err(format!(
                "{} problems in the restored directory",
                problems.len()
            ));
        }

        // Online: a server on the original directory (nothing due for a
        // week), ingest paced at 1,000 events/s, with and without a dump.
        let server = Server::start_in(dir.clone(), &[])?;
        // The online dump is slower than the offline one (HTTP, and the
        // ingest it shares the machine with): load for longer, so the
        // "during" phase covers it.
        let secs = (dump_secs * 1.5).max(min_secs);
        let (_, quiet, _) = post_load("quiet", &server.base, 8, secs, Some(1000.0), 1, false);
        let base = server.base.clone();
        let online_path = online.clone();
        let backup = std::thread::spawn(move || backup_via_server(&base, &online_path));
        let (_, busy, _) = post_load("dump", &server.base, 8, secs, Some(1000.0), 1, false);
        let online_secs = backup.join().map_err(|_| "backup thread panicked")??;
        drop(server);
        let online_bytes = std::fs::metadata(&online).map(|m| m.len()).unwrap_or(0);

        Ok(vec![
            fig("deliveries (one event each)", n as f64, "count"),
            fig("fill through the store", fill, "s"),
            fig("data directory", mib(dir_bytes), "MiB"),
            fig("dump file", mib(summary.bytes), "MiB"),
            fig(
                "dump / data directory",
                summary.bytes as f64 / dir_bytes.max(1) as f64,
                "ratio",
            ),
            fig("offline dump", dump_secs, "s"),
            fig("RSS before the dump", rss_idle, "MiB"),
            fig("peak RSS during the offline dump", dump_rss, "MiB"),
            fig("verify the dump (checksum + decode)", verify_secs, "s"),
            fig(
                "restore (verify, import, rebuild indexes)",
                restore_secs,
                "s",
            ),
            fig("peak RSS during the restore", restore_rss, "MiB"),
            fig("restored data directory", mib(restored_bytes), "MiB"),
            fig("check the restored directory", check_secs, "s"),
            fig("entries checked", checked as f64, "count"),
            fig("online dump via the API (herald backup)", online_secs, "s"),
            fig("each ingest phase", secs, "s"),
            fig("online dump file", mib(online_bytes), "MiB"),
            fig("ingest p50 at 1,000/s, no dump", pct(&quiet, 0.5), "ms"),
            fig("ingest p99 at 1,000/s, no dump", pct(&quiet, 0.99), "ms"),
            fig("ingest max at 1,000/s, no dump", pct(&quiet, 1.0), "ms"),
            fig(
                "ingest p50 at 1,000/s, during a dump",
                pct(&busy, 0.5),
                "ms",
            ),
            fig(
                "ingest p99 at 1,000/s, during a dump",
                pct(&busy, 0.99),
                "ms",
            ),
            fig(
                "ingest max at 1,000/s, during a dump",
                pct(&busy, 1.0),
                "ms",
            ),
            fig(
                "events ingested during the dump phase",
                busy.len() as f64,
                "count",
            ),
        ])
    })();
    let _ = std::fs::remove_dir_all(&root);
    result
}
