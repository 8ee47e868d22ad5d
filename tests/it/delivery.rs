//! Issue 3: ingestion, fan-out and the delivery engine, against real
//! receivers on loopback.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const T: Option<&str> = Some("company_xyz");

fn endpoint(s: &Server, tenant: &str, url: &str, events: Value, active: bool) -> (String, String) {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(tenant),
        Some(json!({"url": url, "events": events, "active": active})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    (
        a.body["id"].as_str().unwrap().to_string(),
        a.body["secret"].as_str().unwrap().to_string(),
    )
}

fn post_event(s: &Server, tenant: &str, body: Value) -> Value {
    let a = s.call("POST", "/api/v1/events", Some(tenant), Some(body));
    assert_eq!(a.status, 202, "{}", a.text);
    a.body
}

fn event_state(s: &Server, tenant: &str, id: &str) -> Value {
    let a = s.call("GET", &format!("/api/v1/events/{id}"), Some(tenant), None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

/// Waits until every delivery of the event has left `pending` (or is held).
fn settled(s: &Server, tenant: &str, id: &str) -> Value {
    eventually(Duration::from_secs(30), "deliveries to settle", || {
        let e = event_state(s, tenant, id);
        let done = e["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] != "pending" && d["status"] != "retrying");
        done.then_some(e)
    })
}

/// Events whose bodies exercise the JSON rules: unicode, floats, nesting,
/// escapes, big integers, empty containers.
fn tricky_events() -> Vec<Value> {
    vec![
        json!({"event": "payment.completed", "data": {"object": {"id": "pay_1", "amount": 29999, "currency": "USD", "status": "completed", "customer_email": "customer@example.com"}}}),
        json!({"event": "order.created", "data": {"object": {"id": "ord_1", "total": 299.99, "customer": {"name": "Zoë Ångström 山田 🚀", "email": "z@example.com"}, "items": [{"product_id": "prod_123", "name": "AI \"Marketing\" Tool\n\t\\", "quantity": 1, "price": 299.99}]}}}),
        json!({"event": "payment.failed", "data": {"object": {"ratio": 0.1, "tiny": 1e-7, "big": 1e21, "neg": -0.0, "int_big": 12345678901234567890u64, "e": 5e-324}}}),
        json!({"event": "user.updated", "data": {"object": {"deep": {"a": {"b": {"c": [1, [2, [3, {"d": null}]]]}}}, "empty": {}, "list": [], "ctrl": "\u{1}\u{1f}\u{7f}", "sep": "\u{2028}\u{2029}", "slash": "a/b"}}}),
        json!({"event": "order.shipped", "data": {"object": {"1": "index-like key", "b": 2, "a": 1, "0": "zero"}}}),
    ]
}

#[test]
fn the_seed_receivers_verify_every_delivery_across_a_secret_rotation() {
    let s = Server::start_delivering(&[]);
    // Endpoints start inactive with a placeholder URL: the secret is known
    // only after creation, and each receiver needs it to start.
    let kinds = [
        Kind::Express,
        Kind::Flask,
        Kind::NextjsCheck,
        Kind::StandardCheck,
    ];
    let mut receivers = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let (id, secret) = endpoint(
            &s,
            "company_xyz",
            &format!("http://127.0.0.1:9/placeholder{i}"),
            json!(["*"]),
            false,
        );
        let rx = SeedReceiver::start(*kind, &secret, 0);
        let path = match kind {
            Kind::Express | Kind::Flask => "/webhooks/brainsait",
            _ => "/hook",
        };
        let url = format!("http://127.0.0.1:{}{path}", rx.port);
        let p = s.call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            T,
            Some(json!({"url": url, "active": true})),
        );
        assert_eq!(p.status, 200, "{}", p.text);
        receivers.push((id, *kind, rx));
    }

    let events = tricky_events();
    let mut ids = Vec::new();
    for e in &events {
        let a = post_event(&s, "company_xyz", e.clone());
        assert_eq!(a["deliveries"].as_array().unwrap().len(), 4, "{a}");
        ids.push(a["id"].as_str().unwrap().to_string());
    }
    for (_, kind, rx) in &receivers {
        let v = rx.verdicts(events.len(), Duration::from_secs(30));
        assert!(
            v.iter().all(|l| l.starts_with("VERIFIED")),
            "{kind:?}: {v:?}"
        );
    }
    for id in &ids {
        let e = settled(&s, "company_xyz", id);
        for d in e["deliveries"].as_array().unwrap() {
            assert_eq!(d["status"], "succeeded", "{e}");
            assert_eq!(d["last_status"], 200);
            assert_eq!(d["attempts"], 1);
        }
    }

    // Rotate every secret. The Express receiver restarts with the new one
    // (X-BrainSAIT-Signature uses the newest); the Standard Webhooks one
    // keeps the old one and still verifies during the overlap, because
    // webhook-signature carries one signature per live secret.
    let mut new_receivers = Vec::new();
    for (id, kind, rx) in receivers {
        let r = s.call(
            "POST",
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            T,
            None,
        );
        assert_eq!(r.status, 200);
        let secret = r.body["secret"].as_str().unwrap().to_string();
        match kind {
            Kind::StandardCheck => new_receivers.push((kind, rx)),
            _ => {
                let port = rx.port;
                drop(rx);
                new_receivers.push((kind, SeedReceiver::start(kind, &secret, port)));
            }
        }
    }
    let after = post_event(
        &s,
        "company_xyz",
        json!({"event": "payment.refunded", "data": {"object": {"id": "re_1", "amount": 10.5}}}),
    );
    for (kind, rx) in &new_receivers {
        let v = rx.verdicts(1, Duration::from_secs(30));
        assert!(
            v[0].starts_with("VERIFIED"),
            "{kind:?} after rotation: {v:?}"
        );
    }
    let e = settled(&s, "company_xyz", after["id"].as_str().unwrap());
    assert!(
        e["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "succeeded"),
        "{e}"
    );
}

#[test]
fn every_request_carries_the_wire_contract_headers_and_envelope() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    let (_, secret) = endpoint(&s, "company_xyz", &sink.url(), json!(["payment.*"]), true);
    let a = post_event(
        &s,
        "company_xyz",
        json!({"id": "evt_1234567890", "event": "payment.completed", "created": "2024-01-15T12:30:00+02:00",
               "data": {"object": {"id": "pay_abc123", "amount": 29999, "currency": "USD", "status": "completed", "customer_email": "customer@example.com"}}}),
    );
    assert_eq!(a["id"], "evt_1234567890");
    let got = sink.take(1, Duration::from_secs(20)).remove(0);
    // The third known-answer vector's body, byte for byte.
    let want = r#"{"id":"evt_1234567890","event":"payment.completed","created":"2024-01-15T10:30:00Z","data":{"object":{"id":"pay_abc123","amount":29999,"currency":"USD","status":"completed","customer_email":"customer@example.com"}},"tenant_id":"company_xyz","api_version":"2024-01-01"}"#;
    assert_eq!(String::from_utf8_lossy(&got.body), want);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(
        got.header("user-agent"),
        Some(concat!("Herald/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(got.header("x-brainsait-event"), Some("payment.completed"));
    assert_eq!(got.header("webhook-id"), Some("evt_1234567890"));
    assert_eq!(
        got.header("x-brainsait-signature"),
        Some(herald::wire::signing::brainsait_signature(&secret, want.as_bytes()).as_str())
    );
    let ts: i64 = got.header("webhook-timestamp").unwrap().parse().unwrap();
    // The real server runs on the real clock: its timestamp is checked
    // against the wall clock here.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now - ts).abs() < 60,
        "webhook-timestamp is the attempt's time"
    );
    assert!(herald::wire::signing::verify_standard(
        &secret,
        "evt_1234567890",
        ts,
        want.as_bytes(),
        got.header("webhook-signature").unwrap()
    ));
    assert!(got.header("webhook-signature").unwrap().starts_with("v1,"));
}

#[test]
fn node_agrees_that_bodies_survive_json_stringify_of_json_parse() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    endpoint(&s, "company_xyz", &sink.url(), json!(["*"]), true);
    let events = tricky_events();
    for e in &events {
        post_event(&s, "company_xyz", e.clone());
    }
    let bodies: Vec<String> = sink
        .take(events.len(), Duration::from_secs(20))
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    let script = "const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean).map(l => JSON.parse(l));\
        let bad = 0; for (const b of lines) { if (JSON.stringify(JSON.parse(b)) !== b) { bad++; console.log('DIFF ' + b); } }\
        console.log('OK ' + (lines.length - bad) + ' BAD ' + bad);";
    let input: String = bodies
        .iter()
        .map(|b| serde_json::to_string(b).unwrap() + "\n")
        .collect();
    let mut child = Command::new("node")
        .args(["-e", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("OK {} BAD 0", events.len())),
        "{text}"
    );
}

#[test]
fn ingest_rejects_bad_input_with_stable_codes_and_creates_nothing() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&["--max-event-size", "4096"]);
    endpoint(&s, "company_xyz", &sink.url(), json!(["*"]), true);
    let raw = |body: &[u8]| {
        s.raw(
            Some(PLATFORM_KEY),
            "POST",
            "/api/v1/events",
            T,
            Some(body),
            Some("application/json"),
        )
    };
    assert_error(&raw(b"{\"event\": "), 400, "invalid_json");
    assert_error(
        &raw(b"{\"event\": \"payment.completed\", \"data\": {\"object\": {\"x\": \"\xff\"}}}"),
        400,
        "invalid_json",
    );
    let deep = format!(
        "{{\"event\":\"payment.completed\",\"data\":{{\"object\":{}1{}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_error(&raw(deep.as_bytes()), 400, "nesting_too_deep");
    let a = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "invoice.paid", "data": {"object": {}}})),
    );
    assert_error(&a, 422, "unknown_event_type");
    assert_eq!(a.body["error"]["field"], "event");
    for bad in [
        json!({"data": {"object": {}}}),
        json!({"event": "payment.completed"}),
        json!({"event": "payment.completed", "data": {"object": 5}}),
        json!({"event": "payment.completed", "data": {"object": {}}, "extra": 1}),
        json!({"event": "payment.completed", "data": {"object": {}}, "id": "has spaces"}),
        json!({"event": "payment.completed", "data": {"object": {}}, "created": "yesterday"}),
        json!([1, 2]),
    ] {
        assert_error(
            &s.call("POST", "/api/v1/events", T, Some(bad)),
            422,
            "validation_failed",
        );
    }
    let big = json!({"event": "payment.completed", "data": {"object": {"blob": "x".repeat(5000)}}});
    assert_error(
        &s.call("POST", "/api/v1/events", T, Some(big)),
        413,
        "payload_too_large",
    );
    let huge =
        json!({"event": "payment.completed", "data": {"object": {"blob": "x".repeat(40_000)}}});
    assert_error(
        &s.call("POST", "/api/v1/events", T, Some(huge)),
        413,
        "payload_too_large",
    );
    assert_error(
        &s.raw(
            Some(PLATFORM_KEY),
            "POST",
            "/api/v1/events",
            T,
            Some(b"{}"),
            Some("text/plain"),
        ),
        415,
        "unsupported_media_type",
    );
    assert_error(
        &s.call_as(None, "POST", "/api/v1/events", T, Some(json!({}))),
        401,
        "unauthorized",
    );

    // A batch with one bad event writes none of them.
    let mut batch: Vec<Value> = (0..5)
        .map(|i| json!({"id": format!("batch_evt_{i}"), "event": "order.created", "data": {"object": {"n": i}}}))
        .collect();
    batch[3]["event"] = json!("order.exploded");
    let a = s.call(
        "POST",
        "/api/v1/events/batch",
        T,
        Some(json!({"events": batch})),
    );
    assert_error(&a, 422, "unknown_event_type");
    assert_error(
        &s.call("GET", "/api/v1/events/batch_evt_0", T, None),
        404,
        "not_found",
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"event": "order.created", "data": {"object": {}}}))
        .collect();
    assert_error(
        &s.call(
            "POST",
            "/api/v1/events/batch",
            T,
            Some(json!({"events": too_many})),
        ),
        422,
        "validation_failed",
    );
    assert_error(
        &s.call(
            "POST",
            "/api/v1/events/batch",
            T,
            Some(json!({"items": []})),
        ),
        422,
        "validation_failed",
    );
    // Nothing reached the receiver.
    assert!(sink.drain(Duration::from_millis(300)).is_empty());
}

#[test]
fn idempotency_keys_and_client_ids_answer_the_original_and_create_nothing() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    endpoint(&s, "company_xyz", &sink.url(), json!(["*"]), true);
    let body = json!({"event": "order.created", "data": {"object": {"id": "ord_1"}}}).to_string();
    let send = |key: &str| {
        let url = format!("{}/api/v1/events", s.base);
        let mut res = ureq::post(&url)
            .header("Authorization", &format!("Bearer {PLATFORM_KEY}"))
            .header("X-Tenant-ID", "company_xyz")
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", key)
            .send(body.as_bytes())
            .unwrap();
        let replayed = res.headers().get("idempotent-replayed").is_some();
        let v: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
        (res.status().as_u16(), v, replayed)
    };
    let (st1, first, r1) = send("order-1-created");
    let (st2, second, r2) = send("order-1-created");
    assert_eq!((st1, st2), (202, 202));
    assert!(!r1 && r2, "the repeat is marked replayed");
    assert_eq!(first, second, "the same answer, same ids");
    let (_, other, _) = send("order-2-created");
    assert_ne!(other["id"], first["id"]);
    // Client-supplied ids de-duplicate the same way, also inside one batch.
    let e = json!({"id": "evt_client_1", "event": "payment.completed", "data": {"object": {}}});
    let a = post_event(&s, "company_xyz", e.clone());
    let b = post_event(&s, "company_xyz", e.clone());
    assert_eq!(a, b);
    let batch = s.call(
        "POST",
        "/api/v1/events/batch",
        T,
        Some(json!({"events": [e.clone(), e]})),
    );
    assert_eq!(batch.status, 202);
    assert_eq!(batch.body["events"][0], a);
    assert_eq!(batch.body["events"][1], a);
    // Exactly three deliveries happened: two keyed events and one client id.
    assert_eq!(sink.take(3, Duration::from_secs(20)).len(), 3);
    assert!(
        sink.drain(Duration::from_millis(500)).is_empty(),
        "no duplicates delivered"
    );
}

#[test]
fn a_batch_of_1000_is_one_durable_write_and_fans_out() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    endpoint(&s, "company_xyz", &sink.url(), json!(["order.*"]), true);
    endpoint(
        &s,
        "company_xyz",
        &format!("{}/second", sink.url()),
        json!(["payment.*"]),
        true,
    );
    let events: Vec<Value> = (0..1000)
        .map(|i| json!({"event": if i % 2 == 0 { "order.created" } else { "payment.completed" }, "data": {"object": {"n": i}}}))
        .collect();
    let a = s.post_batch(T, events);
    let list = a.body["events"].as_array().unwrap();
    assert_eq!(list.len(), 1000);
    assert!(list
        .iter()
        .all(|e| e["deliveries"].as_array().unwrap().len() == 1));
    let got = sink.take(1000, Duration::from_secs(60));
    assert_eq!(got.iter().filter(|r| r.path == "/hook").count(), 500);
    // Keep-alive: a thousand requests over at most one connection per worker.
    let conns = sink.connections.load(Ordering::SeqCst);
    assert!(conns <= 16, "{conns} connections for 1000 requests");
}

#[test]
fn acknowledged_events_survive_kill_9_under_load() {
    let sink = Sink::status(200);
    let mut s = Server::start_delivering(&[]);
    for i in 0..3 {
        endpoint(
            &s,
            "company_xyz",
            &format!("{}/{i}", sink.url()),
            json!(["*"]),
            true,
        );
    }
    let acked: Arc<Mutex<Vec<String>>> = Default::default();
    let stop = Arc::new(AtomicBool::new(false));
    let base = s.base.clone();
    let mut clients = Vec::new();
    for c in 0..8 {
        let (acked, stop, base) = (acked.clone(), stop.clone(), base.clone());
        clients.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let body = json!({"id": format!("load_{c}_{n}"), "event": "order.created", "data": {"object": {"n": n}}});
                let r = agent
                    .post(&format!("{base}/api/v1/events"))
                    .header("Authorization", &format!("Bearer {PLATFORM_KEY}"))
                    .header("X-Tenant-ID", "company_xyz")
                    .send_json(&body);
                match r {
                    Ok(res) if res.status().as_u16() == 202 => acked.lock().unwrap().push(format!("load_{c}_{n}")),
                    Ok(res) => panic!("unexpected {}", res.status()),
                    Err(_) => break, // the server died mid-request: not acknowledged
                }
            }
        }));
    }
    eventually(Duration::from_secs(30), "300 acknowledged events", || {
        (acked.lock().unwrap().len() >= 300).then_some(())
    });
    s.kill9();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    s.start_again();
    for id in &acked {
        let e = s.call("GET", &format!("/api/v1/events/{id}"), T, None);
        assert_eq!(e.status, 200, "acknowledged event {id} lost: {}", e.text);
        let ds = e.body["deliveries"].as_array().unwrap();
        assert_eq!(ds.len(), 3, "{id}: {}", e.text);
    }
    // Every acknowledged delivery is eventually made (at least once).
    for id in &acked {
        settled(&s, "company_xyz", id);
    }
}

#[test]
fn a_tarpit_endpoint_never_slows_a_fast_one() {
    let tarpit = Sink::start(|_| Reply::Tarpit);
    let fast = Sink::status(200);
    let s = Server::start_delivering(&["--workers", "8", "--request-timeout", "60s"]);
    endpoint(&s, "company_xyz", &tarpit.url(), json!(["*"]), true);
    endpoint(&s, "company_xyz", &fast.url(), json!(["*"]), true);
    let started = Instant::now();
    for i in 0..60 {
        post_event(
            &s,
            "company_xyz",
            json!({"event": "order.created", "data": {"object": {"n": i}}}),
        );
    }
    fast.take(60, Duration::from_secs(20));
    let elapsed = started.elapsed();
    // The tarpit holds at most its per-endpoint cap (4) of requests.
    let held = tarpit.requests.load(Ordering::SeqCst);
    assert!(held <= 4, "tarpit got {held} requests in flight");
    assert!(held >= 1, "the tarpit was tried");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn huge_and_trickling_responses_do_not_pin_workers_or_memory() {
    let huge = Sink::start(|_| Reply::Huge(1 << 30));
    let trickle = Sink::start(|_| Reply::Trickle);
    let fast = Sink::status(200);
    let s = Server::start_delivering(&["--workers", "4", "--request-timeout", "1s"]);
    let (huge_ep, _) = endpoint(&s, "company_xyz", &huge.url(), json!(["*"]), true);
    endpoint(&s, "company_xyz", &trickle.url(), json!(["*"]), true);
    endpoint(&s, "company_xyz", &fast.url(), json!(["*"]), true);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            post_event(
                &s,
                "company_xyz",
                json!({"event": "order.created", "data": {"object": {"n": i}}}),
            )["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    fast.take(6, Duration::from_secs(20));
    for id in &ids {
        let e = eventually(
            Duration::from_secs(30),
            "the huge and trickle attempts",
            || {
                let e = event_state(&s, "company_xyz", id);
                e["deliveries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|d| d["attempts"] == 1)
                    .then_some(e)
            },
        );
        for d in e["deliveries"].as_array().unwrap() {
            if d["webhook_id"] == huge_ep.as_str() {
                assert_eq!(
                    d["status"], "succeeded",
                    "a 200 is a 200, whatever follows: {d}"
                );
            } else if d["last_status"].is_null() {
                assert_eq!(d["last_error"], "timeout", "{d}");
                assert_eq!(d["status"], "retrying", "timeouts are retried: {d}");
            }
        }
    }
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", s.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap();
    assert!(rss_kb < 200 * 1024, "RSS {rss_kb} kB after 1 GiB answers");
}

#[test]
fn ssrf_is_checked_at_connect_time_and_a_canary_sees_nothing() {
    let canary = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let port = canary.local_addr().unwrap().port();
    // Saved while the operator allowed loopback...
    let mut s = Server::start_delivering(&[]);
    let (id, _) = endpoint(
        &s,
        "company_xyz",
        &format!("http://127.0.0.1:{port}/hook"),
        json!(["*"]),
        false,
    );
    // ...then loopback is no longer allowed: the save-time check is not
    // the only guard.
    s.restart_with(&["--allow-http"]);
    let p = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        T,
        Some(json!({"active": true})),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    let a = post_event(
        &s,
        "company_xyz",
        json!({"event": "order.created", "data": {"object": {}}}),
    );
    let e = eventually(Duration::from_secs(20), "a refused attempt", || {
        let e = event_state(&s, "company_xyz", a["id"].as_str().unwrap());
        (e["deliveries"][0]["attempts"] == 1).then_some(e)
    });
    assert_eq!(e["deliveries"][0]["last_error"], "blocked_address", "{e}");
    assert!(canary.accept().is_err(), "the canary saw a connection");
}

#[test]
fn disabled_endpoints_and_suspended_tenants_hold_deliveries_until_re_enabled() {
    let sink = Sink::status(200);
    let s = Server::start_delivering(&[]);
    let (on, _) = endpoint(
        &s,
        "company_xyz",
        &format!("{}/on", sink.url()),
        json!(["*"]),
        true,
    );
    let (off, _) = endpoint(
        &s,
        "company_xyz",
        &format!("{}/off", sink.url()),
        json!(["*"]),
        false,
    );
    // A disabled endpoint gets no new events.
    let a = post_event(
        &s,
        "company_xyz",
        json!({"event": "user.updated", "data": {"object": {}}}),
    );
    let fanned: Vec<_> = a["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fanned, vec![on.clone()]);
    assert_eq!(sink.take(1, Duration::from_secs(20))[0].path, "/hook/on");
    let _ = off;

    // A suspended tenant's events are accepted and held, then delivered on resume.
    assert_eq!(
        s.call(
            "PATCH",
            "/api/v1/tenants/company_xyz",
            None,
            Some(json!({"suspended": true}))
        )
        .status,
        200
    );
    let held = post_event(
        &s,
        "company_xyz",
        json!({"event": "user.updated", "data": {"object": {"n": 2}}}),
    );
    let id = held["id"].as_str().unwrap();
    let e = event_state(&s, "company_xyz", id);
    assert_eq!(e["deliveries"][0]["held"], true, "{e}");
    assert_eq!(e["deliveries"][0]["status"], "held");
    assert!(
        sink.drain(Duration::from_millis(500)).is_empty(),
        "nothing is sent while suspended"
    );
    assert_eq!(
        s.call(
            "PATCH",
            "/api/v1/tenants/company_xyz",
            None,
            Some(json!({"suspended": false}))
        )
        .status,
        200
    );
    assert_eq!(sink.take(1, Duration::from_secs(20)).len(), 1);
    let e = settled(&s, "company_xyz", id);
    assert_eq!(e["deliveries"][0]["status"], "succeeded", "{e}");
}

#[test]
fn deliveries_pending_when_an_endpoint_is_disabled_pause_and_resume() {
    let failing = Arc::new(AtomicBool::new(true));
    let f = failing.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let sink = Sink::start(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        if f.load(Ordering::SeqCst) {
            Reply::Status(503, vec![], "busy".into())
        } else {
            Reply::Status(200, vec![], "ok".into())
        }
    });
    let s = Server::start_delivering(&["--retry-schedule", "1s,1s,1s,1s,1s"]);
    let (ep, _) = endpoint(&s, "company_xyz", &sink.url(), json!(["*"]), true);
    let a = post_event(
        &s,
        "company_xyz",
        json!({"event": "order.updated", "data": {"object": {}}}),
    );
    let id = a["id"].as_str().unwrap().to_string();
    sink.take(1, Duration::from_secs(10));
    // Disable while a retry is scheduled: the retry is held, not sent.
    assert_eq!(
        s.call(
            "PATCH",
            &format!("/api/v1/webhooks/{ep}"),
            T,
            Some(json!({"active": false}))
        )
        .status,
        200
    );
    let e = eventually(Duration::from_secs(10), "the retry to be held", || {
        let e = event_state(&s, "company_xyz", &id);
        (e["deliveries"][0]["held"] == true).then_some(e)
    });
    assert_eq!(e["deliveries"][0]["status"], "held");
    let before = hits.load(Ordering::SeqCst);
    assert!(sink.drain(Duration::from_millis(1500)).is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), before);
    failing.store(false, Ordering::SeqCst);
    assert_eq!(
        s.call(
            "PATCH",
            &format!("/api/v1/webhooks/{ep}"),
            T,
            Some(json!({"active": true}))
        )
        .status,
        200
    );
    sink.take(1, Duration::from_secs(10));
    let e = settled(&s, "company_xyz", &id);
    assert_eq!(e["deliveries"][0]["status"], "succeeded", "{e}");
}
