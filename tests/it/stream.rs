//! Stream endpoints and `herald listen`: the real binary as a child
//! process forwards a running server's deliveries to local receivers on
//! loopback (the guide's Express, Flask and Next.js receivers verify every
//! one), a 500 makes the delivery retry, and a client killed mid-stream
//! loses nothing.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sink::{eventually, Kind, Reply, SeedReceiver, Sink};
use crate::support::{assert_error, bin, Server};

const TENANT: &str = "company_xyz";

/// A running `herald listen`, its stdout collected.
struct Listen {
    child: Child,
    out: Arc<Mutex<String>>,
    /// Reads stdout until the pipe closes (the process ended).
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Listen {
    fn start(s: &Server, key: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .arg("listen")
            .args(["--server", &s.base, "--key", key])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald listen");
        let out = Arc::new(Mutex::new(String::new()));
        let (o, pipe) = (out.clone(), child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut o = o.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        let l = Listen {
            child,
            out,
            reader: Some(reader),
        };
        l.wait_for("ready", |o| o.contains("Ready: forwarding"));
        l
    }

    /// Waits (bounded) until stdout satisfies `cond`; returns it.
    fn wait_for(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.out.lock().unwrap().clone();
            if cond(&o) {
                return o;
            }
            assert!(
                Instant::now() < deadline,
                "listen never printed {what}: {o}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The endpoint id it printed.
    fn endpoint(&self) -> String {
        let o = self.wait_for("its endpoint", |o| o.contains("endpoint ep_"));
        let at = o.find("ep_").unwrap();
        o[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// SIGTERM, then its exit status.
    fn leave(mut self) -> (std::process::ExitStatus, String) {
        self.signal("-TERM");
        let status = self.child.wait().unwrap();
        // Everything it printed before it ended, not just what the reader
        // had got to.
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let out = self.out.lock().unwrap().clone();
        (status, out)
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post(s: &Server, key: &str, event: &str, n: u32) -> String {
    let a = s.call_as(
        Some(key),
        "POST",
        "/api/v1/events",
        None,
        Some(json!({"event": event, "data": {"object": {"id": format!("pay_{n}"), "amount": 100 + n}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    a.body["id"].as_str().unwrap().to_string()
}

fn deliveries(s: &Server, key: &str, ep: &str) -> Vec<Value> {
    let a = s.call_as(
        Some(key),
        "GET",
        &format!("/api/v1/deliveries?webhook_id={ep}&limit=100"),
        None,
        None,
    );
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["data"].as_array().cloned().unwrap_or_default()
}

/// `whsec_` and base64 of 24 bytes, as Herald generates them.
fn a_secret() -> String {
    "whsec_c3RyZWFtLXRlc3Qtc2VjcmV0LTI0Ynl0ZXM=".into()
}

#[test]
fn listen_forwards_to_the_guides_express_flask_and_nextjs_receivers_which_verify_every_delivery() {
    let s = Server::start_with(&["--retry-schedule", "1s,1s,1s"], &[]);
    let key = s.tenant_key(TENANT);
    let secret = a_secret();
    let express = SeedReceiver::start(Kind::Express, &secret, 0);
    let to = format!("http://127.0.0.1:{}/webhooks/brainsait", express.port);
    let listen = Listen::start(
        &s,
        &key,
        &[
            "--events",
            "payment.*",
            "--forward-to",
            &to,
            "--secret",
            &secret,
        ],
    );
    let ep = listen.endpoint();
    let shown = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{ep}"),
        None,
        None,
    );
    assert_eq!(shown.body["kind"], "stream", "{}", shown.text);
    // "Ready" comes after its first poll: connected by then.
    assert_eq!(shown.body["stream_connected"], true, "{}", shown.text);

    // The guide's Flask and Next.js receivers too, each behind a listen of
    // its own (same secret), so every event reaches all three.
    let others: Vec<(SeedReceiver, Listen)> = [Kind::Flask, Kind::NextjsCheck]
        .into_iter()
        .map(|kind| {
            let r = SeedReceiver::start(kind, &secret, 0);
            let to = format!("http://127.0.0.1:{}/webhooks/brainsait", r.port);
            let l = Listen::start(
                &s,
                &key,
                &[
                    "--events",
                    "payment.*",
                    "--forward-to",
                    &to,
                    "--secret",
                    &secret,
                ],
            );
            (r, l)
        })
        .collect();

    let ids: Vec<String> = (1..=3)
        .map(|n| post(&s, &key, "payment.completed", n))
        .collect();
    // Not subscribed: never forwarded.
    post(&s, &key, "order.created", 9);
    let mut want: Vec<String> = ids.iter().map(|i| format!("VERIFIED {i}")).collect();
    want.sort();
    for r in std::iter::once(&express).chain(others.iter().map(|(r, _)| r)) {
        let mut got = r.verdicts(3, Duration::from_secs(30));
        got.sort();
        assert_eq!(got, want, "every delivery verified by the seed's receiver");
    }
    let out = listen.wait_for("three lines", |o| {
        ids.iter().all(|i| {
            o.lines()
                .any(|l| l.contains(i.as_str()) && l.contains("→ 200"))
        })
    });
    assert!(out.contains("payment.completed"), "{out}");
    eventually(Duration::from_secs(10), "three successes", || {
        let d = deliveries(&s, &key, &ep);
        (d.len() == 3 && d.iter().all(|d| d["status"] == "succeeded")).then_some(())
    });

    // The attempt log shows what was forwarded: Herald's own headers.
    let d = &deliveries(&s, &key, &ep)[0];
    let log = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/deliveries/{}", d["id"].as_str().unwrap()),
        None,
        None,
    );
    assert_eq!(log.status, 200, "{}", log.text);
    assert_eq!(log.body["attempts"][0]["status"], 200, "{}", log.text);

    // Ctrl-C: the endpoint is removed.
    let (status, out) = listen.leave();
    assert!(status.success(), "{status:?}: {out}");
    assert!(out.contains(&format!("Endpoint {ep} removed")), "{out}");
    let gone = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{ep}"),
        None,
        None,
    );
    assert_eq!(gone.status, 404, "{}", gone.text);
}

#[test]
fn a_local_500_makes_the_delivery_retry_and_show_retrying() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    // 500 twice, then 200.
    let sink = Sink::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::Status(500, vec![], "boom".into())
        } else {
            Reply::Status(200, vec![], "ok".into())
        }
    });
    // A slow second retry, so `retrying` is seen before it runs.
    let s = Server::start_with(&["--retry-schedule", "1s,8s,1s"], &[]);
    let key = s.tenant_key(TENANT);
    let listen = Listen::start(&s, &key, &["--forward-to", &sink.url(), "--keep"]);
    let out = listen.wait_for("the secret", |o| o.contains("Signing secret: whsec_"));
    assert!(out.contains("Created stream endpoint ep_"), "{out}");
    let ep = listen.endpoint();
    let id = post(&s, &key, "payment.failed", 1);
    let first = sink.take(1, Duration::from_secs(20));
    // Herald's exact body and headers reached the local receiver.
    assert_eq!(first[0].header("webhook-id"), Some(id.as_str()));
    assert!(first[0].header("x-brainsait-signature").is_some());
    assert!(first[0]
        .header("webhook-signature")
        .unwrap()
        .starts_with("v1,"));
    let body: Value = serde_json::from_slice(&first[0].body).unwrap();
    assert_eq!(body["id"], id.as_str());

    let d = eventually(Duration::from_secs(20), "retrying", || {
        let d = deliveries(&s, &key, &ep);
        (d.len() == 1 && d[0]["status"] == "retrying" && d[0]["attempts"] == 2)
            .then(|| d[0].clone())
    });
    assert_eq!(d["last_status"], 500, "{d}");
    listen.wait_for("a 500 line", |o| o.contains(&id) && o.contains("→ 500"));
    eventually(Duration::from_secs(30), "the retry's success", || {
        let d = deliveries(&s, &key, &ep);
        (d[0]["status"] == "succeeded").then_some(())
    });
    let log = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/deliveries/{}", d["id"].as_str().unwrap()),
        None,
        None,
    );
    let statuses: Vec<Value> = log.body["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!(500), json!(500), json!(200)],
        "{}",
        log.text
    );
    assert_eq!(log.body["attempts"][0]["verdict"], "retry", "{}", log.text);

    // --keep: the endpoint stays for the next run.
    let (status, out) = listen.leave();
    assert!(status.success(), "{out}");
    assert!(out.contains("kept"), "{out}");
    let kept = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{ep}"),
        None,
        None,
    );
    assert_eq!(kept.status, 200);
}

#[test]
fn killing_listen_mid_stream_loses_nothing() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    // The first request never gets an answer: the client dies holding it.
    let sink = Sink::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Tarpit
        } else {
            Reply::Status(200, vec![], "ok".into())
        }
    });
    let s = Server::start_with(&["--retry-schedule", "1s,1s,1s"], &[]);
    let key = s.tenant_key(TENANT);
    let mut first = Listen::start(&s, &key, &["--forward-to", &sink.url()]);
    let ep = first.endpoint();
    let a = post(&s, &key, "payment.completed", 1);
    assert_eq!(
        sink.take(1, Duration::from_secs(20))[0].header("webhook-id"),
        Some(a.as_str())
    );
    first.child.kill().unwrap(); // SIGKILL: no goodbye, no acknowledgement
    first.child.wait().unwrap();
    let b = post(&s, &key, "payment.completed", 2);
    let c = post(&s, &key, "payment.completed", 3);
    // No client: a worker parks them (held: out of the due index, so
    // nothing picks them up again and again), and sends nothing.
    eventually(Duration::from_secs(10), "b and c parked", || {
        let d = deliveries(&s, &key, &ep);
        let parked = d
            .iter()
            .filter(|d| d["status"] == "held" && d["event_id"] != a.as_str())
            .count();
        (parked == 2).then_some(())
    });

    let again = Listen::start(&s, &key, &["--endpoint", &ep, "--forward-to", &sink.url()]);
    assert!(again
        .out
        .lock()
        .unwrap()
        .contains("Reusing stream endpoint"));
    // All three arrive: b and c at once, a once its window has passed.
    let got = sink.take(3, Duration::from_secs(30));
    let mut ids: Vec<&str> = got.iter().filter_map(|r| r.header("webhook-id")).collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str(), c.as_str()];
    want.sort();
    assert_eq!(ids, want);
    eventually(Duration::from_secs(10), "three successes", || {
        let d = deliveries(&s, &key, &ep);
        (d.len() == 3 && d.iter().all(|d| d["status"] == "succeeded")).then_some(())
    });
    drop(again);
}

#[test]
fn streams_are_for_their_tenants_key_and_acknowledgements_are_checked() {
    let s = Server::start_with(&["--retry-schedule", "1s"], &[]);
    let key = s.tenant_key(TENANT);
    let other = s.tenant_key("other_co");
    let ep = s.call_as(
        Some(&key),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"kind": "stream", "events": ["*"]})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);
    assert_eq!(ep.body["kind"], "stream");
    assert!(ep.body["url"].as_str().unwrap().starts_with("stream:"));
    let id = ep.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/webhooks/{id}/stream?wait=0");
    // Not yet polled: not connected.
    let shown = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        None,
        None,
    );
    assert_eq!(shown.body["stream_connected"], false, "{}", shown.text);

    // The panel's endpoint page says what it is and that no client holds it.
    let mut b = crate::ui::admin(&s);
    b.get("/");
    b.submit("/tenant", &[("tenant", TENANT), ("next", "/webhooks")])
        .assert_redirect("/webhooks");
    b.get(&format!("/webhooks/{id}"))
        .assert(200, "Stream")
        .assert(200, "Not connected");
    // Its settings form saves with the placeholder it shows.
    let placeholder = ep.body["url"].as_str().unwrap().to_string();
    b.submit(
        &format!("/webhooks/{id}"),
        &[
            ("url", placeholder.as_str()),
            ("events", "*"),
            ("active", "true"),
        ],
    )
    .assert_redirect(&format!("/webhooks/{id}"));

    // A platform key acting for the tenant, another tenant's key: no.
    assert_error(&s.call("GET", &path, Some(TENANT), None), 403, "forbidden");
    assert_error(
        &s.call_as(Some(&other), "GET", &path, None, None),
        404,
        "not_found",
    );
    // A URL cannot be given to, nor set on, a stream.
    let bad = s.call_as(
        Some(&key),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"kind": "stream", "url": "https://x.example/h", "events": ["*"]})),
    );
    assert_error(&bad, 422, "validation_failed");
    let bad = s.call_as(
        Some(&key),
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        None,
        Some(json!({"url": "https://x.example/h"})),
    );
    assert_error(&bad, 422, "validation_failed");
    // A URL endpoint has no stream.
    let url_ep = s.call_as(
        Some(&key),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"url": "https://x.example/h", "events": ["*"]})),
    );
    assert_eq!(url_ep.status, 201, "{}", url_ep.text);
    let url_id = url_ep.body["id"].as_str().unwrap();
    assert_error(
        &s.call_as(
            Some(&key),
            "GET",
            &format!("/api/v1/webhooks/{url_id}/stream?wait=0"),
            None,
            None,
        ),
        409,
        "not_a_stream",
    );

    // A poll hands a delivery out with its exact body and headers.
    let evt = post(&s, &key, "payment.completed", 1);
    let offer = eventually(Duration::from_secs(10), "an offer", || {
        let a = s.call_as(Some(&key), "GET", &path, None, None);
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["deliveries"]
            .as_array()
            .and_then(|d| d.first().cloned())
    });
    assert_eq!(offer["event_id"], evt.as_str());
    let headers = offer["headers"].as_array().unwrap();
    assert!(headers
        .iter()
        .any(|h| h[0] == "webhook-id" && h[1] == evt.as_str()));
    let body: Value = serde_json::from_str(offer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], evt.as_str());
    // Offered: not handed out again within its window.
    let a = s.call_as(Some(&key), "GET", &path, None, None);
    assert_eq!(a.body["deliveries"], json!([]), "{}", a.text);
    let connected = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        None,
        None,
    );
    assert!(b
        .get(&format!("/webhooks/{id}"))
        .body
        .contains(">Connected<"));
    assert_eq!(
        connected.body["stream_connected"], true,
        "{}",
        connected.text
    );

    let dlv = offer["id"].as_str().unwrap();
    let ack = format!("/api/v1/webhooks/{id}/stream/{dlv}/ack");
    let at = offer["offered_at"].clone();
    for (body, field) in [
        (json!({"offered_at": at}), "status"),
        (json!({"status": 700, "offered_at": at}), "status"),
        (json!({"error": "Bad Kind", "offered_at": at}), "error"),
        (json!({"status": 200, "offered_at": 0}), "offered_at"),
    ] {
        let a = s.call_as(Some(&key), "POST", &ack, None, Some(body));
        assert_error(&a, 422, "validation_failed");
        assert_eq!(a.body["error"]["field"], field, "{}", a.text);
    }
    let a = s.call_as(
        Some(&key),
        "POST",
        &ack,
        None,
        Some(json!({"status": 204, "latency_ms": 3, "offered_at": at})),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["verdict"], "success");
    assert_eq!(a.body["delivery"]["status"], "succeeded");
    // Once ended, a late second acknowledgement changes nothing.
    let late = s.call_as(
        Some(&key),
        "POST",
        &ack,
        None,
        Some(json!({"status": 500, "offered_at": at})),
    );
    assert_error(&late, 409, "delivery_ended");
}

#[test]
fn two_nodes_sharing_postgresql_hand_a_stream_over_between_them() {
    // Events go in on node A, `listen` polls node B, then is killed and
    // comes back on node A: the store is the queue, so nothing is lost
    // and "connected" reads the same on both nodes.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let sink = Sink::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::Tarpit
        } else {
            Reply::Status(200, vec![], "ok".into())
        }
    });
    let url = crate::support::fresh_database();
    let a = Server::start_postgres_at(&url, &["--retry-schedule", "1s,1s,1s"]);
    let b = Server::start_postgres_at(&url, &["--retry-schedule", "1s,1s,1s"]);
    let key = a.tenant_key(TENANT);
    let mut on_b = Listen::start(&b, &key, &["--forward-to", &sink.url(), "--keep"]);
    let ep = on_b.endpoint();
    eventually(
        Duration::from_secs(10),
        "connected, as node A sees it",
        || {
            let shown = a.call_as(
                Some(&key),
                "GET",
                &format!("/api/v1/webhooks/{ep}"),
                None,
                None,
            );
            (shown.body["stream_connected"] == true).then_some(())
        },
    );
    let first = post(&a, &key, "payment.completed", 1);
    assert_eq!(
        sink.take(1, Duration::from_secs(20))[0].header("webhook-id"),
        Some(first.as_str())
    );
    on_b.child.kill().unwrap();
    on_b.child.wait().unwrap();
    let second = post(&a, &key, "payment.completed", 2);
    let on_a = Listen::start(&a, &key, &["--endpoint", &ep, "--forward-to", &sink.url()]);
    let got = sink.take(2, Duration::from_secs(30));
    let mut ids: Vec<&str> = got.iter().filter_map(|r| r.header("webhook-id")).collect();
    ids.sort();
    let mut want = vec![first.as_str(), second.as_str()];
    want.sort();
    assert_eq!(ids, want);
    eventually(
        Duration::from_secs(10),
        "both succeeded, as node B sees it",
        || {
            let d = deliveries(&b, &key, &ep);
            (d.len() == 2 && d.iter().all(|d| d["status"] == "succeeded")).then_some(())
        },
    );
    drop(on_a);
}
