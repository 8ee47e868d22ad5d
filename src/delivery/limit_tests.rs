//! The engine under an endpoint's rate limit, on a manual clock: what
//! waits is neither lost nor counted as a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::clock::ManualClock;
use crate::domain::delivery::{Delivery, DeliveryState, Verdict};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::{generated_id, Event};
use crate::domain::ids::{new_ulid, DeliveryId};
use crate::domain::netguard::IpPolicy;
use crate::store::NewEvent;

/// A loopback receiver answering 200 to every request; counts them.
fn receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(AtomicUsize::new(0));
    let n = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = n.clone();
            std::thread::spawn(move || {
                let Ok(mut w) = stream.try_clone() else {
                    return;
                };
                let mut r = BufReader::new(stream);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end().to_ascii_lowercase();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    n.fetch_add(1, Ordering::SeqCst);
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if w.write_all(ok).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn endpoint(url: &str, at: Timestamp) -> Endpoint {
    Endpoint {
        id: EndpointId::new(at),
        tenant_id: "acme".into(),
        url: url.into(),
        events: vec!["*".into()],
        description: String::new(),
        active: true,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        previous_secrets: vec![],
        disabled_reason: None,
        revision: 0,
        created_at: at,
        updated_at: at,
        uid: None,
        headers: Default::default(),
        channels: Vec::new(),
        metadata: Default::default(),
        svix_headers: false,
        rate_limit: None,
        ordered: false,
        kind: Default::default(),
        stream_seen_at: None,
    }
}

/// An event with one delivery to `ep`, due at `at`.
fn event(ep: EndpointId, at: Timestamp) -> NewEvent {
    let key = new_ulid(at).0;
    let d = Delivery {
        id: DeliveryId::new(at),
        event_key: key,
        event_id: generated_id(key),
        event_type: "order.created".into(),
        endpoint_id: ep,
        tenant_id: "acme".into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at: Some(at),
        held: false,
        last_status: None,
        last_error: None,
        created_at: at,
        updated_at: at,
    };
    NewEvent {
        event: Event {
            key,
            id: generated_id(key),
            tenant_id: "acme".into(),
            event_type: "order.created".into(),
            created: at,
            received_at: at,
            body: b"{}".to_vec(),
            deliveries: vec![(d.id.as_u128(), ep.as_u128())],
            channels: Vec::new(),
            tags: Vec::new(),
        },
        deliveries: vec![d],
    }
}

fn engine(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Engine {
    let policy = IpPolicy::new(IpPolicy::parse_list("127.0.0.0/8").expect("valid"));
    Engine::start(
        store,
        clock,
        EngineConfig {
            workers: 4,
            per_endpoint: 4,
            retry_schedule: vec![Duration::from_secs(1)],
            client: client::ClientConfig {
                policy,
                ..Default::default()
            },
            disable_after: Duration::from_secs(3600),
            events: None,
            paused: false,
        },
    )
    .expect("engine")
}

/// Waits (real time) until the engine has nothing in flight and the
/// count stopped moving: the manual clock may move on.
fn settle(engine: &Engine, seen: &AtomicUsize) {
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(15));
        let now = seen.load(Ordering::SeqCst);
        if now == last && engine.stats().in_flight == 0 {
            return;
        }
        last = now;
    }
}

#[test]
fn an_endpoint_limited_to_5_a_second_gets_at_most_5_in_any_second_and_all_100_arrive() {
    let t0 = Timestamp::from_millis(1_705_314_600_000);
    let clock = Arc::new(ManualClock::new(t0));
    let store: Arc<dyn Store> = crate::store::temporary();
    let (url, seen) = receiver();
    let ep = Endpoint {
        rate_limit: Some(5),
        ..endpoint(&url, t0)
    };
    store.insert_endpoint(&ep).unwrap();
    let events: Vec<NewEvent> = (0..100).map(|_| event(ep.id, t0)).collect();
    let ids: Vec<DeliveryId> = events.iter().map(|e| e.deliveries[0].id).collect();
    store.commit_events(events, None).wait().unwrap();

    let engine = engine(store.clone(), clock.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    settle(&engine, &seen);
    // The first instant: one send, the other 99 wait.
    assert_eq!(seen.load(Ordering::SeqCst), 1, "one slot at t0");
    while seen.load(Ordering::SeqCst) < 100 {
        assert!(Instant::now() < deadline, "all 100 arrive");
        clock.advance_ms(50);
        engine.scheduler().wake();
        settle(&engine, &seen);
    }
    engine.shutdown();

    // Every delivery succeeded on its one attempt: waiting was no failure.
    let mut starts = Vec::new();
    for id in &ids {
        let d = store.delivery(*id).unwrap().unwrap();
        assert_eq!(d.state, DeliveryState::Succeeded, "{id}");
        let attempts = store.attempts(*id).unwrap();
        assert_eq!(attempts.len(), 1, "{id}: one attempt, no failed ones");
        assert_eq!(attempts[0].verdict, Verdict::Success);
        starts.push(attempts[0].started_at.as_millis());
    }
    starts.sort_unstable();
    for (i, t) in starts.iter().enumerate() {
        let in_second = starts[i..].iter().take_while(|u| **u < t + 1000).count();
        assert!(in_second <= 5, "{in_second} sends in the second from {t}");
    }
    // 100 at 5 a second: the last went nearly 20 s after the first.
    assert!(
        starts[99] - starts[0] >= 19_800,
        "{}",
        starts[99] - starts[0]
    );
    assert_eq!(
        store.endpoint_health(ep.id).unwrap().consecutive_failures,
        0
    );
}
