//! The delivery pipeline's tables on sled: events, deliveries, attempts,
//! the due-time and held indexes, health and statistics rows. Reads go to
//! sled (and the write-behind rows); every write is a [`WriteOp`] applied
//! here, on the committer thread, by the `apply_*` functions.

use std::ops::Bound;

use super::cycle::{Cycle, Deferred};
use super::keys;
use super::SledStore;
use crate::domain::delivery::{Attempt, Delivery, DeliveryState, Verdict};
use crate::domain::event::{key_named_by, Event};
use crate::domain::health::Health;
use crate::domain::ids::{first_ulid_at, DeliveryId, EndpointId};
use crate::domain::retention;
use crate::domain::stats::{Grain, Stats};
use crate::domain::time::Timestamp;
use crate::store::codec::Versioned;
use crate::store::ops::{output, Seen, WriteOp};
use crate::store::{
    CommitOutcome, Committed, Conflict, DeliveryStore, Due, EventScan, EventStore, Idempotency,
    NewEvent, Purged, Result, RowKey, StatsRow, StatsStore, StoreError, StoreStats, Ticket,
};

/// The due-index key of a delivery in this state, if it belongs there.
pub(super) fn due_key(d: &Delivery) -> Option<Vec<u8>> {
    match (d.state, d.held, d.next_attempt_at) {
        (DeliveryState::Pending, false, Some(at)) => Some(keys::due(at, d.id)),
        _ => None,
    }
}

/// Adds to the cycle the writes that turn `before` (as stored) into `after`.
fn delivery_writes(batch: &mut Cycle, before: Option<&Delivery>, after: &Delivery) {
    let old_due = before.and_then(due_key);
    let new_due = due_key(after);
    if old_due != new_due {
        if let Some(k) = old_due {
            batch.remove(k);
        }
        if let Some(k) = new_due {
            batch.insert(k, after.endpoint_id.to_bytes().to_vec());
        }
    }
    let was_held = before.is_some_and(|b| b.held);
    if was_held && !after.held {
        batch.remove(keys::held(after.endpoint_id, after.id));
    }
    if after.held && !was_held {
        batch.insert(keys::held(after.endpoint_id, after.id), vec![]);
    }
    let was_pending = before.is_some_and(|b| b.state == DeliveryState::Pending);
    let is_pending = after.state == DeliveryState::Pending;
    if was_pending && !is_pending {
        batch.remove(keys::pending(after.endpoint_id, after.id));
    }
    if is_pending && !was_pending {
        batch.insert(keys::pending(after.endpoint_id, after.id), vec![]);
    }
    if before.is_none() {
        batch.insert(
            keys::delivery_by_endpoint(after.endpoint_id, after.id),
            vec![],
        );
        batch.insert(keys::delivery_by_tenant(&after.tenant_id, after.id), vec![]);
    }
    batch.insert(keys::delivery(after.id), after.encode());
}

pub(super) fn keys_value(at: Timestamp, event_keys: &[u128]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 16 * event_keys.len());
    v.extend_from_slice(&at.as_millis().to_be_bytes());
    for k in event_keys {
        v.extend_from_slice(&k.to_be_bytes());
    }
    v
}

pub(super) fn parse_keys_value(v: &[u8]) -> Option<(Timestamp, Vec<u128>)> {
    if v.len() < 8 || (v.len() - 8) % 16 != 0 {
        return None;
    }
    let at = i64::from_be_bytes(v[..8].try_into().ok()?);
    let ks = v[8..]
        .chunks_exact(16)
        .filter_map(|c| c.try_into().ok().map(u128::from_be_bytes))
        .collect();
    Some((Timestamp::from_millis(at), ks))
}

fn read_u128(v: &[u8], what: &'static str) -> Result<u128> {
    <[u8; 16]>::try_from(v)
        .map(u128::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            kind: what,
            reason: format!("{} bytes", v.len()),
        })
}

/// The key of the tenant's event that already has this client-chosen id:
/// from the id index, or, for an id in the server's own `evt_<ULID>` form,
/// the server-named event of that key if it is the tenant's.
fn client_named_duplicate(cycle: &Cycle, ev: &Event) -> Result<Option<u128>> {
    if let Some(existing) = cycle.get(&keys::event_id(&ev.tenant_id, &ev.id))? {
        return read_u128(&existing, "event id index").map(Some);
    }
    if let Some(k) = key_named_by(&ev.id) {
        if let Some(bytes) = cycle.get(&keys::event(k))? {
            let other = Event::decode(&bytes)?;
            if other.tenant_id == ev.tenant_id && other.id == ev.id {
                return Ok(Some(k));
            }
        }
    }
    Ok(None)
}

/// The stored delivery `id` as this cycle leaves it.
fn stored_delivery(cycle: &Cycle, id: DeliveryId) -> Result<Option<Delivery>> {
    cycle
        .get(&keys::delivery(id))?
        .map(|b| Delivery::decode(&b))
        .transpose()
}

/// What one event's purge removed, if it could go.
struct EventPurge {
    deliveries: usize,
    attempts: usize,
}

/// Removes event `key` with its deliveries, attempts and index entries if
/// [`retention::event_purgeable`] allows it. Runs on the committer thread,
/// which writes every delivery change, so no attempt or resend can slip in
/// between the check and the removal.
fn purge_event(cycle: &mut Cycle, key: u128) -> Result<Option<EventPurge>> {
    let Some(bytes) = cycle.get(&keys::event(key))? else {
        return Ok(None);
    };
    let event = Event::decode(&bytes)?;
    let mut deliveries = Vec::with_capacity(event.deliveries.len());
    for (d, _) in &event.deliveries {
        if let Some(d) = stored_delivery(cycle, DeliveryId::from_u128(*d))? {
            deliveries.push(d);
        }
    }
    if !retention::event_purgeable(&deliveries) {
        return Ok(None);
    }
    let mut attempts = 0;
    for d in &deliveries {
        for k in cycle.keys_with_prefix(&keys::attempts_of(d.id))? {
            cycle.remove(k);
            attempts += 1;
        }
        if let Some(k) = due_key(d) {
            cycle.remove(k);
        }
        if d.held {
            cycle.remove(keys::held(d.endpoint_id, d.id));
        }
        if d.state == DeliveryState::Pending {
            cycle.remove(keys::pending(d.endpoint_id, d.id));
        }
        cycle.remove(keys::delivery_by_endpoint(d.endpoint_id, d.id));
        cycle.remove(keys::delivery_by_tenant(&d.tenant_id, d.id));
        cycle.remove(keys::delivery(d.id));
    }
    if !event.self_named() {
        cycle.remove(keys::event_id(&event.tenant_id, &event.id));
    }
    cycle.remove(keys::event(key));
    cycle.purged_event(key);
    Ok(Some(EventPurge {
        deliveries: deliveries.len(),
        attempts,
    }))
}

/// [`WriteOp::CommitEvents`]: the committer thread is the only writer of
/// the id and idempotency indexes, and reads go through the cycle, so it
/// also sees events earlier ops of this cycle wrote.
pub(super) fn apply_events(
    cycle: &mut Cycle,
    events: &[NewEvent],
    idem: Option<&Idempotency>,
) -> Result<CommitOutcome> {
    if let Some(i) = idem {
        if let Some(v) = cycle.get(&keys::idempotency(&i.tenant_id, &i.key))? {
            if let Some((at, ks)) = parse_keys_value(&v) {
                if retention::idempotency_answers(at, i.not_before) {
                    return Ok(CommitOutcome::Replayed(ks));
                }
            }
        }
    }
    let mut results = Vec::with_capacity(events.len());
    let mut event_keys = Vec::with_capacity(events.len());
    for ne in events {
        let ev = &ne.event;
        // A server-named event (`evt_` + the ULID of its fresh key) cannot
        // have been stored before, and its id says where it is: no id
        // index, no lookup. That is two of an event's three sled writes
        // and reads, which is what a batch's commit time is made of.
        if !ev.self_named() {
            if let Some(k) = client_named_duplicate(cycle, ev)? {
                event_keys.push(k);
                results.push(Committed::Duplicate(k));
                continue;
            }
            cycle.insert(
                keys::event_id(&ev.tenant_id, &ev.id),
                ev.key.to_be_bytes().to_vec(),
            );
        }
        // Each event is atomic: its record, id index, deliveries and their
        // indexes sit between two checkpoints, hence in one sled batch.
        cycle.insert(keys::event(ev.key), ev.encode());
        for d in &ne.deliveries {
            delivery_writes(cycle, None, d);
        }
        event_keys.push(ev.key);
        results.push(Committed::Created);
        cycle.checkpoint();
    }
    if let Some(i) = idem {
        cycle.insert(
            keys::idempotency(&i.tenant_id, &i.key),
            keys_value(i.now, &event_keys),
        );
    }
    Ok(CommitOutcome::Done(results))
}

/// [`WriteOp::UpdateDelivery`]. A resend that read the delivery before the
/// retention purge removed it must not write it back (a delivery with no
/// event), so a delivery no longer stored is a conflict.
pub(super) fn apply_update(
    cycle: &mut Cycle,
    after: &Delivery,
    attempt: Option<&Attempt>,
    seen: Option<&Seen>,
) -> Result<()> {
    let before =
        stored_delivery(cycle, after.id)?.ok_or(StoreError::Conflict(Conflict::Changed))?;
    if seen.is_some_and(|s| *s != Seen::of(&before)) {
        return Err(StoreError::Conflict(Conflict::Changed));
    }
    delivery_writes(cycle, Some(&before), after);
    if let Some(a) = attempt {
        cycle.insert(keys::attempt(a.delivery_id, a.id), a.encode());
    }
    Ok(())
}

/// [`WriteOp::RecordAttempt`]. NB: the read-modify-writes of health and
/// statistics are safe here: this thread is their only writer, and reads
/// go through the cycle, so attempts earlier in the same cycle are seen.
pub(super) fn apply_attempt(
    cycle: &mut Cycle,
    after: &Delivery,
    attempt: &Attempt,
    seen: Option<&Seen>,
) -> Result<Health> {
    apply_update(cycle, after, Some(attempt), seen)?;
    let success = attempt.verdict == Verdict::Success;
    let health = cycle.health_mut(keys::health(after.endpoint_id))?;
    health.record(
        success,
        attempt.started_at.plus_millis(attempt.latency_ms as i64),
    );
    let health = health.clone();
    let (delta, rows) = Stats::rows_of_attempt(attempt, after.state);
    for (grain, start) in rows {
        let key = keys::stats(
            keys::stats_table(grain),
            &after.tenant_id,
            start,
            after.endpoint_id,
        );
        cycle.add_stats(key, &delta)?;
    }
    Ok(health)
}

/// [`WriteOp::PurgeEvents`].
pub(super) fn apply_purge(cycle: &mut Cycle, candidates: &[u128]) -> Result<(Purged, Vec<u128>)> {
    let mut purged = Purged {
        examined: candidates.len(),
        ..Purged::default()
    };
    let mut gone = Vec::new();
    for &key in candidates {
        if let Some(p) = purge_event(cycle, key)? {
            purged.events += 1;
            purged.deliveries += p.deliveries;
            purged.attempts += p.attempts;
            gone.push(key);
        }
        // Each event goes whole or not at all.
        cycle.checkpoint();
    }
    Ok((purged, gone))
}

/// Whether a stored idempotency record (or its absence) is past its
/// window at `before`.
fn idempotency_expired(value: Option<&[u8]>, before: Timestamp) -> bool {
    value.is_some_and(|v| {
        retention::idempotency_expired(parse_keys_value(v).map(|(at, _)| at), before)
    })
}

/// [`WriteOp::RemoveRows`]. Statistics rows and alert history of past
/// times are never written again, but an Idempotency-Key may be used
/// afresh between the scan and this write, so each key is checked again.
pub(super) fn apply_remove_rows(
    cycle: &mut Cycle,
    rows: &[RowKey],
    idempotency_before: Timestamp,
) -> Result<usize> {
    let mut gone = Vec::with_capacity(rows.len());
    for r in rows {
        let k = keys::row(r);
        if matches!(r, RowKey::Idempotency { .. })
            && !idempotency_expired(cycle.get(&k)?.as_deref(), idempotency_before)
        {
            continue;
        }
        gone.push(k);
    }
    // A row still held in memory would be written back.
    cycle.forget_rows(&gone);
    let n = gone.len();
    for k in gone {
        cycle.remove(k);
        cycle.checkpoint();
    }
    Ok(n)
}

impl EventStore for SledStore {
    fn commit_events(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Ticket<CommitOutcome> {
        self.committer.submit(
            WriteOp::CommitEvents {
                events,
                idempotency,
            },
            output::committed,
        )
    }

    fn idempotent_events(
        &self,
        tenant: &str,
        key: &str,
        not_before: Timestamp,
    ) -> Result<Option<Vec<u128>>> {
        Ok(self
            .db()?
            .get(keys::idempotency(tenant, key))
            .map_err(|e| self.io(e))?
            .and_then(|v| parse_keys_value(&v))
            .filter(|(at, _)| retention::idempotency_answers(*at, not_before))
            .map(|(_, ks)| ks))
    }

    fn event(&self, key: u128) -> Result<Option<Event>> {
        // Events never change once written: a cached copy is good until
        // the retention purge drops it.
        let cached = self.cache.event(key).map(|e| e.as_ref().clone());
        self.read_through(cached, &keys::event(key), |g, e| {
            self.cache.fill_event(g, std::sync::Arc::new(e.clone()))
        })
    }

    fn event_by_id(&self, tenant: &str, id: &str) -> Result<Option<Event>> {
        // A server-named event is found by its key (stores written before
        // server-named events went unindexed also find it through the
        // index below). A client may send an id of the same form, so the
        // event found there must be the tenant's and carry exactly this id.
        if let Some(k) = key_named_by(id) {
            if let Some(e) = self.event(k)? {
                if e.tenant_id == tenant && e.id == id {
                    return Ok(Some(e));
                }
            }
        }
        let indexed = self
            .db()?
            .get(keys::event_id(tenant, id))
            .map_err(|e| self.io(e))?;
        match indexed {
            Some(k) => self.event(read_u128(&k, "event id index")?),
            None => Ok(None),
        }
    }

    fn scan_events(
        &self,
        tenant: &str,
        range: (u128, u128),
        ascending: bool,
        limit: usize,
        budget: usize,
        keep: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<EventScan> {
        let mut out = EventScan::default();
        if range.0 >= range.1 || limit == 0 {
            return Ok(out);
        }
        let lo = Bound::Excluded(keys::event(range.0));
        let hi = Bound::Excluded(keys::event(range.1));
        let db = self.db()?;
        let iter = db.range::<Vec<u8>, _>((lo, hi));
        let iter: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if ascending {
            Box::new(iter)
        } else {
            Box::new(iter.rev())
        };
        for (looked, item) in iter.enumerate() {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let key = read_u128(&k[keys::EVENT.len()..], "event key")?;
            if looked >= budget {
                out.stopped_at = Some(key);
                break;
            }
            let e = Event::decode(&v)?;
            if e.tenant_id == tenant && keep(&e) {
                out.events.push(e);
                if out.events.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl DeliveryStore for SledStore {
    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        self.get(&keys::delivery(id))
    }

    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        self.scan_records(&keys::attempts_of(id), None, usize::MAX)
    }

    fn update_delivery(&self, delivery: &Delivery, attempt: Option<&Attempt>) -> Ticket<()> {
        self.committer.submit(
            WriteOp::UpdateDelivery {
                delivery: delivery.clone(),
                attempt: attempt.cloned(),
                seen: None,
            },
            output::done,
        )
    }

    fn update_delivery_if(&self, delivery: &Delivery, seen: &Delivery) -> Ticket<()> {
        self.committer.submit(
            WriteOp::UpdateDelivery {
                delivery: delivery.clone(),
                attempt: None,
                seen: Some(crate::store::ops::Seen::of(seen)),
            },
            output::done,
        )
    }

    fn record_attempt(&self, delivery: &Delivery, attempt: &Attempt) -> Ticket<Health> {
        self.committer.submit(
            WriteOp::RecordAttempt {
                delivery: delivery.clone(),
                attempt: attempt.clone(),
                seen: None,
            },
            output::health,
        )
    }

    fn record_attempt_if(
        &self,
        delivery: &Delivery,
        attempt: &Attempt,
        seen: &Delivery,
    ) -> Ticket<Health> {
        self.committer.submit(
            WriteOp::RecordAttempt {
                delivery: delivery.clone(),
                attempt: attempt.clone(),
                seen: Some(crate::store::ops::Seen::of(seen)),
            },
            output::health,
        )
    }

    fn record_attempt_behind(&self, delivery: &Delivery, attempt: &Attempt) -> Ticket<Health> {
        self.committer.submit_behind(
            WriteOp::RecordAttempt {
                delivery: delivery.clone(),
                attempt: attempt.clone(),
                seen: None,
            },
            output::health,
        )
    }

    fn list_deliveries(
        &self,
        filter: &crate::store::DeliveryFilter,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<crate::store::DeliveryPage> {
        self.list_deliveries_impl(filter, before, limit)
    }

    fn endpoint_deliveries(
        &self,
        endpoint: EndpointId,
        after: Option<DeliveryId>,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let prefix = keys::deliveries_of_endpoint(endpoint);
        let after = after.map(DeliveryId::to_bytes);
        let mut out = Vec::new();
        for (k, _) in self.scan_after(&prefix, after.as_ref().map(|a| &a[..]), limit)? {
            if let Some(d) = keys::trailing_id(&k).map(DeliveryId::from_bytes) {
                if let Some(d) = self.delivery(d)? {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    fn due_between(
        &self,
        after: Option<(Timestamp, DeliveryId)>,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Due>> {
        let start = match after {
            Some((t, id)) => Bound::Excluded(keys::due(t, id)),
            None => Bound::Included(keys::DUE.to_vec()),
        };
        let mut out = Vec::new();
        for item in self.db()?.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let Some((due, delivery)) = keys::parse_due(&k) else {
                break; // past the due table
            };
            if due > until || out.len() >= limit {
                break;
            }
            let endpoint =
                EndpointId::from_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    kind: "due index",
                    reason: format!("{} bytes", v.len()),
                })?);
            out.push(Due {
                due,
                delivery,
                endpoint,
            });
        }
        Ok(out)
    }

    fn first_pending(&self, endpoint: EndpointId) -> Result<Option<Delivery>> {
        // The index on disk may lag the committer by a cycle: each entry is
        // checked against the delivery as read now (write-behind included).
        let prefix = keys::pending_of(endpoint);
        for item in self.db()?.scan_prefix(&prefix) {
            let (k, _) = item.map_err(|e| self.io(e))?;
            let Some(id) = keys::trailing_id(&k).map(DeliveryId::from_bytes) else {
                continue;
            };
            if let Some(d) = self.delivery(id)? {
                if d.state == DeliveryState::Pending {
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }

    fn stream_ready(
        &self,
        endpoint: EndpointId,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        // Held first: the endpoint's own prefix of the held index.
        let mut ids: Vec<DeliveryId> = self
            .scan_after(&keys::held_of(endpoint), None, limit)?
            .into_iter()
            .filter_map(|(k, _)| keys::trailing_id(&k).map(DeliveryId::from_bytes))
            .collect();
        // Then the due index, ordered by due time, each entry's value its
        // endpoint: the earliest entries up to `until`, within the scan
        // bound, filtered on the value without reading other records.
        let want = endpoint.to_bytes();
        let range = self.db()?.range::<&[u8], _>(keys::DUE..);
        for item in range.take(crate::store::ENDPOINT_DUE_SCAN) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let Some((due, delivery)) = keys::parse_due(&k) else {
                break; // past the due table
            };
            if due > until || ids.len() >= limit {
                break;
            }
            if v.as_ref() == want {
                ids.push(delivery);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // Re-checked on the record: the index entry and the record are
            // written together, but a read between two scans may race.
            if let Some(d) = self.delivery(id)? {
                if d.endpoint_id == endpoint && d.stream_ready(until) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    fn held_deliveries(&self, endpoint: EndpointId) -> Result<Vec<DeliveryId>> {
        Ok(self
            .scan_after(&keys::held_of(endpoint), None, usize::MAX)?
            .into_iter()
            .filter_map(|(k, _)| keys::trailing_id(&k).map(DeliveryId::from_bytes))
            .collect())
    }
}

impl StatsStore for SledStore {
    fn endpoint_health(&self, endpoint: EndpointId) -> Result<Health> {
        let key = keys::health(endpoint);
        if let Some(Deferred::Health(h)) = self.rows.get(&key) {
            return Ok(h);
        }
        Ok(self.get(&key)?.unwrap_or_default())
    }

    fn stats_rows(
        &self,
        tenant: &str,
        grain: Grain,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatsRow>> {
        let table = keys::stats_table(grain);
        let prefix = keys::stats_of(table, tenant);
        let start = keys::stats_from(table, tenant, from);
        // Rows the committer holds newer than sled's copy (write-behind).
        let newer: std::collections::BTreeMap<Vec<u8>, Stats> = self
            .rows
            .dirty_with_prefix(&prefix)
            .into_iter()
            .filter_map(|(k, d)| match d {
                Deferred::Stats(s) => Some((k, s)),
                Deferred::Health(_) => None,
            })
            .collect();
        // A row key is prefix ‖ bucket start (8 bytes) ‖ endpoint (16).
        let parse = |k: &[u8]| -> Option<(i64, EndpointId)> {
            let rest = k.strip_prefix(prefix.as_slice())?;
            let ms = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as i64;
            let ep = rest.get(8..).filter(|e| e.len() == 16)?;
            Some((ms, EndpointId::from_bytes(ep.try_into().ok()?)))
        };
        let row = |k: &[u8], stats: Stats| -> Option<StatsRow> {
            let (ms, endpoint) = parse(k)?;
            (ms >= from.as_millis() && ms <= to.as_millis()).then(|| StatsRow {
                endpoint,
                start: Timestamp::from_millis(ms),
                stats,
            })
        };
        let mut out = Vec::new();
        for item in self.db()?.range(start..) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            if !k.starts_with(prefix.as_slice()) {
                break;
            }
            if parse(&k).is_some_and(|(ms, _)| ms > to.as_millis()) {
                break;
            }
            if newer.contains_key(k.as_ref()) {
                continue;
            }
            out.extend(row(&k, Stats::decode(&v)?));
        }
        out.extend(newer.into_iter().filter_map(|(k, s)| row(&k, s)));
        out.sort_by_key(|r| (r.start, r.endpoint));
        Ok(out)
    }

    fn purge_events(
        &self,
        before: Timestamp,
        after: Option<u128>,
        limit: usize,
    ) -> Result<(Purged, Option<u128>)> {
        // Waits while an export runs: it promises every acknowledged event.
        let _gate = self.export_gate.write().unwrap_or_else(|e| e.into_inner());
        let start = match after {
            Some(k) => Bound::Excluded(keys::event(k)),
            None => Bound::Included(keys::EVENT.to_vec()),
        };
        let end = Bound::Excluded(keys::event(first_ulid_at(before)));
        let mut candidates = Vec::new();
        for item in self.db()?.range::<Vec<u8>, _>((start, end)).take(limit) {
            let (k, _) = item.map_err(|e| self.io(e))?;
            candidates.push(read_u128(&k[keys::EVENT.len()..], "event key")?);
        }
        let next = if candidates.len() == limit {
            candidates.last().copied()
        } else {
            None
        };
        if candidates.is_empty() {
            return Ok((Purged::default(), next));
        }
        let (purged, _) = self
            .committer
            .submit(WriteOp::PurgeEvents { candidates }, output::purged)
            .wait()?;
        Ok((purged, next))
    }

    fn purge_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<usize> {
        let rows = self.expired_rows(tenants, before, idempotency_before)?;
        if rows.is_empty() {
            return Ok(0);
        }
        self.committer
            .submit(
                WriteOp::RemoveRows {
                    rows,
                    idempotency_before,
                },
                output::removed,
            )
            .wait()
    }

    fn store_stats(&self) -> StoreStats {
        self.committer.stats()
    }
}

impl SledStore {
    /// The rows [`StatsStore::purge_rows`] removes, found by reading (off
    /// the committer thread, so a long scan holds up no write).
    pub(super) fn expired_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<Vec<RowKey>> {
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        // Statistics rows whose whole bucket lies before the cutoff; each
        // tenant's rows are in bucket order, so this is one range each.
        for tenant in tenants {
            for grain in Grain::ALL {
                let table = keys::stats_table(grain);
                let end = keys::stats_from(table, tenant, before.plus_millis(1 - grain.ms()));
                let start = keys::stats_of(table, tenant);
                // Rows not yet written behind are purged from memory too.
                for (k, _) in self.rows.dirty_with_prefix(&start) {
                    if k < end {
                        doomed.push(k);
                    }
                }
                for item in self.db()?.range(start..end) {
                    doomed.push(item.map_err(|e| self.io(e))?.0.to_vec());
                }
            }
        }
        let end = keys::alert_history(before, 0);
        for item in self.db()?.range(keys::ALERT_HISTORY.to_vec()..end) {
            doomed.push(item.map_err(|e| self.io(e))?.0.to_vec());
        }
        for item in self.db()?.scan_prefix(keys::IDEMPOTENCY) {
            let (k, v) = item.map_err(|e| self.io(e))?;
            if idempotency_expired(Some(&v), idempotency_before) {
                doomed.push(k.to_vec());
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        Ok(doomed.iter().filter_map(|k| keys::parse_row(k)).collect())
    }
}

/// Index entries a log query may read before it answers with what it has
/// (and a cursor): keeps a selective filter on a huge log from scanning
/// without bound.
const LOG_SCAN_BUDGET: usize = 20_000;

/// The smallest and largest delivery ids created within `[since, until]`.
fn id_bounds(since: Option<Timestamp>, until: Option<Timestamp>) -> ([u8; 16], [u8; 16]) {
    let lo = since.map_or(0, first_ulid_at);
    let hi = until.map_or(u128::MAX, |t| {
        first_ulid_at(t.max(Timestamp::from_millis(0)).plus_millis(1)) - 1
    });
    (lo.to_be_bytes(), hi.to_be_bytes())
}

impl SledStore {
    pub(super) fn list_deliveries_impl(
        &self,
        f: &crate::store::DeliveryFilter,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<crate::store::DeliveryPage> {
        let prefix = match f.endpoint {
            Some(ep) => keys::deliveries_of_endpoint(ep),
            None => keys::deliveries_of_tenant(&f.tenant),
        };
        let (lo, hi) = id_bounds(f.since, f.until);
        let start = [prefix.as_slice(), &lo].concat();
        let end = match before {
            Some(b) if b.to_bytes() <= hi => {
                Bound::Excluded([prefix.as_slice(), &b.to_bytes()].concat())
            }
            _ => Bound::Included([prefix.as_slice(), &hi].concat()),
        };
        let mut page = crate::store::DeliveryPage::default();
        let mut scanned = 0;
        let mut last_seen = None;
        // One handle for the scan and the records it finds (no nested use
        // of the slot: see `slot`).
        let db = self.db()?;
        for item in db.range((Bound::Included(start), end)).rev() {
            let (k, _) = item.map_err(|e| self.io(e))?;
            let Some(id) = keys::trailing_id(&k).map(DeliveryId::from_bytes) else {
                continue;
            };
            // The cursor is the last id examined: with a full page that is
            // the last row returned; with the budget spent, where we stopped.
            if page.items.len() == limit || scanned == LOG_SCAN_BUDGET {
                page.next = last_seen;
                break;
            }
            scanned += 1;
            last_seen = Some(id);
            let d = match db.get(keys::delivery(id)).map_err(|e| self.io(e))? {
                Some(bytes) => Delivery::decode(&bytes)?,
                None => continue,
            };
            if d.tenant_id != f.tenant
                || f.event_type.as_deref().is_some_and(|e| e != d.event_type)
                || f.status.is_some_and(|s| s != d.status())
            {
                continue;
            }
            page.items.push(d);
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::generated_id;
    use crate::domain::ids::{new_ulid, AttemptId};
    use crate::store::Store;

    fn pending(ep: EndpointId, at: Timestamp) -> Delivery {
        Delivery {
            event_id: "evt_1".into(),
            ..crate::store::conformance::delivery("acme", ep, 1, at)
        }
    }

    fn attempt(d: &Delivery, at: Timestamp, status: u16) -> Attempt {
        Attempt {
            id: AttemptId::new(at),
            delivery_id: d.id,
            number: 1,
            started_at: at,
            url: "https://x.test/hook".into(),
            request_headers: vec![],
            status: Some(status),
            response_headers: vec![],
            response_body: vec![],
            response_truncated: false,
            latency_ms: 12,
            error_kind: None,
            error_message: None,
            verdict: if status < 300 {
                Verdict::Success
            } else {
                Verdict::Permanent
            },
            next_attempt_at: None,
        }
    }

    fn record(s: &SledStore, d: &Delivery, at: Timestamp, status: u16) {
        let a = attempt(d, at, status);
        let after = Delivery {
            state: if status < 300 {
                DeliveryState::Succeeded
            } else {
                DeliveryState::Failed
            },
            attempts: 1,
            next_attempt_at: None,
            last_status: Some(status),
            ..d.clone()
        };
        s.record_attempt(&after, &a).wait().unwrap();
    }

    fn event(tenant: &str, key: u128, id: Option<&str>) -> NewEvent {
        let at = Timestamp::from_millis(1_700_000_000_000);
        NewEvent {
            event: Event {
                key,
                id: id.map_or_else(|| generated_id(key), str::to_string),
                tenant_id: tenant.into(),
                event_type: "order.created".into(),
                created: at,
                received_at: at,
                body: b"{}".to_vec(),
                deliveries: vec![],
                channels: Vec::new(),
                tags: Vec::new(),
            },
            deliveries: vec![],
        }
    }

    fn commit(s: &SledStore, events: Vec<NewEvent>) -> Vec<Committed> {
        match s.commit_events(events, None).wait().unwrap() {
            CommitOutcome::Done(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// What the conformance suite cannot see, on sled's keys: a
    /// server-named event gets no id index entry (its id names its key), a
    /// client-named one keeps its entry, and a store written when
    /// server-named events were indexed too still finds them. (How ids
    /// deduplicate is `conformance::client_ids_deduplicate_per_tenant`.)
    #[test]
    fn server_named_events_need_no_id_index() {
        let s = SledStore::temporary().unwrap();
        let key = new_ulid(Timestamp::from_millis(1_700_000_000_000)).0;
        let id = generated_id(key);
        assert_eq!(
            commit(&s, vec![event("acme", key, None)]),
            [Committed::Created]
        );
        assert!(s
            .db()
            .unwrap()
            .get(keys::event_id("acme", &id))
            .unwrap()
            .is_none());
        assert_eq!(s.event_by_id("acme", &id).unwrap().unwrap().key, key);

        let theirs = event("globex", key + 2, Some(&id));
        assert_eq!(commit(&s, vec![theirs]), [Committed::Created]);
        assert!(s
            .db()
            .unwrap()
            .get(keys::event_id("globex", &id))
            .unwrap()
            .is_some());
        let old = key + 3;
        commit(&s, vec![event("acme", old, None)]);
        s.db()
            .unwrap()
            .insert(keys::event_id("acme", "legacy"), &old.to_be_bytes())
            .unwrap();
        assert_eq!(s.event_by_id("acme", "legacy").unwrap().unwrap().key, old);
    }

    /// On sled's keys: a purged event leaves no index entry behind (the
    /// log and endpoint views skip a dangling entry, so the conformance
    /// suite cannot see one). The purge's behaviour is
    /// `conformance::purge_takes_ended_events_whole_and_keeps_pending_ones`.
    #[test]
    fn a_purged_event_leaves_no_index_entry() {
        let s = SledStore::temporary().unwrap();
        let at = Timestamp::from_millis(1_700_000_000_000);
        let ep = EndpointId::new(at);
        let make = |state: DeliveryState| {
            let key = new_ulid(at).0;
            let d = Delivery {
                event_key: key,
                event_id: generated_id(key),
                state,
                next_attempt_at: (state == DeliveryState::Pending).then_some(at),
                ..pending(ep, at)
            };
            let mut ne = event("acme", key, None);
            ne.event.deliveries = vec![(d.id.as_u128(), ep.as_u128())];
            ne.deliveries = vec![d.clone()];
            commit(&s, vec![ne]);
            d
        };
        let done = make(DeliveryState::Succeeded);
        record(&s, &done, at, 200);
        make(DeliveryState::Pending);
        let later = at.plus_millis(3_600_000);
        let (p, _) = s.purge_events(later, None, 10).unwrap();
        assert_eq!((p.events, p.deliveries, p.attempts), (1, 1, 1));
        for prefix in [
            keys::deliveries_of_endpoint(ep),
            keys::deliveries_of_tenant("acme"),
        ] {
            let left: Vec<_> = s.db().unwrap().scan_prefix(&prefix).keys().collect();
            assert_eq!(left.len(), 1, "only the pending delivery's index entry");
        }
        assert!(s
            .db()
            .unwrap()
            .scan_prefix(keys::attempts_of(done.id))
            .next()
            .is_none());
        assert!(s
            .db()
            .unwrap()
            .get(keys::event(done.event_key))
            .unwrap()
            .is_none());
    }

    /// An Idempotency-Key that expired when the purge scanned, but was
    /// used afresh before the removal ran, keeps its new record.
    #[test]
    fn an_idempotency_key_used_again_after_the_scan_is_kept() {
        let s = SledStore::temporary().unwrap();
        let day = 24 * 3_600_000;
        let old = Timestamp::from_millis(1_700_000_000_000);
        let fresh = old.plus_millis(2 * day);
        let idem = |at: Timestamp| Idempotency {
            key: "order-1".into(),
            tenant_id: "acme".into(),
            now: at,
            not_before: at.plus_millis(-day),
        };
        let first = event("acme", new_ulid(old).0, None);
        s.commit_events(vec![first], Some(idem(old)))
            .wait()
            .unwrap();
        let cutoff = fresh.plus_millis(-day);
        let doomed = s.expired_rows(&[], cutoff, cutoff).unwrap();
        assert_eq!(
            doomed.iter().map(keys::row).collect::<Vec<_>>(),
            vec![keys::idempotency("acme", "order-1")]
        );

        let again = event("acme", new_ulid(fresh).0, None);
        s.commit_events(vec![again], Some(idem(fresh)))
            .wait()
            .unwrap();
        let removed = s
            .committer
            .submit(
                WriteOp::RemoveRows {
                    rows: doomed,
                    idempotency_before: cutoff,
                },
                output::removed,
            )
            .wait()
            .unwrap();
        assert_eq!(removed, 0);
        assert!(s
            .idempotent_events("acme", "order-1", cutoff)
            .unwrap()
            .is_some());

        // Once that one expires too, it goes.
        let later = fresh.plus_millis(1);
        assert_eq!(s.purge_rows(&[], later, later).unwrap(), 1);
        assert!(s
            .idempotent_events("acme", "order-1", old)
            .unwrap()
            .is_none());
    }

    /// Health and statistics rows are written behind (once a second), yet
    /// every read sees each recorded attempt at once, and a flush (as at
    /// shutdown) puts them on disk.
    #[test]
    fn health_and_stats_rows_are_read_at_once_and_written_by_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let at = Timestamp::from_millis(1_700_000_000_000);
        let ep = EndpointId::new(at);
        let minute = Grain::Minute.floor(at);
        let check = |s: &SledStore| {
            let h = s.endpoint_health(ep).unwrap();
            assert_eq!(h.consecutive_failures, 1);
            assert!(h.last_success_at.is_some());
            let rows = s.stats_rows("acme", Grain::Minute, minute, minute).unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!((rows[0].stats.attempts, rows[0].stats.successes), (2, 1));
            let days = s
                .stats_rows("acme", Grain::Day, Grain::Day.floor(at), at)
                .unwrap();
            assert_eq!(days[0].stats.attempts, 2);
            assert!(s
                .stats_rows("other", Grain::Minute, minute, at)
                .unwrap()
                .is_empty());
        };
        {
            let s = SledStore::open(
                dir.path(),
                16 << 20,
                std::sync::Arc::new(crate::clock::SystemClock),
            )
            .unwrap();
            // Two stored deliveries, each ended by one attempt.
            let (d1, d2) = (pending(ep, at), pending(ep, at));
            let mut ne = event("acme", new_ulid(at).0, None);
            ne.deliveries = vec![d1.clone(), d2.clone()];
            commit(&s, vec![ne]);
            record(&s, &d1, at, 200);
            record(&s, &d2, at.plus_millis(5), 500);
            check(&s);
            s.flush().unwrap();
        }
        let s = SledStore::open(
            dir.path(),
            16 << 20,
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        check(&s);
    }

    /// The rows are written on the injected clock's ticks: not before the
    /// clock moves a tick, and then without anything else happening.
    #[test]
    fn write_behind_rows_follow_the_injected_clock() {
        use crate::clock::ManualClock;
        let at = Timestamp::from_millis(1_700_000_000_000);
        let clock = std::sync::Arc::new(ManualClock::new(at));
        let s = SledStore::temporary_with(clock.clone()).unwrap();
        let ep = EndpointId::new(at);
        let d = pending(ep, at);
        let mut ne = event("acme", new_ulid(at).0, None);
        ne.deliveries = vec![d.clone()];
        commit(&s, vec![ne]);
        record(&s, &d, at, 200);
        let on_disk = |s: &SledStore| s.db().unwrap().get(keys::health(ep)).unwrap().is_some();
        assert_eq!(s.endpoint_health(ep).unwrap().consecutive_failures, 0);
        assert!(s.endpoint_health(ep).unwrap().last_success_at.is_some());
        assert!(!on_disk(&s), "held in memory until a tick");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        clock.advance_ms(crate::store::committer::TICK.as_millis() as i64);
        while !on_disk(&s) {
            assert!(std::time::Instant::now() < deadline, "no write at the tick");
            std::thread::yield_now();
        }
        let stats = keys::stats(keys::STATS_MINUTE, "acme", Grain::Minute.floor(at), ep);
        assert!(s.db().unwrap().get(stats).unwrap().is_some());
    }
}
