//! `herald backup`, `herald restore` and `herald check`.
//!
//! A backup is written to a temporary file next to the target, fsynced,
//! verified (checksum and every record) and only then renamed into place,
//! so a file under the target's name is always a whole dump.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::SystemClock;
use crate::service::{self, BackupError};
use crate::store::dump::{Summary, TABLES};
use crate::store::{Location, StoreError};

/// Where a backup comes from.
pub enum Source<'a> {
    /// A running server's API, with the platform key.
    Server {
        /// Its base URL.
        url: &'a str,
        /// The platform key.
        key: Option<&'a str>,
    },
    /// A stopped data directory, or a PostgreSQL store (in use or not).
    Store(&'a Location),
}

fn locked_hint(e: BackupError) -> String {
    match e {
        BackupError::Store(StoreError::Locked { path }) => format!(
            "the data directory {path} is locked by a running herald server; \
             back it up through the server instead: \
             herald backup --server http://ADDR --key PLATFORM_KEY --out FILE"
        ),
        other => other.to_string(),
    }
}

fn temp_next_to(out: &Path) -> Result<PathBuf, String> {
    let name = out
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", out.display()))?;
    let mut tmp = name.to_os_string();
    tmp.push(format!(".partial-{}", std::process::id()));
    Ok(out.with_file_name(tmp))
}

fn sync_parent(path: &Path) {
    // The rename is durable once the directory is synced.
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
}

fn print_summary(verb: &str, s: &Summary, secs: f64) {
    println!(
        "{verb}: {} bytes, written by herald {} at {} ({}, schema {}), in {secs:.1} s",
        s.bytes,
        s.header.herald_version,
        s.header.created_at,
        s.header.source,
        s.header.schema_version
    );
    for t in TABLES {
        println!("  {:<14} {:>12}", t, s.counts.get(t).copied().unwrap_or(0));
    }
}

/// `herald backup`.
pub fn backup(source: Source<'_>, out: &Path) -> Result<(), String> {
    let started = Instant::now();
    let tmp = temp_next_to(out)?;
    let result = (|| -> Result<Summary, String> {
        let mut file = std::fs::File::create(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        match source {
            Source::Server { url, key } => fetch(url, key, &mut file)?,
            Source::Store(location) => {
                service::backup_location(location, Arc::new(SystemClock), &mut file)
                    .map_err(locked_hint)?;
            }
        }
        file.flush().map_err(|e| e.to_string())?;
        file.sync_all()
            .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        drop(file);
        // What arrived is what the server wrote: checked whole before the
        // file takes the target's name.
        service::verify_dump(&tmp).map_err(|e| format!("the backup is not whole: {e}"))
    })();
    match result {
        Ok(summary) => {
            std::fs::rename(&tmp, out).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot rename {} to {}: {e}", tmp.display(), out.display())
            })?;
            sync_parent(out);
            print_summary(
                &format!("backup written to {}", out.display()),
                &summary,
                started.elapsed().as_secs_f64(),
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn fetch(url: &str, key: Option<&str>, file: &mut std::fs::File) -> Result<(), String> {
    let key = key.ok_or("--server needs --key (or HERALD_API_KEY) with the platform key")?;
    let base = url.trim_end_matches('/');
    // No global timeout: a big dump takes as long as it takes; a stalled
    // connection is caught by the receive timeout.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(None)
        .build()
        .into();
    let endpoint = format!("{base}/api/v1/backup");
    let mut res = agent
        .get(&endpoint)
        .header("Authorization", &format!("Bearer {key}"))
        .call()
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = res.status().as_u16();
    if status != 200 {
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let msg = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        return Err(format!("{status} from {endpoint}: {msg}"));
    }
    let mut body = res.body_mut().with_config().limit(u64::MAX).reader();
    std::io::copy(&mut body, file)
        .map_err(|e| format!("the backup stream from {base} broke off: {e}"))?;
    Ok(())
}

/// The store a command names: `--store` (`sled:DIR` or `postgres://…`),
/// else `--data-dir`.
pub fn location(store: Option<&str>, dir: Option<&Path>) -> Result<Location, String> {
    match (store, dir) {
        (Some(text), _) => Location::parse(text, 64 << 20)
            .ok_or_else(|| format!("--store {text}: must be sled:DIR or a postgres://… URL")),
        (None, Some(d)) => Ok(Location::Sled {
            dir: d.to_path_buf(),
            cache_bytes: 64 << 20,
        }),
        (None, None) => Err("give --data-dir DIR or --store LOCATION".into()),
    }
}

/// `herald restore FILE --data-dir DIR` (or `--store LOCATION`).
pub fn restore(file: &Path, location: &Location) -> Result<(), String> {
    let started = Instant::now();
    let dir = location.describe();
    let s = service::restore_into(file, location, Arc::new(SystemClock)).map_err(|e| match e {
        BackupError::Store(StoreError::Locked { path }) => {
            format!("the data directory {path} is in use by a running herald")
        }
        other => other.to_string(),
    })?;
    print_summary(
        &format!("restored {} into {dir}", file.display()),
        &s,
        started.elapsed().as_secs_f64(),
    );
    match location {
        Location::Sled { .. } => {
            println!("indexes rebuilt; start it with: herald serve --data-dir {dir}")
        }
        Location::Postgres { .. } => {
            println!("indexes rebuilt; start it with: herald serve --store {dir}")
        }
    }
    Ok(())
}

/// `herald check FILE` or `herald check --data-dir DIR` (`--store …`).
pub fn check(file: Option<&Path>, location: Option<&Location>) -> Result<(), String> {
    let started = Instant::now();
    match (file, location) {
        (Some(f), None) => {
            let s = service::verify_dump(f).map_err(|e| e.to_string())?;
            print_summary(
                &format!("{}: a whole dump, checksum verified", f.display()),
                &s,
                started.elapsed().as_secs_f64(),
            );
            Ok(())
        }
        (None, Some(l)) => {
            let d = l.describe();
            let (n, problems) =
                service::check_location(l, Arc::new(SystemClock)).map_err(|e| match e {
                    BackupError::Store(StoreError::Locked { path }) => format!(
                        "the data directory {path} is locked by a running herald server; \
                         check a stopped directory, or a dump of it (herald backup --server … then herald check FILE)"
                    ),
                    other => other.to_string(),
                })?;
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!(
                    "{}: {n} entries checked, no problems ({:.1} s)",
                    d,
                    started.elapsed().as_secs_f64()
                );
                Ok(())
            } else {
                Err(format!(
                    "{}: {} problem(s) in {n} entries",
                    d,
                    problems.len()
                ))
            }
        }
        _ => Err("name a dump file, or --data-dir DIR (one of them)".into()),
    }
}
