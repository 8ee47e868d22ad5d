//! A full disk (issue 13): a data directory on a small tmpfs of the test's
//! own fills; ingest is refused at the reserve (507) while deliveries go
//! on, `/readyz` fails and the `storage` alert fires; filled to the last
//! byte, writes answer 503 `store_unavailable`; once space is freed the
//! store writes again without a restart, and every acknowledged event is
//! there and delivered. Mounting a tmpfs needs root: without it the test
//! says so and passes.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sink::Sink;
use crate::support::{assert_error, Answer, Server};

const T: Option<&str> = Some("diskco");
const MIB: u64 = 1 << 20;

/// A tmpfs mounted on a temp dir, unmounted on drop.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount(bytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free(&self) -> u64 {
        fs4::available_space(self.path()).unwrap()
    }

    /// Writes `name` with `bytes` (or until the filesystem is full).
    fn write(&self, name: &str, bytes: Option<u64>) -> PathBuf {
        let path = self.path().join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 << 10];
        let mut written = 0u64;
        while bytes.is_none_or(|b| written < b) {
            if f.write_all(&chunk).and_then(|_| f.sync_data()).is_err() {
                break;
            }
            written += chunk.len() as u64;
        }
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A batch of 50 events of about 4 KiB each, ids `disk_{n}_{i}`.
fn batch(n: usize) -> (Value, Vec<String>) {
    let pad = "x".repeat(4000);
    let ids: Vec<String> = (0..50).map(|i| format!("disk_{n}_{i}")).collect();
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "event": "order.created", "data": {"object": {"pad": pad}}}))
        .collect();
    (json!({ "events": events }), ids)
}

/// The event id a delivery carried.
fn event_id(r: &crate::sink::Received) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["id"].as_str().unwrap_or_default().to_string()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn storage_firing(s: &Server) -> bool {
    let a = s.call("GET", "/api/v1/alerts", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["firing"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x["rule"] == "storage"))
}

fn metrics(s: &Server) -> String {
    let a = s.call("GET", "/metrics", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.text
}

fn readyz(s: &Server) -> Answer {
    s.call_as(None, "GET", "/readyz", None, None)
}

#[test]
fn a_full_disk_refuses_ingest_cleanly_and_recovers_without_a_restart() {
    let Some(fs) = SmallFs::mount(64 * MIB) else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    // Ballast the operator will delete to make room at the end.
    let ballast = fs.write("ballast", Some(16 * MIB));
    let sink = Sink::status(200);
    let mut s = Server::start_on(
        &fs.path().join("data"),
        &[
            "--allow-http",
            "--allow-private-networks",
            "127.0.0.0/8",
            "--disk-reserve-mb",
            "12",
            "--cache-mb",
            "8",
        ],
        &[],
    );
    let t = s.call(
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({"id": "diskco"})),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    let ep = s.call(
        "POST",
        "/api/v1/webhooks",
        T,
        Some(json!({"url": sink.url(), "events": ["*"]})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);

    // 1. Fill towards the reserve: ingest is refused with 507 before the
    // disk is full (batches paced so the guard's look every second comes
    // well before the last 12 MiB are written).
    let mut acked: Vec<String> = Vec::new();
    let mut refused = None;
    for n in 0..2_000 {
        let (body, ids) = batch(n);
        let a = s.call("POST", "/api/v1/events/batch", T, Some(body));
        match a.status {
            202 => acked.extend(ids),
            _ => {
                refused = Some(a);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    let refused = refused.expect("ingest was never refused");
    assert_error(&refused, 507, "insufficient_storage");
    assert!(
        refused.text.contains("--disk-reserve-mb"),
        "{}",
        refused.text
    );
    assert!(acked.len() >= 500, "only {} events fitted", acked.len());
    let r = readyz(&s);
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["checks"]["disk"]["ok"], false, "{}", r.text);
    assert_eq!(r.body["checks"]["store"]["ok"], true, "{}", r.text);
    wait_for("the storage alert", Duration::from_secs(10), || {
        storage_firing(&s)
    });
    // Deliveries go on meanwhile, in the reserve.
    let delivered: HashSet<String> = sink
        .take(50, Duration::from_secs(30))
        .iter()
        .map(event_id)
        .collect();
    assert!(!delivered.is_empty());

    // 2. Another program takes the last byte: writes now fail as 503
    // `store_unavailable` (never a 500), and readiness says why.
    let filler = fs.write("filler", None);
    // (sled reuses the log segments it already holds, so it takes some
    // writes to need a new page.)
    let mut unavailable = None;
    // Text that does not compress (new data directories are compressed
    // by sled): a repeated letter would never fill the disk.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-";
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        (0..1000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ALPHABET[(seed % 64) as usize] as char
            })
            .collect::<String>()
    };
    for i in 0..5_000 {
        let description = noise();
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            T,
            Some(json!({
                "url": format!("{}/{i}", sink.url()),
                "events": ["payment.*"],
                "description": description,
            })),
        );
        if a.status != 201 {
            unavailable = Some(a);
            break;
        }
    }
    let unavailable = unavailable.expect("a write on a full disk succeeded every time");
    assert_error(&unavailable, 503, "store_unavailable");
    let (body, _) = batch(9_999);
    assert_error(
        &s.call("POST", "/api/v1/events/batch", T, Some(body)),
        503,
        "store_unavailable",
    );
    let r = readyz(&s);
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["checks"]["store"]["ok"], false, "{}", r.text);
    let why = r.body["checks"]["store"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("no space left"), "{}", r.text);
    assert!(metrics(&s).contains("herald_store_writable 0"));

    // 3. The operator frees space: the store reopens in place, readiness
    // and ingest come back, the alert resolves — no restart.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&ballast).unwrap();
    assert!(fs.free() >= 12 * MIB, "{} bytes free", fs.free());
    wait_for(
        "readiness after space returned",
        Duration::from_secs(30),
        || readyz(&s).status == 200,
    );
    let (body, ids) = batch(10_000);
    let a = s.call("POST", "/api/v1/events/batch", T, Some(body));
    assert_eq!(a.status, 202, "{}", a.text);
    acked.extend(ids);
    let ep2 = s.call(
        "POST",
        "/api/v1/webhooks",
        T,
        Some(json!({"url": format!("{}/after", sink.url()), "events": ["payment.*"]})),
    );
    assert_eq!(ep2.status, 201, "{}", ep2.text);
    let m = metrics(&s);
    assert!(m.contains("herald_store_writable 1"), "{m}");
    assert!(m.contains("herald_disk_free_bytes "), "{m}");
    wait_for(
        "the storage alert to resolve",
        Duration::from_secs(10),
        || !storage_firing(&s),
    );
    assert!(
        s.stderr.lock().unwrap().contains("was reopened"),
        "the log does not say the store was reopened"
    );

    // 4. Nothing acknowledged was lost, and every acknowledged event is
    // delivered at least once (deliveries whose record failed go again).
    for id in &acked {
        let a = s.call("GET", &format!("/api/v1/events/{id}"), T, None);
        assert_eq!(a.status, 200, "{id}: {}", a.text);
    }
    let mut seen = delivered;
    let deadline = Instant::now() + Duration::from_secs(90);
    while acked.iter().any(|id| !seen.contains(id)) {
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events delivered",
            acked.iter().filter(|id| seen.contains(*id)).count(),
            acked.len()
        );
        for r in sink.drain(Duration::from_millis(500)) {
            seen.insert(event_id(&r));
        }
    }
    // And the same holds after a restart on the same directory.
    s.restart();
    let last = acked.last().unwrap();
    let a = s.call("GET", &format!("/api/v1/events/{last}"), T, None);
    assert_eq!(a.status, 200, "{}", a.text);
}
