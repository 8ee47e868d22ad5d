//! Issue 18, part 1: the receiver developer's `herald sign`, `verify`,
//! `send-test` and `trigger`, run as the real binary against real
//! receivers on loopback.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

/// A Standard Webhooks secret (the reference libraries' test vector).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Runs `herald <args>` with none of the tools' environment variables set.
fn herald(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("HERALD_SERVER")
        .env_remove("HERALD_API_KEY")
        .env_remove("BRAINSAIT_WEBHOOK_SECRET")
        .output()
        .expect("run herald")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes a captured request as files: the body, and its headers one
/// `name: value` a line.
fn capture(dir: &Path, name: &str, body: &[u8], headers: &[(String, String)]) -> (String, String) {
    let b = dir.join(format!("{name}.body"));
    let h = dir.join(format!("{name}.headers"));
    std::fs::write(&b, body).unwrap();
    let text: String = headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    std::fs::write(&h, text).unwrap();
    (path(&b).to_string(), path(&h).to_string())
}

fn verify(secret: &str, body: &str, headers: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "verify",
        "--secret",
        secret,
        "--body",
        body,
        "--headers",
        headers,
    ];
    args.extend_from_slice(extra);
    let o = herald(&args);
    let (out, err) = texts(&o);
    (o.status.code().unwrap_or(-1), format!("{out}{err}"))
}

/// Headers printed by `herald sign`, parsed back.
fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn envelope(id: &str) -> String {
    json!({
        "id": id,
        "event": "payment.completed",
        "created": "2024-01-15T10:30:00Z",
        "data": {"object": {"id": "pay_abc123", "amount": 29999, "currency": "USD"}},
        "tenant_id": "company_xyz",
        "api_version": "2024-01-01"
    })
    .to_string()
}

#[test]
fn verify_accepts_what_sign_produces_and_names_each_failure() {
    let dir = tempfile::tempdir().unwrap();
    let body = envelope("evt_sign_1");
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, &body).unwrap();

    let o = herald(&["sign", "--secret", SECRET, path(&body_file)]);
    let (out, err) = texts(&o);
    assert!(o.status.success(), "{out}{err}");
    let headers = parse_headers(&out);
    let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    for want in [
        "X-BrainSAIT-Signature",
        "X-BrainSAIT-Event",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ] {
        assert!(names.contains(&want), "{want} in {out}");
    }
    // The body's own id is the webhook-id, as on a delivery.
    assert!(out.contains("webhook-id: evt_sign_1\n"), "{out}");
    let (b, h) = capture(dir.path(), "signed", body.as_bytes(), &headers);

    let (code, out) = verify(SECRET, &b, &h, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("X-BrainSAIT-Signature: valid"), "{out}");
    assert!(out.contains("webhook-signature: valid"), "{out}");

    // The same capture as -H flags, and as one raw HTTP request.
    let mut args = vec!["verify", "--secret", SECRET, "--body", b.as_str()];
    let flags: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    for f in &flags {
        args.extend(["-H", f.as_str()]);
    }
    assert_eq!(herald(&args).status.code(), Some(0));
    let raw = dir.path().join("request.http");
    let mut text = format!(
        "POST /webhooks/brainsait HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
        body.len()
    );
    for f in &flags {
        text.push_str(f);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(&body);
    std::fs::write(&raw, text).unwrap();
    let o = herald(&["verify", "--secret", SECRET, "--request", path(&raw)]);
    assert_eq!(o.status.code(), Some(0), "{:?}", texts(&o));

    // Pretty-printed after signing: named, and said to verify once compact.
    let pretty: Value = serde_json::from_str(&body).unwrap();
    let pretty = serde_json::to_string_pretty(&pretty).unwrap();
    let (pb, _) = capture(dir.path(), "pretty", pretty.as_bytes(), &headers);
    let (code, out) = verify(SECRET, &pb, &h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "body_reserialised: the body was re-serialised after signing (whitespace added)"
        ),
        "{out}"
    );

    // Another secret.
    let (code, out) = verify(OTHER_SECRET, &b, &h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("wrong_secret"), "{out}");
    assert!(!out.contains("body_reserialised"), "{out}");

    // An old timestamp: outside the default 5 minutes, inside a tolerance
    // wide enough.
    let o = herald(&[
        "sign",
        "--secret",
        SECRET,
        "--timestamp",
        "1705314600",
        path(&body_file),
    ]);
    let (old_b, old_h) = capture(
        dir.path(),
        "old",
        body.as_bytes(),
        &parse_headers(&texts(&o).0),
    );
    let (code, out) = verify(SECRET, &old_b, &old_h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("timestamp_outside_tolerance: webhook-timestamp 1705314600 is"),
        "{out}"
    );
    assert!(out.contains("X-BrainSAIT-Signature: valid"), "{out}");
    let (code, out) = verify(SECRET, &old_b, &old_h, &["--tolerance", "100000days"]);
    assert_eq!(code, 0, "{out}");

    // Only the seed's header captured: the Standard Webhooks ones are
    // missing, unless only the seed's scheme is asked for.
    let only = vec![headers
        .iter()
        .find(|(k, _)| k == "X-BrainSAIT-Signature")
        .cloned()
        .unwrap()];
    let (_, oh) = capture(dir.path(), "only", body.as_bytes(), &only);
    let (code, out) = verify(SECRET, &b, &oh, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("header_missing: the webhook-id header is missing"),
        "{out}"
    );
    let (code, out) = verify(SECRET, &b, &oh, &["--scheme", "brainsait"]);
    assert_eq!(code, 0, "{out}");

    // Input that cannot be checked at all: exit code 2, not 1.
    let (code, out) = verify(SECRET, path(&dir.path().join("absent")), &h, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot read"), "{out}");
    let o = herald(&["verify", "--secret", SECRET, "--body", &b, "-H", "no colon"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", texts(&o));
    let o = herald(&["sign", "--secret", "whsec_***", &b]);
    assert_eq!(o.status.code(), Some(2), "{:?}", texts(&o));
}

/// A server delivering to a loopback sink; the endpoint's id and secret.
fn delivering(s: &Server, tenant: &str, url: &str) -> (String, String) {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(tenant),
        Some(json!({"url": url, "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    (
        a.body["id"].as_str().unwrap().to_string(),
        a.body["secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn verify_accepts_a_real_delivery() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    let (_, secret) = delivering(&s, "company_xyz", &sink.url());
    let a = s.call(
        "POST",
        "/api/v1/events",
        Some("company_xyz"),
        Some(json!({"event": "order.created", "data": {"object": {"id": "ord_1", "total": 299.99, "name": "Zoë \"q\" 🚀"}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    let got = sink.take(1, Duration::from_secs(30)).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let (b, h) = capture(dir.path(), "delivery", &got.body, &got.headers);
    let (code, out) = verify(&secret, &b, &h, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("webhook-id {}", a.body["id"].as_str().unwrap())),
        "{out}"
    );
    // The same kind of delivery captured as raw bytes off the socket, as
    // `nc -l` saves it, is checked whole with --request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let raw_file = dir.path().join("raw.http");
    let writer = {
        let raw_file = raw_file.clone();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let raw = read_one_request(&mut conn);
            std::fs::write(&raw_file, &raw).unwrap();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        })
    };
    let (_, raw_secret) = delivering(&s, "raw_tenant", &format!("http://127.0.0.1:{port}/raw"));
    let a = s.call(
        "POST",
        "/api/v1/events",
        Some("raw_tenant"),
        Some(json!({"event": "user.created", "data": {"object": {"id": "usr_1"}}})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    writer.join().unwrap();
    let o = herald(&[
        "verify",
        "--secret",
        &raw_secret,
        "--request",
        path(&raw_file),
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", texts(&o));
    let o = herald(&["verify", "--secret", &secret, "--request", path(&raw_file)]);
    assert_eq!(o.status.code(), Some(1), "{:?}", texts(&o));

    // A receiver that parsed the JSON and printed it again (as
    // `JSON.stringify(req.body, null, 2)` does) is told so.
    let parsed: Value = serde_json::from_slice(&got.body).unwrap();
    let (pb, _) = capture(
        dir.path(),
        "reprinted",
        serde_json::to_string_pretty(&parsed).unwrap().as_bytes(),
        &got.headers,
    );
    let (code, out) = verify(&secret, &pb, &h, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the signature matches Herald's compact form"),
        "{out}"
    );
}

/// Reads one HTTP/1.1 request with a Content-Length body, bytes as sent.
fn read_one_request(conn: &mut std::net::TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed mid-request");
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        if raw.len() >= end + 4 + len {
            return raw;
        }
    }
}

#[test]
fn send_test_is_verified_by_the_seed_receivers() {
    let express = SeedReceiver::start(Kind::Express, SECRET, 0);
    let url = format!("http://127.0.0.1:{}/webhooks/brainsait", express.port);
    let o = herald(&[
        "send-test",
        "--url",
        &url,
        "--secret",
        SECRET,
        "--event",
        "payment.completed",
    ]);
    let (out, err) = texts(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("< 200 in "), "{out}");
    assert!(out.contains("< OK"), "{out}");
    let v = express.verdicts(1, Duration::from_secs(30));
    assert!(v[0].starts_with("VERIFIED evt_test_"), "{v:?}");

    // The Standard Webhooks reference library accepts the same request.
    let standard = SeedReceiver::start(Kind::StandardCheck, SECRET, 0);
    let url = format!("http://127.0.0.1:{}/hook", standard.port);
    let o = herald(&[
        "send-test",
        "--url",
        &url,
        "--secret",
        SECRET,
        "--event",
        "order.created",
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", texts(&o));
    let v = standard.verdicts(1, Duration::from_secs(30));
    assert!(v[0].starts_with("VERIFIED evt_test_"), "{v:?}");

    // The receiver holding another secret answers 401: printed, exit 1.
    let url = format!("http://127.0.0.1:{}/webhooks/brainsait", express.port);
    let o = herald(&["send-test", "--url", &url, "--secret", OTHER_SECRET]);
    let (out, _) = texts(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("< 401 in "), "{out}");
    assert!(out.contains("< Invalid signature"), "{out}");
    assert!(out.contains("Herald does not retry this 4xx"), "{out}");
    assert!(express.verdicts(1, Duration::from_secs(30))[0].starts_with("REJECTED"));

    // Nothing listening: said, exit 1; an unknown type without --data: 2.
    let o = herald(&[
        "send-test",
        "--url",
        "http://127.0.0.1:9/x",
        "--secret",
        SECRET,
    ]);
    let (out, _) = texts(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("! no answer after"), "{out}");
    assert!(out.contains("Herald would retry this"), "{out}");
    let o = herald(&[
        "send-test",
        "--url",
        &url,
        "--secret",
        SECRET,
        "--event",
        "invoice.paid",
    ]);
    let (_, err) = texts(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("there is no sample for \"invoice.paid\""),
        "{err}"
    );
}

#[test]
fn send_test_signs_exactly_like_a_delivery() {
    // The body send-test sends is a delivery's: the envelope in the seed's
    // key order, compact, verified by `herald verify`.
    let sink = Sink::status(204);
    let o = herald(&[
        "send-test",
        "--url",
        &sink.url(),
        "--secret",
        SECRET,
        "--event",
        "user.created",
        "--tenant",
        "company_xyz",
        "--data",
        r#"{ "object": {"id": "usr_1", "score": 1.50} }"#,
    ]);
    assert_eq!(o.status.code(), Some(0), "{:?}", texts(&o));
    let got = sink.take(1, Duration::from_secs(10)).remove(0);
    let text = String::from_utf8(got.body.clone()).unwrap();
    assert!(text.starts_with(r#"{"id":"evt_test_"#), "{text}");
    assert!(
        text.ends_with(r#","data":{"object":{"id":"usr_1","score":1.5}},"tenant_id":"company_xyz","api_version":"2024-01-01"}"#),
        "{text}"
    );
    assert_eq!(got.header("X-BrainSAIT-Event"), Some("user.created"));
    assert!(got.header("User-Agent").unwrap().starts_with("Herald/"));
    let dir = tempfile::tempdir().unwrap();
    let (b, h) = capture(dir.path(), "sent", &got.body, &got.headers);
    let (code, out) = verify(SECRET, &b, &h, &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn trigger_creates_an_event_that_is_delivered() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    let (ep, secret) = delivering(&s, "company_xyz", &sink.url());
    let key = s.tenant_key("company_xyz");
    let o = herald(&[
        "trigger",
        "payment.failed",
        "--server",
        &s.base,
        "--key",
        &key,
    ]);
    let (out, err) = texts(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("payment.failed evt_"), "{out}");
    assert!(out.contains(": 1 delivery\n"), "{out}");
    assert!(out.contains(&format!(" to {ep}")), "{out}");
    let id = out.split_whitespace().nth(1).unwrap().trim_end_matches(':');

    let got = sink.take(1, Duration::from_secs(30)).remove(0);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["event"], "payment.failed");
    assert_eq!(body["tenant_id"], "company_xyz");
    assert_eq!(body["data"]["object"]["status"], "failed");
    assert_eq!(body["data"]["object"]["error_code"], "card_declined");
    let dir = tempfile::tempdir().unwrap();
    let (b, h) = capture(dir.path(), "triggered", &got.body, &got.headers);
    assert_eq!(verify(&secret, &b, &h, &[]).0, 0);

    // A platform key names the tenant; --data and --id override; --json
    // prints the server's answer.
    let o = herald(&[
        "trigger",
        "order.created",
        "--server",
        &s.base,
        "--key",
        PLATFORM_KEY,
        "--tenant",
        "company_xyz",
        "--id",
        "evt_mine_1",
        "--data",
        r#"{"object":{"id":"ord_9"}}"#,
        "--json",
    ]);
    let (out, err) = texts(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(answer["id"], "evt_mine_1");
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 1);
    let got = sink.take(1, Duration::from_secs(30)).remove(0);
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["data"], json!({"object": {"id": "ord_9"}}));

    // The server's refusals are shown with their code; exit 2.
    let o = herald(&[
        "trigger",
        "payment.completed",
        "--server",
        &s.base,
        "--key",
        "hk_wrong",
    ]);
    let (_, err) = texts(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: 401 "), "{err}");
}
