//! One fixture per stored record type, in the format version `encode`
//! writes today (`fixtures/<kind>_v<N>.bin`), decoded and compared field
//! by field: a codec or type change that would make stored data
//! unreadable fails here. When a type gets a new format, keep its fixture
//! (it is the old version's now: decode it through the upgrade branch)
//! and add one for the new version. Regenerate a lost fixture only with
//! `cargo test write_record_fixtures -- --ignored`.

use super::codec::Versioned;
use crate::domain::alert::{Alert, Rule, State, Transition};
use crate::domain::apikey::{ApiKey, KeyScope};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState, Verdict};
use crate::domain::endpoint::{Endpoint, EndpointKind, RetiredSecret};
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::idempotent::{Remembered, SavedAnswer};
use crate::domain::ids::{AttemptId, DeliveryId, EndpointId, KeyId};
use crate::domain::lastuse::LastUse;
use crate::domain::portal::{Portal, Stage};
use crate::domain::session::Session;
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::{Role, User};

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_705_314_600_000 + ms)
}

fn id16(n: u8) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0x01;
    b[15] = n;
    b
}

fn tenant() -> Tenant {
    Tenant {
        id: "company_xyz".into(),
        name: "Company XYZ".into(),
        suspended: true,
        created_at: t(0),
        updated_at: t(1),
        metadata: [("plan".to_string(), "pro".to_string())].into(),
    }
}

fn api_keys() -> Vec<ApiKey> {
    vec![
        ApiKey {
            id: KeyId::from_bytes(id16(1)),
            name: "backend".into(),
            scope: KeyScope::Tenant("company_xyz".into()),
            hash: [7; 32],
            hint: "htk_ab…yz".into(),
            created_at: t(2),
            revoked_at: Some(t(3)),
        },
        ApiKey {
            id: KeyId::from_bytes(id16(2)),
            name: "platform".into(),
            scope: KeyScope::Platform,
            hash: [9; 32],
            hint: "hpk_cd…wx".into(),
            created_at: t(4),
            revoked_at: None,
        },
    ]
}

fn users() -> Vec<User> {
    vec![
        User {
            username: "admin".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            role: Role::Operator,
            created_at: t(5),
            disabled_at: None,
        },
        User {
            username: "ops@company".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into(),
            role: Role::Tenant("company_xyz".into()),
            created_at: t(6),
            disabled_at: Some(t(21)),
        },
    ]
}

fn last_use() -> LastUse {
    LastUse { at: t(22) }
}

fn event() -> Event {
    Event {
        key: u128::from_be_bytes(id16(3)),
        id: "evt_1234567890".into(),
        tenant_id: "company_xyz".into(),
        event_type: "payment.completed".into(),
        created: t(7),
        received_at: t(8),
        body: br#"{"id":"evt_1234567890","data":{"object":{"amount":29999}}}"#.to_vec(),
        deliveries: vec![
            (u128::from_be_bytes(id16(4)), u128::from_be_bytes(id16(5))),
            (u128::from_be_bytes(id16(6)), u128::from_be_bytes(id16(7))),
        ],
        channels: vec!["project:1".into()],
        tags: vec!["vip".into()],
    }
}

fn delivery() -> Delivery {
    Delivery {
        id: DeliveryId::from_bytes(id16(4)),
        event_key: u128::from_be_bytes(id16(3)),
        event_id: "evt_1234567890".into(),
        event_type: "payment.completed".into(),
        endpoint_id: EndpointId::from_bytes(id16(5)),
        tenant_id: "company_xyz".into(),
        state: DeliveryState::Pending,
        attempts: 2,
        next_attempt_at: Some(t(9)),
        held: true,
        last_status: Some(503),
        last_error: Some("connection reset".into()),
        created_at: t(8),
        updated_at: t(10),
    }
}

fn attempt() -> Attempt {
    Attempt {
        id: AttemptId::from_bytes(id16(8)),
        delivery_id: DeliveryId::from_bytes(id16(4)),
        number: 2,
        started_at: t(11),
        url: "https://your-app.com/webhooks/brainsait".into(),
        request_headers: vec![("content-type".into(), "application/json".into())],
        status: Some(503),
        response_headers: vec![("retry-after".into(), "30".into())],
        response_body: b"busy".to_vec(),
        response_truncated: true,
        latency_ms: 1234,
        error_kind: Some("status_5xx".into()),
        error_message: None,
        verdict: Verdict::Retry,
        next_attempt_at: Some(t(9)),
    }
}

fn health() -> Health {
    Health {
        consecutive_failures: 3,
        last_success_at: Some(t(12)),
        failing_since: Some(t(13)),
        last_attempt_at: None,
    }
}

fn session() -> Session {
    Session {
        id_hash: [3; 32],
        username: "admin".into(),
        csrf: "csrf-token-0123".into(),
        tenant: Some("company_xyz".into()),
        created_at: t(14),
        last_seen_at: t(15),
        portal: Some(Portal {
            read_only: true,
            return_url: Some("https://store.example/settings".into()),
            ends_at: t(16),
            stage: Stage::Link {
                session_ms: 600_000,
            },
        }),
    }
}

fn stats() -> Stats {
    let mut histogram = [0u64; 13];
    for (i, h) in histogram.iter_mut().enumerate() {
        *h = i as u64 * 3;
    }
    Stats {
        attempts: 10,
        successes: 7,
        retries: 2,
        failures_by_kind: vec![("status_5xx".into(), 2), ("timeout".into(), 1)],
        delivered: 6,
        given_up: 1,
        responses: 9,
        latency_sum_ms: 4321,
        histogram,
    }
}

fn alert() -> Alert {
    Alert {
        rule: Rule::EndpointDown,
        endpoint_id: EndpointId::from_bytes(id16(5)),
        tenant_id: "company_xyz".into(),
        state: State::Firing,
        since: t(16),
        detail: "5 consecutive failed attempts".into(),
    }
}

fn transition() -> Transition {
    Transition {
        rule: Rule::SlowResponses,
        endpoint_id: EndpointId::from_bytes(id16(5)),
        tenant_id: "company_xyz".into(),
        url: "https://your-app.com/webhooks/brainsait".into(),
        to: State::Ok,
        at: t(17),
        detail: "p95 1.2 s".into(),
    }
}

fn endpoint() -> Endpoint {
    Endpoint {
        id: EndpointId::from_bytes(id16(5)),
        tenant_id: "company_xyz".into(),
        url: "https://your-app.com/webhooks/brainsait".into(),
        events: vec!["payment.*".into(), "order.created".into()],
        description: "Main webhook endpoint".into(),
        active: false,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secrets: vec![RetiredSecret {
            secret: "whsec_b2xkc2VjcmV0b2xkc2VjcmV0b2xkc2Vj".into(),
            expires_at: t(18),
        }],
        disabled_reason: Some("the receiver answered 410 Gone".into()),
        revision: 7,
        created_at: t(19),
        updated_at: t(20),
        uid: Some("billing-hook".into()),
        headers: [("X-Api-Key".to_string(), "k-123".to_string())].into(),
        channels: vec!["project:1".into(), "eu".into()],
        metadata: [("team".to_string(), "billing".to_string())].into(),
        svix_headers: true,
        rate_limit: Some(5),
        ordered: true,
        kind: EndpointKind::Stream,
        stream_seen_at: Some(t(24)),
    }
}

fn answers() -> Vec<Remembered> {
    vec![
        Remembered::Done(SavedAnswer {
            status: 201,
            body: br#"{"id":"app_1"}"#.to_vec(),
            at: t(30),
        }),
        Remembered::Running { since: t(31) },
    ]
}

fn event_type() -> CustomEventType {
    CustomEventType {
        name: "invoice.paid".into(),
        description: "An invoice was paid".into(),
        schema: Some(r#"{"type":"object","required":["object"]}"#.into()),
        archived: true,
        created_at: t(22),
        updated_at: t(23),
    }
}

/// Every fixture: its file name (kind and version) and its bytes as the
/// current encoder writes the sample.
fn all() -> Vec<(String, Vec<u8>)> {
    fn one<T: Versioned>(name: &str, v: &T) -> (String, Vec<u8>) {
        (format!("{name}_v{}.bin", T::VERSION), v.encode())
    }
    let keys = api_keys();
    let us = users();
    vec![
        one("tenant", &tenant()),
        one("api_key_tenant", &keys[0]),
        one("api_key_platform", &keys[1]),
        one("user_operator", &us[0]),
        one("user_tenant", &us[1]),
        one("event", &event()),
        one("delivery", &delivery()),
        one("attempt", &attempt()),
        one("health", &health()),
        one("session", &session()),
        one("stats", &stats()),
        one("alert", &alert()),
        one("transition", &transition()),
        one("endpoint", &endpoint()),
        one("last_use", &last_use()),
        one("answer_done", &answers()[0]),
        one("answer_running", &answers()[1]),
        one("event_type", &event_type()),
    ]
}

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/fixtures")
}

#[test]
#[ignore = "writes the fixtures; run by hand only, for a lost one"]
fn write_record_fixtures() {
    for (name, bytes) in all() {
        let path = dir().join(&name);
        if !path.exists() {
            std::fs::write(path, bytes).unwrap();
        }
    }
}

/// The committed bytes of a fixture (read at test time, so a format
/// version bump shows as a missing file rather than a stale include).
fn fixture<T: Versioned>(name: &str) -> T {
    let file = format!("{name}_v{}.bin", T::VERSION);
    let bytes = std::fs::read(dir().join(&file))
        .unwrap_or_else(|e| panic!("fixture {file}: {e} (a new format needs its fixture)"));
    assert_eq!(
        bytes[0],
        T::VERSION,
        "{file} is a version {} record",
        T::VERSION
    );
    T::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_record_type_decodes_from_its_committed_fixture() {
    let t0 = t(0);
    let tn: Tenant = fixture("tenant");
    assert_eq!(tn, tenant());
    assert!(tn.suspended && tn.created_at == t0);

    let k: ApiKey = fixture("api_key_tenant");
    assert_eq!(k, api_keys()[0]);
    assert_eq!(k.scope, KeyScope::Tenant("company_xyz".into()));
    assert_eq!(k.revoked_at, Some(t(3)));
    let k: ApiKey = fixture("api_key_platform");
    assert_eq!(k, api_keys()[1]);
    assert_eq!((k.scope, k.hash), (KeyScope::Platform, [9; 32]));

    let u: User = fixture("user_operator");
    assert_eq!(u, users()[0]);
    assert_eq!(u.role, Role::Operator);
    let u: User = fixture("user_tenant");
    assert_eq!(u.role, Role::Tenant("company_xyz".into()));
    assert_eq!(u.disabled_at, Some(t(21)));

    let e: Event = fixture("event");
    assert_eq!(e, event());
    assert_eq!(e.deliveries.len(), 2);
    assert!(e.body.starts_with(b"{\"id\":\"evt_1234567890\""));

    let d: Delivery = fixture("delivery");
    assert_eq!(d, delivery());
    assert_eq!(
        (d.state, d.attempts, d.held),
        (DeliveryState::Pending, 2, true)
    );
    assert_eq!(d.last_error.as_deref(), Some("connection reset"));

    let a: Attempt = fixture("attempt");
    assert_eq!(a, attempt());
    assert_eq!(
        (a.verdict, a.status, a.latency_ms),
        (Verdict::Retry, Some(503), 1234)
    );

    let h: Health = fixture("health");
    assert_eq!(h, health());
    assert_eq!(h.consecutive_failures, 3);

    let s: Session = fixture("session");
    assert_eq!(s, session());
    assert_eq!(s.tenant.as_deref(), Some("company_xyz"));

    let st: Stats = fixture("stats");
    assert_eq!(st, stats());
    assert_eq!((st.attempts, st.histogram[12]), (10, 36));

    let al: Alert = fixture("alert");
    assert_eq!(al, alert());
    assert_eq!((al.rule, al.state), (Rule::EndpointDown, State::Firing));

    let tr: Transition = fixture("transition");
    assert_eq!(tr, transition());
    assert_eq!((tr.rule, tr.to), (Rule::SlowResponses, State::Ok));

    let lu: LastUse = fixture("last_use");
    assert_eq!(lu, last_use());

    let done: Remembered = fixture("answer_done");
    assert_eq!(done, answers()[0]);
    assert_eq!(done.at(), t(30));
    let running: Remembered = fixture("answer_running");
    assert_eq!(running, answers()[1]);

    let ep: Endpoint = fixture("endpoint");
    assert_eq!(ep, endpoint());
    assert_eq!(ep.revision, 7);
    assert_eq!(ep.previous_secrets.len(), 1);

    let ty: CustomEventType = fixture("event_type");
    assert_eq!(ty, event_type());
    assert!(ty.archived && ty.schema.is_some());
}

#[test]
fn the_fixtures_are_what_the_encoder_writes_today() {
    // Same bytes both ways: the committed fixture is the current format
    // (a change of encoding that still decodes would pass the test above
    // and silently write something else; it needs a new version).
    for (name, bytes) in all() {
        let committed =
            std::fs::read(dir().join(&name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
        assert_eq!(committed, bytes, "{name}");
    }
}

#[test]
fn sessions_written_in_format_1_decode_as_panel_sessions() {
    // The fixture committed while format 1 was current: before the portal.
    let bytes = std::fs::read(dir().join("session_v1.bin")).unwrap();
    assert_eq!(bytes[0], 1, "session_v1.bin is a format-1 record");
    let s = Session::decode(&bytes).unwrap();
    assert_eq!(
        s,
        Session {
            portal: None,
            ..session()
        }
    );
    assert_eq!(s.encode()[0], Session::VERSION);
    assert_eq!(Session::decode(&s.encode()).unwrap(), s);
}

#[test]
fn users_written_in_format_1_decode_as_enabled() {
    // The fixtures committed while format 1 was current: before users
    // could be disabled.
    for (name, want) in [("user_operator", &users()[0]), ("user_tenant", &users()[1])] {
        let file = format!("{name}_v1.bin");
        let bytes = std::fs::read(dir().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(bytes[0], 1, "{file} is a format-1 record");
        let u = User::decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            u,
            User {
                disabled_at: None,
                ..want.clone()
            },
            "{file}"
        );
        assert!(u.enabled());
        // Written again, it is the current format.
        assert_eq!(u.encode()[0], User::VERSION);
        assert_eq!(User::decode(&u.encode()).unwrap(), u);
    }
}

#[test]
fn records_written_before_channels_headers_and_metadata_decode_without_them() {
    // The fixtures committed while the previous formats were current.
    let old = |file: &str, version: u8| {
        let bytes = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(bytes[0], version, "{file}");
        bytes
    };
    let tn = Tenant::decode(&old("tenant_v1.bin", 1)).unwrap();
    assert_eq!(
        tn,
        Tenant {
            metadata: Default::default(),
            ..tenant()
        }
    );
    let e = Event::decode(&old("event_v1.bin", 1)).unwrap();
    assert_eq!(
        e,
        Event {
            channels: vec![],
            tags: vec![],
            ..event()
        }
    );
    let ep = Endpoint::decode(&old("endpoint_v3.bin", 3)).unwrap();
    assert_eq!(
        ep,
        Endpoint {
            uid: None,
            headers: Default::default(),
            channels: vec![],
            metadata: Default::default(),
            svix_headers: false,
            rate_limit: None,
            ordered: false,
            kind: EndpointKind::Url,
            stream_seen_at: None,
            ..endpoint()
        }
    );
    let ep4 = Endpoint::decode(&old("endpoint_v4.bin", 4)).unwrap();
    assert_eq!(
        ep4,
        Endpoint {
            rate_limit: None,
            ordered: false,
            kind: EndpointKind::Url,
            stream_seen_at: None,
            ..endpoint()
        },
        "an endpoint written before streams is a URL endpoint"
    );
    assert_eq!(Endpoint::decode(&ep4.encode()).unwrap(), ep4);
    let ep5 = Endpoint::decode(&old("endpoint_v5.bin", 5)).unwrap();
    assert_eq!(
        ep5,
        Endpoint {
            rate_limit: None,
            ordered: false,
            ..endpoint()
        },
        "format 5: before rate limits and ordered endpoints"
    );
    assert_eq!(Endpoint::decode(&ep5.encode()).unwrap(), ep5);
    // Written again, each is the current format.
    assert_eq!(Endpoint::decode(&ep.encode()).unwrap(), ep);
    assert_eq!(ep.encode()[0], Endpoint::VERSION);
}

#[test]
fn attempts_written_in_format_1_decode_the_same_and_are_rewritten_packed() {
    // Committed while format 1 (headers as text) was current.
    let bytes = std::fs::read(dir().join("attempt_v1.bin")).unwrap();
    assert_eq!(bytes[0], 1, "attempt_v1.bin is a format-1 record");
    let a = Attempt::decode(&bytes).unwrap();
    assert_eq!(a, attempt());
    let again = a.encode();
    assert_eq!(again[0], Attempt::VERSION);
    assert_eq!(Attempt::decode(&again).unwrap(), a);
    assert!(again.len() < bytes.len(), "format 2 is the smaller one");
}
