//! Issue 13: descriptors and connections. A flood of idle connections
//! waits in the listen backlog once the API's cap is reached, so it can
//! slow the API but never take the descriptors deliveries need.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::sink::*;
use crate::support::*;

/// The cap the server logged: "API connections: at most N".
fn logged_cap(s: &Server) -> usize {
    eventually(
        Duration::from_secs(10),
        "the connection cap in the log",
        || {
            let log = s.stderr.lock().unwrap().clone();
            let (_, rest) = log.split_once("API connections: at most ")?;
            rest.split_whitespace().next()?.parse().ok()
        },
    )
}

/// Sends `GET /healthz` on a new connection; the status line, once the
/// server answers.
fn healthz_on_new_connection(addr: &str) -> std::thread::JoinHandle<String> {
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let mut c = TcpStream::connect(&addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_string()
    })
}

#[test]
fn a_connection_flood_past_the_open_file_limit_never_starves_deliveries() {
    // 400 descriptors: the cap becomes 400 - 16×4 - 256 = 80 connections.
    let sink = scripted(vec![status(500), status(200)]);
    let s = Server::start_with_nofile(400, &["--retry-schedule", "1s"]);
    let cap = logged_cap(&s);
    assert!((1..=80).contains(&cap), "cap {cap}");
    assert!(
        s.stderr.lock().unwrap().contains("open-file limit: 400"),
        "the limit is logged"
    );
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some("acme"),
        Some(json!({"url": sink.url(), "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let a = s.call(
        "POST",
        "/api/v1/events",
        Some("acme"),
        Some(json!({"event": "order.created", "data": {"object": {"n": 1}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    // The first attempt fails; its retry falls due a second later, in
    // the middle of the flood.
    sink.take(1, Duration::from_secs(20));

    // More idle connections than the process has descriptors: without
    // the cap, accepting them would exhaust the limit.
    let addr = s.base.trim_start_matches("http://").to_string();
    let flood: Vec<TcpStream> = (0..500)
        .filter_map(|_| {
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).ok()
        })
        .collect();
    assert!(
        flood.len() >= 450,
        "only {} connections opened",
        flood.len()
    );
    let flooded = Instant::now();
    let waiting = healthz_on_new_connection(&addr);

    // The retry goes out while the API is full.
    let retried = sink.take(1, Duration::from_secs(20));
    assert_eq!(retried.len(), 1);
    assert!(
        flooded.elapsed() < Duration::from_secs(4) && !waiting.is_finished(),
        "the retry went out during the flood, while the API was full"
    );

    // Once the flood leaves, the waiting request is answered.
    drop(flood);
    let status = waiting.join().unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status:?}");
    let log = s.stderr.lock().unwrap().clone();
    assert!(!log.contains("Too many open files"), "{log}");
    let a = s.call("GET", "/api/v1/deliveries", Some("acme"), None);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["data"][0]["status"], "succeeded", "{}", a.text);
}

/// Posts one event as `key`: the status and the rate-limit headers.
fn post_event(s: &Server, key: &str) -> (u16, Vec<(String, String)>, String) {
    let res = test_agent()
        .post(format!("{}/api/v1/events", s.base))
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .send(json!({"event": "order.created", "data": {"object": {}}}).to_string())
        .expect("answer");
    let headers = [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ]
    .iter()
    .filter_map(|h| {
        let v = res.headers().get(*h)?.to_str().ok()?;
        Some((h.to_string(), v.to_string()))
    })
    .collect();
    let status = res.status().as_u16();
    let body = res.into_body().read_to_string().unwrap_or_default();
    (status, headers, body)
}

#[test]
fn a_key_over_its_budget_gets_429_with_retry_after_and_another_key_does_not() {
    // One token a second: the test's requests come faster, so the burst
    // is what a key has until it waits.
    let s = Server::start_with(
        &[
            "--ingest-rate",
            "1",
            "--ingest-burst",
            "3",
            "--management-rate",
            "1",
            "--management-burst",
            "4",
        ],
        &[],
    );
    // The platform key's own management budget: 4 calls, the 4 below.
    let (a, b) = (s.tenant_key("alpha"), s.tenant_key("beta"));
    for _ in 0..3 {
        let (status, _, body) = post_event(&s, &a);
        assert_eq!(status, 202, "{body}");
    }
    let (status, headers, body) = post_event(&s, &a);
    assert_eq!(status, 429, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .unwrap_or_else(|| panic!("no {n}: {headers:?}"))
    };
    assert!((1..=2).contains(&header("retry-after")), "{headers:?}");
    assert_eq!(header("ratelimit-limit"), 3);
    assert_eq!(header("ratelimit-remaining"), 0);
    assert!((1..=4).contains(&header("ratelimit-reset")), "{headers:?}");

    // Another key has its own bucket; the same key's management budget is
    // apart from its ingest one.
    let (status, _, body) = post_event(&s, &b);
    assert_eq!(status, 202, "{body}");
    let list = s.call_as(Some(&a), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(list.status, 200, "{}", list.text);
    // The platform key spent its 4 management calls creating the keys.
    let over = s.call("GET", "/api/v1/tenants", None, None);
    assert_error(&over, 429, "rate_limited");

    // A token comes back after a second, for every bucket.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(post_event(&s, &a).0, 202);
    let metrics = s.call("GET", "/metrics", None, None);
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    for line in [
        "herald_rate_limited_total{budget=\"ingest\"} 1",
        "herald_rate_limited_total{budget=\"management\"} 1",
    ] {
        assert!(metrics.text.contains(line), "{line} in\n{}", metrics.text);
    }
}
