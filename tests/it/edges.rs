//! Issue 13 (hardening): request bodies with a `Content-Encoding`, and
//! tenant ids made only of dots.

use serde_json::{json, Value};

use crate::support::*;

/// `{"id":"zipped"}`, gzip-compressed (mtime 0).
const GZIP_TENANT: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xca, 0x4c, 0x51, 0xb2,
    0x52, 0xaa, 0xca, 0x2c, 0x28, 0x48, 0x4d, 0x51, 0xaa, 0x05, 0x00, 0xcf, 0x8c, 0x0b, 0x97, 0x0f,
    0x00, 0x00, 0x00,
];

/// A POST with the platform key, a JSON content type and `encoding` as its
/// `Content-Encoding`: status, body, and whether it was an idempotent replay.
fn post_encoded(
    s: &Server,
    path: &str,
    tenant: Option<&str>,
    encoding: Option<&str>,
    idempotency_key: Option<&str>,
    body: &[u8],
) -> (Answer, bool) {
    let mut rb = test_agent()
        .post(format!("{}{path}", s.base))
        .header("Authorization", &format!("Bearer {PLATFORM_KEY}"))
        .header("Content-Type", "application/json");
    if let Some(t) = tenant {
        rb = rb.header("X-Tenant-ID", t);
    }
    if let Some(e) = encoding {
        rb = rb.header("Content-Encoding", e);
    }
    if let Some(k) = idempotency_key {
        rb = rb.header("Idempotency-Key", k);
    }
    let mut res = rb.send(body).expect("request");
    let replayed = res.headers().get("idempotent-replayed").is_some();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (Answer { status, body, text }, replayed)
}

fn tenant_ids(s: &Server) -> Vec<String> {
    let a = s.call("GET", "/api/v1/tenants?limit=100", None, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let mut ids: Vec<String> = a.body["data"]
        .as_array()
        .expect("a page of tenants")
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[test]
fn bodies_with_a_content_encoding_are_refused_before_reading_and_change_nothing() {
    let s = Server::start();
    let tenants_before = tenant_ids(&s);

    // A real gzip body, and plain JSON under labels that are not identity.
    let plain = json!({"id": "labelled"}).to_string();
    let cases: [(&str, &[u8]); 4] = [
        ("gzip", GZIP_TENANT),
        ("bogus", plain.as_bytes()),
        ("GZIP", plain.as_bytes()),
        ("identity, gzip", plain.as_bytes()),
    ];
    for (encoding, body) in cases {
        let (a, _) = post_encoded(&s, "/api/v1/tenants", None, Some(encoding), None, body);
        assert_error(&a, 415, "unsupported_encoding");
    }
    assert_eq!(tenant_ids(&s), tenants_before, "no tenant was created");

    // Endpoints and events (the ingest path) the same; nothing is stored,
    // not even the idempotency key or an implicitly created tenant.
    let endpoint = json!({"url": "https://hooks.example.com/a", "events": ["*"]}).to_string();
    for encoding in ["gzip", "bogus", "deflate", "br"] {
        let (a, _) = post_encoded(
            &s,
            "/api/v1/webhooks",
            Some("enc_tenant"),
            Some(encoding),
            None,
            endpoint.as_bytes(),
        );
        assert_error(&a, 415, "unsupported_encoding");
        let event = json!({"event": "order.created", "data": {"object": {"id": "o1"}}});
        let (a, _) = post_encoded(
            &s,
            "/api/v1/events",
            Some("enc_tenant"),
            Some(encoding),
            Some("enc-key-1"),
            event.to_string().as_bytes(),
        );
        assert_error(&a, 415, "unsupported_encoding");
        let batch = json!({"events": [event]});
        let (a, _) = post_encoded(
            &s,
            "/api/v1/events/batch",
            Some("enc_tenant"),
            Some(encoding),
            None,
            batch.to_string().as_bytes(),
        );
        assert_error(&a, 415, "unsupported_encoding");
    }
    assert_eq!(tenant_ids(&s), tenants_before, "no tenant was created");

    // `identity`, in any case, and no header at all, work.
    let (a, _) = post_encoded(
        &s,
        "/api/v1/tenants",
        None,
        Some("Identity"),
        None,
        json!({"id": "ident"}).to_string().as_bytes(),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let (a, _) = post_encoded(
        &s,
        "/api/v1/webhooks",
        Some("ident"),
        Some("identity"),
        None,
        endpoint.as_bytes(),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let list = s.call("GET", "/api/v1/webhooks", Some("ident"), None);
    assert_eq!(list.status, 200, "{}", list.text);
    let event = json!({"event": "order.created", "data": {"object": {"id": "o1"}}});
    let (a, replayed) = post_encoded(
        &s,
        "/api/v1/events",
        Some("enc_tenant"),
        Some("identity"),
        Some("enc-key-1"),
        event.to_string().as_bytes(),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    assert!(!replayed, "the refused requests stored no idempotency key");
    let (a, _) = post_encoded(
        &s,
        "/api/v1/events",
        Some("ident"),
        None,
        None,
        event.to_string().as_bytes(),
    );
    assert_eq!(a.status, 202, "{}", a.text);
    let mut expected = tenants_before.clone();
    expected.extend(["enc_tenant".to_string(), "ident".to_string()]);
    expected.sort();
    assert_eq!(tenant_ids(&s), expected);
}
