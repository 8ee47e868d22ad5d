//! The served OpenAPI document: open to read, and checked against the
//! real server by schemathesis (tests/openapi/install.sh installs the
//! pinned version) — no 5xx, every answer's status documented, its
//! content type and body as the document says.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{Server, PLATFORM_KEY};

/// The tenant the run acts for, with an endpoint, an event and a delivery
/// whose ids the path parameters take, so the runs reach the 2xx answers
/// and not only the 404s.
const TENANT: &str = "acme";

#[test]
fn the_document_is_served_without_a_key() {
    let s = Server::start();
    let a = s.call_as(None, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["openapi"], "3.1.0");
    assert!(a.body["paths"]["/api/v1/webhooks/{id}"]["patch"].is_object());
    assert_eq!(
        a.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The Svix-compatible API is not part of it.
    let paths = a.body["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.keys().all(|p| !p.starts_with("/api/v1/app")));
}

fn seed(s: &Server) -> (String, String, String, String) {
    let ep = |path: &str| {
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            Some(TENANT),
            Some(json!({"url": format!("http://127.0.0.1:9/{path}"), "events": ["*"]})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["id"].as_str().unwrap_or_default().to_string()
    };
    for name in ["invoice.paid", "invoice.voided"] {
        let t = s.call(
            "POST",
            "/api/v1/event-types",
            None,
            Some(json!({"name": name, "description": "an invoice event",
                "schema": {"type": "object", "properties": {"object": {"type": "object"}}}})),
        );
        assert_eq!(t.status, 201, "{}", t.text);
    }
    let kept = ep("kept");
    let deleted = ep("deleted");
    let e = s.call(
        "POST",
        "/api/v1/events",
        Some(TENANT),
        Some(json!({"event": "order.created", "data": {"object": {"n": 1}}})),
    );
    assert_eq!(e.status, 202, "{}", e.text);
    let event = e.body["id"].as_str().unwrap_or_default().to_string();
    let delivery = e.body["deliveries"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(delivery.starts_with("dlv_"), "{}", e.text);
    (kept, deleted, event, delivery)
}

/// schemathesis's configuration: the ids the path parameters take (the
/// DELETE of an endpoint gets an endpoint of its own, so the other
/// operations keep theirs), and `admin` for the user routes (disabling or
/// removing the last operator is the documented 409).
fn config(kept: &str, deleted: &str, event: &str, delivery: &str) -> String {
    format!(
        r#"
[[operations]]
include-path-regex = "^/api/v1/webhooks/\\{{id\\}}"
exclude-method = "DELETE"
parameters = {{ id = "{kept}" }}

[[operations]]
include-path = "/api/v1/webhooks/{{id}}"
include-method = "DELETE"
parameters = {{ id = "{deleted}" }}

[[operations]]
include-path-regex = "^/api/v1/events/\\{{id\\}}"
parameters = {{ id = "{event}" }}

[[operations]]
include-path-regex = "^/api/v1/deliveries/\\{{id\\}}"
parameters = {{ id = "{delivery}" }}

[[operations]]
include-path-regex = "^/api/v1/tenants/\\{{id\\}}"
parameters = {{ id = "{TENANT}" }}

[[operations]]
include-path = "/api/v1/event-types/{{name}}"
exclude-method = "DELETE"
parameters = {{ name = "invoice.paid" }}

[[operations]]
include-path = "/api/v1/event-types/{{name}}"
include-method = "DELETE"
parameters = {{ name = "invoice.voided" }}

[[operations]]
include-path-regex = "^/api/v1/users/\\{{name\\}}"
parameters = {{ name = "admin" }}
"#
    )
}

/// Runs `cmd`, killing it after `limit`; its exit success and output.
fn run_bounded(mut cmd: Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (tests/openapi/install.sh installs schemathesis)");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = format!(
        "{}\n{}",
        reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default()
    );
    match status {
        Some(st) => (st.success(), text),
        None => (false, format!("killed after {limit:?}\n{text}")),
    }
}

/// Whether a run's summary reports errors of schemathesis itself and no
/// failed check.
fn tool_error_only(out: &str) -> bool {
    let summary = out.rsplit("SUMMARY").next().unwrap_or("");
    !summary.contains("Failures:") && summary.contains("Runtime Error")
}

/// Whether every error schemathesis reported is one of the tool's own,
/// and no check failed: CPython's "AST constructor recursion depth
/// mismatch" (gh-106905), or hypothesis finding a case flaky because
/// reading schemathesis's own source for a lambda's description raised a
/// `KeyError` (seen under load: the key is a tuple of source lines).
fn cpython_ast_bug_only(out: &str) -> bool {
    const BUGS: [&str; 2] = [
        "AST constructor recursion depth mismatch",
        "KeyError: ('from __future__ import annotations",
    ];
    let known: usize = BUGS.iter().map(|b| out.matches(b).count()).sum();
    tool_error_only(out) && out.matches("Runtime Error").count() <= known
}

/// schemathesis against the served document: every operation, a few
/// examples each (the schema's examples, its boundary values, then
/// random valid and invalid requests), with the four checks. It fails on
/// a 5xx, an undocumented status, a content type or a body the document
/// does not describe, and prints what schemathesis found.
#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let s = Server::start_delivering(&[]);
    let (kept, deleted, event, delivery) = seed(&s);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("schemathesis.toml");
    std::fs::write(&cfg, config(&kept, &deleted, &event, &delivery)).expect("config");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let seed = std::env::var("HERALD_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let command = || {
        let mut cmd = Command::new(&python);
        cmd.current_dir(dir.path())
            .env("NO_COLOR", "1")
            .args([
                "-c",
                "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
                "--config-file",
            ])
            .arg(&cfg)
            .args(["--no-color", "run"])
            .arg(format!("{}/api/v1/openapi.json", s.base))
            .args([
                "--header",
                &format!("Authorization: Bearer {PLATFORM_KEY}"),
                "--header",
                &format!("X-Tenant-ID: {TENANT}"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "5",
                "--max-time",
                "50",
                "--workers",
                "2",
                "--request-timeout",
                "10",
                "--seed",
                &seed,
            ]);
        cmd
    };
    // A run that only errored inside schemathesis (a test case it could
    // not generate the same way twice under this machine's load: a
    // "Runtime Error", with no check failing) is run once more; a failed
    // check, or the same error twice, fails the test.
    let (mut ok, mut out) = run_bounded(command(), Duration::from_secs(160));
    if !ok && tool_error_only(&out) {
        eprintln!("schemathesis errored without a failed check; running it again:\n{out}");
        (ok, out) = run_bounded(command(), Duration::from_secs(160));
    }
    if !ok && cpython_ast_bug_only(&out) {
        // CPython 3.11 before 3.11.9 (gh-106905) can fail `ast.parse`
        // deep inside hypothesis's lambda descriptions: a bug of the
        // interpreter, not a finding about Herald. Every check still ran
        // on what was generated (and the count below still requires every
        // operation to have been tested).
        eprintln!(
            "schemathesis hit a bug of its own tooling (CPython gh-106905, or hypothesis \
             reading its source) and no check failed:\n{out}"
        );
        ok = true;
    }
    assert!(ok, "schemathesis reported failures (seed {seed}):\n{out}");
    // It ran: every operation of the document was tested (schemathesis
    // leaves out the one serving the document it reads).
    let doc: Value = s
        .call_as(None, "GET", "/api/v1/openapi.json", None, None)
        .body;
    let ops: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|i| i.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    let tested = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    assert!(
        tested + 1 >= ops,
        "schemathesis tested {tested} of the {ops} operations:\n{out}"
    );
    // The ids were used: the endpoint given to DELETE is gone, the other
    // stays.
    let status = |id: &str| {
        s.call("GET", &format!("/api/v1/webhooks/{id}"), Some(TENANT), None)
            .status
    };
    assert_eq!(status(&deleted), 404);
    assert_eq!(status(&kept), 200);
}
