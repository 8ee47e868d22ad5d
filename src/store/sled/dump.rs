//! Export, import and check on sled's key layout.
//!
//! One function, [`entries`], says which sled entries a primary record is
//! stored as (its own, then its index entries); the import writes exactly
//! those, and the check compares the tree against them in both directions,
//! so the two cannot drift apart.
//!
//! Export has no snapshot to read from (sled has none): it scans tables
//! one after the other while ingest and delivery go on, events before
//! deliveries before attempts, and drops a delivery whose event it did not
//! hand over (written after the event scan passed) and an attempt whose
//! delivery it did not. The only other thing an export needs is that no
//! acknowledged event disappears under the scan: the retention purge of
//! events waits on the export gate (`SledStore::export_gate`).

use std::collections::HashSet;

use super::delivery::{due_key, keys_value, parse_keys_value};
use super::{keys, SledStore};
use crate::domain::alert::{Alert, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::ids::{DeliveryId, EndpointId, KeyId};
use crate::domain::session::Session;
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::store::codec::Versioned;
use crate::store::dump::Record;
use crate::store::{Problem, Result, RowKey, StoreError};

/// Entries per sled batch during an import (sled's memory grows with big
/// batches; see `cycle::MAX_BATCH_ENTRIES`).
const IMPORT_BATCH: usize = 512;

/// The sled entries `r` is stored as: its own first, then its indexes.
pub(super) fn entries(r: &Record) -> Vec<(Vec<u8>, Vec<u8>)> {
    match r {
        Record::Bootstrapped => vec![(keys::META_BOOTSTRAPPED.to_vec(), vec![1])],
        Record::Tenant(t) => vec![(keys::tenant(&t.id), t.encode())],
        Record::Key(k) => vec![
            (keys::key(k.id), k.encode()),
            (keys::key_hash(&k.hash), k.id.to_bytes().to_vec()),
        ],
        Record::User(u) => vec![(keys::user(&u.username), u.encode())],
        Record::Endpoint(e) => {
            let mut out = vec![
                (keys::endpoint(e.id), e.encode()),
                (keys::endpoint_by_tenant(&e.tenant_id, e.id), vec![]),
                (
                    keys::endpoint_url(&e.tenant_id, &e.url),
                    e.id.to_bytes().to_vec(),
                ),
            ];
            if let Some(uid) = &e.uid {
                out.push((
                    keys::endpoint_uid(&e.tenant_id, uid),
                    e.id.to_bytes().to_vec(),
                ));
            }
            out
        }
        Record::Health { endpoint, health } => vec![(keys::health(*endpoint), health.encode())],
        Record::Alert(a) => vec![(keys::alert(a.rule.code(), a.endpoint_id), a.encode())],
        Record::AlertHistory {
            at_ms,
            seq,
            transition,
        } => vec![(
            keys::alert_history(Timestamp::from_millis(*at_ms), *seq),
            transition.encode(),
        )],
        Record::Stats {
            grain,
            tenant,
            start,
            endpoint,
            stats,
        } => vec![(
            keys::stats(keys::stats_table(*grain), tenant, *start, *endpoint),
            stats.encode(),
        )],
        Record::Idempotency {
            tenant,
            key,
            at,
            events,
        } => vec![(keys::idempotency(tenant, key), keys_value(*at, events))],
        Record::Event(e) => {
            let mut out = vec![(keys::event(e.key), e.encode())];
            // A server-named event's id names its key: no index entry.
            if !e.self_named() {
                out.push((
                    keys::event_id(&e.tenant_id, &e.id),
                    e.key.to_be_bytes().to_vec(),
                ));
            }
            out
        }
        Record::Delivery(d) => {
            let mut out = vec![
                (keys::delivery(d.id), d.encode()),
                (keys::delivery_by_endpoint(d.endpoint_id, d.id), vec![]),
                (keys::delivery_by_tenant(&d.tenant_id, d.id), vec![]),
            ];
            if let Some(k) = due_key(d) {
                out.push((k, d.endpoint_id.to_bytes().to_vec()));
            }
            if d.held {
                out.push((keys::held(d.endpoint_id, d.id), vec![]));
            }
            if d.state == DeliveryState::Pending {
                out.push((keys::pending(d.endpoint_id, d.id), vec![]));
            }
            out
        }
        Record::Attempt(a) => vec![(keys::attempt(a.delivery_id, a.id), a.encode())],
        Record::EventType(t) => vec![(keys::event_type(&t.name), t.encode())],
    }
}

fn id16(b: &[u8], what: &'static str) -> Result<[u8; 16]> {
    <[u8; 16]>::try_from(b).map_err(|_| StoreError::Corrupt {
        kind: what,
        reason: format!("{} bytes where an id of 16 was expected", b.len()),
    })
}

fn bad_key(kind: &'static str) -> StoreError {
    StoreError::Corrupt {
        kind,
        reason: "malformed key".into(),
    }
}

/// The primary record stored at `key`, if `key` is in a primary table
/// that a dump carries (`None` for indexes, sessions and the schema
/// version).
fn record_of(key: &[u8], value: &[u8]) -> Option<Result<Record>> {
    let t = |p: &[u8]| key.starts_with(p);
    Some(if key == keys::META_BOOTSTRAPPED {
        Ok(Record::Bootstrapped)
    } else if t(keys::TENANT) {
        Tenant::decode(value).map(Record::Tenant)
    } else if t(keys::KEY) {
        ApiKey::decode(value).map(Record::Key)
    } else if t(keys::USER) {
        User::decode(value).map(Record::User)
    } else if t(keys::EVENT_TYPE) {
        CustomEventType::decode(value).map(Record::EventType)
    } else if t(keys::ENDPOINT) {
        Endpoint::decode(value).map(Record::Endpoint)
    } else if t(keys::HEALTH) {
        (|| {
            let endpoint = EndpointId::from_bytes(id16(&key[keys::HEALTH.len()..], "health key")?);
            Ok(Record::Health {
                endpoint,
                health: Health::decode(value)?,
            })
        })()
    } else if t(keys::ALERT) {
        Alert::decode(value).map(Record::Alert)
    } else if t(keys::ALERT_HISTORY) {
        match keys::parse_row(key) {
            Some(RowKey::AlertHistory { at_ms, seq }) => {
                Transition::decode(value).map(|transition| Record::AlertHistory {
                    at_ms,
                    seq,
                    transition,
                })
            }
            _ => Err(bad_key("alert history")),
        }
    } else if t(keys::STATS_MINUTE) || t(keys::STATS_HOUR) || t(keys::STATS_DAY) {
        match keys::parse_row(key) {
            Some(RowKey::Stats {
                grain,
                tenant,
                start_ms,
                endpoint,
            }) => Stats::decode(value).map(|stats| Record::Stats {
                grain,
                tenant,
                start: Timestamp::from_millis(start_ms),
                endpoint,
                stats,
            }),
            _ => Err(bad_key("stats")),
        }
    } else if t(keys::IDEMPOTENCY) {
        match (keys::parse_row(key), parse_keys_value(value)) {
            (Some(RowKey::Idempotency { tenant, key }), Some((at, events))) => {
                Ok(Record::Idempotency {
                    tenant,
                    key,
                    at,
                    events,
                })
            }
            (Some(RowKey::Idempotency { .. }), None) => Err(StoreError::Corrupt {
                kind: "idempotency",
                reason: format!("a value of {} bytes", value.len()),
            }),
            _ => Err(bad_key("idempotency")),
        }
    } else if t(keys::EVENT) {
        Event::decode(value).map(Record::Event)
    } else if t(keys::DELIVERY) {
        Delivery::decode(value).map(Record::Delivery)
    } else if t(keys::ATTEMPT) {
        Attempt::decode(value).map(Record::Attempt)
    } else {
        return None;
    })
}

/// The primary tables in export order (events before deliveries before
/// attempts: see the module comment).
const EXPORT_ORDER: [&[u8]; 16] = [
    keys::META_BOOTSTRAPPED,
    keys::TENANT,
    keys::KEY,
    keys::USER,
    keys::EVENT_TYPE,
    keys::ENDPOINT,
    keys::HEALTH,
    keys::ALERT,
    keys::ALERT_HISTORY,
    keys::STATS_MINUTE,
    keys::STATS_HOUR,
    keys::STATS_DAY,
    keys::IDEMPOTENCY,
    keys::EVENT,
    keys::DELIVERY,
    keys::ATTEMPT,
];

impl SledStore {
    pub(super) fn export_impl(&self, sink: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        // Held for the whole scan: the event purge waits for it, so no
        // acknowledged event (or its deliveries) disappears under it.
        let _gate = self.export_gate.read().unwrap_or_else(|e| e.into_inner());
        // Writes the health and statistics rows held in memory, so the
        // dump has them as of now (one committer cycle).
        crate::store::Store::flush(self)?;
        let mut events: HashSet<u128> = HashSet::new();
        let mut deliveries: HashSet<DeliveryId> = HashSet::new();
        for prefix in EXPORT_ORDER {
            for item in self.db()?.scan_prefix(prefix) {
                let (k, v) = item.map_err(|e| self.io(e))?;
                let Some(r) = record_of(&k, &v) else { continue };
                let r = r.map_err(|e| StoreError::Corrupt {
                    kind: "record",
                    reason: format!("{} at {}: {e}", table_of(&k), printable(&k)),
                })?;
                match &r {
                    Record::Event(e) => {
                        events.insert(e.key);
                    }
                    Record::Delivery(d) => {
                        if !events.contains(&d.event_key) {
                            continue; // its event came after the event scan
                        }
                        deliveries.insert(d.id);
                    }
                    Record::Attempt(a) if !deliveries.contains(&a.delivery_id) => continue,
                    _ => {}
                }
                sink(r)?;
            }
        }
        Ok(())
    }

    pub(super) fn import_impl(
        &self,
        source: &mut dyn FnMut() -> Result<Option<Record>>,
    ) -> Result<()> {
        for item in self.db()?.iter() {
            let (k, _) = item.map_err(|e| self.io(e))?;
            if k.as_ref() != keys::META_SCHEMA {
                return Err(StoreError::NotEmpty(format!(
                    "found {} {}",
                    table_of(&k),
                    printable(&k)
                )));
            }
        }
        let mut batch = sled::Batch::default();
        let mut n = 0;
        while let Some(r) = source()? {
            match &r {
                Record::Tenant(t) => self.cache.tenant_changed(&t.id),
                Record::Key(_) => self.cache.key_changed(),
                Record::Endpoint(e) => self.cache.endpoint_changed(e),
                _ => {}
            }
            for (k, v) in entries(&r) {
                batch.insert(k, v);
                n += 1;
            }
            // Records stay whole within a batch.
            if n >= IMPORT_BATCH {
                self.db()?
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| self.io(e))?;
                n = 0;
            }
        }
        self.db()?.apply_batch(batch).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    pub(super) fn check_impl(&self, report: &mut dyn FnMut(Problem)) -> Result<u64> {
        let mut seen = 0;
        for item in self.db()?.iter() {
            let (k, v) = item.map_err(|e| self.io(e))?;
            seen += 1;
            let mut problem = |p: String| {
                report(Problem {
                    table: table_of(&k).to_string(),
                    key: printable(&k),
                    problem: p,
                })
            };
            if k.as_ref() == keys::META_SCHEMA {
                if let Err(e) = super::migrations::stored_version(&*self.db()?) {
                    problem(e.to_string());
                }
                continue;
            }
            if k.starts_with(keys::SESSION) {
                match Session::decode(&v) {
                    Ok(s) if keys::session(&s.id_hash) == k.as_ref() => {}
                    Ok(_) => problem("session stored under another key".into()),
                    Err(e) => problem(e.to_string()),
                }
                continue;
            }
            // Remembered answers of idempotent requests are not dumped
            // either (see `store::dump`): they only need to decode.
            if k.starts_with(keys::ANSWER) {
                if let Err(e) = crate::domain::idempotent::Remembered::decode(&v) {
                    problem(e.to_string());
                }
                continue;
            }
            // Last-use times, like sessions, are not dumped: they only
            // need to decode.
            if k.starts_with(keys::KEY_USE) || k.starts_with(keys::USER_LOGIN) {
                if let Err(e) = crate::domain::lastuse::LastUse::decode(&v) {
                    problem(e.to_string());
                }
                continue;
            }
            if let Some(r) = record_of(&k, &v) {
                match r {
                    Ok(r) => self.check_record(&k, &r, &mut problem)?,
                    Err(e) => problem(format!("does not decode: {e}")),
                }
                continue;
            }
            match index_owner(&k, &v) {
                Some(Ok(owner)) => self.check_index(&k, &v, &owner, &mut problem)?,
                Some(Err(e)) => problem(e.to_string()),
                None => problem("not in any table this herald knows".into()),
            }
        }
        Ok(seen)
    }

    fn check_record(&self, k: &[u8], r: &Record, problem: &mut dyn FnMut(String)) -> Result<()> {
        let wanted = entries(r);
        if wanted[0].0 != k {
            problem(format!(
                "record stored under another key (it belongs at {})",
                printable(&wanted[0].0)
            ));
        }
        for (ik, iv) in &wanted[1..] {
            match self.db()?.get(ik).map_err(|e| self.io(e))? {
                None => problem(format!("missing index entry {}", printable(ik))),
                Some(v) if v.as_ref() != iv.as_slice() => {
                    problem(format!("index entry {} holds another value", printable(ik)))
                }
                Some(_) => {}
            }
        }
        // References a restore could not make sense of.
        match r {
            Record::Delivery(d)
                if self
                    .db()?
                    .get(keys::event(d.event_key))
                    .map_err(|e| self.io(e))?
                    .is_none() =>
            {
                problem("delivery without its event".into())
            }
            Record::Attempt(a)
                if self
                    .db()?
                    .get(keys::delivery(a.delivery_id))
                    .map_err(|e| self.io(e))?
                    .is_none() =>
            {
                problem("attempt without its delivery".into())
            }
            _ => {}
        }
        Ok(())
    }

    fn check_index(
        &self,
        k: &[u8],
        v: &[u8],
        owner: &[u8],
        problem: &mut dyn FnMut(String),
    ) -> Result<()> {
        let Some(bytes) = self.db()?.get(owner).map_err(|e| self.io(e))? else {
            problem(format!(
                "index entry without its record {}",
                printable(owner)
            ));
            return Ok(());
        };
        let r = match record_of(owner, &bytes) {
            Some(Ok(r)) => r,
            // The record's own line reports why it does not decode.
            Some(Err(_)) | None => return Ok(()),
        };
        if entries(&r).iter().any(|(ek, ev)| ek == k && ev == v) {
            return Ok(());
        }
        // Stores written before server-named events went unindexed keep
        // an id entry for them: fine if it names the event exactly.
        if let (true, Record::Event(e)) = (k.starts_with(keys::EVENT_ID), &r) {
            if keys::event_id(&e.tenant_id, &e.id) == k {
                return Ok(());
            }
        }
        problem(format!(
            "index entry disagrees with its record {}",
            printable(owner)
        ));
        Ok(())
    }
}

/// The primary key an index entry points at.
fn index_owner(k: &[u8], v: &[u8]) -> Option<Result<Vec<u8>>> {
    let t = |p: &[u8]| k.starts_with(p);
    let trailing = |what| keys::trailing_id(k).ok_or(bad_key(what));
    Some(if t(keys::KEY_HASH) {
        id16(v, "key hash index").map(|b| keys::key(KeyId::from_bytes(b)))
    } else if t(keys::ENDPOINT_BY_TENANT) {
        trailing("endpoint index").map(|b| keys::endpoint(EndpointId::from_bytes(b)))
    } else if t(keys::ENDPOINT_URL) {
        id16(v, "endpoint URL index").map(|b| keys::endpoint(EndpointId::from_bytes(b)))
    } else if t(keys::ENDPOINT_UID) {
        id16(v, "endpoint uid index").map(|b| keys::endpoint(EndpointId::from_bytes(b)))
    } else if t(keys::EVENT_ID) {
        id16(v, "event id index").map(|b| keys::event(u128::from_be_bytes(b)))
    } else if t(keys::DELIVERY_BY_ENDPOINT)
        || t(keys::DELIVERY_BY_TENANT)
        || t(keys::DUE)
        || t(keys::HELD)
        || t(keys::PENDING)
    {
        trailing("delivery index").map(|b| keys::delivery(DeliveryId::from_bytes(b)))
    } else {
        return None;
    })
}

/// The table a key belongs to, by its prefix (`ev/`, `q/`, …).
fn table_of(k: &[u8]) -> &str {
    let end = k.iter().position(|b| *b == b'/').map_or(0, |i| i + 1);
    std::str::from_utf8(&k[..end]).unwrap_or("?")
}

/// A key for a person: its prefix as text, the rest in hex.
fn printable(k: &[u8]) -> String {
    let end = k.iter().position(|b| *b == b'/').map_or(0, |i| i + 1);
    let rest: String = k[end..].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}{rest}", String::from_utf8_lossy(&k[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::generated_id;
    use crate::domain::ids::new_ulid;
    use crate::store::{CommitOutcome, EventStore, NewEvent, Store};

    fn problems(s: &SledStore) -> Vec<Problem> {
        let mut out = Vec::new();
        s.check(&mut |p| out.push(p)).unwrap();
        out
    }

    /// The check finds a missing index entry, an index entry whose record
    /// is gone, one that disagrees, and a record that does not decode, and
    /// names the table and key of each.
    #[test]
    fn check_names_what_is_wrong() {
        let s = SledStore::temporary().unwrap();
        let at = Timestamp::from_millis(1_700_000_000_000);
        let ep = EndpointId::new(at);
        let key = new_ulid(at).0;
        let d = crate::store::conformance::delivery("acme", ep, key, at);
        let ne = NewEvent {
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
            deliveries: vec![d.clone()],
        };
        assert!(matches!(
            s.commit_events(vec![ne], None).wait().unwrap(),
            CommitOutcome::Done(_)
        ));
        // Last-use times are kept (not dumped) and check clean.
        use crate::store::{KeyStore, UserStore};
        s.record_key_use(crate::domain::ids::KeyId::new(at), at)
            .unwrap();
        s.record_login("admin", at).unwrap();
        assert_eq!(problems(&s), vec![], "a fresh store is clean");

        s.db().unwrap().remove(keys::due(at, d.id)).unwrap();
        let p = problems(&s);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].table, "d/");
        assert!(p[0].problem.contains("missing index entry q/"), "{p:?}");

        s.db()
            .unwrap()
            .insert(keys::due(at, d.id), &ep.to_bytes())
            .unwrap();
        let stray = DeliveryId::new(at);
        s.db().unwrap().insert(keys::held(ep, stray), &[]).unwrap();
        s.db()
            .unwrap()
            .insert(keys::due(at.plus_millis(5), d.id), &ep.to_bytes())
            .unwrap();
        s.db()
            .unwrap()
            .insert(keys::tenant("acme"), &b"\x01garbage"[..])
            .unwrap();
        s.db().unwrap().insert(&b"zz/unknown"[..], &[]).unwrap();
        let p = problems(&s);
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 4, "{text:?}");
        assert!(text
            .iter()
            .any(|t| t.starts_with("h/") && t.contains("without its record")));
        assert!(text
            .iter()
            .any(|t| t.starts_with("q/") && t.contains("disagrees")));
        assert!(text
            .iter()
            .any(|t| t.starts_with("t/") && t.contains("does not decode")));
        assert!(text.iter().any(|t| t.contains("not in any table")));
    }

    #[test]
    fn import_refuses_a_store_with_records() {
        let s = SledStore::temporary().unwrap();
        s.mark_bootstrapped().unwrap();
        let mut none = || Ok(None);
        assert!(matches!(s.import(&mut none), Err(StoreError::NotEmpty(_))));
    }
}

#[cfg(test)]
mod answer_tests {
    use super::*;
    use crate::domain::idempotent::SavedAnswer;
    use crate::store::{AnswerStore, Store};

    /// Remembered answers check clean and stay out of a dump (see
    /// `store::dump`); an undecodable one is reported.
    #[test]
    fn remembered_answers_check_clean_and_are_not_dumped() {
        let s = SledStore::temporary().unwrap();
        let at = Timestamp::from_millis(1_700_000_000_000);
        s.claim_answer(&[1; 32], at).unwrap();
        s.claim_answer(&[2; 32], at).unwrap();
        let answer = SavedAnswer {
            status: 201,
            body: b"{}".to_vec(),
            at,
        };
        s.save_answer(&[2; 32], &answer).unwrap();
        let mut found = Vec::new();
        s.check(&mut |p| found.push(p)).unwrap();
        assert!(found.is_empty(), "{found:?}");
        let mut records = 0;
        s.export(&mut |_| {
            records += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(records, 0, "nothing but answers was stored");
        s.db()
            .unwrap()
            .insert(keys::answer(&[3; 32]), &b"\x09junk"[..])
            .unwrap();
        let mut found = Vec::new();
        s.check(&mut |p| found.push(p)).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].table, "ir/");
    }
}
