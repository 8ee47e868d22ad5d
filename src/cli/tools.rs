//! The receiver developer's tools: `herald sign`, `herald verify`,
//! `herald send-test` and `herald trigger`.
//!
//! Everything a receiver checks is made by `wire` (envelope, compact JSON,
//! headers, signatures), so what these commands sign and send is byte for
//! byte what a delivery carries; the diagnosis of a failed check is
//! `wire::verify`'s. This module only reads files and flags, talks HTTP and
//! prints.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::clock::{Clock, SystemClock};
use crate::delivery::client::{ClientConfig, DeliveryClient};
use crate::domain::delivery::Verdict;
use crate::domain::event::Event;
use crate::domain::event_type::{lookup, CATALOG};
use crate::domain::ids::new_ulid;
use crate::domain::netguard::IpPolicy;
use crate::domain::retry::verdict_for;
use crate::domain::samples::sample_object;
use crate::domain::time::Timestamp;
use crate::wire::capture::{header_line, headers_file, raw_request};
use crate::wire::verify::{diagnose, Options, Scheme};
use crate::wire::{parse, write_compact};

/// The largest body or capture file the tools read (a delivery's body is
/// far smaller; this only bounds memory on a wrong file).
const MAX_FILE: u64 = 32 << 20;

/// How much of a receiver's answer `send-test` prints.
const SHOWN_BODY: usize = 512;

/// Exit code of `verify` when the input could not be checked at all
/// (clap's usage errors use it too); 1 means "checked: invalid".
const CANNOT_CHECK: u8 = 2;

/// `herald sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The body to sign: a file, or `-` for standard input. Signed exactly
    /// as given, byte for byte.
    #[arg(default_value = "-", value_name = "BODY_FILE")]
    body: PathBuf,
    /// The endpoint's signing secret (`whsec_…`).
    #[arg(
        long,
        env = "BRAINSAIT_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    secret: String,
    /// The `webhook-id` [default: the body's `id`, else a new `msg_…`].
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// The `webhook-timestamp`, unix seconds [default: now].
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    timestamp: Option<i64>,
}

/// Which signatures `verify` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemeArg {
    /// Both, as Herald sends both on every delivery.
    Both,
    /// Only the seed's `X-BrainSAIT-Signature`.
    Brainsait,
    /// Only Standard Webhooks' `webhook-signature` (with id and timestamp).
    Standard,
}

/// `herald verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["body", "request"])))]
pub struct VerifyArgs {
    /// The endpoint's signing secret (`whsec_…`).
    #[arg(
        long,
        env = "BRAINSAIT_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    secret: String,
    /// The captured body, byte for byte (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    /// A captured header, `-H 'webhook-id: evt_…'`; repeat for each.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    header: Vec<String>,
    /// A file of captured headers, one `name: value` per line.
    #[arg(long, value_name = "FILE")]
    headers: Option<PathBuf>,
    /// Or a whole raw HTTP request (request line, headers, blank line,
    /// body), as `nc -l` or a proxy saves it.
    #[arg(long, value_name = "FILE", conflicts_with = "body")]
    request: Option<PathBuf>,
    /// How far `webhook-timestamp` may be from now.
    #[arg(long, default_value = "5m", value_parser = duration, value_name = "DURATION")]
    tolerance: Duration,
    /// Which signatures must verify.
    #[arg(long, value_enum, default_value_t = SchemeArg::Both)]
    scheme: SchemeArg,
}

/// `herald send-test`.
#[derive(Debug, Args)]
pub struct SendTestArgs {
    /// The receiver, e.g. http://localhost:3000/webhooks/brainsait. Any
    /// address is allowed, loopback and private ones included: this runs on
    /// the developer's machine, not the server.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The signing secret the receiver verifies with (`whsec_…`).
    #[arg(
        long,
        env = "BRAINSAIT_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    secret: String,
    /// The event type; its sample payload is the integration guide's.
    #[arg(long, default_value = "payment.completed", value_name = "TYPE")]
    event: String,
    /// The `data` to send instead of the sample, e.g. '{"object":{"id":"pay_1"}}'.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// The envelope's `tenant_id`.
    #[arg(long, default_value = "test_tenant", value_name = "TENANT_ID")]
    tenant: String,
    /// The event id [default: a new `evt_test_…`].
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// How long the whole attempt may take, as a delivery's
    /// `--request-timeout`.
    #[arg(long, default_value = "15s", value_parser = duration, value_name = "DURATION")]
    timeout: Duration,
    /// Print the request's headers and body too.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// `herald trigger`.
#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The event type, e.g. payment.completed; its sample payload is the
    /// integration guide's.
    event: String,
    /// The running server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "HERALD_SERVER", value_name = "URL")]
    server: String,
    /// An API key: a tenant key, or a platform key with --tenant.
    #[arg(
        long,
        env = "HERALD_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    key: String,
    /// The tenant (`X-Tenant-ID`); needed with a platform key.
    #[arg(long, value_name = "TENANT_ID")]
    tenant: Option<String>,
    /// The `data` to send instead of the sample, e.g. '{"object":{"id":"pay_1"}}'.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// The event id [default: one Herald makes].
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration such as 5m or 30s: {e}"))
}

/// Ends a tool: its own exit code, or an error message and exit code 2.
pub fn exit(result: Result<ExitCode, String>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(CANNOT_CHECK)
        }
    }
}

/// Reads a file (or standard input for `-`), at most [`MAX_FILE`] bytes.
fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let shown = path.display();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FILE + 1)
            .read_to_end(&mut out)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut out))
    };
    read.map_err(|e| format!("cannot read {shown}: {e}"))?;
    if out.len() as u64 > MAX_FILE {
        return Err(format!("{shown} is larger than {} MiB", MAX_FILE >> 20));
    }
    Ok(out)
}

/// The envelope field `key` of `body`, when it is a JSON object with a
/// string there.
fn body_field(body: &[u8], key: &str) -> Option<String> {
    match parse(body, crate::wire::json::DEPTH_CEILING) {
        Ok(Value::Object(map)) => map.get(key).and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// The headers Herald sends with `body` for `id` at `timestamp`, in its
/// order (the one implementation: `wire::headers::delivery`).
fn signed_headers(
    secret: &str,
    id: &str,
    event_type: &str,
    timestamp: i64,
    body: Vec<u8>,
) -> Result<Vec<(String, String)>, String> {
    let at = Timestamp::from_millis(timestamp.saturating_mul(1000));
    let event = Event {
        key: 0,
        id: id.to_string(),
        tenant_id: String::new(),
        event_type: event_type.to_string(),
        created: at,
        received_at: at,
        body,
        deliveries: Vec::new(),
        channels: Vec::new(),
        tags: Vec::new(),
    };
    let headers =
        crate::wire::headers::delivery(&[secret], &event, timestamp, &BTreeMap::new(), false)
            .map_err(|e| format!("{e}: a Herald secret is whsec_ followed by base64"))?;
    Ok(headers
        .into_iter()
        // A body with no `event` field has no event type to name.
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v))
        .collect())
}

/// `herald sign`: prints the headers, one `name: value` a line.
pub fn sign(args: SignArgs) -> Result<ExitCode, String> {
    let clock = SystemClock;
    let body = read_input(&args.body)?;
    let now = clock.now();
    let id = args
        .id
        .or_else(|| body_field(&body, "id"))
        .unwrap_or_else(|| format!("msg_{}", new_ulid(now)));
    let event_type = body_field(&body, "event").unwrap_or_default();
    let timestamp = args.timestamp.unwrap_or(now.as_secs());
    if let Some(note) = herald_form_note(&body) {
        eprintln!("note: {note}");
    }
    for (name, value) in signed_headers(&args.secret, &id, &event_type, timestamp, body)? {
        println!("{name}: {value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A warning when `body` is JSON but not the compact form Herald sends (it
/// is signed as given all the same).
fn herald_form_note(body: &[u8]) -> Option<String> {
    let value = parse(body, crate::wire::json::DEPTH_CEILING).ok()?;
    let mut compact = Vec::with_capacity(body.len());
    write_compact(&value, &mut compact);
    (compact != body).then(|| {
        "the body is not in the compact form Herald sends (whitespace or formatting differ); \
         it is signed exactly as given"
            .to_string()
    })
}

/// `herald verify`: prints each scheme's verdict and causes; exit code 0
/// when every checked signature verified, 1 when not.
pub fn verify(args: VerifyArgs) -> Result<ExitCode, String> {
    let (body, mut headers) = match (&args.request, &args.body) {
        (Some(path), _) => {
            let bytes = read_input(path)?;
            let request = raw_request(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            (request.body, request.headers)
        }
        (None, Some(path)) => (read_input(path)?, Vec::new()),
        // clap requires one of them.
        (None, None) => return Err("give --body FILE or --request FILE".into()),
    };
    if let Some(path) = &args.headers {
        let text = String::from_utf8_lossy(&read_input(path)?).into_owned();
        headers.extend(headers_file(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    for line in &args.header {
        headers.push(header_line(line).map_err(|e| format!("-H: {e}"))?);
    }
    let options = Options {
        brainsait: args.scheme != SchemeArg::Standard,
        standard: args.scheme != SchemeArg::Brainsait,
        now: SystemClock.now().as_secs(),
        tolerance_secs: args.tolerance.as_secs(),
    };
    let checks = diagnose(&args.secret, &body, &headers, &options);
    let mut problems = 0;
    for check in &checks {
        if check.valid() {
            let detail = match check.scheme {
                Scheme::BrainSait => String::new(),
                Scheme::Standard => standard_detail(&headers, options.now),
            };
            println!("{}: valid{detail}", check.scheme.header());
        } else {
            println!("{}: INVALID", check.scheme.header());
            for cause in &check.causes {
                problems += 1;
                println!("  - {}: {cause}", cause.code());
            }
        }
    }
    if problems == 0 {
        println!("valid: the request is signed with this secret, as Herald signs deliveries");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("invalid: {problems} problem(s) above");
        Ok(ExitCode::FAILURE)
    }
}

/// ` (webhook-id …, signed N s ago)` for a valid Standard check.
fn standard_detail(headers: &[(String, String)], now: i64) -> String {
    let get = |a: &str, b: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(a) || k.eq_ignore_ascii_case(b))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let id = get("webhook-id", "svix-id");
    let age = get("webhook-timestamp", "svix-timestamp")
        .parse::<i64>()
        .map(|ts| now.saturating_sub(ts))
        .unwrap_or_default();
    format!(" (webhook-id {id}, signed {age} s ago)")
}

/// The `data` of a sample event of `event_type`, or of `--data`, as
/// compact JSON.
fn event_data(event_type: &str, data: Option<&str>) -> Result<Vec<u8>, String> {
    let value = match data {
        Some(text) => {
            let value = parse(text.as_bytes(), crate::http::api::events::MAX_DEPTH)
                .map_err(|e| format!("--data: {e}"))?;
            if !value.get("object").is_some_and(Value::is_object) {
                return Err("--data must be the event's `data`: {\"object\": {…}}".to_string());
            }
            value
        }
        None if lookup(event_type).is_some() => json!({ "object": sample_object(event_type) }),
        None => {
            let names: Vec<&str> = CATALOG.iter().map(|t| t.name).collect();
            return Err(format!(
                "there is no sample for {event_type:?}: give --data '{{\"object\":{{…}}}}', \
                 or use a built-in type: {}",
                names.join(", ")
            ));
        }
    };
    let mut out = Vec::new();
    write_compact(&value, &mut out);
    Ok(out)
}

/// `herald send-test`: one signed delivery straight to a receiver.
pub fn send_test(args: SendTestArgs) -> Result<ExitCode, String> {
    crate::domain::event_type::validate_name(&args.event).map_err(|e| format!("--event: {e}"))?;
    let data = event_data(&args.event, args.data.as_deref())?;
    let now = SystemClock.now();
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("evt_test_{}", new_ulid(now)));
    let body = crate::wire::envelope::envelope(&id, &args.event, now, &data, &args.tenant);
    let headers = signed_headers(&args.secret, &id, &args.event, now.as_secs(), body.clone())?;
    let client = DeliveryClient::new(ClientConfig {
        request_timeout: args.timeout,
        connect_timeout: args.timeout.min(Duration::from_secs(5)),
        max_response_bytes: 16 * 1024,
        pool_size: 1,
        // The developer's own machine: loopback and private receivers are
        // the point, so every address is allowed.
        policy: IpPolicy::new(IpPolicy::parse_list("0.0.0.0/0,::/0").map_err(|e| e.to_string())?),
        ..ClientConfig::default()
    })
    .map_err(|e| e.to_string())?;
    println!("POST {}", args.url);
    println!(
        "  {} {id} ({} bytes, tenant {})",
        args.event,
        body.len(),
        args.tenant
    );
    if args.verbose {
        for (k, v) in &headers {
            println!("  > {k}: {v}");
        }
        println!("  > {}", String::from_utf8_lossy(&body));
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let response = client.send(&args.url, &pairs, &body);
    let ms = response.latency.as_millis();
    match (response.status, &response.error) {
        (Some(status), error) => {
            println!("  < {status} in {ms} ms");
            println!(
                "  < {}",
                excerpt(&response.body_excerpt, response.truncated)
            );
            if let Some(e) = error {
                println!("  ! reading the body failed: {e}");
            }
        }
        (None, Some(e)) => println!("  ! no answer after {ms} ms: {e}"),
        (None, None) => {}
    }
    // What the delivery engine would make of this answer: the same rule.
    match verdict_for(response.status) {
        Verdict::Success => Ok(ExitCode::SUCCESS),
        Verdict::Retry => {
            println!(
                "not delivered: Herald would retry this on its schedule \
                 (by default after 5m, 30m, 2h, 12h, 24h)"
            );
            Ok(ExitCode::FAILURE)
        }
        Verdict::Permanent => {
            println!("not delivered: Herald does not retry this 4xx; the delivery would fail");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The first [`SHOWN_BODY`] bytes of an answer, printable on one line.
fn excerpt(body: &[u8], truncated: bool) -> String {
    let cut = &body[..body.len().min(SHOWN_BODY)];
    let mut text: String = String::from_utf8_lossy(cut)
        .chars()
        .flat_map(|c| match c {
            '\n' => "\\n".chars().collect::<Vec<_>>(),
            '\r' => "\\r".chars().collect(),
            '\t' => "\\t".chars().collect(),
            c if c.is_control() => c.escape_unicode().collect(),
            c => vec![c],
        })
        .collect();
    if body.is_empty() {
        text.push_str("(empty body)");
    } else if truncated || body.len() > SHOWN_BODY {
        text.push_str(" …");
    }
    text
}

/// `herald trigger`: posts a sample event through a running server.
pub fn trigger(args: TriggerArgs) -> Result<ExitCode, String> {
    let data = event_data(&args.event, args.data.as_deref())?;
    let data: Value = serde_json::from_slice(&data).map_err(|e| e.to_string())?;
    let mut request = json!({ "event": args.event, "data": data });
    if let Some(id) = &args.id {
        request["id"] = Value::String(id.clone());
    }
    let base = args.server.trim_end_matches('/');
    let url = format!("{base}/api/v1/events");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut call = agent
        .post(&url)
        .header("Authorization", &format!("Bearer {}", args.key));
    if let Some(tenant) = &args.tenant {
        call = call.header("X-Tenant-ID", tenant);
    }
    let mut response = call
        .send_json(&request)
        .map_err(|e| format!("cannot reach {base}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = answer["error"]["code"].as_str().unwrap_or("");
        let msg = answer["error"]["message"].as_str().unwrap_or(&text);
        return Err(format!("{status} {code}: {msg}"));
    }
    if args.json {
        println!("{answer}");
        return Ok(ExitCode::SUCCESS);
    }
    let deliveries = answer["deliveries"].as_array().cloned().unwrap_or_default();
    println!(
        "{} {}: {} deliver{}",
        args.event,
        answer["id"].as_str().unwrap_or("?"),
        deliveries.len(),
        if deliveries.len() == 1 { "y" } else { "ies" }
    );
    for d in &deliveries {
        println!(
            "  {} to {}",
            d["id"].as_str().unwrap_or("?"),
            d["webhook_id"].as_str().unwrap_or("?")
        );
    }
    if deliveries.is_empty() {
        println!(
            "  (no active endpoint of this tenant subscribes to {})",
            args.event
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Verify {
        #[command(flatten)]
        args: VerifyArgs,
    }

    #[test]
    fn verify_defaults_to_both_schemes_and_the_standard_tolerance() {
        let v = Verify::try_parse_from(["verify", "--secret", "s", "--body", "b"]).unwrap();
        assert_eq!(
            v.args.tolerance.as_secs(),
            crate::wire::verify::DEFAULT_TOLERANCE_SECS
        );
        assert_eq!(v.args.scheme, SchemeArg::Both);
        // A body or a raw request, not both, and one of them.
        assert!(Verify::try_parse_from(["verify", "--secret", "s"]).is_err());
        assert!(Verify::try_parse_from([
            "verify",
            "--secret",
            "s",
            "--body",
            "b",
            "--request",
            "r"
        ])
        .is_err());
        assert!(Verify::try_parse_from([
            "verify",
            "--secret",
            "s",
            "--body",
            "b",
            "--tolerance",
            "soon"
        ])
        .is_err());
    }

    #[test]
    fn sample_data_and_overrides() {
        let d = event_data("payment.completed", None).unwrap();
        let v: Value = serde_json::from_slice(&d).unwrap();
        assert_eq!(v["object"]["status"], "completed");
        assert_eq!(
            event_data("x.y", Some(r#"{ "object": {"a": 1.0} }"#)).unwrap(),
            br#"{"object":{"a":1}}"#.to_vec()
        );
        assert!(event_data("x.y", None).unwrap_err().contains("no sample"));
        assert!(event_data("x.y", Some(r#"{"a":1}"#)).is_err());
        assert!(event_data("x.y", Some("{")).is_err());
    }

    #[test]
    fn signed_headers_are_a_deliverys() {
        let body = br#"{"id":"evt_1","event":"payment.completed"}"#.to_vec();
        let h = signed_headers(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "evt_1",
            "",
            5,
            body,
        )
        .unwrap();
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "User-Agent",
                "X-BrainSAIT-Signature",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature"
            ]
        );
        assert!(signed_headers("whsec_***", "e", "t", 5, vec![]).is_err());
    }

    #[test]
    fn excerpts_are_one_bounded_line() {
        assert_eq!(excerpt(b"OK\n", false), "OK\\n");
        assert_eq!(excerpt(b"", false), "(empty body)");
        let long = vec![b'a'; 2000];
        let e = excerpt(&long, false);
        assert_eq!(e.len(), SHOWN_BODY + " …".len());
        assert_eq!(excerpt(b"\x1b[31m", false), "\\u{1b}[31m");
    }
}
