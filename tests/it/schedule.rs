//! Issue 4: the retry schedule, status rules, health, manual operations
//! and the delivery log. Most tests run Herald in-process with a manual
//! clock, so a 38-hour schedule takes milliseconds; receivers are real
//! HTTP servers on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::app::Running;
use herald::clock::ManualClock;
use herald::config::ServeArgs;
use herald::domain::time::Timestamp;
use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

pub const T0: i64 = 1_705_314_600_000; // 2024-01-15T10:30:00Z
pub const MIN: i64 = 60_000;
const TENANT: Option<&str> = Some("company_xyz");

/// Herald in this process, on a manual clock.
pub struct App {
    running: Option<Running>,
    clock: Arc<ManualClock>,
    base: String,
    agent: ureq::Agent,
    args: ServeArgs,
    _tmp: tempfile::TempDir,
}

impl App {
    pub fn start(tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(tmp.path().join("data")),
            allow_http: Some(true),
            allow_private_networks: Some("127.0.0.0/8".into()),
            request_timeout: Some("1s".into()),
            workers: Some(4),
            ..Default::default()
        };
        tweak(&mut args);
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(T0)));
        let mut app = App {
            running: None,
            clock,
            base: String::new(),
            agent: test_agent(),
            args,
            _tmp: tmp,
        };
        app.boot();
        app
    }

    pub fn boot(&mut self) {
        let mut cfg = self.args.clone().resolve().unwrap();
        cfg.platform_key = Some(PLATFORM_KEY.into());
        cfg.admin_password = Some(ADMIN_PASSWORD.into());
        // A stop joins every thread and releases the data directory before
        // it returns, so a restart opens it at once.
        let running = herald::app::start(cfg, self.clock.clone()).unwrap();
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        call_json(&self.agent, &self.base, method, path, TENANT, body)
    }

    /// Stops and starts again on the same data directory and clock.
    pub fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        self.boot();
    }

    /// Moves the clock and lets the scheduler see it at once.
    pub fn advance(&self, ms: i64) {
        self.clock.advance_ms(ms);
        self.running.as_ref().unwrap().wake();
    }

    pub fn set(&self, at: i64) {
        self.clock.set(Timestamp::from_millis(at));
        self.running.as_ref().unwrap().wake();
    }

    pub fn endpoint(&self, url: &str, events: Value) -> String {
        let a = self.call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": url, "events": events})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["id"].as_str().unwrap().to_string()
    }

    pub fn post(&self, event: &str) -> (String, String) {
        let a = self.call(
            "POST",
            "/api/v1/events",
            Some(json!({"event": event, "data": {"object": {"id": "x"}}})),
        );
        assert_eq!(a.status, 202, "{}", a.text);
        (
            a.body["id"].as_str().unwrap().to_string(),
            a.body["deliveries"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    pub fn delivery(&self, id: &str) -> Value {
        let a = self.call("GET", &format!("/api/v1/deliveries/{id}"), None);
        assert_eq!(a.status, 200, "{}", a.text);
        a.body
    }

    /// Waits until the delivery has `n` attempts recorded.
    pub fn attempts(&self, id: &str, n: usize) -> Value {
        eventually(
            Duration::from_secs(20),
            &format!("{n} attempts recorded"),
            || {
                let d = self.delivery(id);
                (d["attempts"].as_array().unwrap().len() == n).then_some(d)
            },
        )
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
    }
}

pub fn iso(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339_millis()
}

fn started(d: &Value) -> Vec<String> {
    d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["started_at"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fails_twice_then_succeeds_at_t0_plus_5_and_35_minutes() {
    let app = App::start(|_| {});
    let sink = scripted(vec![status(500), Reply::Tarpit, status(200)]);
    app.endpoint(&sink.url(), json!(["*"]));
    let (_, dlv) = app.post("payment.completed");
    sink.take(1, Duration::from_secs(10));
    let d = app.attempts(&dlv, 1);
    assert_eq!(d["next_attempt_at"], iso(T0 + 5 * MIN));
    app.advance(5 * MIN - 1000);
    assert!(
        sink.drain(Duration::from_millis(300)).is_empty(),
        "not before its time"
    );
    app.advance(1000);
    sink.take(1, Duration::from_secs(10));
    let d = app.attempts(&dlv, 2);
    assert_eq!(d["attempts"][1]["error"], "timeout", "{d}");
    assert_eq!(d["next_attempt_at"], iso(T0 + 35 * MIN));
    app.advance(30 * MIN);
    sink.take(1, Duration::from_secs(10));
    let d = app.attempts(&dlv, 3);
    assert_eq!(d["status"], "succeeded");
    assert_eq!(
        started(&d),
        vec![iso(T0), iso(T0 + 5 * MIN), iso(T0 + 35 * MIN)]
    );
    let verdicts: Vec<_> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["verdict"].clone())
        .collect();
    assert_eq!(
        verdicts,
        vec![json!("retry"), json!("retry"), json!("success")]
    );
    assert_eq!(d["attempts"][0]["status"], 500);
    assert_eq!(d["attempts"][0]["response_body"], "status 500");
    assert!(d["attempts"][0]["request_headers"]
        .to_string()
        .contains("X-BrainSAIT-Signature"));
    app.advance(48 * 60 * MIN);
    assert!(
        sink.drain(Duration::from_millis(300)).is_empty(),
        "nothing after success"
    );
}

#[test]
fn always_failing_gets_six_attempts_at_the_seed_offsets_then_fails() {
    let app = App::start(|_| {});
    let sink = Sink::status(503);
    app.endpoint(&sink.url(), json!(["*"]));
    let (_, dlv) = app.post("order.created");
    let offsets_s = [0i64, 300, 2100, 9300, 52_500, 138_900];
    for (i, off) in offsets_s.iter().enumerate() {
        app.set(T0 + off * 1000);
        sink.take(1, Duration::from_secs(10));
        app.attempts(&dlv, i + 1);
    }
    let d = app.delivery(&dlv);
    assert_eq!(d["status"], "failed");
    assert_eq!(d["next_attempt_at"], Value::Null);
    let want: Vec<_> = offsets_s.iter().map(|o| iso(T0 + o * 1000)).collect();
    assert_eq!(started(&d), want);
    app.advance(7 * 24 * 60 * MIN);
    assert!(
        sink.drain(Duration::from_millis(300)).is_empty(),
        "failed for good"
    );
}

#[test]
fn status_codes_follow_the_seed_rules() {
    let app = App::start(|_| {});
    let elsewhere = Sink::status(200);
    let location = vec![("Location".to_string(), elsewhere.url())];
    let cases: Vec<(Reply, &str, bool)> = vec![
        (
            Reply::Status(301, location.clone(), String::new()),
            "retrying",
            true,
        ),
        (
            Reply::Status(302, location.clone(), String::new()),
            "retrying",
            true,
        ),
        (status(400), "failed", false),
        (status(401), "failed", false),
        (status(404), "failed", false),
        (status(500), "retrying", true),
    ];
    let mut sinks = Vec::new();
    for (i, (reply, _, _)) in cases.iter().enumerate() {
        let r = reply.clone();
        let sink = Sink::start(move |_| r.clone());
        let ep = app.endpoint(
            &format!("{}/{i}", sink.url()),
            json!([format!("order.created")]),
        );
        sinks.push((sink, ep));
    }
    let a = app.call(
        "POST",
        "/api/v1/events",
        Some(json!({"event": "order.created", "data": {"object": {}}})),
    );
    assert_eq!(a.status, 202);
    let dlvs: Vec<String> = a.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    for (i, (_, want, retried)) in cases.iter().enumerate() {
        sinks[i].0.take(1, Duration::from_secs(10));
        let d = app.attempts(&dlvs[i], 1);
        assert_eq!(d["status"], *want, "case {i}: {d}");
        assert_eq!(d["next_attempt_at"].is_string(), *retried, "case {i}: {d}");
    }
    assert!(
        elsewhere.drain(Duration::from_millis(300)).is_empty(),
        "redirects are never followed"
    );
}

#[test]
fn a_429_honours_retry_after_and_a_410_disables_the_endpoint() {
    let app = App::start(|_| {});
    let limited = scripted(vec![
        Reply::Status(
            429,
            vec![("Retry-After".into(), "120".into())],
            String::new(),
        ),
        status(200),
    ]);
    let gone = Sink::status(410);
    app.endpoint(&limited.url(), json!(["user.*"]));
    let gone_ep = app.endpoint(&gone.url(), json!(["order.*"]));
    let (_, dlv) = app.post("user.created");
    limited.take(1, Duration::from_secs(10));
    let d = app.attempts(&dlv, 1);
    assert_eq!(d["next_attempt_at"], iso(T0 + 120_000));
    app.advance(119_000);
    assert!(limited.drain(Duration::from_millis(300)).is_empty());
    app.advance(1_000);
    limited.take(1, Duration::from_secs(10));
    assert_eq!(app.attempts(&dlv, 2)["status"], "succeeded");

    let (_, g) = app.post("order.created");
    gone.take(1, Duration::from_secs(10));
    assert_eq!(app.attempts(&g, 1)["status"], "failed");
    let ep = eventually(
        Duration::from_secs(10),
        "the endpoint to be disabled",
        || {
            let e = app.call("GET", &format!("/api/v1/webhooks/{gone_ep}"), None);
            (e.body["active"] == false).then_some(e.body)
        },
    );
    assert!(
        ep["disabled_reason"].as_str().unwrap().contains("410"),
        "{ep}"
    );
    // A disabled endpoint gets no new events.
    let a = app.call(
        "POST",
        "/api/v1/events",
        Some(json!({"event": "order.created", "data": {"object": {}}})),
    );
    assert_eq!(a.body["deliveries"], json!([]));
}

#[test]
fn an_endpoint_failing_for_the_whole_period_is_disabled_and_re_enabling_resumes_it() {
    let app = App::start(|a| a.disable_after = Some("1h".into()));
    let healthy = Arc::new(Mutex::new(false));
    let h = healthy.clone();
    let sink = Sink::start(move |_| {
        if *h.lock().unwrap() {
            status(200)
        } else {
            status(500)
        }
    });
    let ep = app.endpoint(&sink.url(), json!(["*"]));
    let (_, dlv) = app.post("payment.failed");
    sink.take(1, Duration::from_secs(10));
    app.attempts(&dlv, 1);
    app.set(T0 + 5 * MIN);
    sink.take(1, Duration::from_secs(10));
    app.attempts(&dlv, 2);
    app.set(T0 + 35 * MIN);
    sink.take(1, Duration::from_secs(10));
    app.attempts(&dlv, 3);
    let e = app
        .call("GET", &format!("/api/v1/webhooks/{ep}"), None)
        .body;
    assert_eq!(
        e["active"], true,
        "35 minutes of failure is not yet an hour"
    );
    assert_eq!(e["health"]["consecutive_failures"], 3);
    app.set(T0 + 155 * MIN);
    sink.take(1, Duration::from_secs(10));
    app.attempts(&dlv, 4);
    let e = eventually(Duration::from_secs(10), "auto-disable", || {
        let e = app
            .call("GET", &format!("/api/v1/webhooks/{ep}"), None)
            .body;
        (e["active"] == false).then_some(e)
    });
    assert!(
        e["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failing continuously since"),
        "{e}"
    );
    assert_eq!(e["health"]["consecutive_failures"], 4);
    // Its next retry comes due while disabled: held, not sent.
    app.set(T0 + 155 * MIN + 12 * 60 * MIN);
    let d = eventually(Duration::from_secs(10), "the retry to be held", || {
        let d = app.delivery(&dlv);
        (d["held"] == true).then_some(d)
    });
    assert_eq!(d["status"], "held");
    assert!(sink.drain(Duration::from_millis(300)).is_empty());
    *healthy.lock().unwrap() = true;
    let p = app.call(
        "PATCH",
        &format!("/api/v1/webhooks/{ep}"),
        Some(json!({"active": true})),
    );
    assert_eq!(p.status, 200);
    assert_eq!(p.body["disabled_reason"], Value::Null);
    sink.take(1, Duration::from_secs(10));
    assert_eq!(app.attempts(&dlv, 5)["status"], "succeeded");
    let e = app
        .call("GET", &format!("/api/v1/webhooks/{ep}"), None)
        .body;
    assert_eq!(e["health"]["consecutive_failures"], 0);
    assert!(e["health"]["last_success_at"].is_string());
}

#[test]
fn deleting_an_endpoint_cancels_its_pending_retries() {
    let app = App::start(|_| {});
    let sink = scripted(vec![status(500), status(200)]);
    let other = Sink::status(500);
    app.endpoint(&sink.url(), json!(["payment.*"]));
    let doomed = app.endpoint(&other.url(), json!(["order.*"]));
    let (_, dlv) = app.post("payment.completed");
    let (_, doomed_dlv) = app.post("order.created");
    sink.take(1, Duration::from_secs(10));
    other.take(1, Duration::from_secs(10));
    app.attempts(&dlv, 1);
    app.attempts(&doomed_dlv, 1);
    let del = app.call("DELETE", &format!("/api/v1/webhooks/{doomed}"), None);
    assert_eq!(del.status, 204);
    let d = app.delivery(&doomed_dlv);
    assert_eq!(d["status"], "failed");
    assert_eq!(d["last_error"], "endpoint deleted");
    app.advance(5 * MIN);
    sink.take(1, Duration::from_secs(10));
    assert_eq!(app.attempts(&dlv, 2)["status"], "succeeded");
    assert!(
        other.drain(Duration::from_millis(300)).is_empty(),
        "a deleted endpoint gets nothing"
    );
}

#[test]
fn resend_replay_and_test_events_show_in_the_log_with_filters_and_pages() {
    let app = App::start(|_| {});
    let fixed = Arc::new(Mutex::new(false));
    let f = fixed.clone();
    let flaky = Sink::start(move |_| {
        if *f.lock().unwrap() {
            status(200)
        } else {
            status(400)
        }
    });
    let good = Sink::status(200);
    let a = app.endpoint(&flaky.url(), json!(["*"]));
    let b = app.endpoint(&good.url(), json!(["*"]));
    for i in 0..10 {
        app.post(if i % 2 == 0 {
            "payment.completed"
        } else {
            "order.created"
        });
        app.advance(MIN);
    }
    flaky.take(10, Duration::from_secs(20));
    good.take(10, Duration::from_secs(20));
    let list = |q: &str| -> Vec<Value> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/deliveries?{q}&cursor={c}"),
                None => format!("/api/v1/deliveries?{q}"),
            };
            let r = app.call("GET", &path, None);
            assert_eq!(r.status, 200, "{}", r.text);
            rows.extend(r.body["data"].as_array().unwrap().iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return rows,
            }
        }
    };
    let failed = eventually(Duration::from_secs(20), "10 failed deliveries", || {
        let f = list("status=failed&limit=100");
        (f.len() == 10).then_some(f)
    });
    assert!(failed.iter().all(|d| d["webhook_id"] == a.as_str()));
    let all = list("limit=3");
    assert_eq!(all.len(), 20);
    let ids: Vec<_> = all
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(list(&format!("webhook_id={b}&limit=4")).len(), 10);
    assert_eq!(
        list(&format!("webhook_id={a}&event=order.created")).len(),
        5
    );
    let since = list(&format!("since={}&limit=100", iso(T0 + 5 * MIN)));
    assert_eq!(since.len(), 10, "the last five events, two deliveries each");
    let window = list(&format!(
        "since={}&until={}",
        iso(T0 + 2 * MIN),
        iso(T0 + 3 * MIN)
    ));
    assert_eq!(window.len(), 4);
    let r = app.call("GET", "/api/v1/deliveries?status=lost", None);
    assert_error(&r, 400, "invalid_query");

    // Resend one failed delivery: one more attempt, same event id.
    *fixed.lock().unwrap() = true;
    let one = failed[0]["id"].as_str().unwrap();
    let r = app.call("POST", &format!("/api/v1/deliveries/{one}/resend"), None);
    assert_eq!(r.status, 202, "{}", r.text);
    let got = flaky.take(1, Duration::from_secs(10));
    assert_eq!(got[0].header("webhook-id"), failed[0]["event_id"].as_str());
    let d = app.attempts(one, 2);
    assert_eq!(d["status"], "succeeded");

    // Replay the other nine; a second replay finds nothing to do.
    let r = app.call(
        "POST",
        &format!("/api/v1/webhooks/{a}/replay"),
        Some(json!({"since": iso(T0)})),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["replayed"], 9);
    let r2 = app.call(
        "POST",
        &format!("/api/v1/webhooks/{a}/replay"),
        Some(json!({"since": iso(T0)})),
    );
    assert_eq!(r2.body["replayed"], 0);
    flaky.take(9, Duration::from_secs(20));
    eventually(
        Duration::from_secs(20),
        "all replayed deliveries succeeded",
        || {
            list(&format!("webhook_id={a}&status=failed"))
                .is_empty()
                .then_some(())
        },
    );
    assert!(
        flaky.drain(Duration::from_millis(300)).is_empty(),
        "replayed once each"
    );

    // A test event: a sample of the chosen type, id evt_test_…, in the log.
    let t = app.call(
        "POST",
        &format!("/api/v1/webhooks/{b}/test"),
        Some(json!({"event": "order.shipped"})),
    );
    assert_eq!(t.status, 202, "{}", t.text);
    let id = t.body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_test_"), "{id}");
    let got = good.take(1, Duration::from_secs(10)).remove(0);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "order.shipped");
    assert_eq!(body["data"]["object"]["number"], "ORD-2024-001");
    let shipped = list(&format!("webhook_id={b}&event=order.shipped"));
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0]["event_id"], id);
    let bad = app.call(
        "POST",
        &format!("/api/v1/webhooks/{b}/test"),
        Some(json!({"event": "order.lost"})),
    );
    assert_error(&bad, 422, "unknown_event_type");
}

/// `--retention`: an event whose deliveries have all ended goes with its
/// deliveries, attempts and statistics once older than the retention; an
/// event with a pending delivery stays however old, until it ends.
#[test]
fn retention_purges_ended_deliveries_and_keeps_pending_ones() {
    let mut app = App::start(|a| {
        a.retention = Some("1h".into());
        // Failing for days must not disable the endpoint (and hold it).
        a.disable_after = Some("30d".into());
    });
    // Every pass here is run by hand, at the times chosen; the retention
    // thread would run its own as the clock moves.
    app.running.as_mut().unwrap().stop_retention();
    let ok = Sink::status(200);
    let bad = Sink::status(503);
    app.endpoint(&ok.url(), json!(["order.created"]));
    app.endpoint(&bad.url(), json!(["payment.completed"]));
    let (evt_ok, dlv_ok) = app.post("order.created");
    let (evt_bad, dlv_bad) = app.post("payment.completed");
    assert_eq!(app.attempts(&dlv_ok, 1)["status"], "succeeded");
    app.attempts(&dlv_bad, 1);
    let purge = || app.running.as_ref().unwrap().purge_expired().unwrap();

    // Younger than the retention: nothing goes.
    let p = purge();
    assert_eq!((p.examined, p.events, p.rows), (0, 0, 0), "{p:?}");

    // Past the retention but inside the 24-hour Idempotency-Key window:
    // events stay, so a retried request can still be answered with them.
    app.set(T0 + 120 * MIN);
    // The failing delivery's retry (due at 5 minutes) runs now, at 2 hours:
    // its minute and hour rows are among those the pass a day on removes.
    app.attempts(&dlv_bad, 2);
    assert_eq!(purge().events, 0);
    // The retry the clock made due (5 min) is recorded before time moves
    // on again: its statistics rows are among what the next pass removes.
    app.attempts(&dlv_bad, 2);

    // A day and an hour on: the delivered event goes, the pending one stays.
    app.set(T0 + 25 * 60 * MIN);
    let p = purge();
    assert_eq!((p.events, p.deliveries, p.attempts), (1, 1, 1), "{p:?}");
    assert!(
        p.rows >= 3,
        "T0's minute, hour and day statistics rows: {p:?}"
    );
    for path in [
        format!("/api/v1/events/{evt_ok}"),
        format!("/api/v1/deliveries/{dlv_ok}"),
    ] {
        assert_eq!(app.call("GET", &path, None).status, 404, "{path}");
    }
    assert_eq!(app.delivery(&dlv_bad)["status"], "retrying");
    let e = app.call("GET", &format!("/api/v1/events/{evt_bad}"), None);
    assert_eq!(e.status, 200, "{}", e.text);
    let log = app.call("GET", "/api/v1/deliveries", None);
    let ids: Vec<_> = log.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", log.text))
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![dlv_bad.clone()], "the log lists what is left");
    let again = purge();
    assert_eq!((again.examined, again.events), (1, 0), "{again:?}");

    // Once its schedule runs out it has ended, and goes with the next pass.
    let count = |d: &Value| d["attempts"].as_array().map_or(0, |a| a.len());
    let mut seen = count(&app.delivery(&dlv_bad));
    while seen < 6 {
        app.advance(48 * 60 * MIN);
        seen = eventually(Duration::from_secs(20), "another attempt", || {
            let n = count(&app.delivery(&dlv_bad));
            (n > seen).then_some(n)
        });
    }
    assert_eq!(app.delivery(&dlv_bad)["status"], "failed");
    let p = purge();
    assert_eq!((p.events, p.deliveries, p.attempts), (1, 1, 6), "{p:?}");
    let d = app.call("GET", &format!("/api/v1/deliveries/{dlv_bad}"), None);
    assert_eq!(d.status, 404, "{}", d.text);
    drop(bad);
    drop(ok);
}

/// A stop while an attempt is in flight waits for it: the attempt is
/// recorded, and the data directory is free the moment `stop` returns
/// (the restart opens it without waiting), with nothing attempted twice.
#[test]
fn a_stop_lets_the_attempt_in_flight_finish_and_then_frees_the_data_directory() {
    let (entered_tx, entered) = crossbeam_channel::bounded::<()>(1);
    let (release, released) = crossbeam_channel::bounded::<()>(1);
    let sink = Sink::start(move |_| {
        let _ = entered_tx.try_send(());
        let _ = released.recv_timeout(Duration::from_secs(20));
        status(200)
    });
    let mut app = App::start(|a| a.request_timeout = Some("30s".into()));
    app.endpoint(&sink.url(), json!(["*"]));
    let (_, dlv) = app.post("order.created");
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the attempt reached the receiver");
    let running = app.running.take().unwrap();
    let addr = running.addr;
    let stopping = std::thread::spawn(move || running.stop());
    // HTTP goes first: once it refuses connections, the stop is under way
    // while the receiver still holds the attempt.
    eventually(Duration::from_secs(20), "HTTP to stop", || {
        std::net::TcpStream::connect(addr).is_err().then_some(())
    });
    assert!(!stopping.is_finished(), "the stop waits for the attempt");
    release.send(()).unwrap();
    stopping.join().unwrap();
    app.boot();
    let d = app.delivery(&dlv);
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "{d}");
    assert!(
        sink.drain(Duration::from_millis(300)).len() == 1,
        "one request in all"
    );
}
