//! Issue 19: ordered (FIFO) and rate-limited endpoints, through the real
//! binary and a scripted loopback receiver.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const TENANT: &str = "company_xyz";

#[test]
fn an_ordered_endpoint_gets_events_strictly_in_order_and_a_failing_head_holds_the_rest() {
    // The receiver fails the 3rd event twice, then takes it.
    let tries: Mutex<HashMap<String, u32>> = Mutex::new(HashMap::new());
    let sink = Sink::start(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        let mut t = tries.lock().unwrap();
        let n = t.entry(id.clone()).or_insert(0);
        *n += 1;
        if id == "evt_3" && *n <= 2 {
            status(503)
        } else {
            status(200)
        }
    });
    let s = Server::start_delivering(&["--retry-schedule", "1s,1s,1s"]);
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(TENANT),
        Some(json!({"url": sink.url(), "events": ["*"], "ordered": true})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["ordered"], true);
    assert_eq!(a.body["rate_limit"], Value::Null);
    const N: usize = 8;
    for i in 1..=N {
        let e = s.call(
            "POST",
            "/api/v1/events",
            Some(TENANT),
            Some(json!({"id": format!("evt_{i}"), "event": "order.created", "data": {"object": {"n": i}}})),
        );
        assert_eq!(e.status, 202, "{}", e.text);
    }
    // 8 events, two failed attempts of the third: 10 requests.
    let got: Vec<String> = sink
        .take(N + 2, Duration::from_secs(60))
        .iter()
        .map(|r| r.header("webhook-id").unwrap_or_default().to_string())
        .collect();
    let want: Vec<String> = [1, 2, 3, 3, 3, 4, 5, 6, 7, 8]
        .iter()
        .map(|i| format!("evt_{i}"))
        .collect();
    // Strictly in order: event 4 only once event 3 succeeded (its third try).
    assert_eq!(got, want);
    // Nothing more: each was delivered once it succeeded.
    assert!(sink.drain(Duration::from_millis(1500)).is_empty());
    let three = s.call("GET", "/api/v1/events/evt_3", Some(TENANT), None);
    assert_eq!(
        three.body["deliveries"][0]["status"], "succeeded",
        "{}",
        three.text
    );
}

#[test]
fn rate_limit_and_ordered_are_endpoint_fields_with_checked_values() {
    let s = Server::start_delivering(&[]);
    for bad in [json!(0), json!(1001), json!("5")] {
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            Some(TENANT),
            Some(json!({"url": "http://127.0.0.1:9/h", "events": ["*"], "rate_limit": bad})),
        );
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
    }
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(TENANT),
        Some(json!({"url": "http://127.0.0.1:9/h", "events": ["*"], "rate_limit": 5})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["rate_limit"], 5);
    assert_eq!(a.body["ordered"], false);
    let path = format!("/api/v1/webhooks/{}", a.body["id"].as_str().unwrap());
    let p = s.call(
        "PATCH",
        &path,
        Some(TENANT),
        Some(json!({"rate_limit": null, "ordered": true})),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    let g = s.call("GET", &path, Some(TENANT), None);
    assert_eq!(g.body["rate_limit"], Value::Null);
    assert_eq!(g.body["ordered"], true);
    let bad = s.call("PATCH", &path, Some(TENANT), Some(json!({"rate_limit": 0})));
    assert_error(&bad, 422, "validation_failed");
    let g2 = s.call("GET", &path, Some(TENANT), None);
    assert_eq!(g2.body["ordered"], true, "a refused patch changes nothing");
}

#[test]
fn a_receiver_stops_retries_or_disables_its_endpoint_with_herald_control() {
    let control = |value: &'static str, code: u16| {
        Sink::start(move |_| {
            Reply::Status(
                code,
                vec![("Herald-Control".into(), value.into())],
                "no".into(),
            )
        })
    };
    let stop = control("stop-retrying", 503);
    let off = control("disable-endpoint", 200);
    let s = Server::start_delivering(&["--retry-schedule", "1s,1s,1s"]);
    let mut ids = Vec::new();
    for (sink, types) in [(&stop, "order.created"), (&off, "order.updated")] {
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            Some(TENANT),
            Some(json!({"url": sink.url(), "events": [types]})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        ids.push(a.body["id"].as_str().unwrap().to_string());
    }
    for (id, ty) in [("evt_stop", "order.created"), ("evt_off", "order.updated")] {
        let e = s.call(
            "POST",
            "/api/v1/events",
            Some(TENANT),
            Some(json!({"id": id, "event": ty, "data": {"object": {}}})),
        );
        assert_eq!(e.status, 202, "{}", e.text);
    }
    stop.take(1, Duration::from_secs(20));
    off.take(1, Duration::from_secs(20));
    // A 503 that says stop-retrying is final: failed after one attempt.
    let failed = eventually(Duration::from_secs(20), "the delivery to fail", || {
        let e = s.call("GET", "/api/v1/events/evt_stop", Some(TENANT), None);
        (e.body["deliveries"][0]["status"] == "failed").then_some(e)
    });
    assert_eq!(
        failed.body["deliveries"][0]["attempts"], 1,
        "{}",
        failed.text
    );
    assert!(
        stop.drain(Duration::from_millis(1500)).is_empty(),
        "no retry"
    );
    // disable-endpoint turns the endpoint off, saying why.
    let ep = eventually(Duration::from_secs(20), "the endpoint disabled", || {
        let g = s.call(
            "GET",
            &format!("/api/v1/webhooks/{}", ids[1]),
            Some(TENANT),
            None,
        );
        (g.body["active"] == false).then_some(g)
    });
    let reason = ep.body["disabled_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Herald-Control"), "{reason}");
}
