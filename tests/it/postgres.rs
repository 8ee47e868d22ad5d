//! The flows that matter, on the PostgreSQL store (`--store postgres://…`):
//! ingest, delivery to a loopback receiver, retries, tenant isolation, a
//! kill -9 that loses nothing acknowledged, and a sled dump restored into
//! PostgreSQL serving the same endpoints, events and delivery history.
//! Each test gets a fresh database of the cluster `tests/pg/start.sh` runs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const T: Option<&str> = Some("acme");

fn endpoint(s: &Server, url: &str) -> String {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        T,
        Some(json!({"url": url, "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    a.body["id"].as_str().unwrap().to_string()
}

fn post_event(s: &Server, n: usize) -> Value {
    let a = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "order.created", "data": {"object": {"n": n}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    a.body
}

fn delivery_when(s: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually(Duration::from_secs(30), "the delivery's state", || {
        let d = s
            .call("GET", &format!("/api/v1/deliveries/{id}"), T, None)
            .body;
        done(&d).then_some(d)
    })
}

#[test]
fn ingest_delivery_retries_and_tenant_isolation_on_postgres() {
    let s = Server::start_postgres(&["--retry-schedule", "1s", "--request-timeout", "2s"]);
    assert!(
        s.stderr_when(|e| e.contains("PostgreSQL store"))
            .contains("PostgreSQL store"),
        "the log names the store"
    );
    let sink = scripted(vec![status(500), status(200)]);
    endpoint(&s, &sink.url());
    let ev = post_event(&s, 1);
    let id = ev["deliveries"][0]["id"].as_str().unwrap().to_string();
    let got = sink.take(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "one failure, one retry");
    assert_eq!(got[0].body, got[1].body, "the retry sends the same bytes");
    let d = delivery_when(&s, &id, |d| d["status"] == "succeeded");
    assert_eq!(
        d["attempts"].as_array().unwrap().len(),
        2,
        "{d}\nlog:\n{}",
        s.stderr.lock().unwrap()
    );
    // The event reads back, and the log lists the delivery.
    let event_id = ev["id"].as_str().unwrap();
    let e = s.call("GET", &format!("/api/v1/events/{event_id}"), T, None);
    assert_eq!(e.status, 200, "{}", e.text);
    let log = s.call("GET", "/api/v1/deliveries", T, None);
    assert_eq!(log.status, 200, "{}", log.text);
    assert!(log.text.contains(&id), "{}", log.text);
    // Another tenant's key sees none of it.
    let other = s.tenant_key("globex");
    for path in [
        format!("/api/v1/deliveries/{id}"),
        format!("/api/v1/events/{event_id}"),
    ] {
        let a = s.call_as(Some(&other), "GET", &path, None, None);
        assert_eq!(a.status, 404, "{path}: {}", a.text);
    }
    let theirs = s.call_as(Some(&other), "GET", "/api/v1/deliveries", None, None);
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert!(!theirs.text.contains(&id));
}

#[test]
fn kill_9_loses_nothing_acknowledged_on_postgres() {
    let sink = Sink::status(200);
    // Paused: every event stays owed when the process dies.
    let url = fresh_database();
    let mut s = Server::start_postgres_at(&url, &["--paused"]);
    endpoint(&s, &sink.url());
    let acked: BTreeSet<String> = (0..40)
        .map(|n| post_event(&s, n)["id"].as_str().unwrap().to_string())
        .collect();
    s.kill9();
    // Started again without --paused: everything acknowledged is delivered.
    s.restart_with(&[
        "--allow-http",
        "--allow-private-networks",
        "127.0.0.0/8",
        "--store",
        &url,
    ]);
    let got = sink.take(acked.len(), Duration::from_secs(60));
    let delivered: BTreeSet<String> = got
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(delivered, acked, "every acknowledged event, delivered");
}

#[test]
fn a_sled_dump_restored_into_postgres_serves_the_same() {
    let sink = Sink::status(200);
    let mut sled = Server::start_delivering(&[]);
    let ep = endpoint(&sled, &sink.url());
    let ids: Vec<String> = (0..3)
        .map(|n| {
            post_event(&sled, n)["deliveries"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    sink.take(3, Duration::from_secs(30));
    for id in &ids {
        delivery_when(&sled, id, |d| d["status"] == "succeeded");
    }
    let read = |s: &Server| {
        let mut out = Vec::new();
        for path in [
            format!("/api/v1/webhooks/{ep}"),
            "/api/v1/webhooks".to_string(),
            "/api/v1/deliveries".to_string(),
        ] {
            let a = s.call("GET", &path, T, None);
            assert_eq!(a.status, 200, "{path}: {}", a.text);
            out.push(a.body);
        }
        for id in &ids {
            let d = s.call("GET", &format!("/api/v1/deliveries/{id}"), T, None);
            assert_eq!(d.status, 200, "{}", d.text);
            let event_id = d.body["event_id"].as_str().unwrap_or_default().to_string();
            out.push(d.body);
            out.push(
                s.call("GET", &format!("/api/v1/events/{event_id}"), T, None)
                    .body,
            );
        }
        out
    };
    let before = read(&sled);
    sled.stop();
    let dump = sled.data_dir.parent().unwrap().join("herald.hdump");
    let o = sled.cli(&["backup", "--out", dump.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", texts(&o));

    let url = fresh_database();
    let o = std::process::Command::new(bin())
        .args(["restore", dump.to_str().unwrap(), "--store", &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", texts(&o));
    let o = std::process::Command::new(bin())
        .args(["check", "--store", &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", texts(&o));
    // A second restore into the same database is refused.
    let o = std::process::Command::new(bin())
        .args(["restore", dump.to_str().unwrap(), "--store", &url])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        texts(&o).1.contains("already holds records"),
        "{:?}",
        texts(&o)
    );

    // The operator CLI works on it directly too.
    let o = std::process::Command::new(bin())
        .args(["tenants", "list", "--json", "--store", &url])
        .env_remove("HERALD_SERVER")
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", texts(&o));
    assert!(texts(&o).0.contains("acme"), "{:?}", texts(&o));

    let pg = Server::start_postgres_at(&url, &["--paused"]);
    assert_eq!(read(&pg), before, "the same endpoints, events and history");
    // And an online backup of the PostgreSQL store (through the API: one
    // snapshot) is a whole dump that checks clean.
    let online = dump.with_extension("online.hdump");
    let o = std::process::Command::new(bin())
        .args([
            "backup",
            "--out",
            online.to_str().unwrap(),
            "--server",
            &pg.base,
        ])
        .args(["--key", PLATFORM_KEY])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", texts(&o));
    let o = std::process::Command::new(bin())
        .args(["check", online.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", texts(&o));
    assert!(texts(&o).0.contains("postgres"), "{:?}", texts(&o));
}
