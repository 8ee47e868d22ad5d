//! Issue 4 black-box: the real binary, the real clock, real receivers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const T: Option<&str> = Some("company_xyz");

fn ms(v: &Value) -> i64 {
    herald::domain::time::Timestamp::parse_rfc3339(v.as_str().unwrap())
        .unwrap()
        .as_millis()
}

fn make_endpoint(s: &Server, url: &str, events: Value) {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        T,
        Some(json!({"url": url, "events": events})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
}

fn first_delivery(s: &Server, event: &str) -> String {
    let a = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": event, "data": {"object": {}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    a.body["deliveries"][0]["id"].as_str().unwrap().to_string()
}

/// Posts an event of a tenant with no endpoint: once it is acknowledged,
/// everything the server wrote before it is durable (its sync covers
/// every write applied before its own).
fn synced(s: &Server) {
    let a = s.call(
        "POST",
        "/api/v1/events",
        Some("sync_point"),
        Some(json!({"event": "order.created", "data": {"object": {}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
}

#[test]
fn a_short_real_schedule_gives_the_same_outcomes() {
    let s = Server::start_delivering(&["--retry-schedule", "1s,2s,3s", "--request-timeout", "1s"]);
    let always = Sink::status(500);
    let flaky = scripted(vec![status(500), Reply::Tarpit, status(200)]);
    let gone = Sink::status(404);
    make_endpoint(&s, &always.url(), json!(["payment.*"]));
    make_endpoint(&s, &flaky.url(), json!(["order.*"]));
    make_endpoint(&s, &gone.url(), json!(["user.*"]));
    let a = first_delivery(&s, "payment.failed");
    let f = first_delivery(&s, "order.created");
    let g = first_delivery(&s, "user.deleted");
    always.take(4, Duration::from_secs(30));
    flaky.take(3, Duration::from_secs(30));
    gone.take(1, Duration::from_secs(10));
    let detail = |id: &str, n: usize| {
        eventually(Duration::from_secs(20), "attempts recorded", || {
            let d = s
                .call("GET", &format!("/api/v1/deliveries/{id}"), T, None)
                .body;
            (d["attempts"].as_array().unwrap().len() == n
                && !["pending", "retrying"].contains(&d["status"].as_str().unwrap_or_default()))
            .then_some(d)
        })
    };
    let d = detail(&a, 4);
    assert_eq!(d["status"], "failed");
    let at: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| ms(&a["started_at"]))
        .collect();
    for (i, step) in [1000, 2000, 3000].iter().enumerate() {
        let gap = at[i + 1] - at[i];
        assert!(
            gap >= *step && gap < step + 2000,
            "gap {i}: {gap} ms in {at:?}"
        );
    }
    let d = detail(&f, 3);
    assert_eq!(d["status"], "succeeded");
    assert_eq!(d["attempts"][1]["error"], "timeout");
    assert_eq!(detail(&g, 1)["status"], "failed");
    assert!(
        always.drain(Duration::from_millis(1500)).is_empty(),
        "no seventh attempt"
    );
}

#[test]
fn ten_thousand_scheduled_retries_survive_kill_9_and_each_is_attempted_once_when_due() {
    // First sight of an event id: 503 (a retry is scheduled); after: 200.
    let seen: Arc<Mutex<HashMap<String, u32>>> = Default::default();
    let counts = seen.clone();
    let sink = Sink::start(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        let mut m = counts.lock().unwrap();
        let n = m.entry(id).or_insert(0);
        *n += 1;
        if *n == 1 {
            status(503)
        } else {
            status(200)
        }
    });
    let mut s = Server::start_delivering(&["--retry-schedule", "5s", "--workers", "16"]);
    make_endpoint(&s, &sink.url(), json!(["*"]));
    for b in 0..10 {
        let events: Vec<Value> = (0..1000)
            .map(|i| json!({"id": format!("rec_{b}_{i}"), "event": "order.created", "data": {"object": {"n": i}}}))
            .collect();
        s.post_batch(T, events);
    }
    // Every first attempt recorded and every retry scheduled, then crash.
    eventually(Duration::from_secs(120), "10,000 retries scheduled", || {
        let r = s.call_as(None, "GET", "/readyz", None, None).body;
        let d = &r["delivery"];
        (d["queued"] == 0 && d["in_flight"] == 0 && seen.lock().unwrap().len() == 10_000)
            .then_some(())
    });
    // Attempt records are made durable behind their answer (within 50 ms,
    // or by the next acknowledged write's sync): this event's 202 says the
    // retries scheduled before it are on disk, so none is repeated early.
    synced(&s);
    s.kill9();
    let before: u32 = seen.lock().unwrap().values().sum();
    s.start_again();
    eventually(Duration::from_secs(120), "every retry made", || {
        let m = seen.lock().unwrap();
        (m.len() == 10_000 && m.values().all(|n| *n >= 2)).then_some(())
    });
    // Let any stray duplicate show itself before judging.
    sink.drain(Duration::from_millis(1500));
    let m = seen.lock().unwrap();
    let twice = m.values().filter(|n| **n == 2).count();
    assert_eq!(
        twice, 10_000,
        "each exactly twice: {before} requests before the crash"
    );
    for id in ["rec_0_0", "rec_4_517", "rec_9_999"] {
        let e = s.call("GET", &format!("/api/v1/events/{id}"), T, None).body;
        assert_eq!(e["deliveries"][0]["status"], "succeeded", "{e}");
        assert_eq!(e["deliveries"][0]["attempts"], 2, "{e}");
    }
}

/// Issue 20: a worker's attempt record answers once applied and is made
/// durable behind it (`DeliveryStore::record_attempt_behind`). A kill -9
/// may then repeat the deliveries attempted since the last sync — here at
/// most the last event's — but never one attempted before an acknowledged
/// event (its sync covered them), and never loses an acknowledged event.
#[test]
fn a_crash_after_attempts_written_behind_repeats_only_those_and_loses_no_event() {
    let seen: Arc<Mutex<HashMap<String, u32>>> = Default::default();
    let counts = seen.clone();
    let sink = Sink::start(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        *counts.lock().unwrap().entry(id).or_insert(0) += 1;
        status(200)
    });
    let mut s = Server::start_delivering(&[]);
    make_endpoint(&s, &sink.url(), json!(["*"]));
    let events: Vec<Value> = (0..300)
        .map(|i| json!({"id": format!("early_{i}"), "event": "order.created", "data": {"object": {"n": i}}}))
        .collect();
    s.post_batch(T, events);
    let quiet = |s: &Server, n: usize| {
        eventually(Duration::from_secs(60), "attempts recorded", || {
            let r = s.call_as(None, "GET", "/readyz", None, None).body;
            let d = &r["delivery"];
            (d["queued"] == 0 && d["in_flight"] == 0 && seen.lock().unwrap().len() == n)
                .then_some(())
        })
    };
    quiet(&s, 300);
    // This event's 202 covers the 300 attempt records applied before it.
    let a = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"id": "last", "event": "order.created", "data": {"object": {}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    // Its attempt is recorded (applied, answered), maybe not yet durable:
    // crash at once.
    quiet(&s, 301);
    s.kill9();
    s.start_again();
    let e = eventually(Duration::from_secs(30), "the last event delivered", || {
        let e = s.call("GET", "/api/v1/events/last", T, None);
        assert_eq!(e.status, 200, "an acknowledged event was lost: {}", e.text);
        (e.body["deliveries"][0]["status"] == "succeeded").then_some(e.body)
    });
    assert!(e["deliveries"][0]["attempts"].as_u64().unwrap() >= 1, "{e}");
    // Let any repeat show itself before judging.
    sink.drain(Duration::from_millis(1500));
    let m = seen.lock().unwrap();
    assert_eq!(m.len(), 301, "every delivery made");
    let repeated: Vec<_> = m
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(
        repeated.iter().all(|id| *id == "last"),
        "only the unsynced window repeats: {repeated:?}"
    );
    assert!(m["last"] <= 2, "sent at most once more");
    for id in ["early_0", "early_150", "early_299"] {
        let e = s.call("GET", &format!("/api/v1/events/{id}"), T, None).body;
        assert_eq!(e["deliveries"][0]["status"], "succeeded", "{e}");
        assert_eq!(e["deliveries"][0]["attempts"], 1, "{e}");
    }
}
