//! Issue 14, the operator's day: `serve --paused` (nothing delivered or
//! alerted until resumed), first-start credentials only once bound,
//! recovering access (`users reset-password`, `keys create --platform`),
//! a damaged data directory refused plainly, and a data directory written
//! by the previous format opened whole.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;
use crate::ui::Browser;

// A tenant's endpoint to `url`, subscribed to everything.
use crate::ui::endpoint_via_api as endpoint;

fn post_events(s: &Server, tenant: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let a = s.call(
                "POST",
                "/api/v1/events",
                Some(tenant),
                Some(json!({"event": "order.created", "data": {"object": {"n": i}}})),
            );
            assert_eq!(a.status, 202, "{}", a.text);
            a.body["id"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn deliveries(s: &Server, tenant: &str) -> Vec<Value> {
    let a = s.call("GET", "/api/v1/deliveries?limit=100", Some(tenant), None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["data"].as_array().cloned().unwrap_or_default()
}

fn readyz(s: &Server) -> Answer {
    s.call_as(None, "GET", "/readyz", None, None)
}

fn paused_gauge(s: &Server) -> String {
    let m = s.call("GET", "/metrics", None, None);
    assert_eq!(m.status, 200);
    m.text
        .lines()
        .find(|l| l.starts_with("herald_paused "))
        .unwrap_or_default()
        .to_string()
}

const BANNER: &str = "Deliveries and alerts are paused";

#[test]
fn paused_sends_nothing_until_resumed_then_everything_at_least_once() {
    let sink = Sink::status(200);
    let failing = Sink::status(500);
    let alerts = Sink::status(200);
    let alert_url = format!("http://127.0.0.1:{}/alerts", alerts.port);
    let s = Server::start_delivering(&[
        "--paused",
        "--alert-url",
        &alert_url,
        "--alert-down-after",
        "1",
    ]);
    endpoint(&s, "acme", &sink.url());
    let failing_ep = endpoint(&s, "acme", &failing.url());
    let ids = post_events(&s, "acme", 5);

    // Paused: ingest answered 202 and stored everything, nothing went out.
    assert!(sink.drain(Duration::from_millis(1500)).is_empty());
    assert_eq!(sink.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        failing.requests.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert_eq!(alerts.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    let ds = deliveries(&s, "acme");
    assert_eq!(ds.len(), 10, "5 events × 2 endpoints");
    assert!(
        ds.iter()
            .all(|d| d["status"] == "pending" && d["attempts"] == 0 && d["held"] == false),
        "pending, never attempted, due: {ds:?}"
    );
    for id in &ids {
        assert_eq!(
            s.call("GET", &format!("/api/v1/events/{id}"), Some("acme"), None)
                .status,
            200
        );
    }
    let r = readyz(&s);
    assert_eq!(r.status, 200, "paused is ready: {}", r.text);
    assert_eq!(r.body["paused"], true);
    assert_eq!(paused_gauge(&s), "herald_paused 1");

    // The banner on every page, the login page included; the button for
    // operators.
    let mut anon = Browser::new(&s.base);
    anon.get("/login").assert(200, BANNER);
    let mut b = Browser::new(&s.base);
    b.login_ok("admin", ADMIN_PASSWORD);
    for page in ["/", "/webhooks", "/deliveries", "/alerts", "/tenants"] {
        b.get(page)
            .assert(200, BANNER)
            .assert(200, "Resume deliveries");
    }

    // Only the platform resumes.
    let tenant_key = s.tenant_key("acme");
    assert_error(
        &s.call_as(
            Some(&tenant_key),
            "POST",
            "/api/v1/admin/resume",
            None,
            None,
        ),
        403,
        "forbidden",
    );
    let resumed = s.call("POST", "/api/v1/admin/resume", None, None);
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(resumed.body["paused"], false);

    // Every delivery arrives (at least once), and the alerts now flow.
    let got = sink.take(5, Duration::from_secs(30));
    let mut seen: Vec<String> = got
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    seen.sort();
    seen.dedup();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want, "each event delivered");
    failing.take(5, Duration::from_secs(30));
    let alert = alerts.take(1, Duration::from_secs(30)).remove(0);
    let body: Value = serde_json::from_slice(&alert.body).unwrap_or(Value::Null);
    assert_eq!(body["event"], "alert.firing", "{body}");
    assert_eq!(body["data"]["object"]["webhook_id"], failing_ep.as_str());
    assert_eq!(readyz(&s).body["paused"], false);
    assert_eq!(paused_gauge(&s), "herald_paused 0");
    b.get("/").assert(200, "Dashboard");
    assert!(!b.get("/").body.contains(BANNER), "no banner once resumed");

    // Paused again with the dashboard's button (a tenant key may not
    // through the API), resumed with the banner's.
    assert_error(
        &s.call_as(Some(&tenant_key), "POST", "/api/v1/admin/pause", None, None),
        403,
        "forbidden",
    );
    b.get("/").assert(200, "Pause deliveries");
    b.submit("/pause", &[]).assert_redirect("/");
    assert_eq!(readyz(&s).body["paused"], true);
    sink.drain(Duration::from_millis(300));
    let more = post_events(&s, "acme", 1);
    assert!(
        sink.drain(Duration::from_millis(1000)).is_empty(),
        "nothing while paused again"
    );
    let paused_page = b.get("/");
    paused_page.assert(200, BANNER);
    assert!(!paused_page.body.contains("Pause deliveries"));
    b.submit("/resume", &[]).assert_redirect("/");
    let got = sink.take(1, Duration::from_secs(30)).remove(0);
    assert_eq!(got.header("webhook-id"), Some(more[0].as_str()));
    assert!(!b.get("/").body.contains(BANNER));
}

#[test]
fn the_api_pauses_a_running_server_and_resumes_it() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    endpoint(&s, "acme", &sink.url());
    post_events(&s, "acme", 1);
    sink.take(1, Duration::from_secs(30));
    let paused = s.call("POST", "/api/v1/admin/pause", None, None);
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(paused.body["paused"], true);
    let ids = post_events(&s, "acme", 3);
    assert!(sink.drain(Duration::from_millis(1000)).is_empty());
    assert_eq!(readyz(&s).body["paused"], true);
    assert_eq!(
        s.call("POST", "/api/v1/admin/resume", None, None).body["paused"],
        false
    );
    let mut seen: Vec<_> = sink
        .take(3, Duration::from_secs(30))
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    seen.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn a_restart_without_the_flag_resumes() {
    let sink = Sink::status(200);
    let mut s = Server::start_delivering(&["--paused"]);
    endpoint(&s, "acme", &sink.url());
    let ids = post_events(&s, "acme", 3);
    assert!(sink.drain(Duration::from_millis(800)).is_empty());
    s.restart_with(&["--allow-http", "--allow-private-networks", "127.0.0.0/8"]);
    assert_eq!(readyz(&s).body["paused"], false);
    let got = sink.take(3, Duration::from_secs(30));
    let mut seen: Vec<_> = got
        .iter()
        .filter_map(|r| r.header("webhook-id").map(str::to_string))
        .collect();
    seen.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(seen, want);
}

/// `herald serve` on `data_dir` and `listen`, without the test
/// credentials (so they are generated), run until it exits or `within`
/// passes (then killed): (exit success, stdout, stderr).
fn serve_until_exit(
    data_dir: &Path,
    listen: &str,
    within: Duration,
) -> (Option<bool>, String, String) {
    serve_as(&[], data_dir, listen, within)
}

/// [`serve_until_exit`] run through `prefix` (e.g. `setpriv …`, which
/// execs the binary).
fn serve_as(
    prefix: &[&str],
    data_dir: &Path,
    listen: &str,
    within: Duration,
) -> (Option<bool>, String, String) {
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    let mut child = cmd
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .env_remove("HERALD_PLATFORM_KEY")
        .env_remove("HERALD_ADMIN_PASSWORD")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn herald");
    let deadline = Instant::now() + within;
    let exited = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.success());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("output");
    let (stdout, stderr) = texts(&out);
    (exited, stdout, stderr)
}

fn banner_value(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split_once(label).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{label} in:\n{stdout}"))
}

#[test]
fn a_start_on_a_busy_port_prints_and_stores_no_credentials_and_the_next_start_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let (exited, stdout, stderr) = serve_until_exit(&dir, &addr, Duration::from_secs(30));
    assert_eq!(exited, Some(false), "exits non-zero: {stderr}");
    assert!(!stdout.contains("first start"), "no banner: {stdout}");
    assert!(!stdout.contains("password"), "{stdout}");
    assert!(stderr.contains(&addr), "names the address: {stderr}");
    drop(busy);
    // Nothing was stored: no key, and the next start is a first start.
    let keys = cli(&["keys", "list", "--json"], &dir);
    let (out, err) = texts(&keys);
    assert!(keys.status.success(), "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    assert_eq!(listed["data"], json!([]), "no key stored: {out}");

    let s = Server::start_on(
        &dir,
        &["--allow-http"],
        &[("HERALD_PLATFORM_KEY", ""), ("HERALD_ADMIN_PASSWORD", "")],
    );
    let stdout = s.stdout_when(|o| o.contains("These are shown only once"));
    let password = banner_value(&stdout, "password:");
    let key = banner_value(&stdout, "platform API key:");
    assert!(key.starts_with("hpk_"), "{key}");
    let a = s.call_as(Some(&key), "GET", "/api/v1/keys", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    Browser::new(&s.base).login_ok("admin", &password);
}

#[test]
fn reset_password_through_the_server_and_on_a_stopped_directory() {
    let mut s = Server::start();
    // Through the running server, with the platform key.
    let o = Command::new(bin())
        .args([
            "users",
            "reset-password",
            "admin",
            "--server",
            &s.base,
            "--key",
            PLATFORM_KEY,
        ])
        .output()
        .expect("run");
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("shown only once"), "{err}");
    let first = banner_value(&out, "password:");
    assert_ne!(first, ADMIN_PASSWORD);
    let mut b = Browser::new(&s.base);
    assert_eq!(
        b.login("admin", ADMIN_PASSWORD).status,
        401,
        "the old one fails"
    );
    Browser::new(&s.base).login_ok("admin", &first);
    // A tenant key may not; an unknown user is 404.
    let tenant_key = s.tenant_key("acme");
    assert_error(
        &s.call_as(
            Some(&tenant_key),
            "POST",
            "/api/v1/users/admin/reset-password",
            None,
            None,
        ),
        403,
        "forbidden",
    );
    assert_error(
        &s.call("POST", "/api/v1/users/nobody/reset-password", None, None),
        404,
        "not_found",
    );
    // Locally, on the stopped data directory; and a platform key recovered.
    s.stop();
    let o = s.cli(&["users", "reset-password", "admin"]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    let second = banner_value(&out, "password:");
    let o = s.cli(&["keys", "create", "--platform", "--json"]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    let created: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    assert_eq!(created["kind"], "platform", "{out}");
    assert_eq!(created["name"], "recovery platform key");
    let recovered = created["key"].as_str().unwrap_or_default().to_string();
    let refused = s.cli(&["keys", "create", "--platform", "--tenant", "acme"]);
    assert!(!refused.status.success(), "--platform excludes --tenant");
    s.start_again();
    assert_eq!(Browser::new(&s.base).login("admin", &first).status, 401);
    Browser::new(&s.base).login_ok("admin", &second);
    let a = s.call_as(Some(&recovered), "GET", "/api/v1/tenants", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
}

/// A data directory written and cleanly stopped, with a tenant in it.
fn written_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let mut s = Server::start_on(&dir, &["--allow-http"], &[]);
    assert_eq!(
        s.call("POST", "/api/v1/tenants", None, Some(json!({"id": "acme"})))
            .status,
        201
    );
    post_events(&s, "acme", 20);
    s.stop();
    (tmp, dir)
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp").arg("-r").arg(from).arg(to).status();
    assert!(st.is_ok_and(|s| s.success()), "cp -r");
}

#[test]
fn a_damaged_data_directory_is_refused_plainly_with_the_restore_command() {
    let (tmp, dir) = written_dir();
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 4] = [
        ("garbage db", |d| {
            let len = std::fs::metadata(d.join("db")).map_or(4096, |m| m.len()) as usize;
            let garbage: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
            std::fs::write(d.join("db"), garbage).expect("write");
        }),
        ("garbage db, no snapshot", |d| {
            std::fs::write(d.join("db"), vec![0x5a; 4096]).expect("write");
            for e in std::fs::read_dir(d).expect("dir").flatten() {
                if e.file_name().to_string_lossy().starts_with("snap.") {
                    std::fs::remove_file(e.path()).expect("rm");
                }
            }
        }),
        ("truncated db", |d| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(d.join("db"))
                .expect("open");
            f.set_len(100).expect("truncate");
        }),
        ("empty db and conf", |d| {
            std::fs::write(d.join("db"), b"").expect("write");
            std::fs::write(d.join("conf"), b"").expect("write");
        }),
    ];
    for (i, (what, damage)) in damages.iter().enumerate() {
        let copy = tmp.path().join(format!("copy{i}"));
        copy_dir(&dir, &copy);
        damage(&copy);
        let (exited, stdout, stderr) =
            serve_until_exit(&copy, "127.0.0.1:0", Duration::from_secs(30));
        assert_eq!(exited, Some(false), "{what}: exits non-zero\n{stderr}");
        assert!(!stderr.contains("panicked"), "{what}: no panic\n{stderr}");
        assert!(
            !stdout.contains("first start"),
            "{what}: not a new directory"
        );
        let d = copy.display().to_string();
        assert!(
            stderr.contains(&format!("cannot open the data directory {d}")),
            "{what}: names the directory\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("herald restore BACKUP_FILE --data-dir {d}")),
            "{what}: names the restore command\n{stderr}"
        );
    }
    // A damaged `conf` alone: sled rewrites it and everything is there.
    let copy = tmp.path().join("conf");
    copy_dir(&dir, &copy);
    std::fs::write(copy.join("conf"), b"garbage\n").expect("write");
    let s = Server::start_on(&copy, &["--allow-http"], &[]);
    let t = s.call("GET", "/api/v1/tenants/acme", None, None);
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(deliveries(&s, "acme").len(), 0);
}

#[test]
fn a_data_directory_the_server_may_not_write_is_refused_plainly() {
    use std::os::unix::fs::PermissionsExt as _;
    let (tmp, dir) = written_dir();
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    // Root ignores permissions: as root, the server runs as `nobody` on
    // the directory root owns (readable, not writable, by nobody).
    let root = std::fs::write(dir.join("probe"), b"x").is_ok();
    let _ = std::fs::remove_file(dir.join("probe"));
    let prefix: Vec<&str> = if root {
        let have = Command::new("setpriv").arg("--version").output();
        if !have.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: root without setpriv, permissions do not apply");
            return;
        }
        mode(tmp.path(), 0o755);
        vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
    } else {
        mode(&dir, 0o555);
        vec![]
    };
    let (exited, _, stderr) = serve_as(&prefix, &dir, "127.0.0.1:0", Duration::from_secs(30));
    mode(&dir, 0o755);
    assert_eq!(exited, Some(false), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let d = dir.display().to_string();
    assert!(
        stderr.contains(&format!("cannot open the data directory {d}")),
        "{stderr}"
    );
    assert!(stderr.contains("ermission denied"), "{stderr}");
    assert!(
        stderr.contains(&format!("chown -R herald: {d}")),
        "{stderr}"
    );
}

/// The fixture: a data directory written by commit f37a04a (endpoint
/// format 2, before `revision`), with what it held as that binary's API
/// answered it (`tests/fixtures/make-previous-format.py` wrote both).
const PREVIOUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/previous-format-f37a04a"
);

#[test]
fn a_data_directory_of_the_previous_format_opens_with_everything_in_it() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{PREVIOUS}.json")).expect("fixture json"),
    )
    .expect("json");
    let tmp = tempfile::tempdir().expect("tempdir");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(format!("{PREVIOUS}.tar.gz"))
        .arg("-C")
        .arg(tmp.path())
        .status();
    assert!(st.is_ok_and(|s| s.success()), "tar -xzf");
    let dir = tmp.path().join("data");
    // Paused: its receivers are long gone, and nothing may be sent.
    let s = Server::start_on(&dir, &["--allow-http", "--paused"], &[]);
    assert!(
        !s.stdout_when(|_| true).contains("first start"),
        "an initialised directory"
    );
    let e = |k: &str| expected[k].as_str().unwrap_or_default().to_string();

    // Tenants, keys (a revoked one stays revoked; the tenant key works).
    let tenants = s.call("GET", "/api/v1/tenants", None, None);
    let by_id = |id: &str| {
        tenants.body["data"]
            .as_array()
            .and_then(|a| a.iter().find(|t| t["id"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_id("acme")["name"], "Acme Corp", "{}", tenants.text);
    assert_eq!(by_id("beta")["suspended"], true);
    let keys = s.call("GET", "/api/v1/keys", None, None);
    let key = |id: &str| {
        keys.body["data"]
            .as_array()
            .and_then(|a| a.iter().find(|k| k["id"] == id).cloned())
            .unwrap_or(Value::Null)
    };
    assert!(
        key(&e("tenant_key_id"))["revoked_at"].is_null(),
        "{}",
        keys.text
    );
    assert!(!key(&e("revoked_key_id"))["revoked_at"].is_null());
    let tk = e("tenant_key");
    let hooks = s.call_as(Some(&tk), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(hooks.status, 200, "{}", hooks.text);
    assert_eq!(hooks.body["data"].as_array().map(Vec::len), Some(3));

    // Endpoints (format 2 decoded), their health, an update at revision 0.
    let gone = s.call_as(
        Some(&tk),
        "GET",
        &format!("/api/v1/webhooks/{}", e("ep_gone")),
        None,
        None,
    );
    let was = &expected["ep_gone_view"];
    for f in [
        "url",
        "events",
        "description",
        "active",
        "disabled_reason",
        "created_at",
        "health",
    ] {
        assert_eq!(gone.body[f], was[f], "{f}: {}", gone.text);
    }
    let patched = s.call_as(
        Some(&tk),
        "PATCH",
        &format!("/api/v1/webhooks/{}", e("ep_ok")),
        None,
        Some(json!({"description": "after the upgrade"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);

    // Events by their id (the id index), deliveries in every state, by
    // the tenant and the endpoint indexes, their attempts.
    let ev = s.call_as(
        Some(&tk),
        "GET",
        &format!("/api/v1/events/{}", e("event_acme")),
        None,
        None,
    );
    assert_eq!(ev.status, 200, "{}", ev.text);
    assert_eq!(
        ev.body["payload"]["data"]["object"]["order_id"], "ord_1",
        "{}",
        ev.text
    );
    for (ep, want) in expected["deliveries"].as_object().into_iter().flatten() {
        let listed = s.call_as(
            Some(&tk),
            "GET",
            &format!("/api/v1/deliveries?webhook_id={ep}"),
            None,
            None,
        );
        let data = listed.body["data"].as_array().cloned().unwrap_or_default();
        assert_eq!(data.len(), 1, "{}", listed.text);
        assert_eq!(data[0]["id"], want["id"]);
        // The old binary said `pending` for a delivery waiting for its
        // retry; that is `retrying` now (issue 15's statuses).
        let status = match (want["status"].as_str(), want["attempts"].as_u64()) {
            (Some("pending"), Some(n)) if n > 0 => "retrying",
            (s, _) => s.unwrap_or_default(),
        };
        assert_eq!(data[0]["status"], status, "{}", listed.text);
        let by_status = s.call_as(
            Some(&tk),
            "GET",
            &format!("/api/v1/deliveries?status={status}"),
            None,
            None,
        );
        assert!(
            by_status.text.contains(want["id"].as_str().unwrap_or("-")),
            "{status}"
        );
        let detail = s.call_as(
            Some(&tk),
            "GET",
            &format!(
                "/api/v1/deliveries/{}",
                want["id"].as_str().unwrap_or_default()
            ),
            None,
            None,
        );
        assert_eq!(detail.status, 200, "{}", detail.text);
        let attempts = detail.body["attempts"].as_array().map_or(0, Vec::len);
        assert_eq!(
            Some(attempts as u64),
            want["attempts"].as_u64(),
            "{}",
            detail.text
        );
    }
    let beta = deliveries(&s, "beta");
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0]["id"], expected["deliveries_beta"][0]["id"]);
    assert_eq!(beta[0]["held"], true, "the held index");

    // Alerts, firing and their history.
    let alerts = s.call("GET", "/api/v1/alerts", None, None);
    assert_eq!(
        alerts.body["firing"], expected["alerts"]["firing"],
        "{}",
        alerts.text
    );
    assert_eq!(alerts.body["history"], expected["alerts"]["history"]);

    // Users: the operator and the tenant-bound one log in.
    Browser::new(&s.base).login_ok("admin", ADMIN_PASSWORD);
    Browser::new(&s.base).login_ok("acme_ops", "acme-ops-password");

    // The due index: the retry that was pending is due (long overdue)
    // and waits in the paused dispatcher.
    eventually(Duration::from_secs(10), "the overdue retry queued", || {
        (readyz(&s).body["delivery"]["queued"] == 1).then_some(())
    });
}
