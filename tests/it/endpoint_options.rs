//! Issue 16: what an endpoint carries beyond its URL — custom headers
//! (never one Herald owns), channels, a uid, metadata and Svix's header
//! names — through the native API and a real delivery.

use std::time::Duration;

use serde_json::{json, Value};

use crate::sink::*;
use crate::support::*;

const T: Option<&str> = Some("company_xyz");

fn create(s: &Server, body: Value) -> Answer {
    s.call("POST", "/api/v1/webhooks", T, Some(body))
}

#[test]
fn custom_headers_and_svix_names_arrive_with_every_attempt_and_owned_names_are_refused() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    let a = create(
        &s,
        json!({"url": sink.url(), "events": ["*"],
               "headers": {"X-Api-Key": "k-123", "X-Trace": "on"}, "svix_headers": true}),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["headers"]["X-Api-Key"], "k-123");
    assert_eq!(a.body["svix_headers"], true);
    let id = a.body["id"].as_str().unwrap().to_string();

    let e = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "order.created", "data": {"object": {"id": "o1"}}})),
    );
    assert_eq!(e.status, 202, "{}", e.text);
    let got = sink.take(1, Duration::from_secs(20)).remove(0);
    assert_eq!(got.header("x-api-key"), Some("k-123"));
    assert_eq!(got.header("x-trace"), Some("on"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(got.header("webhook-id").is_some());
    assert_eq!(got.header("svix-id"), got.header("webhook-id"));
    assert_eq!(
        got.header("svix-timestamp"),
        got.header("webhook-timestamp")
    );
    assert_eq!(
        got.header("svix-signature"),
        got.header("webhook-signature")
    );

    // Names Herald sets, or that belong to the connection, are refused
    // with a clear 422 on create and on update, and change nothing.
    for name in [
        "Content-Type",
        "Host",
        "X-BrainSAIT-Signature",
        "webhook-signature",
        "svix-id",
        "Transfer-Encoding",
        "Connection",
    ] {
        let bad = create(
            &s,
            json!({"url": "http://127.0.0.1:9/other", "events": ["*"], "headers": {name: "x"}}),
        );
        assert_error(&bad, 422, "validation_failed");
        assert!(bad.text.contains(name), "{name}: {}", bad.text);
        let bad = s.call(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            T,
            Some(json!({"headers": {name: "x"}})),
        );
        assert_error(&bad, 422, "validation_failed");
    }
    let bad = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        T,
        Some(json!({"headers": {"X-Evil": "a\r\nX-Injected: 1"}})),
    );
    assert_error(&bad, 422, "validation_failed");
    let now = s.call("GET", &format!("/api/v1/webhooks/{id}"), T, None);
    assert_eq!(
        now.body["headers"],
        json!({"X-Api-Key": "k-123", "X-Trace": "on"})
    );
    let listed = s.call("GET", "/api/v1/webhooks", T, None);
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );

    // Replaced as a whole set; Svix's names switched off.
    let p = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{id}"),
        T,
        Some(json!({"headers": {"Authorization": "Bearer abc"}, "svix_headers": false})),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "order.created", "data": {"object": {"id": "o2"}}})),
    );
    let got = sink.take(1, Duration::from_secs(20)).remove(0);
    assert_eq!(got.header("authorization"), Some("Bearer abc"));
    assert_eq!(got.header("x-api-key"), None);
    assert_eq!(got.header("svix-id"), None);
}

#[test]
fn channels_narrow_fan_out_and_uids_are_unique_per_tenant() {
    let s = Server::start_delivering(&[]);
    let sink = Sink::status(200);
    let mk = |path: &str, channels: Value| {
        let a = create(
            &s,
            json!({"url": format!("{}/{path}", sink.url()), "events": ["*"], "channels": channels}),
        );
        assert_eq!(a.status, 201, "{}", a.text);
        a.body["id"].as_str().unwrap().to_string()
    };
    let all = mk("all", json!([]));
    let eu = mk("eu", json!(["eu", "project:1"]));
    let us = mk("us", json!(["us"]));
    let deliveries_of = |body: Value| {
        let e = s.call("POST", "/api/v1/events", T, Some(body));
        assert_eq!(e.status, 202, "{}", e.text);
        let id = e.body["id"].as_str().unwrap().to_string();
        let got = s.call("GET", &format!("/api/v1/events/{id}"), T, None);
        let mut eps: Vec<String> = got.body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["webhook_id"].as_str().unwrap().to_string())
            .collect();
        eps.sort();
        (eps, got.body)
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let (eps, body) = deliveries_of(
        json!({"event": "order.created", "data": {"object": {}}, "channels": ["project:1"]}),
    );
    assert_eq!(eps, sorted(vec![all.clone(), eu.clone()]));
    assert_eq!(body["channels"], json!(["project:1"]));
    let (eps, _) = deliveries_of(json!({"event": "order.created", "data": {"object": {}}}));
    assert_eq!(
        eps,
        vec![all.clone()],
        "no channels: only endpoints without channels"
    );
    let (eps, _) = deliveries_of(
        json!({"event": "order.created", "data": {"object": {}}, "channels": ["us", "eu"]}),
    );
    assert_eq!(eps, sorted(vec![all.clone(), eu.clone(), us.clone()]));
    let bad = s.call(
        "POST",
        "/api/v1/events",
        T,
        Some(json!({"event": "order.created", "data": {"object": {}}, "channels": ["a b"]})),
    );
    assert_error(&bad, 422, "validation_failed");
    let bad = create(
        &s,
        json!({"url": format!("{}/x", sink.url()), "events": ["*"], "channels": ["a b"]}),
    );
    assert_error(&bad, 422, "validation_failed");

    // A uid is unique within the tenant (409), free again once cleared.
    let p = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{eu}"),
        T,
        Some(json!({"uid": "billing", "metadata": {"team": "payments"}})),
    );
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["uid"], "billing");
    assert_eq!(p.body["metadata"], json!({"team": "payments"}));
    let dup = create(
        &s,
        json!({"url": format!("{}/dup", sink.url()), "events": ["*"], "uid": "billing"}),
    );
    assert_error(&dup, 409, "duplicate_uid");
    let other = s.call(
        "POST",
        "/api/v1/webhooks",
        Some("other_tenant"),
        Some(json!({"url": format!("{}/dup", sink.url()), "events": ["*"], "uid": "billing"})),
    );
    assert_eq!(
        other.status, 201,
        "another tenant may use it: {}",
        other.text
    );
    let cleared = s.call(
        "PATCH",
        &format!("/api/v1/webhooks/{eu}"),
        T,
        Some(json!({"uid": null})),
    );
    assert_eq!(cleared.body["uid"], Value::Null, "{}", cleared.text);
    let again = create(
        &s,
        json!({"url": format!("{}/dup", sink.url()), "events": ["*"], "uid": "billing"}),
    );
    assert_eq!(again.status, 201, "{}", again.text);
    let bad = create(
        &s,
        json!({"url": format!("{}/y", sink.url()), "events": ["*"], "uid": "ep_x"}),
    );
    assert_error(&bad, 422, "validation_failed");

    // A secret brought from another sender is used as given; a malformed
    // one is refused.
    let given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let a = create(
        &s,
        json!({"url": format!("{}/given", sink.url()), "events": ["*"], "secret": given}),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["secret"], given);
    for bad in [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_c2hvcnQ=",
        "whsec_!!!",
    ] {
        let b = create(
            &s,
            json!({"url": format!("{}/bad", sink.url()), "events": ["*"], "secret": bad}),
        );
        assert_error(&b, 422, "validation_failed");
    }

    // Tenants carry metadata too.
    let t = s.call(
        "PATCH",
        "/api/v1/tenants/company_xyz",
        None,
        Some(json!({"metadata": {"plan": "pro"}})),
    );
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["metadata"], json!({"plan": "pro"}));
    let t = s.call("GET", "/api/v1/tenants/company_xyz", None, None);
    assert_eq!(t.body["metadata"], json!({"plan": "pro"}));
}
