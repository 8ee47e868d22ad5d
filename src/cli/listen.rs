//! `herald listen`: a tenant developer's receiver on localhost gets the
//! tenant's deliveries without being reachable from outside.
//!
//! It creates (or, with `--endpoint`, reuses) a stream endpoint through a
//! running server's API with the tenant's key, long-polls its stream,
//! forwards each delivery to `--forward-to` with Herald's exact body and
//! headers (so the guide's receivers verify it unchanged), prints one line
//! per delivery and acknowledges it with the local status. Only outgoing
//! connections. SIGINT/SIGTERM: the delivery being forwarded is finished
//! and acknowledged, then the endpoint is removed (kept with `--keep`); one
//! left unacknowledged (SIGKILL) is offered again by the server after its
//! window.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::{Clock, SystemClock};
use crate::domain::time::Timestamp;

/// `herald listen` arguments.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// The running Herald server, e.g. https://herald.example.
    #[arg(long, env = "HERALD_SERVER", value_name = "URL")]
    pub server: String,
    /// The tenant's API key (a platform key cannot read streams).
    #[arg(
        long,
        env = "HERALD_API_KEY",
        value_name = "TENANT_KEY",
        hide_env_values = true
    )]
    pub key: String,
    /// Event types to subscribe to, comma-separated patterns
    /// (`payment.*`, `order.created`, `*`).
    #[arg(long, default_value = "*", value_name = "PATTERNS")]
    pub events: String,
    /// Where to forward each delivery, e.g.
    /// http://localhost:3000/webhooks/brainsait.
    #[arg(long, value_name = "URL")]
    pub forward_to: String,
    /// Reuse this stream endpoint (its id or uid) instead of creating one.
    #[arg(long, value_name = "ID")]
    pub endpoint: Option<String>,
    /// Create the endpoint with this signing secret (`whsec_…`), e.g. the
    /// one your receiver already has, instead of a generated one.
    #[arg(long, value_name = "SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Keep the endpoint when leaving (reuse it with --endpoint).
    #[arg(long)]
    pub keep: bool,
    /// How long the local receiver may take, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
}

/// One streamed delivery, as `GET …/stream` answers it.
#[derive(Debug, Deserialize)]
struct Offer {
    id: String,
    event_id: String,
    event: String,
    offered_at: i64,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct Stream {
    deliveries: Vec<Offer>,
}

/// The API of the server, as this tenant.
struct Api {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

/// A failed API call: the status (0: unreachable) and what it said.
#[derive(Debug)]
struct ApiFail {
    status: u16,
    code: String,
    message: String,
}

impl std::fmt::Display for ApiFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} {}: {}", self.status, self.code, self.message)
        }
    }
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, ApiFail> {
        let url = format!("{}{path}", self.base);
        let res = match method {
            "GET" => self
                .agent
                .get(&url)
                .header("Authorization", &self.auth)
                .call(),
            "DELETE" => self
                .agent
                .delete(&url)
                .header("Authorization", &self.auth)
                .call(),
            "PATCH" => self
                .agent
                .patch(&url)
                .header("Authorization", &self.auth)
                .send_json(body.unwrap_or(json!({}))),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &self.auth)
                .send_json(body.unwrap_or(json!({}))),
        };
        let mut res = res.map_err(|e| ApiFail {
            status: 0,
            code: String::new(),
            message: format!("cannot reach {}: {e}", self.base),
        })?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            return Err(ApiFail {
                status,
                code: value["error"]["code"].as_str().unwrap_or("").to_string(),
                message: value["error"]["message"]
                    .as_str()
                    .unwrap_or(&text)
                    .to_string(),
            });
        }
        Ok(value)
    }
}

/// Runs `herald listen` until SIGINT/SIGTERM.
pub fn run(args: ListenArgs) -> Result<(), String> {
    let local = url::Url::parse(&args.forward_to)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("--forward-to {:?} is not an http(s) URL", args.forward_to))?;
    let api = Api {
        base: args.server.trim_end_matches('/').to_string(),
        auth: format!("Bearer {}", args.key),
        // Longer than the poll's wait (25 s), so a held poll is not cut.
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into(),
    };
    let events: Vec<String> = args
        .events
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let (id, created) = endpoint(&api, &args, &events)?;
    let stop = Arc::new(AtomicBool::new(false));
    on_signals(stop.clone())?;
    let local_agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(args.timeout.max(1))))
        .build()
        .into();
    let ready = format!(
        "Ready: forwarding {} deliveries of endpoint {id} to {local} (Ctrl-C to leave)",
        events.join(", ")
    );
    let result = forward_loop(&api, &id, &local_agent, local.as_str(), &stop, ready);
    // Leaving: the endpoint goes unless kept; its pending deliveries are
    // cancelled with it by the server.
    if created && !args.keep {
        match api.call("DELETE", &format!("/api/v1/webhooks/{id}"), None) {
            Ok(_) => say(&format!("Endpoint {id} removed.")),
            Err(e) => eprintln!("could not remove endpoint {id}: {e}"),
        }
    } else {
        say(&format!(
            "Endpoint {id} kept: reuse it with --endpoint {id}."
        ));
    }
    result
}

/// The stream endpoint to use: reused (`--endpoint`) or created. Prints
/// the secret once when it creates one.
fn endpoint(api: &Api, args: &ListenArgs, events: &[String]) -> Result<(String, bool), String> {
    if let Some(given) = &args.endpoint {
        let ep = api
            .call("GET", &format!("/api/v1/webhooks/{given}"), None)
            .map_err(|e| format!("endpoint {given}: {e}"))?;
        if ep["kind"] != "stream" {
            return Err(format!(
                "endpoint {given} delivers to a URL; give a stream endpoint, or none to create one"
            ));
        }
        let id = ep["id"].as_str().unwrap_or(given).to_string();
        api.call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({ "events": events })),
        )
        .map_err(|e| format!("endpoint {id}: {e}"))?;
        say(&format!(
            "Reusing stream endpoint {id} (its signing secret is unchanged)."
        ));
        return Ok((id, false));
    }
    let mut body = json!({
        "kind": "stream",
        "events": events,
        "description": format!("herald listen → {}", args.forward_to),
    });
    if let Some(s) = &args.secret {
        body["secret"] = json!(s);
    }
    let ep = api
        .call("POST", "/api/v1/webhooks", Some(body))
        .map_err(|e| format!("cannot create a stream endpoint: {e}"))?;
    let id = ep["id"].as_str().unwrap_or_default().to_string();
    say(&format!("Created stream endpoint {id}."));
    say(&format!(
        "Signing secret: {} (give it to your receiver; shown once)",
        ep["secret"].as_str().unwrap_or_default()
    ));
    Ok((id, true))
}

/// Polls and forwards until `stop`; a server that cannot be reached is
/// tried again with a growing pause, an endpoint gone ends the loop.
fn forward_loop(
    api: &Api,
    id: &str,
    local: &ureq::Agent,
    to: &str,
    stop: &AtomicBool,
    ready: String,
) -> Result<(), String> {
    // Said once the first poll answered: the stream is connected by then.
    let mut ready = Some(ready);
    let mut pause = Duration::from_millis(500);
    // A short wait, so a signal is noticed within seconds even while idle.
    // The first poll does not wait, so "Ready" comes at once.
    let path = |wait: u32| format!("/api/v1/webhooks/{id}/stream?wait={wait}");
    while !stop.load(Ordering::SeqCst) {
        let wait = if ready.is_some() { 0 } else { 5 };
        let got = match api.call("GET", &path(wait), None) {
            Ok(v) => v,
            Err(e) if e.status == 404 || e.status == 401 || e.status == 403 => {
                return Err(format!("the stream ended: {e}"));
            }
            Err(e) => {
                eprintln!("poll failed ({e}); retrying in {} ms", pause.as_millis());
                sleep_unless(stop, pause);
                pause = (pause * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        pause = Duration::from_millis(500);
        if let Some(line) = ready.take() {
            say(&line);
        }
        let stream: Stream = serde_json::from_value(got)
            .map_err(|e| format!("the server's stream answer is not understood: {e}"))?;
        for offer in stream.deliveries {
            if stop.load(Ordering::SeqCst) {
                break; // not forwarded: offered again after its window
            }
            deliver(api, id, local, to, &offer);
        }
    }
    Ok(())
}

/// Forwards one delivery, prints its line and acknowledges it.
fn deliver(api: &Api, id: &str, local: &ureq::Agent, to: &str, offer: &Offer) {
    let started = Instant::now();
    let mut req = local.post(to);
    for (k, v) in &offer.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let (status, error) = match req.send(offer.body.as_bytes()) {
        Ok(mut res) => {
            // Read (bounded) so the connection can be reused.
            let _ = res.body_mut().with_config().limit(64 * 1024).read_to_vec();
            (Some(res.status().as_u16()), None)
        }
        Err(e) => (None, Some(error_kind(&e))),
    };
    let latency = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
    let answer = match (status, error) {
        (Some(s), _) => s.to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => "?".into(),
    };
    say(&format!(
        "{}  {}  {}  {}  → {answer}  {latency} ms",
        now().to_rfc3339_secs(),
        offer.event,
        offer.event_id,
        offer.id,
    ));
    let mut ack = json!({ "latency_ms": latency, "offered_at": offer.offered_at });
    match (status, error) {
        (Some(s), _) => ack["status"] = json!(s),
        (None, e) => ack["error"] = json!(e.unwrap_or("network")),
    }
    let path = format!("/api/v1/webhooks/{id}/stream/{}/ack", offer.id);
    if let Err(e) = api.call("POST", &path, Some(ack)) {
        // Unacknowledged, it is offered again after its window.
        eprintln!("acknowledging {} failed: {e}", offer.id);
    }
}

/// A transport failure as the ack's error kind.
fn error_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::HostNotFound => "dns",
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => "connect",
        ureq::Error::ConnectionFailed => "connect",
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => "timeout",
        _ => "network",
    }
}

fn now() -> Timestamp {
    SystemClock.now()
}

/// One line on stdout, flushed (a pipe would otherwise hold it).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sets `stop` on SIGINT or SIGTERM; a second signal exits at once.
fn on_signals(stop: Arc<AtomicBool>) -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
            let stop = stop.clone();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("herald-listen-signal".into())
                .spawn(move || {
                    actix_web::rt::System::new().block_on(async move {
                        let mut s = match signal(kind) {
                            Ok(s) => {
                                let _ = ready_tx.send(Ok(()));
                                s
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e.to_string()));
                                return;
                            }
                        };
                        while s.recv().await.is_some() {
                            if stop.swap(true, Ordering::SeqCst) {
                                std::process::exit(130);
                            }
                            eprintln!("leaving (again to quit at once)…");
                        }
                    })
                })
                .map_err(|e| e.to_string())?;
            ready_rx
                .recv()
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("cannot watch signals: {e}"))?;
        }
    }
    #[cfg(not(unix))]
    let _ = stop;
    Ok(())
}
