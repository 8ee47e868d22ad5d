//! End-to-end scenarios: a real `herald serve` (this executable) on a
//! temp data directory, a fast keep-alive sink, and a load generator, all
//! on loopback. The sink verifies `X-BrainSAIT-Signature` on a sample, so a
//! build that skipped signing could not pass for fast.

use super::load::RawClient;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::{fig, fig_owned, Figure};

pub(super) const KEY: &str = "hpk_bench_platform_key_0123456789abcdefghijklmnop";

/// A `herald serve` child process.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    dir: std::path::PathBuf,
}

impl Server {
    pub fn start(args: &[&str]) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!(
            "herald-bench-{}-{}",
            std::process::id(),
            crate::domain::ids::new_ulid(crate::clock::Clock::now(&crate::clock::SystemClock))
        ));
        Self::start_in(dir, args)
    }

    /// Starts on an existing data directory (removed on drop).
    pub fn start_in(dir: std::path::PathBuf, args: &[&str]) -> Result<Self, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, base) = spawn(&dir, &args)?;
        Ok(Self { child, base, dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(dir: &std::path::Path, args: &[String]) -> Result<(Child, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(["--allow-http", "--allow-private-networks", "127.0.0.0/8"])
        .args(args)
        .env("HERALD_PLATFORM_KEY", KEY)
        .env("HERALD_ADMIN_PASSWORD", "bench-password-1")
        .env("RUST_LOG", "warn,herald::app=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let err = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let _ = tx.send(line[i + "listening on ".len()..].trim().to_string());
            } else if line.contains("ERROR") {
                // The server's errors belong in the bench's output (its
                // warnings are alerts, expected in `failing`).
                eprintln!("server: {line}");
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| "herald did not start".to_string())?;
    Ok((child, base))
}

/// A keep-alive client.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_idle_connections(256)
        .max_idle_connections_per_host(256)
        .build()
        .into()
}

/// A JSON API call with the platform key.
pub fn api(
    a: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    tenant: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let url = format!("{base}{path}");
    let auth = format!("Bearer {KEY}");
    let res = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(&url).header("Authorization", &auth);
            if let Some(t) = tenant {
                r = r.header("X-Tenant-ID", t);
            }
            r.call()
        }
        (_, b) => {
            let mut r = a.post(&url).header("Authorization", &auth);
            if let Some(t) = tenant {
                r = r.header("X-Tenant-ID", t);
            }
            r.send_json(b.cloned().unwrap_or(json!({})))
        }
    };
    let mut res = res.map_err(|e| format!("{method} {path}: {e}"))?;
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// What the sink saw.
#[derive(Default)]
pub struct SinkState {
    /// Requests answered 2xx.
    pub ok: AtomicU64,
    /// Requests answered 500.
    pub failed: AtomicU64,
    /// Signatures checked, and how many were wrong.
    pub verified: AtomicU64,
    pub bad_signatures: AtomicU64,
    /// Secrets by endpoint path, for the sampled check.
    pub secrets: Mutex<HashMap<String, String>>,
    /// Every arrival as `webhook-id` and path (the delivery), when
    /// recording.
    pub arrivals: Mutex<Vec<(String, Instant)>>,
    pub record: AtomicBool,
}

async fn sink(req: HttpRequest, body: web::Bytes, st: web::Data<SinkState>) -> HttpResponse {
    let path = req.path().to_string();
    if path.starts_with("/tarpit") {
        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
        return HttpResponse::Ok().finish();
    }
    if st.record.load(Ordering::Relaxed) {
        if let Some(id) = req
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
        {
            if let Ok(mut a) = st.arrivals.lock() {
                a.push((format!("{id} {path}"), Instant::now()));
            }
        }
    }
    if path.starts_with("/fail") {
        st.failed.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::InternalServerError().finish();
    }
    let n = st.ok.fetch_add(1, Ordering::Relaxed);
    if n % 100 == 0 {
        let secret = st.secrets.lock().ok().and_then(|m| m.get(&path).cloned());
        let sig = req
            .headers()
            .get("x-brainsait-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Some(secret) = secret {
            st.verified.fetch_add(1, Ordering::Relaxed);
            if !crate::wire::signing::verify_brainsait(&secret, &body, sig) {
                st.bad_signatures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    HttpResponse::Ok().body("ok")
}

/// Starts the sink on its own threads; returns its port and state.
pub fn start_sink(workers: usize) -> Result<(u16, Arc<SinkState>), String> {
    let state = web::Data::new(SinkState::default());
    let shared = state.clone().into_inner();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .default_service(web::to(sink))
            })
            .workers(workers)
            .disable_signals()
            .bind("127.0.0.1:0");
            match server {
                Ok(s) => {
                    let port = s.addrs().first().map_or(0, |a| a.port());
                    let _ = tx.send(Ok(port));
                    let _ = s.run().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
    });
    let port = rx.recv().map_err(|e| e.to_string())??;
    Ok((port, shared))
}

/// Percentile of sorted durations, ms.
pub(super) fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// The benchmark's event as JSON text (built without a JSON library: the
/// generator must stay cheap next to the server it measures).
pub(super) fn event_text(i: u64, id: Option<&str>) -> String {
    let id = id.map(|id| format!(r#""id":"{id}","#)).unwrap_or_default();
    format!(
        r#"{{{id}"event":"order.created","data":{{"object":{{"id":"ord_{i}","total":299.99,"currency":"USD","items":[{{"sku":"prod_123","qty":1}}]}}}}}}"#
    )
}

/// Posts single events from `clients` threads for `secs`, optionally
/// paced to `rate` events/s in total; returns (count, latencies, sends).
/// Event ids carry `phase`, so no phase re-posts (and dedups) another's.
pub(super) fn post_load(
    phase: &str,
    base: &str,
    clients: usize,
    secs: f64,
    rate: Option<f64>,
    tenants: usize,
    record: bool,
) -> (u64, Vec<Duration>, Vec<(String, Instant)>) {
    post_load_to(
        phase,
        &[base.to_string()],
        clients,
        secs,
        rate,
        tenants,
        record,
    )
}

/// [`post_load`] to several nodes: client `c` posts to `bases[c % n]`.
pub(super) fn post_load_to(
    phase: &str,
    bases: &[String],
    clients: usize,
    secs: f64,
    rate: Option<f64>,
    tenants: usize,
    record: bool,
) -> (u64, Vec<Duration>, Vec<(String, Instant)>) {
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for c in 0..clients {
        let base = bases[c % bases.len().max(1)].clone();
        let (count, phase) = (count.clone(), phase.to_string());
        handles.push(std::thread::spawn(move || {
            let mut client = RawClient::new(&base, KEY);
            let mut lat = Vec::new();
            let mut sends = Vec::new();
            let mut i = 0u64;
            let start = Instant::now();
            while Instant::now() < stop {
                if let Some(r) = rate {
                    // Each client sends its share of the rate on a fixed schedule.
                    let due = start + Duration::from_secs_f64(i as f64 * clients as f64 / r);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                let n = (c as u64) << 40 | i;
                let tenant = format!("t{}", n % tenants.max(1) as u64);
                let id = format!("evt_{phase}{c}_{i}");
                let body = event_text(n, Some(&id));
                let t = Instant::now();
                if let Ok(202) = client.post("/api/v1/events", Some(&tenant), body.as_bytes()) {
                    lat.push(t.elapsed());
                    count.fetch_add(1, Ordering::Relaxed);
                    if record {
                        sends.push((id, t));
                    }
                }
                i += 1;
            }
            (lat, sends)
        }));
    }
    let mut lat = Vec::new();
    let mut sends = Vec::new();
    for h in handles {
        if let Ok((l, s)) = h.join() {
            lat.extend(l);
            sends.extend(s);
        }
    }
    lat.sort();
    (count.load(Ordering::Relaxed), lat, sends)
}

/// `ingest`: single events from 64 keep-alive clients, no endpoints.
pub fn ingest(secs: f64, clients: usize) -> Result<Vec<Figure>, String> {
    let s = Server::start(&[])?;
    let t = Instant::now();
    let (n, lat, _) = post_load("load", &s.base, clients, secs, None, 1, false);
    let el = t.elapsed().as_secs_f64();
    let commit = commit_figures(&s);
    let (n2, lat2, _) = post_load("paced", &s.base, 8, secs.min(5.0), Some(1000.0), 1, false);
    let mut figs = vec![
        fig("clients", clients as f64, "count"),
        fig("durable events/s (saturation)", n as f64 / el, "events/s"),
        fig("ack latency p50 (saturation)", pct(&lat, 0.5), "ms"),
        fig("ack latency p99 (saturation)", pct(&lat, 0.99), "ms"),
        fig("events at 1,000/s offered", n2 as f64, "count"),
        fig("ack latency p50 at 1,000 events/s", pct(&lat2, 0.5), "ms"),
        fig("ack latency p99 at 1,000 events/s", pct(&lat2, 0.99), "ms"),
    ];
    figs.extend(commit);
    Ok(figs)
}

/// `batch`: 1,000-event batches from a few clients.
pub fn batch(batches: usize, clients: usize) -> Result<Vec<Figure>, String> {
    let s = Server::start(&[])?;
    let per = batches.div_ceil(clients.max(1));
    let t = Instant::now();
    let mut hs = Vec::new();
    for c in 0..clients {
        let base = s.base.clone();
        hs.push(std::thread::spawn(move || {
            let mut client = RawClient::new(&base, KEY);
            let mut ok = 0u64;
            for b in 0..per {
                let mut body = String::from(r#"{"events":["#);
                for i in 0..1000 {
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(&event_text((c * per + b) as u64 * 1000 + i, None));
                }
                body.push_str("]}");
                if let Ok(202) = client.post("/api/v1/events/batch", Some("t0"), body.as_bytes()) {
                    ok += 1000;
                }
            }
            ok
        }));
    }
    let n: u64 = hs.into_iter().filter_map(|h| h.join().ok()).sum();
    let el = t.elapsed().as_secs_f64();
    let mut figs = vec![
        fig("events", n as f64, "count"),
        fig("durable events/s", n as f64 / el, "events/s"),
    ];
    figs.extend(commit_figures(&s));
    Ok(figs)
}

/// Creates `tenants × per` endpoints on the sink; `kind(i)` picks the path
/// prefix (`ok`, `fail`, `tarpit`) for endpoint `i`.
fn endpoints(
    s: &Server,
    port: u16,
    st: &SinkState,
    tenants: usize,
    per: usize,
    kind: impl Fn(usize) -> &'static str,
) -> Result<(), String> {
    let a = agent();
    for t in 0..tenants {
        for e in 0..per {
            let i = t * per + e;
            let path = format!("/{}/{i}", kind(i));
            let (code, v) = api(
                &a,
                &s.base,
                "POST",
                "/api/v1/webhooks",
                Some(&format!("t{t}")),
                Some(&json!({"url": format!("http://127.0.0.1:{port}{path}"), "events": ["*"]})),
            )?;
            if code != 201 {
                return Err(format!("creating an endpoint: {code} {v}"));
            }
            if let (Ok(mut m), Some(secret)) = (st.secrets.lock(), v["secret"].as_str()) {
                m.insert(path, secret.to_string());
            }
        }
    }
    Ok(())
}

/// The server's Prometheus samples, by name with labels.
fn server_metrics(s: &Server) -> HashMap<String, f64> {
    metrics_at(&s.base)
}

/// The Prometheus samples of the server at `base`, by name with labels.
pub(super) fn metrics_at(base: &str) -> HashMap<String, f64> {
    let a = agent();
    let Ok(mut r) = a
        .get(format!("{base}/metrics"))
        .header("Authorization", &format!("Bearer {KEY}"))
        .call()
    else {
        return HashMap::new();
    };
    let text = r.body_mut().read_to_string().unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse::<f64>().ok()?))
        })
        .collect()
}

/// Attempts recorded so far, from the server's Prometheus counters.
fn attempts_recorded(nodes: &[Server]) -> u64 {
    nodes
        .iter()
        .flat_map(|s| {
            server_metrics(s)
                .into_iter()
                .filter(|(k, _)| k.starts_with("herald_attempts_total{"))
                .map(|(_, v)| v)
        })
        .sum::<f64>() as u64
}

/// Deliveries created so far, from the nodes' Prometheus counters.
fn deliveries_created(nodes: &[Server]) -> u64 {
    nodes
        .iter()
        .map(|s| {
            server_metrics(s)
                .get("herald_deliveries_created_total")
                .copied()
                .unwrap_or(0.0)
        })
        .sum::<f64>() as u64
}

/// Group-commit figures: mean jobs per flush and mean flush time.
fn commit_figures(s: &Server) -> Vec<Figure> {
    let m = server_metrics(s);
    let flushes = m
        .get("herald_commit_flushes_total")
        .copied()
        .unwrap_or(0.0)
        .max(1.0);
    let jobs = m.get("herald_commit_jobs_total").copied().unwrap_or(0.0);
    let secs = m
        .get("herald_commit_flush_seconds_total")
        .copied()
        .unwrap_or(0.0);
    let apply = m
        .get("herald_commit_apply_seconds_total")
        .copied()
        .unwrap_or(0.0);
    vec![
        fig(
            "group commit: prepare + apply time per cycle (mean)",
            apply / flushes * 1000.0,
            "ms",
        ),
        fig(
            "group commit: writes per flush (mean)",
            jobs / flushes,
            "writes",
        ),
        fig(
            "group commit: flush time (mean)",
            secs / flushes * 1000.0,
            "ms",
        ),
    ]
}

/// The offered rates of `fanout`'s paced phases, events/s (each event
/// goes to its tenant's endpoints: × 10 deliveries with the defaults).
pub(super) const PACED_RATES: [u32; 2] = [100, 300];

/// Ingest → first arrival at the sink of every delivery the sink saw
/// (its `webhook-id` is the event id, its path the endpoint), sorted;
/// a later arrival of the same delivery (a retry) is not its latency.
fn first_arrivals(
    arrivals: &[(String, Instant)],
    sent: &HashMap<String, Instant>,
) -> Vec<Duration> {
    let mut first: HashMap<&str, Instant> = HashMap::new();
    for (key, at) in arrivals {
        first
            .entry(key.as_str())
            .and_modify(|t| *t = (*t).min(*at))
            .or_insert(*at);
    }
    let mut out: Vec<Duration> = first
        .into_iter()
        .filter_map(|(key, at)| {
            let id = key.split_once(' ').map_or(key, |(id, _)| id);
            sent.get(id).map(|s| at.saturating_duration_since(*s))
        })
        .collect();
    out.sort();
    out
}

/// The figures of one paced phase at `rate` events/s offered.
fn paced_figures(rate: u32, posted: f64, acks: &[Duration], first: &[Duration]) -> Vec<Figure> {
    let at = format!("at {rate} events/s");
    let mut figs = vec![
        fig_owned(format!("events/s posted {at} offered"), posted, "events/s"),
        fig_owned(format!("ack p50 {at}"), pct(acks, 0.5), "ms"),
        fig_owned(format!("ack p99 {at}"), pct(acks, 0.99), "ms"),
    ];
    for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        figs.push(fig_owned(
            format!("ingest → first arrival {name} {at}"),
            pct(first, q),
            "ms",
        ));
    }
    figs.push(fig_owned(
        format!("deliveries timed {at}"),
        first.len() as f64,
        "count",
    ));
    figs
}

/// `fanout` (and `failing` when `failing` is set): tenants × endpoints.
pub fn fanout(tenants: usize, per: usize, secs: f64, failing: bool) -> Result<Vec<Figure>, String> {
    fanout_on(None, tenants, per, secs, failing)
}

/// [`fanout`] on the store `store` (`--store`), or sled in a temporary
/// directory.
pub fn fanout_on(
    store: Option<&str>,
    tenants: usize,
    per: usize,
    secs: f64,
    failing: bool,
) -> Result<Vec<Figure>, String> {
    fanout_nodes(store, 1, tenants, per, secs, failing)
}

/// [`fanout_on`] with `nodes` servers sharing `store` (a PostgreSQL
/// database, started afresh), the clients spread over them.
pub fn fanout_nodes(
    store: Option<&str>,
    nodes: usize,
    tenants: usize,
    per: usize,
    secs: f64,
    failing: bool,
) -> Result<Vec<Figure>, String> {
    let (port, st) = start_sink(2)?;
    let workers = std::env::var("BENCH_WORKERS").unwrap_or_else(|_| "32".into());
    let mut args = vec!["--workers", workers.as_str()];
    if let Some(store) = store {
        let location = crate::store::Location::parse(store, 0)
            .ok_or_else(|| format!("--store {store}: sled:DIR or postgres://…"))?;
        crate::store::reset(&location).map_err(|e| format!("emptying {store}: {e}"))?;
        args.extend(["--store", store]);
    }
    let mut all = vec![Server::start(&args)?];
    for _ in 1..nodes.max(1) {
        all.push(Server::start(&args)?);
    }
    let bases: Vec<String> = all.iter().map(|n| n.base.clone()).collect();
    let s = &all[0];
    let kind = |i: usize| {
        if failing && i % 100 == 0 {
            "tarpit"
        } else if failing && i % 10 == 5 {
            "fail"
        } else {
            "ok"
        }
    };
    endpoints(s, port, &st, tenants, per, kind)?;
    // The share of deliveries that go to endpoints answering 200.
    let healthy_share = (0..tenants * per).filter(|i| kind(*i) == "ok").count() as f64
        / (tenants * per).max(1) as f64;
    // Waits until the sink has seen (nearly) every healthy delivery the
    // server created so far, or `limit` passes; logs the rate each second.
    let drain = |limit: Duration| {
        let deadline = Instant::now() + limit;
        let target = (deliveries_created(&all) as f64 * healthy_share * 0.98) as u64;
        let mut last = (Instant::now(), st.ok.load(Ordering::Relaxed));
        while st.ok.load(Ordering::Relaxed) < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            if last.0.elapsed() >= Duration::from_secs(1) {
                let ok = st.ok.load(Ordering::Relaxed);
                log::info!(
                    "draining: {:.0} deliveries/s at the sink, {ok} of {target}",
                    (ok - last.1) as f64 / last.0.elapsed().as_secs_f64(),
                );
                last = (Instant::now(), ok);
            }
        }
    };
    // Latency at fixed offered rates first (issue 20's: 100 and 300
    // events/s, each to its tenant's endpoints); every arrival until the
    // backlog drains counts, so late ones are not left out.
    let paced = |phase: &str, rate: f64| -> (u64, Vec<Duration>, Vec<Duration>) {
        if let Ok(mut a) = st.arrivals.lock() {
            a.clear();
        }
        st.record.store(true, Ordering::SeqCst);
        let (n, acks, sends) =
            post_load_to(phase, &bases, 8, secs.min(5.0), Some(rate), tenants, true);
        drain(Duration::from_secs_f64(secs * 6.0));
        st.record.store(false, Ordering::SeqCst);
        let sent: HashMap<String, Instant> = sends.into_iter().collect();
        let first = st
            .arrivals
            .lock()
            .map(|a| first_arrivals(&a, &sent))
            .unwrap_or_default();
        (n, acks, first)
    };
    let mut figs = vec![fig("tenants × endpoints", (tenants * per) as f64, "count")];
    for rate in PACED_RATES {
        let (n, acks, first) = paced(&format!("r{rate}"), rate as f64);
        figs.extend(paced_figures(rate, n as f64 / secs.min(5.0), &acks, &first));
    }
    // Then saturation: events as fast as 16 clients can post them, and
    // the time until the sink has seen their deliveries.
    let ok0 = st.ok.load(Ordering::Relaxed);
    let rec0 = attempts_recorded(&all);
    let created_before = deliveries_created(&all);
    let t = Instant::now();
    let (events, _, _) = post_load_to("load", &bases, 16, secs, None, tenants, false);
    // What the sink saw while the load ran, apart from the drain after it
    // (the backlog accepted faster than delivered): the first is what a
    // harness counting arrivals during the load reads, the second how long
    // the queue took to empty; the sustained rate counts both over both.
    let load_el = t.elapsed().as_secs_f64();
    let ok_load = st.ok.load(Ordering::Relaxed) - ok0;
    let created_load = deliveries_created(&all);
    drain(Duration::from_secs_f64(secs * 6.0));
    let el = t.elapsed().as_secs_f64();
    let total_ok = st.ok.load(Ordering::Relaxed) - ok0;
    let healthy = total_ok as f64 / el;
    let recorded = (attempts_recorded(&all) - rec0) as f64 / el;
    let bad = st.bad_signatures.load(Ordering::Relaxed);
    if bad > 0 {
        return Err(format!("{bad} deliveries failed signature verification"));
    }
    figs.extend([
        fig("events ingested at saturation", events as f64, "count"),
        fig(
            "deliveries/s to healthy endpoints (at the sink)",
            healthy,
            "deliveries/s",
        ),
        fig(
            "deliveries/s at the sink during the load window",
            ok_load as f64 / load_el,
            "deliveries/s",
        ),
        fig(
            "deliveries/s created during the load window",
            // Every node's counter, including the phases before: the
            // saturation phase's share is what grew during it.
            created_load.saturating_sub(created_before) as f64 / load_el,
            "deliveries/s",
        ),
        fig("drain after the load window", el - load_el, "s"),
        fig(
            "deliveries in the drain after the load window",
            (total_ok - ok_load) as f64,
            "count",
        ),
        fig("attempts recorded/s", recorded, "attempts/s"),
        fig(
            "signatures verified (sample)",
            st.verified.load(Ordering::Relaxed) as f64,
            "count",
        ),
    ]);
    figs.extend(commit_figures(s));
    Ok(figs)
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// `idle`: RSS and CPU of an idle server holding `n` endpoints.
pub fn idle(n: usize, secs: f64) -> Result<Vec<Figure>, String> {
    let (port, st) = start_sink(1)?;
    let s = Server::start(&[])?;
    endpoints(&s, port, &st, n.div_ceil(100), 100.min(n), |_| "ok")?;
    std::thread::sleep(Duration::from_millis(500));
    let c0 = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let c1 = cpu_ticks(s.pid());
    // Clock ticks are 1/100 s on Linux.
    let cpu = (c1 - c0) as f64 / 100.0 / secs * 100.0;
    Ok(vec![
        fig("endpoints", n as f64, "count"),
        fig("RSS idle", rss_of(s.pid()) as f64 / (1 << 20) as f64, "MiB"),
        fig("CPU idle", cpu, "% of one core"),
    ])
}

/// `backlog`: `n` overdue retries written into a data directory while the
/// server is down (a restart after a long outage), then the server starts:
/// time until it listens and until the first due retry reaches the sink,
/// RSS, and disk.
pub fn backlog(n: usize) -> Result<Vec<Figure>, String> {
    use crate::domain::endpoint::{generate_secret, Endpoint};
    use crate::domain::ids::EndpointId;
    use crate::domain::tenant::Tenant;
    use crate::store::Location;
    let (port, st) = start_sink(2)?;
    let dir = std::env::temp_dir().join(format!("herald-bench-backlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let t = Instant::now();
    {
        let store = crate::app::open_store(
            &Location::Sled {
                dir: dir.clone(),
                cache_bytes: 64 << 20,
            },
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .map_err(|e| e.to_string())?;
        store
            .insert_tenant(&Tenant {
                id: "t0".into(),
                name: "t0".into(),
                suspended: false,
                created_at: now,
                updated_at: now,
                metadata: Default::default(),
            })
            .map_err(|e| e.to_string())?;
        let mut ids = Vec::new();
        for i in 0..100 {
            let path = format!("/ok/{i}");
            let ep = Endpoint {
                id: EndpointId::new(now),
                tenant_id: "t0".into(),
                url: format!("http://127.0.0.1:{port}{path}"),
                events: vec!["*".into()],
                description: String::new(),
                active: true,
                secret: generate_secret(),
                previous_secrets: vec![],
                disabled_reason: None,
                revision: 0,
                created_at: now,
                updated_at: now,
                uid: None,
                headers: Default::default(),
                channels: Vec::new(),
                metadata: Default::default(),
                svix_headers: false,
                rate_limit: None,
                ordered: false,
                kind: crate::domain::endpoint::EndpointKind::Url,
                stream_seen_at: None,
            };
            if let Ok(mut m) = st.secrets.lock() {
                m.insert(path, ep.secret.clone());
            }
            store.insert_endpoint(&ep).map_err(|e| e.to_string())?;
            ids.push(ep.id);
        }
        super::recovery::fill(store.as_ref(), "t0", &ids, n, now.plus_millis(-3_600_000))?;
    }
    let written = t.elapsed();
    let disk = dir_size(&dir);
    // The writer's threads let go of the directory's lock asynchronously.
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let s = Server::start_in(dir, &["--workers", "16"])?;
    let listening = t.elapsed();
    // Before the retries flow: what opening the directory costs by itself.
    let rss_open = rss_of(s.pid());
    let first = loop {
        if st.ok.load(Ordering::Relaxed) > 0 || t.elapsed() > Duration::from_secs(300) {
            break t.elapsed();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_secs(5));
    let rss = rss_of(s.pid());
    let sent = st.ok.load(Ordering::Relaxed);
    Ok(vec![
        fig("overdue retries in the data directory", n as f64, "count"),
        fig("time to write them (offline)", written.as_secs_f64(), "s"),
        fig("data directory size", disk as f64 / (1 << 20) as f64, "MiB"),
        fig(
            "start until listening",
            listening.as_secs_f64() * 1000.0,
            "ms",
        ),
        fig(
            "start until the first due retry arrived",
            first.as_secs_f64() * 1000.0,
            "ms",
        ),
        fig(
            "RSS when listening",
            rss_open as f64 / (1 << 20) as f64,
            "MiB",
        ),
        fig(
            "RSS 5 s after the first retry",
            rss as f64 / (1 << 20) as f64,
            "MiB",
        ),
        fig("retries sent in those 5 s", sent as f64, "count"),
    ])
}

pub(super) fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
