//! Issue 5: statistics, the metrics API, Prometheus, alerts, health.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::schedule::{App, MIN, T0};
use crate::sink::*;
use crate::support::*;

fn metrics(app: &App, window: &str) -> Value {
    let a = app.call("GET", &format!("/api/v1/metrics?window={window}"), None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
}

/// Every recorded attempt latency of these deliveries, from the log.
fn latencies(app: &App, deliveries: &[String]) -> Vec<u64> {
    deliveries
        .iter()
        .flat_map(|d| {
            app.delivery(d)["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["latency_ms"].as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn post_all(app: &App, event: &str) -> Vec<String> {
    let a = app.call(
        "POST",
        "/api/v1/events",
        Some(json!({"event": event, "data": {"object": {}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    a.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_scripted_scenario_gives_exactly_the_hand_computed_figures_before_and_after_a_restart() {
    let mut app = App::start(|_| {});
    let a_sink = Sink::status(200);
    let b_sink = scripted(vec![status(500), status(500), status(200)]);
    let c_sink = Sink::status(404);
    let a = app.endpoint(&a_sink.url(), json!(["*"]));
    let b = app.endpoint(&b_sink.url(), json!(["*"]));
    let c = app.endpoint(&c_sink.url(), json!(["order.*"]));

    // t0: order.created to A (200), B (500), C (404, given up).
    let first = post_all(&app, "order.created");
    for (d, n) in first.iter().zip([1, 1, 1]) {
        app.attempts(d, n);
    }
    // t0+5m: B fails again; t0+35m: B succeeds on its third attempt.
    app.set(T0 + 5 * MIN);
    app.attempts(&first[1], 2);
    app.set(T0 + 35 * MIN);
    app.attempts(&first[1], 3);
    // t0+35m: payment.completed to A and B, both 200.
    let second = post_all(&app, "payment.completed");
    for d in &second {
        app.attempts(d, 1);
    }
    // t0+2h35m: user.created to A and B, both 200.
    app.set(T0 + 155 * MIN);
    let third = post_all(&app, "user.created");
    for d in &third {
        app.attempts(d, 1);
    }

    // By hand. 24 h: attempts A 3 + B 5 + C 1 = 9, of which 2 retries
    // (B's second and third); deliveries ended: 6 succeeded (A 3, B 3 —
    // B's first on its third attempt counts as a success) and 1 failed (C).
    let all: Vec<String> = first.iter().chain(&second).chain(&third).cloned().collect();
    let lat = latencies(&app, &all);
    assert_eq!(lat.len(), 9);
    let avg24 = lat.iter().sum::<u64>() as f64 / 9.0;
    let lat1h = latencies(&app, &third);
    let avg1h = lat1h.iter().sum::<u64>() as f64 / 2.0;
    let check = |app: &App| {
        let m = metrics(app, "24h");
        assert_eq!(m["window"], "24h");
        assert_eq!(m["total_deliveries"], 7, "{m}");
        assert_eq!(m["successful_deliveries"], 6);
        assert_eq!(m["failed_deliveries"], 1);
        assert_eq!(m["attempts"], 9);
        assert_eq!(m["retries"], 2);
        assert!(close(m["retry_rate"].as_f64().unwrap(), 2.0 / 9.0), "{m}");
        assert!(close(m["success_rate"].as_f64().unwrap(), 6.0 / 7.0));
        assert!(
            close(m["average_response_time"].as_f64().unwrap(), avg24),
            "{m} vs {avg24}"
        );
        assert_eq!(
            m["failures_by_kind"],
            json!({"status_5xx": 2, "status_4xx": 1})
        );
        let ep = |url: &str| m["endpoints"][url].clone();
        assert_eq!(ep(&a_sink.url())["webhook_id"], a.as_str());
        assert_eq!(ep(&a_sink.url())["success_rate"], 1.0);
        assert_eq!(ep(&a_sink.url())["attempts"], 3);
        assert_eq!(ep(&b_sink.url())["success_rate"], 1.0);
        assert_eq!(ep(&b_sink.url())["attempts"], 5);
        assert_eq!(ep(&c_sink.url())["success_rate"], 0.0);
        assert_eq!(ep(&c_sink.url())["webhook_id"], c.as_str());
        let _ = &b;
        // 1 h: only the third event's two attempts.
        let h = metrics(app, "1h");
        assert_eq!(h["total_deliveries"], 2, "{h}");
        assert_eq!(h["successful_deliveries"], 2);
        assert_eq!(h["failed_deliveries"], 0);
        assert_eq!(h["attempts"], 2);
        assert_eq!(h["retry_rate"], 0.0);
        assert!(close(h["average_response_time"].as_f64().unwrap(), avg1h));
        assert!(
            h["endpoints"].get(c_sink.url()).is_none(),
            "C had no attempt in the last hour"
        );
    };
    check(&app);
    app.restart();
    check(&app);
    let bad = app.call("GET", "/api/v1/metrics?window=100d", None);
    assert_error(&bad, 400, "invalid_query");
}

#[test]
fn endpoint_down_fires_once_to_the_operator_and_resolves_after_recovery() {
    let operator = Sink::status(200);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let url = operator.url();
    let app = App::start(|a| {
        a.alert_url = vec![url.clone()];
        a.alert_secret = Some(secret.into());
    });
    let healthy = Arc::new(Mutex::new(false));
    let h = healthy.clone();
    let sink = Sink::start(move |_| {
        if *h.lock().unwrap() {
            status(200)
        } else {
            status(503)
        }
    });
    let ep = app.endpoint(&sink.url(), json!(["*"]));
    for i in 0..4 {
        let d = post_all(&app, "order.updated");
        app.attempts(&d[0], 1);
        let _ = i;
    }
    assert!(
        operator.drain(Duration::from_millis(400)).is_empty(),
        "four failures are not yet down"
    );
    let d = post_all(&app, "order.updated");
    app.attempts(&d[0], 1);
    let got = operator.take(1, Duration::from_secs(10)).remove(0);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "alert.firing", "{body}");
    assert_eq!(body["data"]["object"]["rule"], "endpoint_down");
    assert_eq!(body["data"]["object"]["webhook_id"], ep.as_str());
    assert_eq!(body["tenant_id"], "_herald");
    assert_eq!(
        got.header("x-brainsait-signature"),
        Some(herald::wire::signing::brainsait_signature(secret, &got.body).as_str()),
        "signed like any delivery"
    );
    // More failures: no more pages.
    for _ in 0..3 {
        let d = post_all(&app, "order.updated");
        app.attempts(&d[0], 1);
    }
    assert!(
        operator.drain(Duration::from_millis(400)).is_empty(),
        "fires once, not per failure"
    );
    let alerts = app.call("GET", "/api/v1/alerts", None).body;
    assert_eq!(alerts["firing"].as_array().unwrap().len(), 1, "{alerts}");
    // Recovery resolves it.
    *healthy.lock().unwrap() = true;
    let d = post_all(&app, "order.updated");
    app.attempts(&d[0], 1);
    let got = operator.take(1, Duration::from_secs(10)).remove(0);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "alert.resolved", "{body}");
    let alerts = app.call("GET", "/api/v1/alerts", None).body;
    assert_eq!(alerts["firing"], json!([]));
    let history: Vec<_> = alerts["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].clone())
        .collect();
    assert_eq!(
        history,
        vec![json!("resolved"), json!("firing")],
        "newest first"
    );
}

#[test]
fn a_410_sends_endpoint_disabled_to_the_operator() {
    let operator = Sink::status(200);
    let url = operator.url();
    let app = App::start(|a| a.alert_url = vec![url.clone()]);
    let gone = Sink::status(410);
    let ep = app.endpoint(&gone.url(), json!(["*"]));
    let d = post_all(&app, "user.deleted");
    app.attempts(&d[0], 1);
    let mut kinds: Vec<String> = operator
        .take(2, Duration::from_secs(10))
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds, vec!["alert.firing", "endpoint.disabled"]);
    let _ = ep;
}

#[test]
fn prometheus_parses_and_its_counters_match_the_api() {
    let sink = scripted(vec![status(500), status(200)]);
    let s = Server::start_delivering(&["--retry-schedule", "1s"]);
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some("company_xyz"),
        Some(json!({"url": sink.url(), "events": ["*"]})),
    );
    assert_eq!(a.status, 201);
    for _ in 0..3 {
        s.call(
            "POST",
            "/api/v1/events",
            Some("company_xyz"),
            Some(json!({"event": "order.created", "data": {"object": {}}})),
        );
    }
    sink.take(4, Duration::from_secs(20));
    let api = eventually(Duration::from_secs(20), "all deliveries ended", || {
        let m = s.call("GET", "/api/v1/metrics?window=1h", None, None).body;
        (m["total_deliveries"] == 3).then_some(m)
    });
    // Behind the platform key on the API listener.
    assert_error(
        &s.call_as(None, "GET", "/metrics", None, None),
        401,
        "unauthorized",
    );
    // The counters move once an attempt's record is flushed, a moment
    // after the statistics the API reads are written: wait for them.
    let text = eventually(Duration::from_secs(10), "the counters to catch up", || {
        let t = s.call("GET", "/metrics", None, None).text;
        let n: f64 = t
            .lines()
            .filter(|l| l.starts_with("herald_deliveries_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        (n == 3.0).then_some(t)
    });
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
        out[key] = s.value
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the exposition parses: {text}");
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        p["herald_deliveries_total{outcome=succeeded}"],
        api["successful_deliveries"].as_f64().unwrap()
    );
    assert_eq!(
        p["herald_deliveries_total{outcome=failed}"],
        api["failed_deliveries"].as_f64().unwrap()
    );
    let attempts: f64 = ["success", "retry", "permanent"]
        .iter()
        .map(|v| {
            p[format!("herald_attempts_total{{verdict={v}}}")]
                .as_f64()
                .unwrap()
        })
        .sum();
    assert_eq!(attempts, api["attempts"].as_f64().unwrap());
    assert_eq!(p["herald_attempt_duration_seconds_count"], 4.0);
    assert_eq!(p["herald_events_ingested_total"], 3.0);
    assert!(p["process_resident_memory_bytes"].as_f64().unwrap() > 0.0);
    assert!(p["herald_commit_flushes_total"].as_f64().unwrap() > 0.0);
    for g in [
        "herald_dispatch_queue_depth",
        "herald_requests_in_flight",
        "herald_scheduler_timers",
        "herald_scheduler_lag_seconds",
        "herald_store_size_bytes",
    ] {
        assert!(p.get(g).is_some(), "{g} missing");
    }
}

#[test]
fn prometheus_is_open_on_the_metrics_listener_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Server::start_delivering(&["--metrics-listen", &format!("127.0.0.1:{port}")]);
    let agent = test_agent();
    let open = http(
        &agent,
        &format!("http://127.0.0.1:{port}"),
        None,
        "GET",
        "/metrics",
        None,
        None,
        None,
    );
    assert_eq!(open.status, 200);
    assert!(open.text.contains("herald_deliveries_total"));
    let other = http(
        &agent,
        &format!("http://127.0.0.1:{port}"),
        None,
        "GET",
        "/api/v1/tenants",
        None,
        None,
        None,
    );
    assert_eq!(other.status, 404, "only /metrics there");
    assert_eq!(s.call_as(None, "GET", "/metrics", None, None).status, 401);
}

#[test]
fn readiness_reports_store_workers_scheduler_and_disk() {
    let s = Server::start_delivering(&[]);
    let r = s.call_as(None, "GET", "/readyz", None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let c = &r.body["checks"];
    for k in ["store", "workers", "scheduler", "disk"] {
        assert_eq!(c[k]["ok"], true, "{k}: {}", r.text);
    }
    assert!(c["disk"]["free_bytes"].as_u64().unwrap() > 0);
    assert_eq!(c["workers"]["alive"], 16);
    let _ = MIN;
}

#[test]
fn slow_responses_fires_and_resolves_with_non_default_alert_flags() {
    // Every threshold away from its default: 300 ms instead of 5 s, a
    // 1-minute window; the failure-rate and down rules set so they
    // cannot fire here (nothing fails), and checked not to.
    let s = Server::start_delivering(&[
        "--alert-slow",
        "300ms",
        "--alert-window",
        "1m",
        "--alert-failure-rate",
        "0.9",
        "--alert-min-sample",
        "5",
        "--alert-down-after",
        "50",
    ]);
    let slow = Arc::new(Mutex::new(true));
    let is_slow = slow.clone();
    let sink = Sink::start(move |_| {
        if *is_slow.lock().unwrap() {
            // 600 ms: the 1000 ms bucket, over 300 ms (under the default 5 s).
            std::thread::sleep(Duration::from_millis(600));
        }
        status(200)
    });
    let tenant = "slowco";
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(tenant),
        Some(json!({"url": sink.url(), "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let ep = a.body["id"].as_str().unwrap().to_string();
    let post = || {
        let a = s.call(
            "POST",
            "/api/v1/events",
            Some(tenant),
            Some(json!({"event": "order.created", "data": {"object": {}}})),
        );
        assert_eq!(a.status, 202, "{}", a.text);
    };
    let alerts = || {
        let a = s.call("GET", "/api/v1/alerts", None, None);
        assert_eq!(a.status, 200, "{}", a.text);
        a.body
    };
    post();
    sink.take(1, Duration::from_secs(10));
    let firing = eventually(Duration::from_secs(10), "slow_responses fires", || {
        let a = alerts();
        let f = a["firing"].as_array().cloned().unwrap_or_default();
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0]["rule"], "slow_responses");
    assert_eq!(firing[0]["webhook_id"], ep.as_str());
    assert_eq!(firing[0]["tenant_id"], tenant);
    assert_eq!(firing[0]["detail"], "p95 1000 ms, 0 timeouts");

    // Fast again: once 95 % of the window's answers are fast (19 of 20),
    // the p95 is under half the threshold, and the next evaluation of the
    // window (at most every 10 s per endpoint) resolves it.
    *slow.lock().unwrap() = false;
    for _ in 0..19 {
        post();
    }
    sink.take(19, Duration::from_secs(10));
    let history = eventually(Duration::from_secs(45), "slow_responses resolves", || {
        post();
        std::thread::sleep(Duration::from_millis(500));
        let a = alerts();
        (a["firing"] == json!([])).then(|| a["history"].clone())
    });
    let seen: Vec<(Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["rule"].clone(), t["state"].clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("slow_responses"), json!("resolved")),
            (json!("slow_responses"), json!("firing")),
        ],
        "newest first; no other rule fired"
    );
}
