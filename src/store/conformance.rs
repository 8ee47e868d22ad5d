//! The store conformance suite: every behaviour the services rely on, as
//! tests generic over a backend's constructor, plus a model-based property
//! test (random sequences of pipeline writes against a plain in-memory
//! model). Each backend runs all of it unchanged through [`suite!`]:
//!
//! ```ignore
//! crate::store::conformance::suite!(|| Arc::new(SledStore::temporary().unwrap()));
//! ```
//!
//! A new backend is done when this suite passes against it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::domain::apikey::{hash_key, KeyScope};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState, Status, Verdict};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::{generated_id, Event};
use crate::domain::ids::{new_ulid, AttemptId, DeliveryId, EndpointId, KeyId};
use crate::domain::session::Session;
use crate::domain::tenant::Tenant;

/// Makes a new, empty store.
pub type Factory = fn() -> Arc<dyn Store>;

/// Generates one `#[test]` per behaviour of this suite for the backend
/// that `$factory` (a `fn() -> Arc<dyn Store>`) opens.
macro_rules! suite {
    ($factory:expr) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            const NEW: $crate::store::conformance::Factory = $factory;
            $crate::store::conformance::suite!(@tests NEW;
                endpoint_urls_are_unique_per_tenant_and_follow_updates,
                endpoint_uids_are_unique_per_tenant_and_follow_updates,
                lists_page_with_an_exclusive_cursor,
                every_write_shows_in_the_next_read,
                sessions_round_trip_and_delete,
                a_session_is_taken_exactly_once,
                event_types_round_trip_by_name,
                users_are_removed_with_their_last_login_and_uses_are_kept_apart,
                client_ids_deduplicate_per_tenant,
                idempotency_keys_answer_within_their_window,
                an_update_or_attempt_moves_the_indexes,
                the_first_pending_delivery_of_an_endpoint_follows_its_state,
                attempts_count_into_health_and_statistics,
                an_attempt_recorded_behind_shows_in_the_next_read,
                purge_takes_ended_events_whole_and_keeps_pending_ones,
                purge_rows_removes_what_ended_and_keeps_fresh_keys,
                the_log_filters_and_pages_newest_first,
                writes_match_a_model_of_the_pipeline,
                recovering_a_healthy_store_changes_nothing,
                export_then_import_finds_everything,
                export_leaves_out_what_came_after_its_event_scan,
                the_event_purge_waits_for_an_export,
                answers_are_claimed_once_remembered_and_purged,
                a_deleted_tenant_is_gone,
                event_scans_keep_to_the_tenant_range_and_budget,
                a_streams_ready_deliveries_are_held_then_due_ones,
                a_guarded_update_loses_to_a_write_since_its_read,
                an_alert_transition_is_made_once,
            );
        }
    };
    (@tests $new:ident; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::store::conformance::$name($new);
            }
        )*
    };
}
pub(crate) use suite;

pub(crate) fn t0() -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000)
}

pub(crate) fn endpoint(tenant: &str, url: &str) -> Endpoint {
    let t = t0();
    Endpoint {
        id: EndpointId::new(t),
        tenant_id: tenant.into(),
        url: url.into(),
        events: vec!["*".into()],
        description: String::new(),
        active: true,
        secret: "whsec_x".into(),
        previous_secrets: vec![],
        disabled_reason: None,
        revision: 0,
        created_at: t,
        updated_at: t,
        uid: None,
        headers: Default::default(),
        channels: Vec::new(),
        metadata: Default::default(),
        svix_headers: false,
        rate_limit: None,
        ordered: false,
        kind: crate::domain::endpoint::EndpointKind::Url,
        stream_seen_at: None,
    }
}

pub(crate) fn delivery(tenant: &str, ep: EndpointId, event_key: u128, at: Timestamp) -> Delivery {
    Delivery {
        id: DeliveryId::new(at),
        event_key,
        event_id: generated_id(event_key),
        event_type: "order.created".into(),
        endpoint_id: ep,
        tenant_id: tenant.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at: Some(at),
        held: false,
        last_status: None,
        last_error: None,
        created_at: at,
        updated_at: at,
    }
}

/// An event of `tenant` received at `at`, with one pending delivery to
/// each of `endpoints`.
pub(crate) fn new_event(
    tenant: &str,
    at: Timestamp,
    id: Option<&str>,
    endpoints: &[EndpointId],
) -> NewEvent {
    let key = new_ulid(at).0;
    let deliveries: Vec<Delivery> = endpoints
        .iter()
        .map(|ep| Delivery {
            event_id: id.map_or_else(|| generated_id(key), str::to_string),
            ..delivery(tenant, *ep, key, at)
        })
        .collect();
    NewEvent {
        event: Event {
            key,
            id: id.map_or_else(|| generated_id(key), str::to_string),
            tenant_id: tenant.into(),
            event_type: "order.created".into(),
            created: at,
            received_at: at,
            body: b"{}".to_vec(),
            deliveries: deliveries
                .iter()
                .map(|d| (d.id.as_u128(), d.endpoint_id.as_u128()))
                .collect(),
            channels: Vec::new(),
            tags: Vec::new(),
        },
        deliveries,
    }
}

fn commit(s: &dyn Store, events: Vec<NewEvent>) -> Vec<Committed> {
    match s.commit_events(events, None).wait().unwrap() {
        CommitOutcome::Done(r) => r,
        other => panic!("{other:?}"),
    }
}

pub(crate) fn attempt(
    d: &Delivery,
    at: Timestamp,
    status: Option<u16>,
    verdict: Verdict,
) -> Attempt {
    Attempt {
        id: AttemptId::new(at),
        delivery_id: d.id,
        number: d.attempts + 1,
        started_at: at,
        url: "https://x.test/hook".into(),
        request_headers: vec![],
        status,
        response_headers: vec![],
        response_body: vec![],
        response_truncated: false,
        latency_ms: 12,
        error_kind: status.is_none().then(|| "timeout".into()),
        error_message: None,
        verdict,
        next_attempt_at: None,
    }
}

/// Records an attempt that ends `d` (2xx: succeeded, else failed).
pub(crate) fn end(s: &dyn Store, d: &Delivery, at: Timestamp, status: u16) -> (Delivery, Health) {
    let ok = status < 300;
    let a = attempt(
        d,
        at,
        Some(status),
        if ok {
            Verdict::Success
        } else {
            Verdict::Permanent
        },
    );
    let after = Delivery {
        state: if ok {
            DeliveryState::Succeeded
        } else {
            DeliveryState::Failed
        },
        attempts: d.attempts + 1,
        next_attempt_at: None,
        last_status: Some(status),
        updated_at: at,
        ..d.clone()
    };
    let h = s.record_attempt(&after, &a).wait().unwrap();
    (after, h)
}

/// [`DeliveryStore::stream_ready`]: one endpoint's held deliveries (a
/// stream's parked ones), then its due ones, earliest first, up to a time
/// and a count; not ended, not another endpoint's; a delivery moved later
/// (offered) leaves until it is due again.
pub fn a_streams_ready_deliveries_are_held_then_due_ones(new: Factory) {
    let s = new();
    let (ep, other) = (EndpointId::new(t0()), EndpointId::new(t0().plus_millis(1)));
    let ne = new_event("acme", t0(), None, &[ep, other, ep, ep]);
    let d = ne.deliveries.clone();
    commit(s.as_ref(), vec![ne]);
    let ids = |v: Vec<Delivery>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let mut mine = vec![d[0].id, d[2].id, d[3].id];
    mine.sort();
    assert_eq!(ids(s.stream_ready(ep, t0(), 10).unwrap()), mine);
    assert_eq!(ids(s.stream_ready(ep, t0(), 2).unwrap()), mine[..2]);
    assert_eq!(ids(s.stream_ready(other, t0(), 10).unwrap()), [d[1].id]);
    assert!(s
        .stream_ready(ep, t0().plus_millis(-1), 10)
        .unwrap()
        .is_empty());

    // Parked (held) comes first, whatever the time; offered (moved later)
    // and ended ones are not ready.
    let by_id = |id| d.iter().find(|x| x.id == id).unwrap().clone();
    let later = t0().plus_millis(30_000);
    let offered = Delivery {
        next_attempt_at: Some(later),
        ..by_id(mine[0])
    };
    s.update_delivery(&offered, None).wait().unwrap();
    let parked = by_id(mine[2]).held(t0());
    s.update_delivery(&parked, None).wait().unwrap();
    assert_eq!(
        ids(s.stream_ready(ep, t0(), 10).unwrap()),
        [mine[2], mine[1]]
    );
    assert_eq!(ids(s.stream_ready(ep, t0(), 1).unwrap()), [mine[2]]);
    assert_eq!(
        s.stream_ready(ep, t0().plus_millis(-1), 10).unwrap(),
        vec![parked.clone()]
    );
    end(s.as_ref(), &by_id(mine[1]), t0(), 200);
    end(s.as_ref(), &parked, t0(), 200);
    assert!(s.stream_ready(ep, t0(), 10).unwrap().is_empty());
    // The offer's window passed: due again, as stored.
    let again = s.stream_ready(ep, later, 10).unwrap();
    assert_eq!(again, vec![offered]);
}

/// [`DeliveryStore::update_delivery_if`]: written while the stored
/// delivery is still due at the same time (or held) as when read; once
/// another write moved it, the guarded one is refused with
/// `Conflict::Changed` and changes nothing (a worker parking a delivery a
/// stream poll has just handed out must not make it ready again).
pub fn a_guarded_update_loses_to_a_write_since_its_read(new: Factory) {
    let s = new();
    let ep = EndpointId::new(t0());
    let ne = new_event("acme", t0(), None, &[ep, ep]);
    let d = ne.deliveries.clone();
    commit(s.as_ref(), vec![ne]);
    let read = s.delivery(d[0].id).unwrap().unwrap();
    // The poll writes first (offered: due at the window's end) …
    let later = t0().plus_millis(30_000);
    let offered = Delivery {
        next_attempt_at: Some(later),
        ..read.clone()
    };
    s.update_delivery_if(&offered, &read).wait().unwrap();
    // … so the worker's park from the same read is refused.
    let parked = read.held(t0());
    assert!(matches!(
        s.update_delivery_if(&parked, &read).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    assert_eq!(s.delivery(read.id).unwrap().unwrap(), offered);
    assert!(s
        .stream_ready(ep, t0(), 10)
        .unwrap()
        .iter()
        .all(|x| x.id != read.id));
    // From a fresh read it is written; a held one is guarded as held.
    s.update_delivery_if(&offered.held(t0()), &offered)
        .wait()
        .unwrap();
    let held = s.delivery(read.id).unwrap().unwrap();
    assert!(held.held);
    assert!(matches!(
        s.update_delivery_if(&offered, &offered).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    s.update_delivery_if(&offered, &held).wait().unwrap();
    assert_eq!(s.delivery(read.id).unwrap().unwrap(), offered);
    // An attempt recorded from a stale read writes nothing: no attempt
    // record, no health; from a fresh read it is written with both.
    let failed = Delivery {
        state: DeliveryState::Failed,
        attempts: 1,
        next_attempt_at: None,
        ..offered.clone()
    };
    let a = attempt(&offered, t0(), None, Verdict::Permanent);
    assert!(matches!(
        s.record_attempt_if(&failed, &a, &read).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    assert!(s.attempts(read.id).unwrap().is_empty());
    assert_eq!(s.endpoint_health(ep).unwrap(), Health::default());
    let h = s.record_attempt_if(&failed, &a, &offered).wait().unwrap();
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(s.attempts(read.id).unwrap(), vec![a]);
    assert_eq!(s.delivery(read.id).unwrap().unwrap(), failed);
    // A purged delivery stays a conflict; the other one was never touched.
    assert_eq!(s.delivery(d[1].id).unwrap().unwrap(), d[1]);
    let gone = Delivery {
        id: DeliveryId::new(t0().plus_millis(5)),
        ..read.clone()
    };
    assert!(matches!(
        s.update_delivery_if(&gone, &gone).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
}

fn all_due(s: &dyn Store) -> Vec<Due> {
    s.due_between(None, Timestamp::from_millis(i64::MAX / 2), usize::MAX)
        .unwrap()
}

/// An endpoint's `uid` finds it within its tenant, is unique there, and
/// the uid index follows updates and deletes; endpoints without one do
/// not collide.
pub fn endpoint_uids_are_unique_per_tenant_and_follow_updates(new: Factory) {
    let s = new();
    s.insert_endpoint(&endpoint("a", "https://x.test/none-1"))
        .unwrap();
    s.insert_endpoint(&endpoint("a", "https://x.test/none-2"))
        .unwrap();
    let a = Endpoint {
        uid: Some("billing".into()),
        ..endpoint("a", "https://x.test/1")
    };
    s.insert_endpoint(&a).unwrap();
    assert_eq!(s.endpoint_by_uid("a", "billing").unwrap(), Some(a.clone()));
    assert_eq!(s.endpoint_by_uid("b", "billing").unwrap(), None);
    assert_eq!(s.endpoint_by_uid("a", "other").unwrap(), None);
    let dup = Endpoint {
        uid: Some("billing".into()),
        ..endpoint("a", "https://x.test/2")
    };
    assert!(matches!(
        s.insert_endpoint(&dup),
        Err(StoreError::Conflict(Conflict::UidTaken))
    ));
    assert_eq!(
        s.endpoint(dup.id).unwrap(),
        None,
        "a refused insert writes nothing"
    );
    // Another tenant may use the same uid.
    s.insert_endpoint(&Endpoint {
        uid: Some("billing".into()),
        ..endpoint("b", "https://x.test/1")
    })
    .unwrap();

    // Renamed: the old uid is free, the new one finds it.
    let renamed = s
        .update_endpoint(&Endpoint {
            uid: Some("billing-2".into()),
            ..a.clone()
        })
        .unwrap();
    assert_eq!(s.endpoint_by_uid("a", "billing").unwrap(), None);
    assert_eq!(
        s.endpoint_by_uid("a", "billing-2").unwrap(),
        Some(renamed.clone())
    );
    // Taking a uid another endpoint has is refused and changes nothing.
    let other = Endpoint {
        uid: Some("other".into()),
        ..endpoint("a", "https://x.test/3")
    };
    s.insert_endpoint(&other).unwrap();
    assert!(matches!(
        s.update_endpoint(&Endpoint {
            uid: Some("billing-2".into()),
            ..other.clone()
        }),
        Err(StoreError::Conflict(Conflict::UidTaken))
    ));
    assert_eq!(
        s.endpoint_by_uid("a", "other").unwrap(),
        Some(other.clone())
    );
    // Cleared, then deleted: gone from the index.
    let cleared = s
        .update_endpoint(&Endpoint {
            uid: None,
            ..renamed
        })
        .unwrap();
    assert_eq!(s.endpoint_by_uid("a", "billing-2").unwrap(), None);
    s.delete_endpoint(&cleared).unwrap();
    s.delete_endpoint(&other).unwrap();
    assert_eq!(s.endpoint_by_uid("a", "other").unwrap(), None);
    s.insert_endpoint(&Endpoint {
        uid: Some("other".into()),
        ..endpoint("a", "https://x.test/4")
    })
    .unwrap();
}

/// Endpoint URLs are unique within a tenant; the URL index follows
/// updates; a stale `before` is refused.
pub fn endpoint_urls_are_unique_per_tenant_and_follow_updates(new: Factory) {
    let s = new();
    let a = endpoint("a", "https://x.test/1");
    s.insert_endpoint(&a).unwrap();
    let dup = endpoint("a", "https://x.test/1");
    assert!(matches!(
        s.insert_endpoint(&dup),
        Err(StoreError::Conflict(Conflict::UrlTaken))
    ));
    // Another tenant may use the same URL.
    s.insert_endpoint(&endpoint("b", "https://x.test/1"))
        .unwrap();

    let mut moved = a.clone();
    moved.url = "https://x.test/2".into();
    let stored = s.update_endpoint(&moved).unwrap();
    assert_eq!(stored.revision, a.revision + 1);
    assert_eq!(s.endpoint(a.id).unwrap(), Some(stored.clone()));
    // The old URL is free again, the new one taken.
    s.insert_endpoint(&endpoint("a", "https://x.test/1"))
        .unwrap();
    assert!(s
        .insert_endpoint(&endpoint("a", "https://x.test/2"))
        .is_err());
    // A stale revision is refused.
    assert!(matches!(
        s.update_endpoint(&moved),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    assert_eq!(s.list_endpoints("a", None, 10).unwrap().len(), 2);
    assert_eq!(s.list_endpoints("b", None, 10).unwrap().len(), 1);
    s.delete_endpoint(&stored).unwrap();
    assert_eq!(s.endpoint(moved.id).unwrap(), None);
    assert!(matches!(
        s.update_endpoint(&stored),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    assert_eq!(s.list_endpoints("a", None, 10).unwrap().len(), 1);

    // The shared read-modify-write: a change, a no-change, a missing one.
    let kept = s.list_endpoints("a", None, 1).unwrap().remove(0);
    let off = modify_endpoint(s.as_ref(), kept.id, |e| {
        Ok::<_, ()>(Some(Endpoint {
            active: false,
            ..e.clone()
        }))
    })
    .unwrap()
    .unwrap();
    assert!(!off.active && !s.endpoint(kept.id).unwrap().unwrap().active);
    let same = modify_endpoint(s.as_ref(), kept.id, |_| Ok::<_, ()>(None));
    assert_eq!(same.unwrap().unwrap(), off);
    assert!(modify_endpoint(s.as_ref(), moved.id, |_| Ok::<_, ()>(None))
        .unwrap()
        .is_none());
}

/// Cursors are exclusive, pages in creation order.
pub fn lists_page_with_an_exclusive_cursor(new: Factory) {
    let s = new();
    let eps: Vec<_> = (0..5)
        .map(|i| endpoint("t", &format!("https://x.test/{i}")))
        .collect();
    for e in &eps {
        s.insert_endpoint(e).unwrap();
    }
    let page1 = s.list_endpoints("t", None, 2).unwrap();
    let page2 = s.list_endpoints("t", Some(page1[1].id), 2).unwrap();
    let page3 = s.list_endpoints("t", Some(page2[1].id), 2).unwrap();
    let ids: Vec<_> = [page1, page2, page3]
        .concat()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, eps.iter().map(|e| e.id).collect::<Vec<_>>());
}

/// Reads may be served from memory; every write still shows in the next
/// read (endpoints, a tenant's list, tenants, keys).
pub fn every_write_shows_in_the_next_read(new: Factory) {
    let s = new();
    let whole = |s: &dyn Store| -> Vec<(String, bool)> {
        s.list_endpoints("a", None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| (e.url, e.active))
            .collect()
    };
    let a = endpoint("a", "https://x.test/1");
    s.insert_endpoint(&a).unwrap();
    assert_eq!(whole(s.as_ref()), [("https://x.test/1".to_string(), true)]);
    assert!(s.endpoint(a.id).unwrap().unwrap().active);
    // Created after the list was read.
    let b = endpoint("a", "https://x.test/2");
    s.insert_endpoint(&b).unwrap();
    assert_eq!(whole(s.as_ref()).len(), 2);
    // Disabled after both were read.
    let off = Endpoint {
        active: false,
        ..a.clone()
    };
    s.update_endpoint(&off).unwrap();
    assert!(!s.endpoint(a.id).unwrap().unwrap().active);
    assert!(whole(s.as_ref()).contains(&("https://x.test/1".to_string(), false)));
    s.delete_endpoint(&b).unwrap();
    assert!(s.endpoint(b.id).unwrap().is_none());
    assert_eq!(whole(s.as_ref()).len(), 1);

    let t = Tenant {
        id: "a".into(),
        name: "a".into(),
        suspended: false,
        created_at: a.created_at,
        updated_at: a.created_at,
        metadata: Default::default(),
    };
    assert!(s.insert_tenant(&t).unwrap());
    assert!(!s.insert_tenant(&t).unwrap(), "inserted once");
    assert!(!s.tenant("a").unwrap().unwrap().suspended);
    s.put_tenant(&Tenant {
        suspended: true,
        ..t
    })
    .unwrap();
    assert!(s.tenant("a").unwrap().unwrap().suspended);

    let key = ApiKey {
        id: KeyId::new(a.created_at),
        name: "k".into(),
        scope: KeyScope::Platform,
        hash: hash_key("hpk_cache_test"),
        hint: "hpk_cach".into(),
        created_at: a.created_at,
        revoked_at: None,
    };
    s.insert_key(&key).unwrap();
    assert!(s
        .key_by_hash(&key.hash)
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
    s.put_key(&ApiKey {
        revoked_at: Some(a.created_at),
        ..key.clone()
    })
    .unwrap();
    assert!(s
        .key_by_hash(&key.hash)
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert_eq!(s.key(key.id).unwrap().unwrap().id, key.id);
    assert!(s.key_by_hash(&hash_key("hpk_unknown")).unwrap().is_none());
}

/// Sessions by the hash of their id; deleting twice is fine.
pub fn sessions_round_trip_and_delete(new: Factory) {
    let s = new();
    let t = t0();
    let sess = Session {
        id_hash: [7; 32],
        username: "admin".into(),
        csrf: "c".into(),
        tenant: Some("acme".into()),
        created_at: t,
        last_seen_at: t,
        portal: None,
    };
    s.put_session(&sess).unwrap();
    assert_eq!(s.session(&[7; 32]).unwrap(), Some(sess.clone()));
    assert_eq!(s.session(&[8; 32]).unwrap(), None);
    assert_eq!(s.list_sessions().unwrap(), vec![sess]);
    s.delete_session(&[7; 32]).unwrap();
    s.delete_session(&[7; 32]).unwrap();
    assert!(s.list_sessions().unwrap().is_empty());
}

/// A portal link is taken once: of many concurrent takes, exactly one gets
/// the record, and it is gone afterwards.
pub fn a_session_is_taken_exactly_once(new: Factory) {
    let s = new();
    let t = t0();
    let link = Session {
        id_hash: [9; 32],
        username: String::new(),
        csrf: String::new(),
        tenant: Some("acme".into()),
        created_at: t,
        last_seen_at: t,
        portal: Some(crate::domain::portal::Portal {
            read_only: true,
            return_url: None,
            ends_at: t,
            stage: crate::domain::portal::Stage::Link { session_ms: 1_000 },
        }),
    };
    s.put_session(&link).unwrap();
    assert_eq!(s.session(&[9; 32]).unwrap(), Some(link.clone()));
    let got: Vec<Option<Session>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| s.take_session(&[9; 32]).unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<_> = got.into_iter().flatten().collect();
    assert_eq!(won, vec![link], "exactly one take wins");
    assert_eq!(s.session(&[9; 32]).unwrap(), None);
    assert_eq!(s.take_session(&[9; 32]).unwrap(), None);
}

pub(crate) fn custom_type(name: &str) -> crate::domain::event_type::CustomEventType {
    crate::domain::event_type::CustomEventType {
        name: name.into(),
        description: format!("{name} happened"),
        schema: Some(r#"{"type":"object"}"#.into()),
        archived: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// Custom event types: inserted once per name, overwritten, listed in
/// name order, removed; names that share a prefix stay apart.
pub fn event_types_round_trip_by_name(new: Factory) {
    let s = new();
    assert!(s.list_event_types().unwrap().is_empty());
    let b = custom_type("invoice.paid");
    let a = custom_type("invoice");
    assert!(s.insert_event_type(&b).unwrap());
    assert!(s.insert_event_type(&a).unwrap());
    let taken = crate::domain::event_type::CustomEventType {
        description: "other".into(),
        ..b.clone()
    };
    assert!(!s.insert_event_type(&taken).unwrap(), "the name is taken");
    assert_eq!(s.event_type("invoice.paid").unwrap(), Some(b.clone()));
    assert_eq!(s.event_type("invoice.pai").unwrap(), None);
    assert_eq!(s.list_event_types().unwrap(), vec![a.clone(), b.clone()]);
    let archived = crate::domain::event_type::CustomEventType {
        archived: true,
        schema: None,
        updated_at: t0().plus_millis(5),
        ..b.clone()
    };
    s.put_event_type(&archived).unwrap();
    assert_eq!(
        s.event_type("invoice.paid").unwrap(),
        Some(archived.clone())
    );
    assert!(s.delete_event_type("invoice").unwrap());
    assert!(!s.delete_event_type("invoice").unwrap());
    assert_eq!(s.list_event_types().unwrap(), vec![archived]);
    let mut problems = Vec::new();
    s.check(&mut |p| problems.push(p)).unwrap();
    assert_eq!(problems, vec![]);
}

/// A user's last login and a key's last use are rows of their own: a
/// write of the user or key leaves them, removing the user removes its.
pub fn users_are_removed_with_their_last_login_and_uses_are_kept_apart(new: Factory) {
    use crate::domain::user::{Role, User};
    let s = new();
    let t = t0();
    let later = Timestamp::from_millis(t.as_millis() + 60_000);
    let user = |name: &str| User {
        username: name.into(),
        password_hash: "h".into(),
        role: Role::Operator,
        created_at: t,
        disabled_at: None,
    };
    assert!(s.insert_user(&user("a")).unwrap());
    assert!(s.insert_user(&user("ab")).unwrap());
    assert_eq!(s.last_login("a").unwrap(), None);
    s.record_login("a", t).unwrap();
    s.record_login("ab", later).unwrap();
    s.put_user(&User {
        disabled_at: Some(later),
        ..user("a")
    })
    .unwrap();
    assert_eq!(
        s.last_login("a").unwrap(),
        Some(t),
        "kept by a write of the user"
    );
    assert_eq!(s.user("a").unwrap().unwrap().disabled_at, Some(later));
    assert!(s.delete_user("a").unwrap());
    assert!(!s.delete_user("a").unwrap(), "removing twice is fine");
    assert_eq!(s.user("a").unwrap(), None);
    assert_eq!(s.last_login("a").unwrap(), None, "its last login goes too");
    assert_eq!(
        s.last_login("ab").unwrap(),
        Some(later),
        "not a neighbour's"
    );
    let names: Vec<String> = s
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, vec!["ab".to_string()]);
    // A login row without a user is not a user.
    s.record_login("ghost", t).unwrap();
    assert_eq!(s.list_users().unwrap().len(), 1);

    let key = ApiKey {
        id: KeyId::new(t),
        name: "k".into(),
        scope: KeyScope::Platform,
        hash: hash_key("k-text"),
        hint: "k…".into(),
        created_at: t,
        revoked_at: None,
    };
    s.insert_key(&key).unwrap();
    assert_eq!(s.key_last_used(key.id).unwrap(), None);
    s.record_key_use(key.id, t).unwrap();
    s.record_key_use(key.id, later).unwrap();
    s.put_key(&ApiKey {
        revoked_at: Some(later),
        ..key.clone()
    })
    .unwrap();
    assert_eq!(s.key_last_used(key.id).unwrap(), Some(later));
    assert!(s.key(key.id).unwrap().unwrap().revoked_at.is_some());
    assert_eq!(s.list_keys(None, 10).unwrap().len(), 1, "a use is no key");
}

/// A server-named event is found by its id in its own tenant only; a
/// client that sends the same id is told it is a duplicate in that tenant
/// (also within one commit) and gets its own event in another.
pub fn client_ids_deduplicate_per_tenant(new: Factory) {
    let s = new();
    let first = new_event("acme", t0(), None, &[]);
    let (key, id) = (first.event.key, first.event.id.clone());
    assert_eq!(commit(s.as_ref(), vec![first]), [Committed::Created]);
    assert_eq!(s.event_by_id("acme", &id).unwrap().unwrap().key, key);
    assert!(s.event_by_id("globex", &id).unwrap().is_none());
    // Neither the lower-case spelling nor another key's id finds it.
    assert!(s.event_by_id("acme", &id.to_lowercase()).unwrap().is_none());

    let again = new_event("acme", t0(), Some(&id), &[]);
    assert_eq!(commit(s.as_ref(), vec![again]), [Committed::Duplicate(key)]);
    let a = new_event("acme", t0(), None, &[]);
    let k2 = a.event.key;
    let b = new_event("acme", t0(), Some(&generated_id(k2)), &[]);
    assert_eq!(
        commit(s.as_ref(), vec![a, b]),
        [Committed::Created, Committed::Duplicate(k2)]
    );
    // Client-chosen ids: one per tenant.
    let c1 = new_event("acme", t0(), Some("order-1"), &[]);
    let c1_key = c1.event.key;
    assert_eq!(commit(s.as_ref(), vec![c1]), [Committed::Created]);
    let c2 = new_event("acme", t0(), Some("order-1"), &[]);
    assert_eq!(commit(s.as_ref(), vec![c2]), [Committed::Duplicate(c1_key)]);
    assert_eq!(
        s.event_by_id("acme", "order-1").unwrap().unwrap().key,
        c1_key
    );

    // Another tenant's client may use it: its own event, found by it.
    let theirs = new_event("globex", t0(), Some(&id), &[]);
    let theirs_key = theirs.event.key;
    assert_eq!(commit(s.as_ref(), vec![theirs]), [Committed::Created]);
    assert_eq!(
        s.event_by_id("globex", &id).unwrap().unwrap().key,
        theirs_key
    );
    assert_eq!(s.event_by_id("acme", &id).unwrap().unwrap().key, key);
    assert_eq!(s.event(key).unwrap().unwrap().id, id);
}

/// An `Idempotency-Key` used within its window answers the first
/// request's events and writes nothing; past the window it is used afresh.
pub fn idempotency_keys_answer_within_their_window(new: Factory) {
    let s = new();
    let day = 86_400_000;
    let idem = |at: Timestamp| Idempotency {
        key: "req-1".into(),
        tenant_id: "acme".into(),
        now: at,
        not_before: at.plus_millis(-day),
    };
    let ep = EndpointId::new(t0());
    let first = new_event("acme", t0(), None, &[ep]);
    let key = first.event.key;
    let done = s
        .commit_events(vec![first], Some(idem(t0())))
        .wait()
        .unwrap();
    assert_eq!(done, CommitOutcome::Done(vec![Committed::Created]));
    let later = t0().plus_millis(day);
    let second = new_event("acme", later, None, &[ep]);
    let second_key = second.event.key;
    assert_eq!(
        s.commit_events(vec![second], Some(idem(later)))
            .wait()
            .unwrap(),
        CommitOutcome::Replayed(vec![key])
    );
    assert!(s.event(second_key).unwrap().is_none(), "nothing written");
    assert_eq!(all_due(s.as_ref()).len(), 1);
    assert_eq!(
        s.idempotent_events("acme", "req-1", t0()).unwrap(),
        Some(vec![key])
    );
    assert_eq!(s.idempotent_events("globex", "req-1", t0()).unwrap(), None);
    // Past the window: a new request.
    let much_later = later.plus_millis(1);
    assert_eq!(
        s.idempotent_events("acme", "req-1", much_later).unwrap(),
        None
    );
    let third = new_event("acme", much_later, None, &[ep]);
    assert_eq!(
        s.commit_events(vec![third], Some(idem(much_later)))
            .wait()
            .unwrap(),
        CommitOutcome::Done(vec![Committed::Created])
    );
}

/// A delivery's due and held entries follow its state, whatever the
/// caller knew of it.
pub fn the_first_pending_delivery_of_an_endpoint_follows_its_state(new: Factory) {
    let s = new();
    let ep = EndpointId::new(t0());
    let other = EndpointId::new(t0());
    assert!(s.first_pending(ep).unwrap().is_none());
    let ne = new_event("acme", t0(), None, &[ep, ep, other, ep]);
    let d: Vec<Delivery> = ne.deliveries.clone();
    commit(s.as_ref(), vec![ne]);
    let head = |s: &Arc<dyn Store>| s.first_pending(ep).unwrap().map(|d| d.id);
    assert_eq!(head(&s), Some(d[0].id));
    // Held is not ended: still the head.
    let held = Delivery {
        held: true,
        next_attempt_at: None,
        ..d[0].clone()
    };
    s.update_delivery(&held, None).wait().unwrap();
    assert_eq!(head(&s), Some(d[0].id));
    // Ended: the next in id order, never another endpoint's.
    end(s.as_ref(), &d[0], t0(), 200);
    assert_eq!(head(&s), Some(d[1].id));
    end(s.as_ref(), &d[1], t0(), 410);
    assert_eq!(head(&s), Some(d[3].id));
    // Requeued (a resend), an older one is the head again.
    let again = Delivery {
        state: DeliveryState::Pending,
        next_attempt_at: Some(t0()),
        ..s.delivery(d[1].id).unwrap().unwrap()
    };
    s.update_delivery(&again, None).wait().unwrap();
    assert_eq!(head(&s), Some(d[1].id));
    assert_eq!(s.first_pending(other).unwrap().map(|d| d.id), Some(d[2].id));
}

pub fn an_update_or_attempt_moves_the_indexes(new: Factory) {
    let s = new();
    let ep = EndpointId::new(t0());
    let ne = new_event("acme", t0(), None, &[ep, ep]);
    let (d1, d2) = (ne.deliveries[0].clone(), ne.deliveries[1].clone());
    commit(s.as_ref(), vec![ne]);
    assert_eq!(all_due(s.as_ref()).len(), 2);
    assert_eq!(
        all_due(s.as_ref())[0],
        Due {
            due: t0(),
            delivery: d1.id.min(d2.id),
            endpoint: ep
        }
    );

    // Held: out of the due index, into the held one.
    let held = Delivery {
        held: true,
        next_attempt_at: None,
        ..d1.clone()
    };
    s.update_delivery(&held, None).wait().unwrap();
    assert_eq!(s.held_deliveries(ep).unwrap(), vec![d1.id]);
    assert_eq!(all_due(s.as_ref()).len(), 1);
    // Released, due later.
    let later = t0().plus_millis(60_000);
    let released = Delivery {
        held: false,
        next_attempt_at: Some(later),
        ..d1.clone()
    };
    s.update_delivery(&released, None).wait().unwrap();
    assert!(s.held_deliveries(ep).unwrap().is_empty());
    let due = s.due_between(None, t0(), 10).unwrap();
    assert_eq!(due.iter().map(|d| d.delivery).collect::<Vec<_>>(), [d2.id]);
    // The cursor is exclusive and the bound inclusive.
    assert_eq!(
        s.due_between(Some((t0(), d2.id)), later, 10).unwrap()[0].delivery,
        d1.id
    );

    // An attempt that retries moves it; one that ends it removes it.
    let a = attempt(&d2, t0(), Some(500), Verdict::Retry);
    let retrying = Delivery {
        attempts: 1,
        next_attempt_at: Some(later.plus_millis(1)),
        ..d2.clone()
    };
    s.record_attempt(&retrying, &a).wait().unwrap();
    assert_eq!(s.attempts(d2.id).unwrap(), vec![a]);
    assert_eq!(
        s.due_between(None, later.plus_millis(1), 10)
            .unwrap()
            .iter()
            .map(|d| d.delivery)
            .collect::<Vec<_>>(),
        [d1.id, d2.id]
    );
    end(s.as_ref(), &retrying, later, 200);
    end(s.as_ref(), &released, later, 404);
    assert!(all_due(s.as_ref()).is_empty());
    assert_eq!(s.attempts(d2.id).unwrap().len(), 2);
    assert_eq!(
        s.delivery(d1.id).unwrap().unwrap().state,
        DeliveryState::Failed
    );

    // A delivery that is not stored is not written by an update or an
    // attempt: nothing appears.
    let ghost = delivery("acme", ep, 7, t0());
    assert!(matches!(
        s.update_delivery(&ghost, None).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    let ga = attempt(&ghost, t0(), Some(200), Verdict::Success);
    assert!(s.record_attempt(&ghost, &ga).wait().is_err());
    assert!(s.delivery(ghost.id).unwrap().is_none());
    assert!(s.attempts(ghost.id).unwrap().is_empty());
    assert!(all_due(s.as_ref()).is_empty());
}

/// Each recorded attempt counts at once into its endpoint's health and
/// into the minute, hour and day statistics rows of its tenant.
pub fn attempts_count_into_health_and_statistics(new: Factory) {
    let s = new();
    let at = t0();
    let ep = EndpointId::new(at);
    let ne = new_event("acme", at, None, &[ep, ep]);
    let (d1, d2) = (ne.deliveries[0].clone(), ne.deliveries[1].clone());
    commit(s.as_ref(), vec![ne]);
    let (_, h) = end(s.as_ref(), &d1, at, 200);
    assert_eq!(h.consecutive_failures, 0);
    let (_, h) = end(s.as_ref(), &d2, at.plus_millis(5), 500);
    assert_eq!(h.consecutive_failures, 1);
    let health = s.endpoint_health(ep).unwrap();
    assert_eq!(health, h);
    assert!(health.last_success_at.is_some());
    let minute = Grain::Minute.floor(at);
    let rows = s.stats_rows("acme", Grain::Minute, minute, minute).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].endpoint, ep);
    let st = &rows[0].stats;
    assert_eq!(
        (st.attempts, st.successes, st.delivered, st.given_up),
        (2, 1, 1, 1)
    );
    for grain in Grain::ALL {
        let rows = s.stats_rows("acme", grain, grain.floor(at), at).unwrap();
        assert_eq!(rows.len(), 1, "{grain:?}");
        assert_eq!(rows[0].start, grain.floor(at));
        assert_eq!(rows[0].stats.attempts, 2);
    }
    assert!(s
        .stats_rows("other", Grain::Minute, minute, at)
        .unwrap()
        .is_empty());
    assert!(s
        .stats_rows(
            "acme",
            Grain::Minute,
            minute.plus_millis(60_000),
            at.plus_millis(3_600_000)
        )
        .unwrap()
        .is_empty());
    assert_eq!(
        s.endpoint_health(EndpointId::new(at)).unwrap(),
        Health::default()
    );
    // The writes were counted by the committer.
    assert!(s.store_stats().ops >= 3);
}

/// An attempt recorded for the delivery engine (its ticket may answer
/// before the sync) is, once answered, what every read sees — the
/// delivery's state, its attempt, the due index, the endpoint's health —
/// exactly as with `record_attempt`; a synced write after it keeps it.
pub fn an_attempt_recorded_behind_shows_in_the_next_read(new: Factory) {
    let s = new();
    let at = t0();
    let ep = EndpointId::new(at);
    let ne = new_event("acme", at, None, &[ep, ep]);
    let (d1, d2) = (ne.deliveries[0].clone(), ne.deliveries[1].clone());
    commit(s.as_ref(), vec![ne]);
    let a = attempt(&d1, at, Some(500), Verdict::Retry);
    let retrying = Delivery {
        attempts: 1,
        next_attempt_at: Some(at.plus_millis(300_000)),
        last_status: Some(500),
        updated_at: at,
        ..d1.clone()
    };
    let h = s.record_attempt_behind(&retrying, &a).wait().unwrap();
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(s.delivery(d1.id).unwrap(), Some(retrying.clone()));
    assert_eq!(s.attempts(d1.id).unwrap(), vec![a]);
    let due: Vec<_> = all_due(s.as_ref())
        .into_iter()
        .map(|d| d.delivery)
        .collect();
    assert_eq!(due.len(), 2);
    let later = all_due(s.as_ref())
        .into_iter()
        .find(|d| d.delivery == d1.id)
        .unwrap();
    assert_eq!(later.due, at.plus_millis(300_000), "due at its retry");
    assert_eq!(s.endpoint_health(ep).unwrap(), h);
    // A synced write after it (another event) leaves it as it was.
    commit(s.as_ref(), vec![new_event("acme", at, None, &[ep])]);
    assert_eq!(s.delivery(d1.id).unwrap(), Some(retrying));
    assert_eq!(
        s.delivery(d2.id).unwrap().map(|d| d.state),
        Some(DeliveryState::Pending)
    );
}

/// The purge takes an event whose deliveries ended, with everything of it,
/// and keeps one with a pending or held delivery; a resend that read a
/// delivery before the purge cannot write it back afterwards.
pub fn purge_takes_ended_events_whole_and_keeps_pending_ones(new: Factory) {
    let s = new();
    let at = t0();
    let ep = EndpointId::new(at);
    let make = |s: &dyn Store| {
        let ne = new_event("acme", at, None, &[ep]);
        let d = ne.deliveries[0].clone();
        commit(s, vec![ne]);
        d
    };
    let done = make(s.as_ref());
    let (done, _) = end(s.as_ref(), &done, at, 200);
    let waiting = make(s.as_ref());
    let held = make(s.as_ref());
    s.update_delivery(
        &Delivery {
            held: true,
            next_attempt_at: None,
            ..held.clone()
        },
        None,
    )
    .wait()
    .unwrap();
    assert!(s.event(done.event_key).unwrap().is_some()); // read once

    // Not old enough yet.
    let (p, next) = s.purge_events(at, None, 10).unwrap();
    assert_eq!((p.examined, p.events, next), (0, 0, None));

    let later = at.plus_millis(3_600_000);
    let (p, next) = s.purge_events(later, None, 10).unwrap();
    assert_eq!(
        (p.examined, p.events, p.deliveries, p.attempts),
        (3, 1, 1, 1)
    );
    assert_eq!(next, None);
    assert!(s.event(done.event_key).unwrap().is_none(), "no copy left");
    assert!(s.event_by_id("acme", &done.event_id).unwrap().is_none());
    assert!(s.delivery(done.id).unwrap().is_none());
    assert!(s.attempts(done.id).unwrap().is_empty());
    let log = s
        .list_deliveries(
            &DeliveryFilter {
                tenant: "acme".into(),
                ..DeliveryFilter::default()
            },
            None,
            10,
        )
        .unwrap();
    assert_eq!(log.items.len(), 2);
    assert_eq!(s.endpoint_deliveries(ep, None, 10).unwrap().len(), 2);
    assert_eq!(
        s.delivery(waiting.id).unwrap().unwrap().state,
        DeliveryState::Pending
    );
    assert_eq!(s.due_between(None, later, 10).unwrap().len(), 1);
    assert_eq!(s.held_deliveries(ep).unwrap(), vec![held.id]);

    // A page at a time: the cursor comes back when the page was full.
    let (p, next) = s.purge_events(later, None, 1).unwrap();
    assert_eq!(
        (p.examined, p.events, next),
        (1, 0, Some(waiting.event_key))
    );

    // A resend of the purged delivery writes nothing.
    let resent = Delivery {
        state: DeliveryState::Pending,
        next_attempt_at: Some(later),
        ..done.clone()
    };
    assert!(matches!(
        s.update_delivery(&resent, None).wait(),
        Err(StoreError::Conflict(Conflict::Changed))
    ));
    assert!(s.delivery(done.id).unwrap().is_none());
    assert_eq!(s.due_between(None, later, 10).unwrap().len(), 1);
}

/// Statistics rows whose bucket ended before the cutoff go, as does alert
/// history before it and idempotency keys past their window; fresher ones
/// stay.
pub fn purge_rows_removes_what_ended_and_keeps_fresh_keys(new: Factory) {
    let s = new();
    let day = 86_400_000;
    let at = t0();
    let ep = EndpointId::new(at);
    let ne = new_event("acme", at, None, &[ep]);
    let d = ne.deliveries[0].clone();
    let idem = |k: &str, now: Timestamp| Idempotency {
        key: k.into(),
        tenant_id: "acme".into(),
        now,
        not_before: now.plus_millis(-day),
    };
    s.commit_events(vec![ne], Some(idem("old", at)))
        .wait()
        .unwrap();
    end(s.as_ref(), &d, at, 200);
    let fresh_at = at.plus_millis(2 * day);
    let fresh = new_event("acme", fresh_at, None, &[]);
    s.commit_events(vec![fresh], Some(idem("fresh", fresh_at)))
        .wait()
        .unwrap();
    use crate::domain::alert::{Alert, Rule, State, Transition};
    let t = Transition {
        rule: Rule::EndpointDown,
        endpoint_id: ep,
        tenant_id: "acme".into(),
        url: "https://x.test/hook".into(),
        to: State::Firing,
        at,
        detail: String::new(),
    };
    let alert = Alert {
        rule: t.rule,
        endpoint_id: ep,
        tenant_id: "acme".into(),
        state: State::Firing,
        since: at,
        detail: String::new(),
    };
    assert!(s.put_alert(&alert, &t).unwrap());
    assert_eq!(s.alert(Rule::EndpointDown, ep).unwrap(), Some(alert));
    assert_eq!(s.alert_history(10).unwrap().len(), 1);

    // Cut-off an hour after the attempt: its minute and hour rows ended,
    // its day row did not; the old key expired, the fresh one did not.
    let cutoff = Grain::Hour.floor(at).plus_millis(3_600_000);
    let idem_cutoff = fresh_at.plus_millis(-day / 2);
    let n = s
        .purge_rows(&["acme".to_string()], cutoff, idem_cutoff)
        .unwrap();
    assert_eq!(n, 4, "minute and hour rows, one history entry, one key");
    assert!(s
        .stats_rows("acme", Grain::Minute, Grain::Minute.floor(at), at)
        .unwrap()
        .is_empty());
    assert!(s
        .stats_rows("acme", Grain::Hour, Grain::Hour.floor(at), at)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.stats_rows("acme", Grain::Day, Grain::Day.floor(at), at)
            .unwrap()
            .len(),
        1
    );
    assert!(s.alert_history(10).unwrap().is_empty());
    assert!(s.idempotent_events("acme", "old", at).unwrap().is_none());
    assert!(s
        .idempotent_events("acme", "fresh", idem_cutoff)
        .unwrap()
        .is_some());
    assert_eq!(
        s.purge_rows(&["acme".to_string()], cutoff, idem_cutoff)
            .unwrap(),
        0,
        "nothing twice"
    );
}

/// The log: newest first, by tenant or endpoint, filtered by type, state
/// and time, paged with an exclusive cursor.
pub fn the_log_filters_and_pages_newest_first(new: Factory) {
    let s = new();
    let (a, b) = (EndpointId::new(t0()), EndpointId::new(t0()));
    let mut ids = Vec::new();
    for i in 0..6 {
        let at = t0().plus_millis(i * 1_000);
        let ne = new_event("acme", at, None, &[if i % 2 == 0 { a } else { b }]);
        ids.push(ne.deliveries[0].clone());
        commit(s.as_ref(), vec![ne]);
    }
    commit(
        s.as_ref(),
        vec![new_event("globex", t0().plus_millis(10_000), None, &[a])],
    );
    end(s.as_ref(), &ids[4], t0(), 200);
    // One failed once and waits for its retry.
    let failed_once = attempt(&ids[2], t0(), Some(500), Verdict::Retry);
    let retrying = Delivery {
        attempts: 1,
        next_attempt_at: Some(t0().plus_millis(300_000)),
        last_status: Some(500),
        ..ids[2].clone()
    };
    s.record_attempt(&retrying, &failed_once).wait().unwrap();
    let filter = |f: DeliveryFilter| DeliveryFilter {
        tenant: "acme".into(),
        ..f
    };
    let page = s
        .list_deliveries(&filter(DeliveryFilter::default()), None, 4)
        .unwrap();
    let got: Vec<_> = page.items.iter().map(|d| d.id).collect();
    let newest: Vec<_> = ids.iter().rev().map(|d| d.id).collect();
    assert_eq!(got, newest[..4]);
    assert_eq!(page.next, Some(newest[3]));
    let rest = s
        .list_deliveries(&filter(DeliveryFilter::default()), page.next, 4)
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        newest[4..]
    );
    let by_ep = s
        .list_deliveries(
            &filter(DeliveryFilter {
                endpoint: Some(a),
                ..DeliveryFilter::default()
            }),
            None,
            10,
        )
        .unwrap();
    assert_eq!(by_ep.items.len(), 3);
    let succeeded = s
        .list_deliveries(
            &filter(DeliveryFilter {
                status: Some(Status::Succeeded),
                ..DeliveryFilter::default()
            }),
            None,
            10,
        )
        .unwrap();
    assert_eq!(succeeded.items.len(), 1);
    assert_eq!(succeeded.items[0].id, ids[4].id);
    let by_status = |st: Status| {
        s.list_deliveries(
            &filter(DeliveryFilter {
                status: Some(st),
                ..DeliveryFilter::default()
            }),
            None,
            10,
        )
        .unwrap()
        .items
        .into_iter()
        .map(|d| d.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(by_status(Status::Retrying), vec![ids[2].id]);
    assert_eq!(by_status(Status::Pending).len(), 4);
    assert!(by_status(Status::Held).is_empty());
    let windowed = s
        .list_deliveries(
            &filter(DeliveryFilter {
                since: Some(t0().plus_millis(1_000)),
                until: Some(t0().plus_millis(2_000)),
                ..DeliveryFilter::default()
            }),
            None,
            10,
        )
        .unwrap();
    assert_eq!(windowed.items.len(), 2);
    let other_type = s
        .list_deliveries(
            &filter(DeliveryFilter {
                event_type: Some("payment.failed".into()),
                ..DeliveryFilter::default()
            }),
            None,
            10,
        )
        .unwrap();
    assert!(other_type.items.is_empty());
    let oldest_first = s.endpoint_deliveries(a, None, 2).unwrap();
    assert_eq!(oldest_first[0].id, ids[0].id);
    assert_eq!(
        s.endpoint_deliveries(a, Some(oldest_first[1].id), 10)
            .unwrap()
            .len(),
        2,
        "the third of acme's and globex's one"
    );
}

// ---- The model-based test -------------------------------------------------

/// One step of the model test.
#[derive(Debug, Clone)]
enum Step {
    /// Ingest an event of tenant `tenant % 2` to `endpoints` endpoints.
    Ingest { tenant: u8, endpoints: u8 },
    /// An attempt on the `pick`-th delivery: 0 success, 1 retry, 2 permanent.
    Attempt { pick: usize, outcome: u8 },
    /// Hold or release the `pick`-th delivery.
    Hold { pick: usize },
    /// Resend the `pick`-th delivery (pending again, due now).
    Resend { pick: usize },
    /// The clock moves on by this many minutes.
    Wait { minutes: u16 },
    /// A retention pass with events older than this many minutes going.
    Purge { older_than: u16 },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0u8..2, 0u8..4).prop_map(|(tenant, endpoints)| Step::Ingest { tenant, endpoints }),
        4 => (any::<usize>(), 0u8..3).prop_map(|(pick, outcome)| Step::Attempt { pick, outcome }),
        1 => any::<usize>().prop_map(|pick| Step::Hold { pick }),
        1 => any::<usize>().prop_map(|pick| Step::Resend { pick }),
        1 => (1u16..120).prop_map(|minutes| Step::Wait { minutes }),
        1 => (0u16..240).prop_map(|older_than| Step::Purge { older_than }),
    ]
}

/// The model: deliveries by id, their events, and attempt counts.
#[derive(Default)]
struct Model {
    deliveries: BTreeMap<DeliveryId, Delivery>,
    events: BTreeMap<u128, (Timestamp, Vec<DeliveryId>)>,
    attempts: BTreeMap<DeliveryId, usize>,
}

impl Model {
    fn pick(&self, n: usize) -> Option<Delivery> {
        if self.deliveries.is_empty() {
            return None;
        }
        self.deliveries
            .values()
            .nth(n % self.deliveries.len())
            .cloned()
    }

    fn check(&self, s: &dyn Store, endpoints: &[EndpointId]) {
        for (id, d) in &self.deliveries {
            assert_eq!(s.delivery(*id).unwrap().as_ref(), Some(d));
            assert_eq!(
                s.attempts(*id).unwrap().len(),
                self.attempts.get(id).copied().unwrap_or(0)
            );
        }
        let due: BTreeSet<(Timestamp, DeliveryId)> = self
            .deliveries
            .values()
            .filter_map(|d| match (d.state, d.held, d.next_attempt_at) {
                (DeliveryState::Pending, false, Some(at)) => Some((at, d.id)),
                _ => None,
            })
            .collect();
        let stored: BTreeSet<(Timestamp, DeliveryId)> = all_due(s)
            .into_iter()
            .map(|d| (d.due, d.delivery))
            .collect();
        assert_eq!(
            stored, due,
            "the due index is the pending, unheld deliveries"
        );
        for ep in endpoints {
            let held: BTreeSet<DeliveryId> = self
                .deliveries
                .values()
                .filter(|d| d.held && d.endpoint_id == *ep)
                .map(|d| d.id)
                .collect();
            let stored: BTreeSet<DeliveryId> =
                s.held_deliveries(*ep).unwrap().into_iter().collect();
            assert_eq!(stored, held);
            let listed: Vec<DeliveryId> = s
                .endpoint_deliveries(*ep, None, usize::MAX)
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect();
            let expected: Vec<DeliveryId> = self
                .deliveries
                .values()
                .filter(|d| d.endpoint_id == *ep)
                .map(|d| d.id)
                .collect();
            assert_eq!(listed, expected);
        }
        for tenant in ["t0", "t1"] {
            let log = s
                .list_deliveries(
                    &DeliveryFilter {
                        tenant: tenant.into(),
                        ..DeliveryFilter::default()
                    },
                    None,
                    usize::MAX,
                )
                .unwrap();
            let expected: Vec<DeliveryId> = self
                .deliveries
                .values()
                .rev()
                .filter(|d| d.tenant_id == tenant)
                .map(|d| d.id)
                .collect();
            assert_eq!(log.items.iter().map(|d| d.id).collect::<Vec<_>>(), expected);
        }
        for key in self.events.keys() {
            assert!(s.event(*key).unwrap().is_some());
        }
    }
}

/// Random sequences of pipeline writes leave the store as a plain model
/// says: every delivery as last written, the due index exactly the
/// pending unheld deliveries, the held index, the log, attempts, and a
/// purge that takes exactly the old events whose deliveries all ended.
pub fn writes_match_a_model_of_the_pipeline(new: Factory) {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let steps = proptest::collection::vec(step(), 1..40);
    runner
        .run(&steps, |steps| {
            run_model(new(), &steps);
            Ok(())
        })
        .unwrap();
}

fn run_model(s: Arc<dyn Store>, steps: &[Step]) {
    let endpoints: Vec<EndpointId> = (0..3).map(|_| EndpointId::new(t0())).collect();
    let mut m = Model::default();
    let mut now = t0();
    for st in steps {
        match *st {
            Step::Ingest {
                tenant,
                endpoints: n,
            } => {
                let tenant = format!("t{}", tenant % 2);
                let eps = &endpoints[..usize::from(n).min(endpoints.len())];
                let ne = new_event(&tenant, now, None, eps);
                let ids = ne.deliveries.iter().map(|d| d.id).collect();
                m.events.insert(ne.event.key, (now, ids));
                for d in &ne.deliveries {
                    m.deliveries.insert(d.id, d.clone());
                }
                commit(s.as_ref(), vec![ne]);
            }
            Step::Attempt { pick, outcome } => {
                let Some(d) = m.pick(pick) else { continue };
                if d.state != DeliveryState::Pending || d.held {
                    continue;
                }
                let (status, verdict, state, next) = match outcome {
                    0 => (200, Verdict::Success, DeliveryState::Succeeded, None),
                    1 => (
                        503,
                        Verdict::Retry,
                        DeliveryState::Pending,
                        Some(now.plus_millis(300_000)),
                    ),
                    _ => (404, Verdict::Permanent, DeliveryState::Failed, None),
                };
                let a = attempt(&d, now, Some(status), verdict);
                let after = Delivery {
                    state,
                    attempts: d.attempts + 1,
                    next_attempt_at: next,
                    last_status: Some(status),
                    updated_at: now,
                    ..d
                };
                s.record_attempt(&after, &a).wait().unwrap();
                *m.attempts.entry(after.id).or_default() += 1;
                m.deliveries.insert(after.id, after);
            }
            Step::Hold { pick } => {
                let Some(d) = m.pick(pick) else { continue };
                if d.state != DeliveryState::Pending {
                    continue;
                }
                let after = Delivery {
                    held: !d.held,
                    next_attempt_at: d.held.then_some(now),
                    updated_at: now,
                    ..d
                };
                s.update_delivery(&after, None).wait().unwrap();
                m.deliveries.insert(after.id, after);
            }
            Step::Resend { pick } => {
                let Some(d) = m.pick(pick) else { continue };
                let after = Delivery {
                    state: DeliveryState::Pending,
                    held: false,
                    next_attempt_at: Some(now),
                    updated_at: now,
                    ..d
                };
                s.update_delivery(&after, None).wait().unwrap();
                m.deliveries.insert(after.id, after);
            }
            Step::Wait { minutes } => now = now.plus_millis(i64::from(minutes) * 60_000),
            Step::Purge { older_than } => {
                let cutoff = now.plus_millis(-i64::from(older_than) * 60_000);
                let (mut purged, mut after) = (Purged::default(), None);
                loop {
                    let (p, next) = s.purge_events(cutoff, after, 2).unwrap();
                    purged += p;
                    match next {
                        Some(k) => after = Some(k),
                        None => break,
                    }
                }
                let gone: Vec<u128> = m
                    .events
                    .iter()
                    .filter(|(_, (at, ids))| {
                        // An event's key is a ULID of its receipt time.
                        *at < cutoff
                            && crate::domain::retention::event_purgeable(
                                ids.iter().filter_map(|id| m.deliveries.get(id)),
                            )
                    })
                    .map(|(k, _)| *k)
                    .collect();
                assert_eq!(purged.events, gone.len(), "events purged");
                for k in gone {
                    let ids = m.events.remove(&k).map(|(_, ids)| ids).unwrap_or_default();
                    for id in ids {
                        m.deliveries.remove(&id);
                        m.attempts.remove(&id);
                        assert!(s.delivery(id).unwrap().is_none());
                    }
                    assert!(s.event(k).unwrap().is_none());
                }
            }
        }
        m.check(s.as_ref(), &endpoints);
    }
}

/// A store whose writes succeed reports no failure, and `recover` on it
/// changes nothing: every record and index answers as before, and writes
/// go on.
pub fn recovering_a_healthy_store_changes_nothing(new: Factory) {
    let s = new();
    let ep = endpoint("acme", "https://a.test/hook");
    s.insert_endpoint(&ep).unwrap();
    commit(&*s, vec![new_event("acme", t0(), Some("before"), &[ep.id])]);
    assert_eq!(s.write_failure(), None);
    s.recover().unwrap();
    assert_eq!(s.write_failure(), None);
    let e = s
        .event_by_id("acme", "before")
        .unwrap()
        .expect("event kept");
    assert_eq!(s.due_between(None, t0(), 10).unwrap().len(), 1);
    assert_eq!(s.endpoint(ep.id).unwrap(), Some(Endpoint { ..ep.clone() }));
    assert_eq!(e.deliveries.len(), 1);
    commit(&*s, vec![new_event("acme", t0(), Some("after"), &[ep.id])]);
    assert!(s.event_by_id("acme", "after").unwrap().is_some());
}

/// Every record of `s`, in export order.
fn exported(s: &dyn Store) -> Vec<dump::Record> {
    let mut out = Vec::new();
    s.export(&mut |r| {
        out.push(r);
        Ok(())
    })
    .unwrap();
    out
}

/// A store with one of everything: tenant, keys, a user, an event type, endpoints,
/// server- and client-named events, pending, held and ended deliveries
/// with attempts (so health and statistics rows), an idempotency key, an
/// alert with its history, the bootstrap mark, a session.
fn populated(s: &dyn Store) -> (Vec<EndpointId>, Vec<NewEvent>) {
    let at = t0();
    let tenant = Tenant {
        id: "acme".into(),
        name: "Acme".into(),
        suspended: false,
        created_at: at,
        updated_at: at,
        metadata: Default::default(),
    };
    s.insert_tenant(&tenant).unwrap();
    s.insert_key(&ApiKey {
        id: KeyId::new(at),
        name: "k".into(),
        scope: KeyScope::Platform,
        hash: hash_key("hpk_dump_test"),
        hint: "hpk_dump".into(),
        created_at: at,
        revoked_at: None,
    })
    .unwrap();
    s.insert_user(&crate::domain::user::User {
        username: "admin".into(),
        password_hash: "$argon2id$x".into(),
        role: crate::domain::user::Role::Operator,
        created_at: at,
        disabled_at: None,
    })
    .unwrap();
    s.put_session(&Session {
        id_hash: [3; 32],
        username: "admin".into(),
        csrf: "c".into(),
        tenant: None,
        created_at: at,
        last_seen_at: at,
        portal: None,
    })
    .unwrap();
    s.mark_bootstrapped().unwrap();
    s.insert_event_type(&custom_type("invoice.paid")).unwrap();
    let eps: Vec<EndpointId> = (0..3)
        .map(|i| {
            let e = endpoint("acme", &format!("https://x.test/{i}"));
            s.insert_endpoint(&e).unwrap();
            e.id
        })
        .collect();
    let mut events = vec![
        new_event("acme", at, None, &eps),
        new_event("acme", at.plus_millis(1), Some("order-1"), &eps[..2]),
        new_event("acme", at.plus_millis(2), None, &eps[1..]),
    ];
    commit(s, events[..1].to_vec());
    s.commit_events(
        events[1..].to_vec(),
        Some(Idempotency {
            key: "req-1".into(),
            tenant_id: "acme".into(),
            now: at,
            not_before: at,
        }),
    )
    .wait()
    .unwrap();
    // One delivery ended (an attempt: health and statistics), one held.
    let d0 = events[0].deliveries[0].clone();
    end(s, &d0, at.plus_millis(10), 200);
    let d1 = events[0].deliveries[1].clone();
    let held = Delivery {
        held: true,
        next_attempt_at: None,
        ..d1
    };
    s.update_delivery(&held, None).wait().unwrap();
    events[0].deliveries[1] = held;
    let alert = crate::domain::alert::Alert {
        rule: crate::domain::alert::Rule::EndpointDown,
        endpoint_id: eps[2],
        tenant_id: "acme".into(),
        state: crate::domain::alert::State::Firing,
        since: at,
        detail: "down".into(),
    };
    let transition = crate::domain::alert::Transition {
        rule: alert.rule,
        endpoint_id: eps[2],
        tenant_id: "acme".into(),
        url: "https://x.test/2".into(),
        to: alert.state,
        at,
        detail: "down".into(),
    };
    assert!(s.put_alert(&alert, &transition).unwrap());
    s.flush().unwrap();
    (eps, events)
}

/// Export into a fresh store, then every read answers as on the original:
/// the records, and the indexes rebuilt from them (due, held, the log,
/// endpoint lists, key hashes, event ids). Sessions are not carried.
/// Importing into a store that holds anything is refused.
pub fn export_then_import_finds_everything(new: Factory) {
    let a = new();
    let (eps, events) = populated(a.as_ref());
    let records = exported(a.as_ref());
    assert!(records.contains(&dump::Record::Bootstrapped));
    let b = new();
    let mut it = records.clone().into_iter();
    b.import(&mut || Ok(it.next())).unwrap();
    assert_eq!(exported(b.as_ref()), records, "the same records come back");

    let far = Timestamp::from_millis(i64::MAX / 2);
    for s in [&a, &b] {
        assert!(s.is_bootstrapped().unwrap());
        assert_eq!(s.tenant("acme").unwrap().unwrap().name, "Acme");
        assert_eq!(s.list_users().unwrap().len(), 1);
        assert_eq!(
            s.list_event_types().unwrap(),
            vec![custom_type("invoice.paid")]
        );
    }
    assert_eq!(
        a.due_between(None, far, 100).unwrap(),
        b.due_between(None, far, 100).unwrap()
    );
    assert_eq!(b.due_between(None, far, 100).unwrap().len(), 5);
    for ep in &eps {
        assert_eq!(
            a.held_deliveries(*ep).unwrap(),
            b.held_deliveries(*ep).unwrap()
        );
        assert_eq!(
            b.endpoint_deliveries(*ep, None, 100).unwrap(),
            a.endpoint_deliveries(*ep, None, 100).unwrap()
        );
        assert_eq!(
            a.endpoint_health(*ep).unwrap(),
            b.endpoint_health(*ep).unwrap()
        );
    }
    assert_eq!(b.held_deliveries(eps[1]).unwrap().len(), 1);
    let log = |s: &dyn Store| {
        s.list_deliveries(
            &DeliveryFilter {
                tenant: "acme".into(),
                ..DeliveryFilter::default()
            },
            None,
            100,
        )
        .unwrap()
        .items
    };
    assert_eq!(log(b.as_ref()).len(), 7);
    assert_eq!(log(a.as_ref()), log(b.as_ref()));
    let ids = |s: &dyn Store| -> Vec<EndpointId> {
        s.list_endpoints("acme", None, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    // In id order: ids made in one millisecond by tests running in
    // parallel need not be in the order they were made.
    let mut sorted = eps.clone();
    sorted.sort();
    assert_eq!(ids(b.as_ref()), sorted);
    assert_eq!(ids(a.as_ref()), sorted);
    let k = b.key_by_hash(&hash_key("hpk_dump_test")).unwrap().unwrap();
    assert_eq!(Some(k), a.key_by_hash(&hash_key("hpk_dump_test")).unwrap());
    for ne in &events {
        let e = &ne.event;
        assert_eq!(b.event_by_id("acme", &e.id).unwrap().as_ref(), Some(e));
        assert_eq!(b.event(e.key).unwrap().as_ref(), Some(e));
        for d in &ne.deliveries {
            assert_eq!(b.delivery(d.id).unwrap(), a.delivery(d.id).unwrap());
            assert_eq!(b.attempts(d.id).unwrap(), a.attempts(d.id).unwrap());
        }
    }
    assert_eq!(b.attempts(events[0].deliveries[0].id).unwrap().len(), 1);
    assert_eq!(
        b.idempotent_events("acme", "req-1", t0()).unwrap(),
        a.idempotent_events("acme", "req-1", t0()).unwrap()
    );
    assert!(b
        .idempotent_events("acme", "req-1", t0())
        .unwrap()
        .is_some());
    let minute = Grain::Minute.floor(t0());
    let rows = |s: &dyn Store| {
        s.stats_rows("acme", Grain::Minute, minute, far)
            .unwrap()
            .into_iter()
            .map(|r| (r.endpoint, r.start, r.stats))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(b.as_ref()).len(), 1);
    assert_eq!(rows(a.as_ref()), rows(b.as_ref()));
    assert_eq!(b.alerts().unwrap(), a.alerts().unwrap());
    assert_eq!(b.alert_history(10).unwrap(), a.alert_history(10).unwrap());
    assert_eq!(b.alert_history(10).unwrap().len(), 1);
    assert!(
        b.session(&[3; 32]).unwrap().is_none(),
        "sessions stay behind"
    );
    let mut problems = Vec::new();
    b.check(&mut |p| problems.push(p)).unwrap();
    assert_eq!(problems, vec![], "the imported store checks clean");
    // The client-chosen id is found through the rebuilt index, and
    // deduplicates again.
    let again = new_event("acme", t0(), Some("order-1"), &eps);
    assert!(matches!(
        commit(b.as_ref(), vec![again])[0],
        Committed::Duplicate(_)
    ));

    let mut it = records.into_iter();
    assert!(matches!(
        b.import(&mut || Ok(it.next())),
        Err(StoreError::NotEmpty(_))
    ));
}

/// An event written while an export runs, after its event scan: neither it
/// nor its deliveries are in the dump (no delivery without its event);
/// every event written before the export is, with all its deliveries.
pub fn export_leaves_out_what_came_after_its_event_scan(new: Factory) {
    let s = new();
    let (eps, events) = populated(s.as_ref());
    let late = new_event("acme", t0().plus_millis(50), None, &eps);
    let mut late_once = Some(late.clone());
    let mut out = Vec::new();
    let writer = s.clone();
    s.export(&mut |r| {
        if matches!(r, dump::Record::Delivery(_)) {
            if let Some(ne) = late_once.take() {
                commit(writer.as_ref(), vec![ne]);
            }
        }
        out.push(r);
        Ok(())
    })
    .unwrap();
    assert!(s.event(late.event.key).unwrap().is_some(), "it was written");
    let mut dumped_events = BTreeSet::new();
    let mut dumped_deliveries = BTreeSet::new();
    for r in &out {
        match r {
            dump::Record::Event(e) => {
                dumped_events.insert(e.key);
            }
            dump::Record::Delivery(d) => {
                assert!(dumped_events.contains(&d.event_key), "{d:?}");
                dumped_deliveries.insert(d.id);
            }
            dump::Record::Attempt(a) => assert!(dumped_deliveries.contains(&a.delivery_id)),
            _ => {}
        }
    }
    assert!(!dumped_events.contains(&late.event.key));
    for ne in &events {
        assert!(dumped_events.contains(&ne.event.key));
        for d in &ne.deliveries {
            assert!(dumped_deliveries.contains(&d.id));
        }
    }
}

/// The retention purge does not remove events while an export runs: it
/// waits, and purges once the export is over.
pub fn the_event_purge_waits_for_an_export(new: Factory) {
    let s = new();
    let (_, events) = populated(s.as_ref());
    // An event whose only delivery has ended: purgeable.
    let ne = new_event("acme", t0(), None, &[EndpointId::new(t0())]);
    let d = ne.deliveries[0].clone();
    commit(s.as_ref(), vec![ne.clone()]);
    end(s.as_ref(), &d, t0(), 200);
    let later = t0().plus_millis(3_600_000);
    let purger = std::sync::Mutex::new(None);
    let mut n = 0;
    s.export(&mut |_| {
        n += 1;
        if n == 1 {
            let p = s.clone();
            *purger.lock().unwrap() = Some(std::thread::spawn(move || {
                p.purge_events(later, None, 100).unwrap().0
            }));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(
                s.event(ne.event.key).unwrap().is_some(),
                "not purged under the export"
            );
        }
        Ok(())
    })
    .unwrap();
    let handle = purger.lock().unwrap().take().unwrap();
    let purged = handle.join().unwrap();
    assert!(purged.events >= 1);
    assert!(s.event(ne.event.key).unwrap().is_none(), "purged after it");
    assert!(s.event(events[2].event.key).unwrap().is_some());
}

/// An idempotent request's scope is claimed by one request at a time; its
/// answer is then repeated until it expires, a forgotten claim runs again,
/// and the purge removes what expired.
pub fn answers_are_claimed_once_remembered_and_purged(new: Factory) {
    use crate::domain::idempotent::{Claim, SavedAnswer, KEEP_MS, RUNNING_STALE_MS};
    let s = new();
    let (a, b) = ([1u8; 32], [2u8; 32]);
    assert_eq!(s.claim_answer(&a, t0()).unwrap(), Claim::Run);
    assert_eq!(s.claim_answer(&a, t0()).unwrap(), Claim::Wait);
    // Another scope is not held up.
    assert_eq!(s.claim_answer(&b, t0()).unwrap(), Claim::Run);
    let answer = SavedAnswer {
        status: 201,
        body: br#"{"id":"x"}"#.to_vec(),
        at: t0(),
    };
    s.save_answer(&a, &answer).unwrap();
    assert_eq!(
        s.claim_answer(&a, t0().plus_millis(1)).unwrap(),
        Claim::Answer(answer.clone())
    );
    s.forget_answer(&b).unwrap();
    assert_eq!(s.claim_answer(&b, t0()).unwrap(), Claim::Run);
    // A running mark whose request died is taken over once stale.
    assert_eq!(
        s.claim_answer(&b, t0().plus_millis(RUNNING_STALE_MS))
            .unwrap(),
        Claim::Run
    );
    // Concurrent claims of one scope: exactly one runs.
    let c = [3u8; 32];
    let runs: usize = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| s.claim_answer(&c, t0()).unwrap() == Claim::Run))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap() as usize).sum()
    });
    assert_eq!(runs, 1);
    // Nothing is young enough to go yet; a day later everything goes.
    assert_eq!(s.purge_answers(t0().plus_millis(1)).unwrap(), 0);
    assert_eq!(
        s.purge_answers(t0().plus_millis(KEEP_MS + RUNNING_STALE_MS))
            .unwrap(),
        3
    );
    assert_eq!(
        s.claim_answer(&a, t0().plus_millis(KEEP_MS)).unwrap(),
        Claim::Run
    );
}

/// Deleting a tenant removes its record (and only its); a second delete
/// finds nothing.
pub fn a_deleted_tenant_is_gone(new: Factory) {
    let s = new();
    for id in ["acme", "globex"] {
        let t = Tenant {
            id: id.into(),
            name: id.into(),
            suspended: false,
            created_at: t0(),
            updated_at: t0(),
            metadata: Default::default(),
        };
        assert!(s.insert_tenant(&t).unwrap());
    }
    assert!(s.tenant("acme").unwrap().is_some());
    assert!(s.delete_tenant("acme").unwrap());
    assert!(s.tenant("acme").unwrap().is_none());
    assert!(!s.delete_tenant("acme").unwrap());
    let left: Vec<String> = s
        .list_tenants(None, 10)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, ["globex"]);
}

/// An event scan yields the tenant's events in the key range, newest or
/// oldest first, that the filter keeps; it stops at the limit, and at the
/// budget of events looked at, saying where.
pub fn event_scans_keep_to_the_tenant_range_and_budget(new: Factory) {
    let s = new();
    let mut acme = Vec::new();
    for i in 0..6 {
        let at = t0().plus_millis(i * 1000);
        let e = new_event("acme", at, None, &[]);
        acme.push(e.event.key);
        let other = new_event("globex", at.plus_millis(1), None, &[]);
        commit(s.as_ref(), vec![e, other]);
    }
    let all = (0, u128::MAX);
    let keys = |scan: &EventScan| scan.events.iter().map(|e| e.key).collect::<Vec<_>>();
    let newest = s
        .scan_events("acme", all, false, 10, 100, &mut |_| true)
        .unwrap();
    assert_eq!(
        keys(&newest),
        acme.iter().rev().copied().collect::<Vec<_>>()
    );
    assert_eq!(newest.stopped_at, None);
    let oldest = s
        .scan_events("acme", all, true, 2, 100, &mut |_| true)
        .unwrap();
    assert_eq!(keys(&oldest), acme[..2]);
    // Strictly inside the range.
    let inside = s
        .scan_events("acme", (acme[1], acme[4]), true, 10, 100, &mut |_| true)
        .unwrap();
    assert_eq!(keys(&inside), acme[2..4]);
    // The filter sees every event of the tenant in range.
    let odd = s
        .scan_events("acme", all, true, 10, 100, &mut |e| {
            e.key == acme[1] || e.key == acme[3]
        })
        .unwrap();
    assert_eq!(keys(&odd), [acme[1], acme[3]]);
    // A budget of 3 looks at acme 0, globex 0, acme 1 and stops before globex 1.
    let short = s
        .scan_events("acme", all, true, 10, 3, &mut |_| true)
        .unwrap();
    assert_eq!(keys(&short), acme[..2]);
    let stop = short.stopped_at.expect("stopped for the budget");
    let rest = s
        .scan_events("acme", (stop - 1, u128::MAX), true, 10, 100, &mut |_| true)
        .unwrap();
    assert_eq!(keys(&rest), acme[2..]);
    assert!(s
        .scan_events("globex", (0, 1), true, 10, 100, &mut |_| true)
        .unwrap()
        .events
        .is_empty());
}

/// An alert's transition is stored once: the same transition again
/// (another node evaluated the same rule first) writes nothing, so
/// exactly one node sends its operational event.
pub(crate) fn an_alert_transition_is_made_once(new: Factory) {
    use crate::domain::alert::{Alert, Rule, State, Transition};
    let s = new();
    let at = t0();
    let ep = EndpointId::new(at);
    let firing = Alert {
        rule: Rule::EndpointDown,
        endpoint_id: ep,
        tenant_id: "acme".into(),
        state: State::Firing,
        since: at,
        detail: "down".into(),
    };
    let fired = Transition {
        rule: Rule::EndpointDown,
        endpoint_id: ep,
        tenant_id: "acme".into(),
        url: "https://x.test/hook".into(),
        to: State::Firing,
        at,
        detail: "down".into(),
    };
    let ok = Alert {
        state: State::Ok,
        ..firing.clone()
    };
    let resolved = Transition {
        to: State::Ok,
        ..fired.clone()
    };
    // Resolving what never fired is no transition.
    assert!(!s.put_alert(&ok, &resolved).unwrap());
    assert!(s.put_alert(&firing, &fired).unwrap());
    assert!(!s.put_alert(&firing, &fired).unwrap(), "fired once");
    assert!(s.put_alert(&ok, &resolved).unwrap());
    assert!(!s.put_alert(&ok, &resolved).unwrap(), "resolved once");
    // Another rule of the same endpoint is its own state.
    let other = Alert {
        rule: Rule::FailureRate,
        ..firing.clone()
    };
    let other_t = Transition {
        rule: Rule::FailureRate,
        ..fired.clone()
    };
    assert!(s.put_alert(&other, &other_t).unwrap());
    assert_eq!(s.alert_history(10).unwrap().len(), 3);
    assert_eq!(s.alert(Rule::EndpointDown, ep).unwrap(), Some(ok));
}
