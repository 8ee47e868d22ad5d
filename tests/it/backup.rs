//! Issue 14: `herald backup` against a server under load, `herald
//! restore`, `herald check`, and what each refuses.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::sink::*;
use crate::support::*;

const TENANT: &str = "company_xyz";
const CLIENTS: usize = 16;

fn herald(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(bin())
        .args(args)
        .env_remove("HERALD_SERVER")
        .env_remove("HERALD_API_KEY")
        .env_remove("HERALD_DATA_DIR")
        .output()
        .expect("run herald");
    let (out, err) = texts(&o);
    (o.status.success(), out, err)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => vec![],
    }
}

/// Opens a restored (stopped) data directory through the library's store.
fn open(dir: &Path) -> Arc<dyn herald::store::Store> {
    herald::store::open(
        &herald::store::Location::Sled {
            dir: dir.to_path_buf(),
            cache_bytes: 16 << 20,
        },
        Arc::new(herald::clock::SystemClock),
    )
    .expect("open the restored directory")
}

/// 16 clients post events while `herald backup --server` runs; every event
/// acknowledged before the backup started is in the restored directory
/// with all its deliveries; `herald check` passes on the dump and on the
/// restored directory; damaged dumps and non-empty targets are refused.
#[test]
fn a_backup_under_load_restores_every_acknowledged_event() {
    let server = Server::start_delivering(&["--retry-schedule", "1s,1s,30s"]);
    let ok = Sink::status(200);
    let failing = Sink::status(503);
    let mut endpoint_ids = Vec::new();
    for url in [ok.url(), failing.url()] {
        let a = server.call(
            "POST",
            "/api/v1/webhooks",
            Some(TENANT),
            Some(json!({"url": url, "events": ["*"]})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        endpoint_ids.push(a.body["id"].as_str().unwrap().to_string());
    }
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("herald.dump");

    // (event id, when its 202 arrived)
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, acked, stop) = (server.base.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = test_agent();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("evt_c{c}_{i}");
                    let a = call_json(
                        &agent,
                        &base,
                        "POST",
                        "/api/v1/events",
                        Some(TENANT),
                        Some(json!({"id": id, "event": "order.created", "data": {"object": {"n": i}}})),
                    );
                    if a.status == 202 {
                        acked.lock().unwrap().push((id, Instant::now()));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let backup_started = Instant::now();
    let (ok_backup, out, err) = herald(&[
        "backup",
        "--server",
        &server.base,
        "--key",
        PLATFORM_KEY,
        "--out",
        p(&dump),
    ]);
    let backup_took = backup_started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(ok_backup, "backup failed: {out}\n{err}");
    assert!(out.contains("backup written to"), "{out}");
    let acked = acked.lock().unwrap().clone();
    let before: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at < backup_started)
        .map(|(id, _)| id)
        .collect();
    let during = acked
        .iter()
        .filter(|(_, at)| *at >= backup_started && *at < backup_started + backup_took)
        .count();
    assert!(
        before.len() > 100,
        "load before the backup: {}",
        before.len()
    );
    eprintln!(
        "{} events acknowledged before the backup, {during} while it ran ({backup_took:?})",
        before.len()
    );
    assert!(
        entries(work.path())
            .iter()
            .all(|e| !e.to_string_lossy().contains(".partial")),
        "no temporary file left behind"
    );

    let (checked, out, err) = herald(&["check", p(&dump)]);
    assert!(checked, "check of the dump: {out}\n{err}");
    assert!(out.contains("checksum verified"), "{out}");

    let restored = work.path().join("restored");
    let (ok_restore, out, err) = herald(&["restore", p(&dump), "--data-dir", p(&restored)]);
    assert!(ok_restore, "restore: {out}\n{err}");
    assert!(out.contains("deliveries"), "per-table counts: {out}");
    let (checked, out, err) = herald(&["check", "--data-dir", p(&restored)]);
    assert!(checked, "check of the restored directory: {out}\n{err}");
    assert!(out.contains("no problems"), "{out}");

    {
        let store = open(&restored);
        for id in &before {
            let e = store.event_by_id(TENANT, id).unwrap().unwrap_or_else(|| {
                panic!("event {id}, acknowledged before the backup, is missing")
            });
            assert_eq!(e.deliveries.len(), 2, "{id}");
            for (d, _) in &e.deliveries {
                let d = herald::domain::ids::DeliveryId::from_u128(*d);
                assert!(
                    store.delivery(d).unwrap().is_some(),
                    "delivery {d} of {id} is missing"
                );
            }
        }
        // The platform key was restored with its hash index.
        let key = herald::domain::apikey::hash_key(PLATFORM_KEY);
        assert!(store.key_by_hash(&key).unwrap().is_some());
    }

    // Refusals: a restore into a non-empty directory writes nothing.
    let (ok_again, _, err) = herald(&["restore", p(&dump), "--data-dir", p(&restored)]);
    assert!(!ok_again);
    assert!(err.contains("not empty"), "{err}");
    let (checked, _, _) = herald(&["check", "--data-dir", p(&restored)]);
    assert!(checked, "the refused restore left the directory as it was");

    let bytes = std::fs::read(&dump).unwrap();
    let flipped = work.path().join("flipped.dump");
    let mut bad = bytes.clone();
    bad[bytes.len() / 2] ^= 0x01;
    std::fs::write(&flipped, &bad).unwrap();
    let truncated = work.path().join("truncated.dump");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    for (file, why) in [(&flipped, "checksum"), (&truncated, "truncated")] {
        let (checked, _, err) = herald(&["check", p(file)]);
        assert!(!checked, "check accepted {file:?}");
        assert!(err.contains(why), "{why}: {err}");
        let target = work.path().join(format!("from-{why}"));
        let (ok_restore, _, err) = herald(&["restore", p(file), "--data-dir", p(&target)]);
        assert!(!ok_restore, "restore accepted {file:?}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(!target.exists(), "a refused restore writes nothing");
        // Into an existing empty directory: still empty afterwards.
        std::fs::create_dir(&target).unwrap();
        let (ok_restore, _, _) = herald(&["restore", p(file), "--data-dir", p(&target)]);
        assert!(!ok_restore);
        assert!(
            entries(&target).is_empty(),
            "nothing written into {target:?}"
        );
    }

    // A backup needs the platform key.
    let tenant_key = server.tenant_key(TENANT);
    let (ok_tenant, _, err) = herald(&[
        "backup",
        "--server",
        &server.base,
        "--key",
        &tenant_key,
        "--out",
        p(&work.path().join("tenant.dump")),
    ]);
    assert!(!ok_tenant);
    assert!(err.contains("403"), "{err}");
    assert!(!work.path().join("tenant.dump").exists());

    // Offline: the running server's lock is reported plainly; once it is
    // stopped, its directory backs up and checks clean too.
    let offline = work.path().join("offline.dump");
    let (ok_locked, _, err) = herald(&[
        "backup",
        "--data-dir",
        p(&server.data_dir),
        "--out",
        p(&offline),
    ]);
    assert!(!ok_locked);
    assert!(err.contains("locked by a running herald server"), "{err}");
    let mut server = server;
    server.stop();
    let (ok_offline, out, err) = herald(&[
        "backup",
        "--data-dir",
        p(&server.data_dir),
        "--out",
        p(&offline),
    ]);
    assert!(ok_offline, "{out}\n{err}");
    let (checked, out, err) = herald(&["check", "--data-dir", p(&server.data_dir)]);
    assert!(checked, "the source directory checks clean: {out}\n{err}");

    // The restored directory, started --paused, sends nothing (the
    // receivers count 0); once resumed, every delivery pending in it
    // arrives at least once.
    let pending: std::collections::HashSet<String> = {
        let store = open(&restored);
        let until = herald::domain::time::Timestamp::from_millis(i64::MAX / 2);
        store
            .due_between(None, until, usize::MAX)
            .unwrap()
            .into_iter()
            .filter_map(|d| store.delivery(d.delivery).unwrap())
            .map(|d| d.event_id)
            .collect()
    };
    assert!(!pending.is_empty(), "the backup caught deliveries pending");
    ok.drain(Duration::from_millis(300));
    failing.drain(Duration::from_millis(300));
    let copy = Server::start_on(
        &restored,
        &[
            "--allow-http",
            "--allow-private-networks",
            "127.0.0.0/8",
            "--retry-schedule",
            "1s,1s,30s",
            "--paused",
        ],
        &[],
    );
    assert!(
        ok.drain(Duration::from_millis(2000)).is_empty(),
        "paused: nothing sent"
    );
    assert!(
        failing.drain(Duration::from_millis(500)).is_empty(),
        "paused: nothing sent"
    );
    let r = copy.call("POST", "/api/v1/admin/resume", None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    // Those waiting 30 s for their next retry go now.
    let r = copy.call(
        "POST",
        &format!("/api/v1/webhooks/{}/retry", endpoint_ids[1]),
        Some(TENANT),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending.iter().any(|e| !seen.contains(e)) {
        assert!(
            Instant::now() < deadline,
            "{} of {} pending deliveries arrived after resuming",
            pending.iter().filter(|e| seen.contains(*e)).count(),
            pending.len()
        );
        for r in ok
            .drain(Duration::from_millis(200))
            .into_iter()
            .chain(failing.drain(Duration::from_millis(200)))
        {
            if let Some(id) = r.header("webhook-id") {
                seen.insert(id.to_string());
            }
        }
    }
    drop(copy);
    drop((ok, failing));
}

/// Scheduled backups: `--backup-dir` gets a verified dump at start (none
/// there yet) and on "Back up now", keeps the newest `--backup-keep`, and
/// reports the last result on `/readyz`, in Prometheus and on the panel's
/// Backups page; a directory that cannot be written fires the `backup`
/// alert.
#[test]
fn scheduled_backups_rotate_report_and_alert_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let dir_s = p(&dir).to_string();
    let s = Server::start_with(
        &[
            "--allow-http",
            "--backup-dir",
            &dir_s,
            "--backup-every",
            "1h",
            "--backup-keep",
            "2",
        ],
        &[],
    );
    let dumps = || -> Vec<PathBuf> {
        let mut d: Vec<PathBuf> = entries(&dir)
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "hdump"))
            .collect();
        d.sort();
        d
    };
    eventually(
        Duration::from_secs(20),
        "the first scheduled backup",
        || (dumps().len() == 1).then_some(()),
    );
    let first = dumps()[0].clone();
    let (ok, out, err) = herald(&["check", p(&first)]);
    assert!(ok, "{out}{err}");
    let r = s.call_as(None, "GET", "/readyz", None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body["backup"];
    assert_eq!(b["ok"], true, "{}", r.text);
    assert_eq!(
        b["last"]["file"],
        first.file_name().unwrap().to_str().unwrap(),
        "{}",
        r.text
    );
    assert!(b["last"]["bytes"].as_u64().unwrap() > 0);
    let m = s.call("GET", "/metrics", None, None).text;
    assert!(m.contains("herald_backup_last_ok 1"), "{m}");
    assert!(m.contains("herald_backup_failures_total 0"), "{m}");

    // "Back up now" twice: three dumps written, the newest two kept.
    let mut b = crate::ui::admin(&s);
    b.get("/backups").assert(200, "Back up now");
    for _ in 0..2 {
        let done = b.submit("/backups/run", &[]);
        done.assert_redirect("/backups?notice=written");
    }
    let kept = dumps();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&first), "the oldest went");
    let page = b.get("/backups");
    for f in &kept {
        page.assert(200, f.file_name().unwrap().to_str().unwrap());
    }
    assert!(entries(&dir)
        .iter()
        .all(|f| !f.to_string_lossy().ends_with(".partial")));
}

#[test]
fn a_backup_directory_that_cannot_be_written_fires_the_backup_alert() {
    let tmp = tempfile::tempdir().unwrap();
    // A file where the directory should be: every backup fails.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let s = Server::start_with(&["--allow-http", "--backup-dir", p(&blocked)], &[]);
    let firing = eventually(Duration::from_secs(20), "the backup alert", || {
        let a = s.call("GET", "/api/v1/alerts", None, None);
        a.body["firing"]
            .as_array()
            .and_then(|f| f.iter().find(|x| x["rule"] == "backup").cloned())
    });
    assert!(firing["webhook_id"].is_null(), "{firing}");
    assert!(
        firing["detail"].as_str().unwrap().contains("failed"),
        "{firing}"
    );
    let r = s.call_as(None, "GET", "/readyz", None, None);
    assert_eq!(
        r.status, 200,
        "a failed backup does not take the node out: {}",
        r.text
    );
    assert_eq!(r.body["backup"]["ok"], false, "{}", r.text);
    assert!(r.body["backup"]["last"]["error"].is_string(), "{}", r.text);
    let m = s.call("GET", "/metrics", None, None).text;
    assert!(m.contains("herald_backup_last_ok 0"), "{m}");
    assert!(m.contains("herald_backup_failures_total 1"), "{m}");
}
