//! Issue 16, item 3: custom event types over the API — a schema checked
//! at ingest, subscriptions by exact name and by category, archiving,
//! who may write, and that types survive a restart and a backup/restore.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const TENANT: &str = "acme";

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["object"],
        "properties": {
            "object": {
                "type": "object",
                "required": ["amount"],
                "properties": { "amount": { "type": "integer", "minimum": 0 } }
            }
        }
    })
}

fn event(id: &str, ty: &str, object: Value) -> Value {
    json!({ "id": id, "event": ty, "data": { "object": object } })
}

fn post(server: &Server, key: &str, body: Value) -> Answer {
    server.call_as(Some(key), "POST", "/api/v1/events", None, Some(body))
}

fn body_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON delivery")
}

#[test]
fn custom_types_are_validated_subscribed_archived_and_kept() {
    let mut server = Server::start_delivering(&[]);
    let tenant_key = server.tenant_key(TENANT);

    // A tenant key reads the catalog but cannot write it.
    let a = server.call_as(
        Some(&tenant_key),
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({"name": "invoice.paid"})),
    );
    assert_error(&a, 403, "forbidden");

    let a = server.call(
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({
            "name": "invoice.paid",
            "description": "An invoice was paid",
            "schema": invoice_schema(),
        })),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["name"], "invoice.paid");
    assert_eq!(a.body["category"], "invoice");
    assert_eq!(a.body["custom"], true);
    assert_eq!(a.body["archived"], false);
    assert_eq!(a.body["schema"], invoice_schema());
    assert!(a.body["created_at"].is_string());
    let a = server.call(
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({"name": "invoice.voided", "description": "Voided"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["schema"], Value::Null);

    // What is refused, and changes nothing.
    let again = server.call(
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({"name": "invoice.paid"})),
    );
    assert_error(&again, 409, "event_type_exists");
    let builtin = server.call(
        "POST",
        "/api/v1/event-types",
        None,
        Some(json!({"name": "payment.completed"})),
    );
    assert_error(&builtin, 409, "event_type_exists");
    assert!(builtin.text.contains("built-in"), "{}", builtin.text);
    for (body, field) in [
        (json!({"name": "invoice paid"}), "name"),
        (json!({"name": "x".repeat(257)}), "name"),
        (json!({"name": "bad.schema", "schema": [1]}), "schema"),
        (
            json!({"name": "bad.schema", "schema": {"type": "nonsense"}}),
            "schema",
        ),
        (
            json!({"name": "bad.schema", "schema": {"$ref": "https://example.com/s.json"}}),
            "schema",
        ),
    ] {
        let a = server.call("POST", "/api/v1/event-types", None, Some(body));
        assert_error(&a, 422, "validation_failed");
        assert_eq!(a.body["error"]["field"], field, "{}", a.text);
    }
    let a = server.call("GET", "/api/v1/event-types/bad.schema", None, None);
    assert_error(&a, 404, "not_found");

    // The list keeps the built-in types' shape and adds the custom ones.
    let list = server.call_as(Some(&tenant_key), "GET", "/api/v1/event-types", None, None);
    assert_eq!(list.status, 200, "{}", list.text);
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 15, "{}", list.text);
    assert_eq!(data[0]["name"], "payment.completed");
    assert_eq!(data[0]["category"], "payment");
    assert_eq!(data[0]["custom"], false);
    assert_eq!(data[0]["created_at"], Value::Null);
    assert_eq!(data[13]["name"], "invoice.paid");
    let one = server.call_as(
        Some(&tenant_key),
        "GET",
        "/api/v1/event-types/payment.completed",
        None,
        None,
    );
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body, data[0], "one type as the list shows it");
    assert_eq!(data[14]["name"], "invoice.voided");

    // Subscriptions: exact, and by the custom category.
    let exact = Sink::status(200);
    let category = Sink::status(200);
    for (sink, events) in [
        (&exact, json!(["invoice.paid"])),
        (&category, json!(["invoice.*"])),
    ] {
        let a = server.call_as(
            Some(&tenant_key),
            "POST",
            "/api/v1/webhooks",
            None,
            Some(json!({"url": sink.url(), "events": events})),
        );
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let a = server.call_as(
        Some(&tenant_key),
        "POST",
        "/api/v1/webhooks",
        None,
        Some(json!({"url": "http://127.0.0.1:9/x", "events": ["invoicez.*"]})),
    );
    assert_error(&a, 422, "unknown_event_type");

    // A valid event reaches both; the voided one (no schema) only the
    // category subscription.

    let a = post(
        &server,
        &tenant_key,
        event("inv-1", "invoice.paid", json!({"amount": 1200})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    for sink in [&exact, &category] {
        let got = sink.take(1, Duration::from_secs(10));
        let b = body_of(&got[0]);
        assert_eq!(b["event"], "invoice.paid");
        assert_eq!(b["data"]["object"]["amount"], 1200);
    }
    let a = post(
        &server,
        &tenant_key,
        event("inv-v", "invoice.voided", json!({"anything": true})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(
        body_of(&category.take(1, Duration::from_secs(10))[0])["event"],
        "invoice.voided"
    );

    // An event that does not match the schema: 422 naming the path,
    // nothing stored, nothing delivered.
    let a = post(
        &server,
        &tenant_key,
        event("inv-bad", "invoice.paid", json!({"amount": "twelve"})),
    );
    assert_error(&a, 422, "schema_mismatch");
    let m = a.body["error"]["message"].as_str().unwrap();
    assert!(m.contains("/object/amount"), "{m}");
    assert!(m.contains("integer"), "{m}");
    assert!(!m.contains("twelve"), "the value is not echoed: {m}");
    let a = server.call("GET", "/api/v1/events/inv-bad", Some(TENANT), None);
    assert_error(&a, 404, "not_found");
    let a = post(
        &server,
        &tenant_key,
        event("inv-bad2", "invoice.paid", json!({})),
    );
    assert_error(&a, 422, "schema_mismatch");
    assert!(a.text.contains("/object"), "{}", a.text);

    // A batch with one bad event is refused whole, naming it.
    let a = server.call_as(
        Some(&tenant_key),
        "POST",
        "/api/v1/events/batch",
        None,
        Some(json!({"events": [
            event("inv-b0", "invoice.paid", json!({"amount": 1})),
            event("inv-b1", "invoice.paid", json!({"amount": -1})),
        ]})),
    );
    assert_error(&a, 422, "schema_mismatch");
    assert!(a.text.contains("events[1]"), "{}", a.text);
    assert!(a.text.contains("/object/amount"), "{}", a.text);
    let a = server.call("GET", "/api/v1/events/inv-b0", Some(TENANT), None);
    assert_error(&a, 404, "not_found");
    assert!(
        exact.drain(Duration::from_millis(700)).is_empty(),
        "nothing refused is delivered"
    );
    assert!(category.drain(Duration::from_millis(100)).is_empty());

    // Archiving: still listed (archived), still accepted and delivered.
    let a = server.call_as(
        Some(&tenant_key),
        "PATCH",
        "/api/v1/event-types/invoice.paid",
        None,
        Some(json!({"archived": true})),
    );
    assert_error(&a, 403, "forbidden");
    let a = server.call(
        "PATCH",
        "/api/v1/event-types/invoice.paid",
        None,
        Some(json!({"archived": true, "description": "Paid (old)"})),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["archived"], true);
    assert_eq!(
        a.body["schema"],
        invoice_schema(),
        "a PATCH keeps what it omits"
    );
    let a = post(
        &server,
        &tenant_key,
        event("inv-2", "invoice.paid", json!({"amount": 5})),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(exact.take(1, Duration::from_secs(10)).len(), 1);
    assert_eq!(category.take(1, Duration::from_secs(10)).len(), 1);
    let a = post(
        &server,
        &tenant_key,
        event("inv-3", "invoice.paid", json!({"amount": "x"})),
    );
    assert_error(&a, 422, "schema_mismatch");

    // Built-in types cannot be changed or deleted.
    for method in ["PATCH", "DELETE"] {
        let a = server.call(
            method,
            "/api/v1/event-types/payment.completed",
            None,
            Some(json!({"archived": true})),
        );
        assert_error(&a, 409, "built_in_event_type");
    }
    let a = server.call(
        "PATCH",
        "/api/v1/event-types/invoice.paid",
        None,
        Some(json!({"schema": {"type": 3}})),
    );
    assert_error(&a, 422, "validation_failed");

    // A restart keeps the types, and their schemas still apply.
    server.restart();
    let a = server.call_as(
        Some(&tenant_key),
        "GET",
        "/api/v1/event-types/invoice.paid",
        None,
        None,
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["archived"], true);
    assert_eq!(a.body["description"], "Paid (old)");
    let a = post(
        &server,
        &tenant_key,
        event("inv-4", "invoice.paid", json!({"amount": "x"})),
    );
    assert_error(&a, 422, "schema_mismatch");

    // Removing the schema lets any data through.
    let a = server.call(
        "PATCH",
        "/api/v1/event-types/invoice.voided",
        None,
        Some(json!({"schema": {"type": "object", "required": ["object", "reason"]}})),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    let a = post(
        &server,
        &tenant_key,
        event("inv-v2", "invoice.voided", json!({})),
    );
    assert_error(&a, 422, "schema_mismatch");
    let a = server.call(
        "PATCH",
        "/api/v1/event-types/invoice.voided",
        None,
        Some(json!({"schema": null})),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["schema"], Value::Null);
    let a = post(
        &server,
        &tenant_key,
        event("inv-v3", "invoice.voided", json!({})),
    );
    assert_eq!(a.status, 202, "{}", a.text);

    // A backup carries them; a restored copy serves them.
    let work = tempfile::tempdir().unwrap();
    let dump = work.path().join("herald.dump");
    let restored = work.path().join("restored");
    let run = |args: &[&str]| {
        let o = Command::new(bin())
            .args(args)
            .env_remove("HERALD_SERVER")
            .env_remove("HERALD_API_KEY")
            .env_remove("HERALD_DATA_DIR")
            .output()
            .expect("run herald");
        let (out, err) = texts(&o);
        assert!(o.status.success(), "{args:?}: {out}\n{err}");
        out
    };
    let summary = run(&[
        "backup",
        "--server",
        &server.base,
        "--key",
        PLATFORM_KEY,
        "--out",
        dump.to_str().unwrap(),
    ]);
    run(&[
        "restore",
        dump.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(
        summary
            .lines()
            .any(|l| l.trim_start().starts_with("event_types") && l.trim_end().ends_with(" 2")),
        "{summary}"
    );
    run(&["check", "--data-dir", restored.to_str().unwrap()]);
    // The deletion below happens on the original only.
    let a = server.call("DELETE", "/api/v1/event-types/invoice.voided", None, None);
    assert_eq!(a.status, 204, "{}", a.text);
    let a = server.call("GET", "/api/v1/event-types/invoice.voided", None, None);
    assert_error(&a, 404, "not_found");
    let a = post(
        &server,
        &tenant_key,
        event("inv-v4", "invoice.voided", json!({})),
    );
    assert_error(&a, 422, "unknown_event_type");
    let a = server.call("DELETE", "/api/v1/event-types/invoice.voided", None, None);
    assert_error(&a, 404, "not_found");
    server.stop();

    let copy = Server::start_on(&restored, &["--allow-http"], &[]);
    let list = copy.call("GET", "/api/v1/event-types", None, None);
    let names: Vec<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["custom"] == true)
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["invoice.paid", "invoice.voided"], "{}", list.text);
    let a = copy.call("GET", "/api/v1/event-types/invoice.paid", None, None);
    assert_eq!(a.body["schema"], invoice_schema());
    assert_eq!(a.body["archived"], true);
    let a = copy.call(
        "POST",
        "/api/v1/events",
        Some(TENANT),
        Some(event("inv-5", "invoice.paid", json!({"amount": "x"}))),
    );
    assert_error(&a, 422, "schema_mismatch");
}

/// The panel's Event types page: operators add, edit, archive and delete
/// custom types (validation next to the field, escaping); the endpoint
/// form offers them by category, archived ones no longer; tenant users
/// see the catalog and cannot change it.
#[test]
fn the_panel_lists_adds_edits_archives_and_deletes_custom_types() {
    use crate::ui::{admin, Browser};
    let s = Server::start_delivering(&[]);
    let a = s.call("POST", "/api/v1/tenants", None, Some(json!({"id": TENANT})));
    assert_eq!(a.status, 201, "{}", a.text);
    let mut op = admin(&s);
    op.get("/event-types")
        .assert(200, "payment.completed")
        .assert(200, "Add an event type");

    for (fields, error) in [
        (
            vec![("name", "bad.json"), ("schema", "{")],
            "id=\"schema-error\"",
        ),
        (
            vec![("name", "bad.schema"), ("schema", r#"{"type": 3}"#)],
            "id=\"schema-error\"",
        ),
        (vec![("name", "payment.completed")], "id=\"name-error\""),
        (vec![("name", "no spaces")], "id=\"name-error\""),
    ] {
        op.get("/event-types");
        op.submit("/event-types", &fields).assert(422, error);
    }
    op.get("/event-types");
    let schema = invoice_schema().to_string();
    op.submit(
        "/event-types",
        &[
            ("name", "invoice.paid"),
            ("description", "<b>Paid</b>"),
            ("schema", &schema),
        ],
    )
    .assert_redirect("/event-types?notice=created");
    let list = op.get("/event-types?notice=created");
    list.assert(200, "Event type created")
        .assert(200, "invoice.paid")
        .assert(200, "&#60;b&#62;Paid&#60;/b&#62;");
    let a = s.call("GET", "/api/v1/event-types/invoice.paid", None, None);
    assert_eq!(a.body["schema"], invoice_schema());

    // The endpoint form offers it, and its category.
    let form = op.get("/webhooks/new");
    form.assert(200, "value=\"invoice.paid\"")
        .assert(200, "value=\"invoice.*\"");

    // Archived: no longer offered for a new subscription.
    op.get("/event-types");
    op.submit("/event-types/invoice.paid/archive", &[])
        .assert_redirect("/event-types?notice=archived");
    let form = op.get("/webhooks/new");
    assert!(
        !form.body.contains("value=\"invoice.paid\""),
        "archived: hidden"
    );
    assert!(!form.body.contains("value=\"invoice.*\""));
    op.get("/event-types").assert(200, "Archived");
    // ...but an endpoint that subscribed keeps it checked on its page.
    let ep = s.call(
        "POST",
        "/api/v1/webhooks",
        Some(TENANT),
        Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["invoice.paid"]})),
    );
    assert_eq!(ep.status, 201, "{}", ep.text);
    let page = op.get(&format!("/webhooks/{}", ep.body["id"].as_str().unwrap()));
    page.assert(200, "value=\"invoice.paid\" checked")
        .assert(200, "(archived)");

    // The edit form: unarchive and remove the schema.
    op.get("/event-types/invoice.paid")
        .assert(200, "Save changes")
        .assert(200, "&#34;minimum&#34;");
    op.submit(
        "/event-types/invoice.paid",
        &[("description", "Paid"), ("schema", "  ")],
    )
    .assert_redirect("/event-types/invoice.paid?notice=saved");
    let a = s.call("GET", "/api/v1/event-types/invoice.paid", None, None);
    assert_eq!(a.body["schema"], Value::Null, "{}", a.text);
    assert_eq!(a.body["archived"], false);
    assert_eq!(a.body["description"], "Paid");
    op.get("/event-types/invoice.paid");
    op.submit(
        "/event-types/invoice.paid",
        &[
            ("description", "Paid"),
            ("schema", "[1]"),
            ("archived", "true"),
        ],
    )
    .assert(422, "id=\"schema-error\"");
    let a = s.call("GET", "/api/v1/event-types/invoice.paid", None, None);
    assert_eq!(a.body["archived"], false, "a refused form changes nothing");

    // A tenant user reads the catalog and changes nothing.
    op.get("/users");
    op.submit(
        "/users",
        &[
            ("username", "alice"),
            ("password", "alice-password"),
            ("tenant_id", TENANT),
        ],
    )
    .assert_redirect("/users?notice=created");
    let mut alice = Browser::new(&s.base);
    alice.login_ok("alice", "alice-password");
    let page = alice.get("/event-types");
    page.assert(200, "invoice.paid");
    assert!(!page.body.contains("Add an event type"));
    assert!(
        page.body.contains("href=\"/event-types\""),
        "in the navigation"
    );
    let page = alice.get("/event-types/invoice.paid");
    page.assert(200, "invoice.paid");
    assert!(!page.body.contains("Save changes"));
    alice
        .submit("/event-types", &[("name", "tenant.made")])
        .assert(403, "Not allowed");
    alice
        .submit("/event-types/invoice.paid/delete", &[])
        .assert(403, "Not allowed");

    // Built-in types stay; a custom one goes.
    op.get("/event-types");
    op.submit("/event-types/payment.completed/delete", &[])
        .assert(409, "built-in");
    op.submit("/event-types/invoice.paid/delete", &[])
        .assert_redirect("/event-types?notice=deleted");
    let a = s.call("GET", "/api/v1/event-types/invoice.paid", None, None);
    assert_error(&a, 404, "not_found");
    op.get("/event-types/invoice.paid").assert(404, "Not found");
}
