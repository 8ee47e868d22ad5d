//! Issue 16: the Svix-compatible API. The official Python SDK drives the
//! whole flow against the real server (tests/svix/sdk_flow.py, with a
//! loopback receiver that verifies every delivery with the SDK's own
//! verifier); raw HTTP checks what the SDKs rely on beyond it: trailing
//! slashes, JSON errors in Svix's shapes on every non-2xx, empty 204s,
//! idempotency keys (a repeat answers the first answer, across a
//! restart; a concurrent repeat waits for the first), and a tenant key
//! confined to its own application.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

/// A request with an `idempotency-key`.
fn post_with_key(s: &Server, key: &str, path: &str, body: &Value) -> Answer {
    let agent = test_agent();
    let mut res = agent
        .post(&format!("{}{path}", s.base))
        .header("Authorization", format!("Bearer {PLATFORM_KEY}"))
        .header("idempotency-key", key)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, body, text }
}

/// `{code, detail}` with this status and code.
#[track_caller]
fn assert_svix_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.body["code"], code, "{}", a.text);
    assert!(
        a.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        a.text
    );
}

/// A 422 `{detail: [{loc, msg, type}]}` naming `loc`.
#[track_caller]
fn assert_svix_422(a: &Answer, loc: &[&str]) {
    assert_eq!(a.status, 422, "{}", a.text);
    let d = &a.body["detail"][0];
    assert_eq!(d["loc"], json!(loc), "{}", a.text);
    assert!(
        d["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        a.text
    );
    assert_eq!(d["type"], "value_error", "{}", a.text);
}

#[test]
fn the_official_python_sdk_works_against_herald() {
    let s = Server::start_delivering(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/svix/sdk_flow.py");
    let out = Command::new("python3")
        .arg(script)
        .env("HERALD_URL", &s.base)
        .env("HERALD_KEY", PLATFORM_KEY)
        .output()
        .expect("python3 runs");
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success() && stdout.contains("SDK FLOW OK"),
        "the SDK flow failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        s.stderr.lock().unwrap()
    );
}

#[test]
fn paths_take_a_trailing_slash_and_every_error_is_svix_json() {
    let s = Server::start_delivering(&[]);
    let created = s.call(
        "POST",
        "/api/v1/app/",
        None,
        Some(json!({"name": "A", "uid": "a-1"})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["id"], "a-1");
    for path in ["/api/v1/app/a-1", "/api/v1/app/a-1/"] {
        let got = s.call("GET", path, None, None);
        assert_eq!(got.status, 200, "{path}: {}", got.text);
        assert_eq!(got.body["name"], "A");
    }
    let list = s.call("GET", "/api/v1/app/", None, None);
    assert_eq!(list.status, 200, "{}", list.text);
    // `iterator` is always there; `done` says the end.
    let l = list.body.as_object().unwrap();
    assert!(
        l.contains_key("iterator") && l["done"] == true,
        "{}",
        list.text
    );
    // Event types: both path forms, Svix's 404, and the native
    // `/api/v1/event-types` untouched beside the Svix scope.
    for path in ["/api/v1/event-type", "/api/v1/event-type/"] {
        let got = s.call("GET", &format!("{path}?limit=2"), None, None);
        assert_eq!(got.status, 200, "{path}: {}", got.text);
        assert_eq!(got.body["data"].as_array().unwrap().len(), 2);
        assert_eq!(got.body["done"], false);
        assert!(
            got.body["data"][0].get("schemas").is_none(),
            "no content unless asked"
        );
    }
    let one = s.call("GET", "/api/v1/event-type/order.created/", None, None);
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["createdAt"], "2024-01-01T00:00:00.000Z");
    assert_eq!(one.body["schemas"], Value::Null);
    assert_svix_error(
        &s.call("GET", "/api/v1/event-type/no.such", None, None),
        404,
        "not_found",
    );
    assert_svix_error(
        &s.call(
            "POST",
            "/api/v1/event-type/order.created",
            None,
            Some(json!({})),
        ),
        405,
        "method_not_allowed",
    );
    let two = s.call(
        "POST",
        "/api/v1/event-type",
        None,
        Some(json!({"name": "x.y", "description": "d", "schemas": {"1": {}, "2": {}}})),
    );
    assert_svix_422(&two, &["body", "schemas"]);
    let native = s.call("GET", "/api/v1/event-types", None, None);
    assert_eq!(native.status, 200, "{}", native.text);
    assert!(
        native.body["data"].is_array() || native.body.is_array(),
        "{}",
        native.text
    );

    let empty = s.call("GET", "/api/v1/app/a-1/endpoint", None, None);
    assert_eq!(
        empty.body,
        json!({"data": [], "iterator": null, "done": true})
    );

    // 401, 403-free 404s, 405, 422 (body, query), 400: all JSON.
    assert_svix_error(
        &s.call_as(None, "GET", "/api/v1/app", None, None),
        401,
        "unauthorized",
    );
    assert_svix_error(
        &s.call_as(Some("hk_wrong"), "GET", "/api/v1/app/a-1", None, None),
        401,
        "unauthorized",
    );
    assert_svix_error(
        &s.call("GET", "/api/v1/app/nope", None, None),
        404,
        "not_found",
    );
    assert_svix_error(
        &s.call("GET", "/api/v1/app/a-1/nothing/here", None, None),
        404,
        "not_found",
    );
    assert_svix_error(
        &s.call(
            "GET",
            "/api/v1/app/a-1/endpoint/ep_01HZZZZZZZZZZZZZZZZZZZZZZZ",
            None,
            None,
        ),
        404,
        "not_found",
    );
    assert_svix_error(
        &s.call("PUT", "/api/v1/app", None, None),
        405,
        "method_not_allowed",
    );
    assert_svix_error(
        &s.call("DELETE", "/api/v1/app/a-1/msg", None, None),
        405,
        "method_not_allowed",
    );
    assert_svix_422(
        &s.call("POST", "/api/v1/app", None, Some(json!({"name": 5}))),
        &["body"],
    );
    assert_svix_422(
        &s.call(
            "POST",
            "/api/v1/app/a-1/endpoint",
            None,
            Some(json!({"url": "ftp://x", "rateLimit": null})),
        ),
        &["body", "url"],
    );
    // An endpoint's rate limit is stored and enforced: one out of range
    // is refused, not ignored.
    for bad in [json!(0), json!(1001), json!(-1), json!("ten")] {
        assert_svix_422(
            &s.call(
                "POST",
                "/api/v1/app/a-1/endpoint",
                None,
                Some(json!({"url": "http://127.0.0.1:9/h", "rateLimit": bad})),
            ),
            &["body", "rateLimit"],
        );
    }
    let limited = s.call(
        "POST",
        "/api/v1/app/a-1/endpoint",
        None,
        Some(json!({"url": "http://127.0.0.1:9/limited", "rateLimit": 10})),
    );
    assert_eq!(limited.status, 201, "{}", limited.text);
    assert_eq!(limited.body["rateLimit"], 10);
    let id = limited.body["id"].as_str().unwrap();
    let patched = s.call(
        "PATCH",
        &format!("/api/v1/app/a-1/endpoint/{id}"),
        None,
        Some(json!({"rateLimit": null})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["rateLimit"], Value::Null);
    assert_svix_422(
        &s.call("GET", "/api/v1/app?limit=251", None, None),
        &["query", "limit"],
    );
    assert_svix_422(
        &s.call("GET", "/api/v1/app/a-1/msg?iterator=junk", None, None),
        &["query", "iterator"],
    );
    let bad_json = s.raw(
        Some(PLATFORM_KEY),
        "POST",
        "/api/v1/app",
        None,
        Some(b"{nope"),
        Some("application/json"),
    );
    assert_svix_error(&bad_json, 400, "invalid_json");
    let no_type = s.raw(
        Some(PLATFORM_KEY),
        "POST",
        "/api/v1/app",
        None,
        Some(b"{}"),
        Some("text/plain"),
    );
    assert_svix_error(&no_type, 415, "unsupported_media_type");
    // The native API keeps its own shape.
    assert_error(
        &s.call_as(None, "GET", "/api/v1/webhooks", Some("a-1"), None),
        401,
        "unauthorized",
    );

    // 204s carry no body: health (no key needed), headers, rotate, deletes.
    let h = s.call_as(None, "GET", "/api/v1/health", None, None);
    assert_eq!((h.status, h.text.as_str()), (204, ""));
    let h = s.call_as(None, "GET", "/api/v1/health/", None, None);
    assert_eq!((h.status, h.text.as_str()), (204, ""));
    let ep = s.call(
        "POST",
        "/api/v1/app/a-1/endpoint/",
        None,
        Some(json!({"url": "http://127.0.0.1:9/h", "uid": "main"})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);
    assert_eq!(ep.body["filterTypes"], Value::Null);
    assert_eq!(ep.body["version"], 1);
    let put = s.call(
        "PUT",
        "/api/v1/app/a-1/endpoint/main/headers/",
        None,
        Some(json!({"headers": {"X-A": "1"}})),
    );
    assert_eq!((put.status, put.text.as_str()), (204, ""));
    let rot = s.call(
        "POST",
        "/api/v1/app/a-1/endpoint/main/secret/rotate",
        None,
        Some(json!({})),
    );
    assert_eq!((rot.status, rot.text.as_str()), (204, ""));
    // A given secret may come without its prefix.
    let key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=";
    let rot = s.call(
        "POST",
        "/api/v1/app/a-1/endpoint/main/secret/rotate",
        None,
        Some(json!({"key": key})),
    );
    assert_eq!(rot.status, 204, "{}", rot.text);
    let secret = s.call("GET", "/api/v1/app/a-1/endpoint/main/secret", None, None);
    assert_eq!(secret.body["key"], format!("whsec_{key}"));
    let del = s.call("DELETE", "/api/v1/app/a-1/endpoint/main/", None, None);
    assert_eq!((del.status, del.text.as_str()), (204, ""));
    let del = s.call("DELETE", "/api/v1/app/a-1", None, None);
    assert_eq!((del.status, del.text.as_str()), (204, ""));
    assert_svix_error(
        &s.call("GET", "/api/v1/app/a-1", None, None),
        404,
        "not_found",
    );
}

#[test]
fn an_idempotency_key_repeats_the_first_answer_even_after_a_restart() {
    let mut s = Server::start();
    let first = post_with_key(&s, "auto_k1", "/api/v1/app", &json!({"name": "Once"}));
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post_with_key(&s, "auto_k1", "/api/v1/app", &json!({"name": "Once"}));
    assert_eq!((again.status, &again.text), (201, &first.text));
    // Another key runs again: a second application.
    let other = post_with_key(&s, "auto_k2", "/api/v1/app", &json!({"name": "Once"}));
    assert_eq!(other.status, 201);
    assert_ne!(other.body["id"], first.body["id"]);
    // A refusal is not remembered (as Svix): fixed, the request runs.
    let e1 = post_with_key(&s, "auto_k3", "/api/v1/app", &json!({"name": 1}));
    assert_eq!(e1.status, 422);
    let e2 = post_with_key(&s, "auto_k3", "/api/v1/app", &json!({"name": "fixed"}));
    assert_eq!(e2.status, 201, "{}", e2.text);

    // Remembered durably.
    s.restart();
    let after = post_with_key(&s, "auto_k1", "/api/v1/app", &json!({"name": "Once"}));
    assert_eq!((after.status, &after.text), (201, &first.text));
    let apps = s.call("GET", "/api/v1/app", None, None);
    assert_eq!(
        apps.body["data"].as_array().unwrap().len(),
        3,
        "{}",
        apps.text
    );

    // Messages: the same key sent concurrently creates one message; every
    // request gets its answer.
    let app = first.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/app/{app}/msg");
    let body = json!({"eventType": "order.created", "payload": {"n": 1}});
    let answers: Vec<Answer> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..6)
            .map(|_| sc.spawn(|| post_with_key(&s, "auto_msg", &path, &body)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in &answers {
        assert_eq!(a.status, 202, "{}", a.text);
        assert_eq!(a.body["id"], answers[0].body["id"], "{}", a.text);
    }
    let msgs = s.call("GET", &path, None, None);
    assert_eq!(
        msgs.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        msgs.text
    );
    // The key is scoped by the URL: the same key elsewhere runs.
    let elsewhere = post_with_key(&s, "auto_msg", "/api/v1/app", &json!({"name": "Third"}));
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.text);
    // A malformed key is refused.
    let bad = post_with_key(
        &s,
        "a key with spaces",
        "/api/v1/app",
        &json!({"name": "x"}),
    );
    assert_svix_422(&bad, &["header", "idempotency-key"]);
}

#[test]
fn a_tenant_key_acts_only_for_its_own_application() {
    let s = Server::start_delivering(&[]);
    for uid in ["mine", "theirs"] {
        let a = s.call(
            "POST",
            "/api/v1/app",
            None,
            Some(json!({"name": uid, "uid": uid})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let key = s.tenant_key("mine");
    let as_tenant = |m: &str, p: &str, b: Option<Value>| s.call_as(Some(&key), m, p, None, b);
    assert_eq!(as_tenant("GET", "/api/v1/app/mine", None).status, 200);
    let ep = as_tenant(
        "POST",
        "/api/v1/app/mine/endpoint",
        Some(json!({"url": "http://127.0.0.1:9/h"})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);
    let msg = as_tenant(
        "POST",
        "/api/v1/app/mine/msg",
        Some(json!({"eventType": "order.created", "payload": {}})),
    );
    assert_eq!(msg.status, 202, "{}", msg.text);
    // Another application, the list of all and creating one are refused.
    assert_svix_error(
        &as_tenant("GET", "/api/v1/app/theirs", None),
        403,
        "tenant_mismatch",
    );
    assert_svix_error(
        &as_tenant("GET", "/api/v1/app/theirs/endpoint", None),
        403,
        "tenant_mismatch",
    );
    assert_svix_error(
        &as_tenant(
            "POST",
            "/api/v1/app/theirs/msg",
            Some(json!({"eventType": "order.created", "payload": {}})),
        ),
        403,
        "tenant_mismatch",
    );
    assert_svix_error(&as_tenant("GET", "/api/v1/app", None), 403, "forbidden");
    assert_svix_error(
        &as_tenant("POST", "/api/v1/app", Some(json!({"name": "x"}))),
        403,
        "forbidden",
    );
    assert_svix_error(
        &as_tenant("DELETE", "/api/v1/app/mine", None),
        403,
        "forbidden",
    );
    // Its own message, seen; nothing of the other app was touched.
    let theirs = s.call("GET", "/api/v1/app/theirs/msg", None, None);
    assert_eq!(theirs.body["data"], json!([]));
    let mine = as_tenant("GET", "/api/v1/app/mine/msg", None);
    assert_eq!(
        mine.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        mine.text
    );
}
