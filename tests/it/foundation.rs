//! Issue 2: the binary, the store, tenants and keys, the endpoint API.

use serde_json::{json, Value};

use crate::support::*;

fn create_endpoint(s: &Server, tenant: &str, url: &str) -> Value {
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(tenant),
        Some(json!({"url": url, "events": ["payment.completed", "order.created"], "description": "Main webhook endpoint"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    a.body
}

#[test]
fn endpoint_lifecycle_create_list_read_update_rotate_delete() {
    let s = Server::start();
    let ep = create_endpoint(&s, "company_xyz", "http://receiver.test/webhooks/brainsait");
    let id = ep["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"));
    let secret = ep["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 32,
        "{secret}"
    );
    assert_eq!(ep["events"], json!(["payment.completed", "order.created"]));
    assert_eq!(ep["active"], true);
    assert_eq!(ep["tenant_id"], "company_xyz");

    let list = s.call("GET", "/api/v1/webhooks", Some("company_xyz"), None);
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(
        list.body["data"][0].get("secret").is_none(),
        "lists never show secrets"
    );
    assert_eq!(list.body["next_cursor"], Value::Null);

    let one = s.call(
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        Some("company_xyz"),
        None,
    );
    assert_eq!(one.status, 200);
    assert_eq!(one.body["url"], "http://receiver.test/webhooks/brainsait");
    assert!(one.body.get("secret").is_none());

    let patched = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        Some("company_xyz"),
        Some(json!({"events": ["order.*"], "active": false, "description": "paused"})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["events"], json!(["order.*"]));
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["description"], "paused");
    assert_eq!(
        patched.body["url"], "http://receiver.test/webhooks/brainsait",
        "untouched fields stay"
    );

    let rotated = s.call(
        "POST",
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        Some("company_xyz"),
        None,
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert!(rotated.body["previous_secret_expires_at"].is_string());

    let del = s.call(
        "DELETE",
        &format!("/api/v1/webhooks/{id}"),
        Some("company_xyz"),
        None,
    );
    assert_eq!(del.status, 204);
    let gone = s.call(
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        Some("company_xyz"),
        None,
    );
    assert_error(&gone, 404, "not_found");
    let again = s.call(
        "DELETE",
        &format!("/api/v1/webhooks/{id}"),
        Some("company_xyz"),
        None,
    );
    assert_error(&again, 404, "not_found");
}

#[test]
fn every_error_has_a_stable_code_and_changes_nothing() {
    let s = Server::start_with(&[], &[]); // https only
    let t = Some("acme");
    let ok = s.call(
        "POST",
        "/api/v1/webhooks",
        t,
        Some(json!({"url": "https://hooks.example.com/a", "events": ["*"]})),
    );
    assert_eq!(ok.status, 201, "{}", ok.text);
    let id = ok.body["id"].as_str().unwrap().to_string();
    let before = s.call("GET", "/api/v1/webhooks", t, None).text;

    // 400: malformed JSON, missing tenant, bad tenant id, bad query.
    let a = s.raw(
        Some(PLATFORM_KEY),
        "POST",
        "/api/v1/webhooks",
        t,
        Some(b"{\"url\": "),
        Some("application/json"),
    );
    assert_error(&a, 400, "invalid_json");
    let a = s.raw(
        Some(PLATFORM_KEY),
        "POST",
        "/api/v1/webhooks",
        t,
        Some(b"\xff\xfe"),
        Some("application/json"),
    );
    assert_error(&a, 400, "invalid_json");
    let a = s.call("GET", "/api/v1/webhooks", None, None);
    assert_error(&a, 400, "tenant_required");
    let a = s.call("GET", "/api/v1/webhooks", Some("bad tenant!"), None);
    assert_error(&a, 400, "invalid_tenant_id");
    let a = s.call("GET", "/api/v1/webhooks?limit=1000", t, None);
    assert_error(&a, 400, "invalid_query");
    let a = s.call("GET", "/api/v1/webhooks?cursor=%21%21", t, None);
    assert_error(&a, 400, "invalid_query");

    // 401: no key, unknown key, malformed header.
    let a = s.call_as(None, "GET", "/api/v1/webhooks", t, None);
    assert_error(&a, 401, "unauthorized");
    let a = s.call_as(
        Some("hpk_not_a_real_key_at_all_000000000000000"),
        "GET",
        "/api/v1/webhooks",
        t,
        None,
    );
    assert_error(&a, 401, "unauthorized");

    // 403: a tenant key naming another tenant; a tenant key on platform routes.
    let key = s.tenant_key("acme");
    let a = s.call_as(Some(&key), "GET", "/api/v1/webhooks", Some("globex"), None);
    assert_error(&a, 403, "tenant_mismatch");
    let a = s.call_as(Some(&key), "GET", "/api/v1/tenants", None, None);
    assert_error(&a, 403, "forbidden");
    let a = s.call_as(
        Some(&key),
        "POST",
        "/api/v1/keys",
        None,
        Some(json!({"name": "escalate"})),
    );
    assert_error(&a, 403, "forbidden");

    // 404: unknown id, malformed id, unknown route; 405: wrong method.
    let a = s.call(
        "GET",
        "/api/v1/webhooks/ep_01HM7ZQ3X2K8Y4T6V9B0C1D2E3",
        t,
        None,
    );
    assert_error(&a, 404, "not_found");
    let a = s.call("GET", "/api/v1/webhooks/not-an-id", t, None);
    assert_error(&a, 404, "not_found");
    let a = s.call("GET", "/api/v1/nothing-here", t, None);
    assert_error(&a, 404, "not_found");
    let a = s.call("PUT", "/api/v1/webhooks", t, Some(json!({})));
    assert_error(&a, 405, "method_not_allowed");

    // 409: a tenant that exists.
    let a = s.call("POST", "/api/v1/tenants", None, Some(json!({"id": "acme"})));
    assert_error(&a, 409, "tenant_exists");

    // 413 and 415.
    let big = json!({"url": "https://hooks.example.com/big", "events": ["*"], "description": "x".repeat(70 * 1024)});
    let a = s.call("POST", "/api/v1/webhooks", t, Some(big));
    assert_error(&a, 413, "payload_too_large");
    let a = s.raw(
        Some(PLATFORM_KEY),
        "POST",
        "/api/v1/webhooks",
        t,
        Some(b"url=x"),
        Some("application/x-www-form-urlencoded"),
    );
    assert_error(&a, 415, "unsupported_media_type");

    // 422: each invalid field, named.
    let cases = [
        (
            json!({"url": "https://hooks.example.com/b", "events": []}),
            "events",
        ),
        (
            json!({"url": "http://hooks.example.com/b", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.com/b", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
        (
            json!({"url": "ftp://hooks.example.com/b", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": format!("https://hooks.example.com/{}", "a".repeat(3000)), "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/b", "events": ["*"], "description": "d".repeat(1025)}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let a = s.call("POST", "/api/v1/webhooks", t, Some(body.clone()));
        assert_error(&a, 422, "validation_failed");
        assert_eq!(a.body["error"]["field"], field, "{body} → {}", a.text);
    }
    // An event type not in the catalog has the code it has on an event.
    for events in [json!(["payment.nope"]), json!(["invoice.*"])] {
        let body = json!({"url": "https://hooks.example.com/b", "events": events});
        let a = s.call("POST", "/api/v1/webhooks", t, Some(body));
        assert_error(&a, 422, "unknown_event_type");
        assert_eq!(a.body["error"]["field"], "events", "{}", a.text);
    }
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        t,
        Some(json!({"url": "https://hooks.example.com/a", "events": ["*"]})),
    );
    assert_error(&a, 422, "duplicate_url");
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        t,
        Some(json!({"url": "https://hooks.example.com/c", "events": ["*"], "secret": "mine"})),
    );
    assert_error(&a, 422, "validation_failed");
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        t,
        Some(json!({"events": ["*"]})),
    );
    assert_error(&a, 422, "validation_failed");
    let a = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        t,
        Some(json!({"events": [], "description": "changed"})),
    );
    assert_error(&a, 422, "validation_failed");
    let a = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        t,
        Some(json!({"active": "yes"})),
    );
    assert_error(&a, 422, "validation_failed");
    let a = s.call(
        "POST",
        "/api/v1/keys",
        None,
        Some(json!({"name": "k", "tenant_id": "nobody"})),
    );
    assert_error(&a, 422, "validation_failed");
    // Platform scope is asked for, never the default of a missing tenant.
    let a = s.call("POST", "/api/v1/keys", None, Some(json!({"name": "k"})));
    assert_error(&a, 422, "validation_failed");
    assert!(
        a.text.contains("scope") && a.text.contains("platform"),
        "{}",
        a.text
    );
    for body in [
        json!({"name": "k", "tenant_id": "acme", "scope": "platform"}),
        json!({"name": "k", "scope": "tenant"}),
        json!({"name": "k", "scope": "everything"}),
    ] {
        let a = s.call("POST", "/api/v1/keys", None, Some(body.clone()));
        assert_eq!(a.status, 422, "{body}: {}", a.text);
    }
    let a = s.call(
        "POST",
        "/api/v1/keys",
        None,
        Some(json!({"name": "k", "scope": "platform"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["kind"], "platform");
    let a = s.call(
        "POST",
        "/api/v1/tenants",
        None,
        Some(json!({"id": "no spaces"})),
    );
    assert_error(&a, 422, "validation_failed");

    // Nothing above changed anything.
    assert_eq!(s.call("GET", "/api/v1/webhooks", t, None).text, before);
    let tenants = s.call("GET", "/api/v1/tenants", None, None);
    let ids: Vec<_> = tenants.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["acme"], "no tenant was created by a failed call");
}

#[test]
fn tenant_keys_cannot_touch_another_tenants_endpoints() {
    let s = Server::start();
    let key_a = s.tenant_key("tenant_a");
    let key_b = s.tenant_key("tenant_b");
    let a_ep = s.call_as(
        Some(&key_a),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"url": "http://a.test/h", "events": ["*"]})),
    );
    assert_eq!(a_ep.status, 201, "{}", a_ep.text);
    assert_eq!(a_ep.body["tenant_id"], "tenant_a");
    let b_ep = s.call_as(
        Some(&key_b),
        "POST",
        "/api/v1/webhooks",
        Some("tenant_b"),
        Some(json!({"url": "http://b.test/h", "events": ["*"]})),
    );
    assert_eq!(b_ep.status, 201);
    let b_id = b_ep.body["id"].as_str().unwrap();

    // A sees only its own.
    let list = s.call_as(Some(&key_a), "GET", "/api/v1/webhooks", None, None);
    let urls: Vec<_> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["url"].clone())
        .collect();
    assert_eq!(urls, vec![json!("http://a.test/h")]);
    // Naming B is refused outright.
    let a = s.call_as(
        Some(&key_a),
        "GET",
        "/api/v1/webhooks",
        Some("tenant_b"),
        None,
    );
    assert_error(&a, 403, "tenant_mismatch");
    // Guessing B's id reads, changes, rotates and deletes nothing.
    let path = format!("/api/v1/webhooks/{b_id}");
    assert_error(
        &s.call_as(Some(&key_a), "GET", &path, None, None),
        404,
        "not_found",
    );
    assert_error(
        &s.call_as(
            Some(&key_a),
            "PATCH",
            &path,
            None,
            Some(json!({"active": false})),
        ),
        404,
        "not_found",
    );
    assert_error(
        &s.call_as(
            Some(&key_a),
            "POST",
            &format!("{path}/rotate-secret"),
            None,
            None,
        ),
        404,
        "not_found",
    );
    assert_error(
        &s.call_as(Some(&key_a), "DELETE", &path, None, None),
        404,
        "not_found",
    );
    // The platform key acting for A cannot reach B's endpoint either.
    assert_error(
        &s.call("GET", &path, Some("tenant_a"), None),
        404,
        "not_found",
    );
    let still = s.call_as(Some(&key_b), "GET", &path, None, None);
    assert_eq!(still.status, 200);
    assert_eq!(still.body["active"], true);

    // A revoked key stops working at once.
    let keys = s.call("GET", "/api/v1/keys", None, None);
    let a_key_id = keys.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["tenant_id"] == "tenant_a")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        keys.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none()),
        "key texts are shown once only"
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/v1/keys/{a_key_id}"), None, None)
            .status,
        204
    );
    assert_error(
        &s.call_as(Some(&key_a), "GET", "/api/v1/webhooks", None, None),
        401,
        "unauthorized",
    );
}

#[test]
fn a_platform_key_creates_tenants_implicitly_on_write_only() {
    let s = Server::start();
    let read = s.call("GET", "/api/v1/webhooks", Some("newco"), None);
    assert_eq!(read.status, 200);
    assert_eq!(read.body["data"], json!([]));
    assert_eq!(
        s.call("GET", "/api/v1/tenants/newco", None, None).status,
        404
    );
    create_endpoint(&s, "newco", "http://newco.test/h");
    let t = s.call("GET", "/api/v1/tenants/newco", None, None);
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["suspended"], false);
    let p = s.call(
        "PATCH",
        "/api/v1/tenants/newco",
        None,
        Some(json!({"suspended": true, "name": "New Co"})),
    );
    assert_eq!(p.status, 200);
    assert_eq!(p.body["suspended"], true);
    assert_eq!(p.body["name"], "New Co");
}

#[test]
fn pagination_walks_every_endpoint_once_in_creation_order() {
    let s = Server::start();
    let mut made = Vec::new();
    for i in 0..25 {
        made.push(
            create_endpoint(&s, "pager", &format!("http://p.test/{i}"))["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/webhooks?limit=10&cursor={c}"),
            None => "/api/v1/webhooks?limit=10".to_string(),
        };
        let page = s.call("GET", &path, Some("pager"), None);
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        seen.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);
}

#[test]
fn everything_survives_a_restart_and_a_kill() {
    let mut s = Server::start();
    let key = s.tenant_key("durable");
    let ep = s.call_as(
        Some(&key),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"url": "http://d.test/h", "events": ["user.*"], "description": "keep me"})),
    );
    assert_eq!(ep.status, 201);
    let id = ep.body["id"].as_str().unwrap().to_string();
    let rotated = s.call_as(
        Some(&key),
        "POST",
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        None,
        None,
    );
    assert_eq!(rotated.status, 200);
    let revoked = s.call(
        "POST",
        "/api/v1/keys",
        None,
        Some(json!({"name": "short-lived", "scope": "platform"})),
    );
    let revoked_key = revoked.body["key"].as_str().unwrap().to_string();
    s.call(
        "DELETE",
        &format!("/api/v1/keys/{}", revoked.body["id"].as_str().unwrap()),
        None,
        None,
    );
    let snapshot = |s: &Server| {
        (
            s.call_as(
                Some(&key),
                "GET",
                &format!("/api/v1/webhooks/{id}"),
                None,
                None,
            )
            .text,
            s.call("GET", "/api/v1/tenants", None, None).text,
            // Without each key's last use: these very reads use a key.
            without_last_use(s.call("GET", "/api/v1/keys", None, None).body),
        )
    };
    let before = snapshot(&s);

    s.restart();
    assert_eq!(snapshot(&s), before, "after a clean restart");
    assert_eq!(
        s.stdout.lock().unwrap().matches("first start").count(),
        1,
        "no second first-start"
    );
    assert_error(
        &s.call_as(Some(&revoked_key), "GET", "/api/v1/keys", None, None),
        401,
        "unauthorized",
    );

    // An acknowledged write survives SIGKILL right after the answer.
    let patched = s.call_as(
        Some(&key),
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        None,
        Some(json!({"description": "after kill"})),
    );
    assert_eq!(patched.status, 200);
    s.kill9();
    s.start_again();
    let after = s.call_as(
        Some(&key),
        "GET",
        &format!("/api/v1/webhooks/{id}"),
        None,
        None,
    );
    assert_eq!(after.body["description"], "after kill");
}

#[test]
fn first_start_generates_and_prints_credentials_once() {
    let mut s = Server::start_with(
        &[],
        &[("HERALD_PLATFORM_KEY", ""), ("HERALD_ADMIN_PASSWORD", "")],
    );
    let out = s.stdout_when(|o| o.contains("shown only once"));
    let key = out
        .lines()
        .find_map(|l| l.split("platform API key: ").nth(1))
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| panic!("no key printed:\n{out}"));
    assert!(key.starts_with("hpk_") && key.len() >= 40, "{key}");
    assert!(
        out.contains("password: ") && !out.contains("(from HERALD_ADMIN_PASSWORD)"),
        "{out}"
    );
    assert!(
        !s.stderr.lock().unwrap().contains(&key),
        "the key is not written to the log"
    );
    assert_eq!(
        s.call_as(Some(&key), "GET", "/api/v1/tenants", None, None)
            .status,
        200
    );
    s.restart();
    assert_eq!(
        s.stdout.lock().unwrap().matches("platform API key").count(),
        1
    );
    assert_eq!(
        s.call_as(Some(&key), "GET", "/api/v1/tenants", None, None)
            .status,
        200
    );
}

#[test]
fn endpoints_pointing_into_private_networks_are_refused_on_save() {
    let s = Server::start();
    for url in [
        "http://127.0.0.1:9/h",
        "http://2130706433/h",
        "http://0177.0.0.1/h",
        "http://0x7f000001/h",
        "http://127.1/h",
        "http://localhost/h",
        "http://[::1]/h",
        "http://[::ffff:127.0.0.1]/h",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/h",
        "http://192.168.1.10/h",
        "http://0.0.0.0/h",
    ] {
        let a = s.call(
            "POST",
            "/api/v1/webhooks",
            Some("ssrf"),
            Some(json!({"url": url, "events": ["*"]})),
        );
        assert_error(&a, 422, "validation_failed");
        assert_eq!(a.body["error"]["field"], "url", "{url}: {}", a.text);
    }
    let allowed = Server::start_with(
        &["--allow-http", "--allow-private-networks", "127.0.0.0/8"],
        &[],
    );
    let a = allowed.call(
        "POST",
        "/api/v1/webhooks",
        Some("ssrf"),
        Some(json!({"url": "http://127.0.0.1:9/h", "events": ["*"]})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let a = allowed.call(
        "POST",
        "/api/v1/webhooks",
        Some("ssrf"),
        Some(json!({"url": "http://10.0.0.1/h", "events": ["*"]})),
    );
    assert_error(&a, 422, "validation_failed");
}

#[test]
fn cli_manages_tenants_and_keys_offline_and_through_the_api() {
    let mut s = Server::start();
    // While the server runs, the data dir is locked: said plainly.
    let locked = s.cli(&["tenants", "list"]);
    let (_, err) = texts(&locked);
    assert!(!locked.status.success());
    assert!(
        err.contains("locked by a running herald server") && err.contains("--server"),
        "{err}"
    );
    // Through the API it works.
    let via_api = Command::new(bin())
        .args([
            "tenants",
            "create",
            "api_made",
            "--server",
            &s.base,
            "--key",
            PLATFORM_KEY,
        ])
        .output()
        .unwrap();
    assert!(via_api.status.success(), "{:?}", texts(&via_api));
    let listed = Command::new(bin())
        .args(["tenants", "list", "--server", &s.base])
        .env("HERALD_API_KEY", PLATFORM_KEY)
        .output()
        .unwrap();
    assert!(
        texts(&listed).0.contains("api_made"),
        "{:?}",
        texts(&listed)
    );

    s.stop();
    let created = s.cli(&["tenants", "create", "offline_co", "--name", "Offline Co"]);
    assert!(created.status.success(), "{:?}", texts(&created));
    let dup = s.cli(&["tenants", "create", "offline_co"]);
    assert!(!dup.status.success());
    assert!(texts(&dup).1.contains("already exists"));
    assert!(s
        .cli(&["tenants", "suspend", "offline_co"])
        .status
        .success());
    let key = s.cli(&[
        "keys",
        "create",
        "--name",
        "ci",
        "--tenant",
        "offline_co",
        "--json",
    ]);
    assert!(key.status.success(), "{:?}", texts(&key));
    let unscoped = s.cli(&["keys", "create", "--name", "ci"]);
    assert!(
        !unscoped.status.success(),
        "neither --tenant nor --platform"
    );
    let err = texts(&unscoped).1;
    assert!(
        err.contains("--tenant") && err.contains("--platform"),
        "{err}"
    );
    let key_json: Value = serde_json::from_slice(&key.stdout).unwrap();
    let key_text = key_json["key"].as_str().unwrap().to_string();
    assert!(key_text.starts_with("htk_"));
    let list = texts(&s.cli(&["tenants", "list"])).0;
    assert!(
        list.contains("offline_co") && list.contains("suspended") && list.contains("api_made"),
        "{list}"
    );
    let keys = texts(&s.cli(&["keys", "list"])).0;
    assert!(
        keys.contains("offline_co") && !keys.contains(&key_text),
        "{keys}"
    );
    assert!(s.cli(&["tenants", "resume", "offline_co"]).status.success());

    s.start_again();
    let t = s.call("GET", "/api/v1/tenants/offline_co", None, None);
    assert_eq!(t.body["suspended"], false);
    assert_eq!(t.body["name"], "Offline Co");
    let mine = s.call_as(Some(&key_text), "GET", "/api/v1/webhooks", None, None);
    assert_eq!(mine.status, 200, "the CLI-made key works: {}", mine.text);
    let revoke_id = key_json["id"].as_str().unwrap();
    let revoked = Command::new(bin())
        .args([
            "keys",
            "revoke",
            revoke_id,
            "--server",
            &s.base,
            "--key",
            PLATFORM_KEY,
        ])
        .output()
        .unwrap();
    assert!(revoked.status.success(), "{:?}", texts(&revoked));
    assert_eq!(
        s.call_as(Some(&key_text), "GET", "/api/v1/webhooks", None, None)
            .status,
        401
    );
}

use std::process::Command;

/// A key listing without `last_used_at`, which every request moves.
fn without_last_use(mut keys: Value) -> Value {
    for k in keys["data"].as_array_mut().into_iter().flatten() {
        assert!(k.get("last_used_at").is_some(), "{k}");
        k["last_used_at"] = Value::Null;
    }
    keys
}

#[test]
fn help_documents_every_option() {
    let top = Command::new(bin()).arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout).into_owned();
    for cmd in ["serve", "tenants", "keys"] {
        assert!(top.contains(cmd), "{top}");
    }
    let serve = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let serve = String::from_utf8_lossy(&serve.stdout).into_owned();
    // Every option, from the README's configuration table (which a unit
    // test holds to the options table): a hand-kept list here fell behind
    // as options were added (--alert-*, --disable-after, --metrics-listen
    // were never in it). clap wraps long help lines, so words are
    // compared, not lines.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a ## Configuration section");
    let rows: Vec<(String, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
            let code = |c: &str| c.trim().trim_matches('`').to_string();
            (code(cells[0]), code(cells[1]))
        })
        .collect();
    assert!(rows.len() > 30, "{} rows", rows.len());
    let words: std::collections::HashSet<&str> = serve
        .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '=' | ','))
        .collect();
    for (flag, env) in &rows {
        assert!(
            words.contains(flag.as_str()),
            "{flag} missing from serve --help:\n{serve}"
        );
        assert!(
            words.contains(env.as_str()),
            "{env} ({flag}) missing from serve --help:\n{serve}"
        );
    }
    for flag in [
        "--alert-failure-rate",
        "--alert-min-sample",
        "--alert-slow",
        "--alert-down-after",
        "--alert-window",
        "--alert-url",
        "--alert-secret",
        "--disable-after",
        "--metrics-listen",
    ] {
        assert!(rows.iter().any(|(f, _)| f == flag), "{flag} in the README");
    }
    let bad = Command::new(bin())
        .args(["serve", "--retry-schedule", "5x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--retry-schedule"));
}

#[test]
fn a_config_file_configures_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("herald.toml");
    std::fs::write(
        &cfg,
        "allow_http = true\nallow_private_networks = [\"127.0.0.0/8\"]\n",
    )
    .unwrap();
    let s = Server::start_with(&["--config", cfg.to_str().unwrap()], &[]);
    let a = s.call(
        "POST",
        "/api/v1/webhooks",
        Some("cfg"),
        Some(json!({"url": "http://127.0.0.1:1/h", "events": ["*"]})),
    );
    assert_eq!(
        a.status, 201,
        "http and loopback allowed by the file: {}",
        a.text
    );
}

#[test]
fn event_types_and_health() {
    let s = Server::start();
    let a = s.call("GET", "/api/v1/event-types", None, None);
    assert_eq!(a.status, 200);
    let names: Vec<_> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 13);
    assert!(names.contains(&"payment.completed") && names.contains(&"tenant.suspended"));
    assert_error(
        &s.call_as(None, "GET", "/api/v1/event-types", None, None),
        401,
        "unauthorized",
    );
    assert_eq!(s.call_as(None, "GET", "/healthz", None, None).status, 200);
    let r = s.call_as(None, "GET", "/readyz", None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["checks"]["store"]["ok"], true);
}

#[test]
fn the_readme_walkthrough_works_pasted_into_a_shell() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- walkthrough:begin -->")
        .nth(1)
        .and_then(|r| r.split("<!-- walkthrough:end -->").next())
        .expect("README has a walkthrough block");
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let s = Server::start_with(&[], &[]);
    let out = Command::new("bash")
        .args(["-e", "-c", &script])
        .env("HERALD_URL", &s.base)
        .env("HERALD_KEY", PLATFORM_KEY)
        .output()
        .expect("bash");
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("\"secret\":\"whsec_"), "{stdout}");
    assert!(stdout.contains("payment.completed"));
    // The tenant key's listing (last line) shows the guide's endpoint.
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("https://your-app.com/webhooks/brainsait") && last.contains("company_xyz"),
        "{last}"
    );
}
