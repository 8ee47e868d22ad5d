//! Several nodes on one PostgreSQL database: three `herald serve`
//! processes share a fresh database; 16 clients post events to all three;
//! one node is killed with SIGKILL mid-load and started again. Every
//! acknowledged event reaches every endpoint at least once, no delivery is
//! sent by two nodes at once, and the per-endpoint cap holds across nodes.
//! Sessions and alerts work across nodes too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const T: Option<&str> = Some("acme");
/// Requests to one endpoint in flight at most, on all nodes together.
const CAP: usize = 2;

/// What the counting receiver saw.
#[derive(Default)]
struct Seen {
    /// Requests in flight now, per endpoint path and per (path, event id).
    per_endpoint: HashMap<String, usize>,
    per_delivery: HashMap<(String, String), usize>,
    /// The most seen in flight at once for one endpoint.
    max_per_endpoint: usize,
    /// (path, event id) pairs sent while another request for the same one
    /// was still being answered.
    overlaps: Vec<(String, String)>,
    /// Every (path, event id) received, with how many times.
    received: BTreeMap<(String, String), usize>,
}

/// A receiver that holds each request 15 ms (so concurrent requests
/// overlap visibly) and counts.
fn counting_receiver() -> (Sink, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let sink = Sink::start(move |r| {
        let id = r.header("webhook-id").unwrap_or_default().to_string();
        let key = (r.path.clone(), id);
        {
            let mut g = s.lock().unwrap();
            let n = g.per_endpoint.entry(r.path.clone()).or_default();
            *n += 1;
            let n = *n;
            g.max_per_endpoint = g.max_per_endpoint.max(n);
            let d = g.per_delivery.entry(key.clone()).or_default();
            *d += 1;
            if *d > 1 {
                g.overlaps.push(key.clone());
            }
            *g.received.entry(key.clone()).or_default() += 1;
        }
        std::thread::sleep(Duration::from_millis(15));
        {
            let mut g = s.lock().unwrap();
            *g.per_endpoint.get_mut(&r.path).unwrap() -= 1;
            *g.per_delivery.get_mut(&key).unwrap() -= 1;
        }
        status(200)
    });
    (sink, seen)
}

fn node(url: &str) -> Server {
    Server::start_postgres_at(
        url,
        &[
            "--per-endpoint-concurrency",
            &CAP.to_string(),
            "--request-timeout",
            "2s",
            "--retry-schedule",
            "1s,1s,1s,1s,1s",
        ],
    )
}

fn metric(s: &Server, name: &str) -> f64 {
    let a = s.call("GET", "/metrics", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    a.text
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn three_nodes_share_the_work_and_lose_nothing_when_one_is_killed() {
    let url = fresh_database();
    // The first node creates the schema and the first-start credentials;
    // the others find them.
    let first = node(&url);
    let mut nodes = [first, node(&url), node(&url)];
    let (sink, seen) = counting_receiver();
    let paths = ["/e0", "/e1", "/e2", "/e3"];
    for p in paths {
        let a = nodes[0].call(
            "POST",
            "/api/v1/webhooks",
            T,
            Some(json!({"url": format!("http://127.0.0.1:{}{p}", sink.port), "events": ["*"]})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let posted = Arc::new(AtomicUsize::new(0));
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 40;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (bases, acked, posted) = (bases.clone(), acked.clone(), posted.clone());
            std::thread::spawn(move || {
                let agent = test_agent();
                for i in 0..PER_CLIENT {
                    let base = &bases[(c + i) % bases.len()];
                    let r = agent
                        .post(format!("{base}/api/v1/events"))
                        .header("Authorization", format!("Bearer {PLATFORM_KEY}"))
                        .header("X-Tenant-ID", "acme")
                        .header("Content-Type", "application/json")
                        .send(
                            json!({"event": "order.created", "data": {"object": {"c": c, "i": i}}})
                                .to_string()
                                .as_bytes(),
                        );
                    posted.fetch_add(1, Ordering::SeqCst);
                    // A node killed mid-request acknowledges nothing: only
                    // a 202 counts as acknowledged.
                    let Ok(mut r) = r else { continue };
                    if r.status().as_u16() != 202 {
                        continue;
                    }
                    let body: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                            .unwrap_or_default();
                    if let Some(id) = body["id"].as_str() {
                        acked.lock().unwrap().insert(id.to_string());
                    }
                }
            })
        })
        .collect();
    // Mid-load: node 1 dies with whatever it had claimed or was sending.
    eventually(
        Duration::from_secs(60),
        "a third of the load posted",
        || (posted.load(Ordering::SeqCst) >= CLIENTS * PER_CLIENT / 3).then_some(()),
    );
    nodes[1].kill9();
    std::thread::sleep(Duration::from_millis(300));
    nodes[1].start_again();
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= CLIENTS * PER_CLIENT / 2,
        "most posts acknowledged ({} of {})",
        acked.len(),
        CLIENTS * PER_CLIENT
    );
    // Every acknowledged event at every endpoint, at least once: claims
    // and leases of the killed node expire and another node takes them.
    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let missing: Vec<(String, String)> = {
            let g = seen.lock().unwrap();
            paths
                .iter()
                .flat_map(|p| acked.iter().map(move |id| (p.to_string(), id.clone())))
                .filter(|k| !g.received.contains_key(k))
                .collect()
        };
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        missing.is_empty(),
        "{} acknowledged deliveries never arrived, e.g. {:?}\nnode 1's log:\n{}",
        missing.len(),
        missing.first(),
        tail(&nodes[1].stderr.lock().unwrap())
    );
    let g = seen.lock().unwrap();
    assert!(
        g.overlaps.is_empty(),
        "a delivery sent by two nodes at once: {:?}",
        &g.overlaps[..g.overlaps.len().min(5)]
    );
    assert!(
        g.max_per_endpoint <= CAP,
        "{} requests in flight to one endpoint, the cap is {CAP}",
        g.max_per_endpoint
    );
    let repeats = g.received.values().filter(|n| **n > 1).count();
    println!(
        "cluster: {} acknowledged events × {} endpoints delivered; {repeats} sent more than once \
         (the killed node's unrecorded attempts); at most {} in flight per endpoint",
        acked.len(),
        paths.len(),
        g.max_per_endpoint
    );
    drop(g);
    // Every node delivered, and each knows the three of them.
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            metric(n, "herald_attempts_total") > 0.0,
            "node {i} made attempts"
        );
        // The killed process's name drops out once its heartbeat is old.
        eventually(Duration::from_secs(30), "three nodes alive", || {
            (metric(n, "herald_cluster_nodes") == 3.0).then_some(())
        });
        let _ = i;
        assert!(metric(n, "herald_store_table_bytes{table=\"deliveries\"}") > 0.0);
    }
}

#[test]
fn sessions_and_the_catalog_work_on_any_node_and_an_alert_fires_once() {
    let url = fresh_database();
    let alerts = Sink::status(200);
    let alert_url = format!("http://127.0.0.1:{}/alerts", alerts.port);
    let start = |url: String, alert_url: String| {
        std::thread::spawn(move || {
            let mut args = vec![
                "--allow-http",
                "--allow-private-networks",
                "127.0.0.0/8",
                "--store",
                &url,
                "--retry-schedule",
                "1s,1s,1s,1s,1s,1s,1s,1s",
                "--alert-url",
                &alert_url,
                "--alert-down-after",
                "3",
            ];
            args.retain(|a| !a.is_empty());
            // No admin password given: the first start generates one.
            Server::start_with(&args, &[("HERALD_ADMIN_PASSWORD", "")])
        })
    };
    // Both started at once on the empty database: one of them makes the
    // first-start credentials and prints them; the other prints nothing.
    let (ta, tb) = (
        start(url.clone(), alert_url.clone()),
        start(url.clone(), alert_url.clone()),
    );
    let (a, b) = (ta.join().unwrap(), tb.join().unwrap());
    let printed = || -> Vec<String> {
        [&a, &b]
            .iter()
            .filter_map(|n| {
                let out = n.stdout.lock().unwrap().clone();
                out.lines()
                    .find_map(|l| l.split("password: ").nth(1).map(str::to_string))
            })
            .collect()
    };
    eventually(Duration::from_secs(10), "the credentials printed", || {
        (!printed().is_empty()).then_some(())
    });
    // Both are serving: whatever either prints at its first start is out.
    std::thread::sleep(Duration::from_millis(300));
    let printed = printed();
    assert_eq!(
        printed.len(),
        1,
        "one node prints the credentials: {printed:?}"
    );
    let password = printed[0].trim().to_string();
    // That password works on both, and a panel session made on one node
    // is good on the other.
    let mut other = crate::ui::Browser::new(&b.base);
    other.login_ok("admin", &password);
    let mut browser = crate::ui::Browser::new(&a.base);
    browser.login_ok("admin", &password);
    browser.switch_to(&b.base);
    browser.get("/").assert(200, "Dashboard");
    // A custom event type created on one node is accepted by the other's
    // ingest within its refresh (no restart).
    let schema = json!({"type": "object", "required": ["object"],
        "properties": {"object": {"type": "object", "required": ["n"]}}});
    let t = a.call(
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({"name": "invoice.paid", "schema": schema})),
    );
    assert_eq!(t.status, 201, "{}", t.text);
    eventually(Duration::from_secs(15), "node b knows the new type", || {
        let r = b.call(
            "POST",
            "/api/v1/events",
            T,
            Some(json!({"event": "invoice.paid", "data": {"object": {"n": 1}}})),
        );
        (r.status == 202).then_some(())
    });
    let bad = b.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "invoice.paid", "data": {"object": {"m": 1}}})),
    );
    assert_error(&bad, 422, "schema_mismatch");

    // An endpoint that fails on both nodes' attempts: both evaluate the
    // rule, one of them makes the transition, the operator hears once.
    let failing = Sink::status(500);
    let ep = a.call(
        "POST",
        "/api/v1/webhooks",
        T,
        Some(json!({"url": failing.url(), "events": ["order.created"]})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);
    for i in 0..6 {
        let n = if i % 2 == 0 { &a } else { &b };
        let r = n.call(
            "POST",
            "/api/v1/events",
            T,
            Some(json!({"event": "order.created", "data": {"object": {"i": i}}})),
        );
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let firing = |got: &[Received]| {
        got.iter()
            .filter(|r| {
                let b = String::from_utf8_lossy(&r.body);
                b.contains("alert.firing") && b.contains("endpoint_down")
            })
            .count()
    };
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while firing(&got) == 0 && Instant::now() < deadline {
        got.extend(alerts.drain(Duration::from_millis(200)));
    }
    assert_eq!(firing(&got), 1, "the alert fired");
    // Both nodes go on failing it for a while: still one firing.
    got.extend(alerts.drain(Duration::from_secs(3)));
    assert_eq!(firing(&got), 1, "fired once across the cluster");
    let history = a.call("GET", "/api/v1/alerts", None, None);
    assert_eq!(history.status, 200, "{}", history.text);
}

/// The last lines of a log.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
