//! The delivery pipeline's tables on sled: events, deliveries, attempts,
//! the due-time index and the held index. All writes go through the
//! group committer.

use std::ops::Bound;

use super::codec::Versioned;
use super::committer::{Continuation, Cycle, Deferred};
use super::keys;
use super::sled_store::{io, SledStore};
use super::{
    CommitOutcome, Committed, Conflict, DeliveryStore, Due, Grain, Idempotency, NewEvent, Purged,
    Result, StatsRow, StoreError, Then, ThenCommitted, ThenHealth,
};
use crate::domain::delivery::{Attempt, Delivery, DeliveryState};
use crate::domain::event::{key_named_by, Event};
use crate::domain::health::Health;
use crate::domain::ids::{first_ulid_at, DeliveryId, EndpointId};
use crate::domain::stats::Stats;
use crate::domain::time::Timestamp;

/// The due-index key of a delivery in this state, if it belongs there.
fn due_key(d: &Delivery) -> Option<Vec<u8>> {
    match (d.state, d.held, d.next_attempt_at) {
        (DeliveryState::Pending, false, Some(at)) => Some(keys::due(at, d.id)),
        _ => None,
    }
}

/// Adds to the cycle the writes that turn `before` into `after`.
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
    if before.is_none() {
        batch.insert(
            keys::delivery_by_endpoint(after.endpoint_id, after.id),
            vec![],
        );
        batch.insert(keys::delivery_by_tenant(&after.tenant_id, after.id), vec![]);
    }
    batch.insert(keys::delivery(after.id), after.encode());
}

fn keys_value(at: Timestamp, event_keys: &[u128]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + 16 * event_keys.len());
    v.extend_from_slice(&at.as_millis().to_be_bytes());
    for k in event_keys {
        v.extend_from_slice(&k.to_be_bytes());
    }
    v
}

fn parse_keys_value(v: &[u8]) -> Option<(Timestamp, Vec<u128>)> {
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

/// What one event's purge removed, if it could go.
struct EventPurge {
    deliveries: usize,
    attempts: usize,
}

/// Removes event `key` with its deliveries, attempts and index entries if
/// every delivery has ended. Runs on the committer thread, which writes
/// every delivery change, so no attempt or resend can slip in between
/// the check and the removal.
fn purge_event(cycle: &mut Cycle, key: u128) -> Result<Option<EventPurge>> {
    let Some(bytes) = cycle.get(&keys::event(key))? else {
        return Ok(None);
    };
    let event = Event::decode(&bytes)?;
    let mut deliveries = Vec::with_capacity(event.deliveries.len());
    for (d, _) in &event.deliveries {
        if let Some(b) = cycle.get(&keys::delivery(DeliveryId::from_u128(*d)))? {
            let d = Delivery::decode(&b)?;
            if d.state == DeliveryState::Pending {
                return Ok(None);
            }
            deliveries.push(d);
        }
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
        cycle.remove(keys::delivery_by_endpoint(d.endpoint_id, d.id));
        cycle.remove(keys::delivery_by_tenant(&d.tenant_id, d.id));
        cycle.remove(keys::delivery(d.id));
    }
    if !event.self_named() {
        cycle.remove(keys::event_id(&event.tenant_id, &event.id));
    }
    cycle.remove(keys::event(key));
    Ok(Some(EventPurge {
        deliveries: deliveries.len(),
        attempts,
    }))
}

/// Applies the events of one commit; runs on the committer thread, which
/// is the only writer of the id and idempotency indexes, and reads through
/// the cycle, so it also sees events earlier jobs of this cycle wrote.
fn apply_events(
    cycle: &mut Cycle,
    events: Vec<NewEvent>,
    idem: Option<Idempotency>,
) -> Result<CommitOutcome> {
    if let Some(i) = &idem {
        if let Some(v) = cycle.get(&keys::idempotency(&i.tenant_id, &i.key))? {
            if let Some((at, ks)) = parse_keys_value(&v) {
                if at >= i.not_before {
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
    if let Some(i) = &idem {
        cycle.insert(
            keys::idempotency(&i.tenant_id, &i.key),
            keys_value(i.now, &event_keys),
        );
    }
    Ok(CommitOutcome::Done(results))
}

impl DeliveryStore for SledStore {
    fn commit_events(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
    ) -> Result<CommitOutcome> {
        let (tx, rx) = crossbeam_channel::bounded::<Result<CommitOutcome>>(1);
        self.commit_events_then(
            events,
            idempotency,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv()
            .unwrap_or_else(|_| Err(StoreError::Io("the store is shutting down".into())))
    }

    fn commit_events_then(
        &self,
        events: Vec<NewEvent>,
        idempotency: Option<Idempotency>,
        then: ThenCommitted,
    ) {
        self.committer
            .submit(Box::new(move |cycle: &mut Cycle| -> Continuation {
                let applied = apply_events(cycle, events, idempotency);
                Box::new(move |flushed| then(flushed.and(applied)))
            }));
    }

    fn idempotent_events(
        &self,
        tenant: &str,
        key: &str,
        not_before: Timestamp,
    ) -> Result<Option<Vec<u128>>> {
        Ok(self
            .db
            .get(keys::idempotency(tenant, key))
            .map_err(io)?
            .and_then(|v| parse_keys_value(&v))
            .filter(|(at, _)| *at >= not_before)
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
        match self.db.get(keys::event_id(tenant, id)).map_err(io)? {
            Some(k) => self.event(read_u128(&k, "event id index")?),
            None => Ok(None),
        }
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        self.get(&keys::delivery(id))
    }

    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        self.scan_records(&keys::attempts_of(id), None, usize::MAX)
    }

    fn update_delivery(
        &self,
        before: &Delivery,
        after: &Delivery,
        attempt: Option<&Attempt>,
        then: Then,
    ) {
        let (before, after) = (before.clone(), after.clone());
        let attempt = attempt.cloned();
        self.committer
            .submit(Box::new(move |cycle: &mut Cycle| -> Continuation {
                // A resend read the delivery before the retention purge
                // removed it: writing it back would leave a delivery with
                // no event, so the resend is told it changed meanwhile.
                let applied = match cycle.get(&keys::delivery(after.id)) {
                    Ok(Some(_)) => {
                        delivery_writes(cycle, Some(&before), &after);
                        if let Some(a) = attempt {
                            cycle.insert(keys::attempt(a.delivery_id, a.id), a.encode());
                        }
                        Ok(())
                    }
                    Ok(None) => Err(StoreError::Conflict(Conflict::Changed)),
                    Err(e) => Err(e),
                };
                Box::new(move |flushed| then(flushed.and(applied)))
            }));
    }

    fn record_attempt(
        &self,
        before: &Delivery,
        after: &Delivery,
        attempt: &Attempt,
        success: bool,
        then: ThenHealth,
    ) {
        let (before, after, attempt) = (before.clone(), after.clone(), attempt.clone());
        self.committer
            .submit(Box::new(move |cycle: &mut Cycle| -> Continuation {
                // NB: the read-modify-writes of health and statistics are safe
                // here: this thread is their only writer, and reads go through
                // the cycle, so attempts earlier in the same batch are seen.
                let applied = (|| {
                    delivery_writes(cycle, Some(&before), &after);
                    cycle.insert(
                        keys::attempt(attempt.delivery_id, attempt.id),
                        attempt.encode(),
                    );
                    let health = cycle.health_mut(keys::health(after.endpoint_id))?;
                    health.record(
                        success,
                        attempt.started_at.plus_millis(attempt.latency_ms as i64),
                    );
                    let health = health.clone();
                    // Counted as it happens, into the minute, hour and day
                    // rows (in the attempt's own batch): any window is then
                    // a sum of a few hundred rows.
                    let delta = Stats::of_attempt(&attempt, after.state);
                    for (table, grain) in [
                        (keys::STATS_MINUTE, Grain::Minute),
                        (keys::STATS_HOUR, Grain::Hour),
                        (keys::STATS_DAY, Grain::Day),
                    ] {
                        let key = keys::stats(
                            table,
                            &after.tenant_id,
                            grain.floor(attempt.started_at),
                            after.endpoint_id,
                        );
                        cycle.add_stats(key, &delta)?;
                    }
                    Ok(health)
                })();
                Box::new(move |flushed| then(flushed.and(applied)))
            }));
    }

    fn endpoint_health(&self, endpoint: EndpointId) -> Result<Health> {
        let key = keys::health(endpoint);
        if let Some(Deferred::Health(h)) = self.committer.rows.get(&key) {
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
        let table = match grain {
            Grain::Minute => keys::STATS_MINUTE,
            Grain::Hour => keys::STATS_HOUR,
            Grain::Day => keys::STATS_DAY,
        };
        let prefix = keys::stats_of(table, tenant);
        let start = keys::stats_from(table, tenant, from);
        // Rows the committer holds newer than sled's copy (write-behind).
        let newer: std::collections::BTreeMap<Vec<u8>, Stats> = self
            .committer
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
        for item in self.db.range(start..) {
            let (k, v) = item.map_err(io)?;
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

    fn list_deliveries(
        &self,
        filter: &super::DeliveryFilter,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<super::DeliveryPage> {
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
        for item in self.db.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (k, v) = item.map_err(io)?;
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

    fn held_deliveries(&self, endpoint: EndpointId) -> Result<Vec<DeliveryId>> {
        Ok(self
            .scan_after(&keys::held_of(endpoint), None, usize::MAX)?
            .into_iter()
            .filter_map(|(k, _)| keys::trailing_id(&k).map(DeliveryId::from_bytes))
            .collect())
    }

    fn purge_events(
        &self,
        before: Timestamp,
        after: Option<u128>,
        limit: usize,
    ) -> Result<(Purged, Option<u128>)> {
        let start = match after {
            Some(k) => Bound::Excluded(keys::event(k)),
            None => Bound::Included(keys::EVENT.to_vec()),
        };
        let end = Bound::Excluded(keys::event(first_ulid_at(before)));
        let mut candidates = Vec::new();
        for item in self.db.range::<Vec<u8>, _>((start, end)).take(limit) {
            let (k, _) = item.map_err(io)?;
            candidates.push(read_u128(&k[keys::EVENT.len()..], "event key")?);
        }
        let next = if candidates.len() == limit {
            candidates.last().copied()
        } else {
            None
        };
        let (tx, rx) = crossbeam_channel::bounded::<Result<(Purged, Vec<u128>)>>(1);
        let cache = self.cache.clone();
        self.committer
            .submit(Box::new(move |cycle: &mut Cycle| -> Continuation {
                let mut purged = Purged {
                    examined: candidates.len(),
                    ..Purged::default()
                };
                let mut gone = Vec::new();
                let applied = (|| {
                    for key in candidates {
                        if let Some(p) = purge_event(cycle, key)? {
                            purged.events += 1;
                            purged.deliveries += p.deliveries;
                            purged.attempts += p.attempts;
                            gone.push(key);
                        }
                        // Each event goes whole or not at all.
                        cycle.checkpoint();
                    }
                    Ok(())
                })();
                Box::new(move |flushed| {
                    // Applied (if not flushed) either way: the copies go.
                    cache.events_removed(&gone);
                    let _ = tx.send(flushed.and(applied).map(|()| (purged, gone)));
                })
            }));
        let (purged, _) = rx
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Io("the store is shutting down".into())))?;
        Ok((purged, next))
    }

    fn purge_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<usize> {
        let doomed = self.expired_rows(tenants, before, idempotency_before)?;
        self.remove_rows(doomed, idempotency_before)
    }

    fn commit_stats(&self) -> std::sync::Arc<super::CommitStats> {
        self.committer.stats.clone()
    }
}

impl SledStore {
    /// The keys [`DeliveryStore::purge_rows`] removes, found by reading
    /// (off the committer thread).
    fn expired_rows(
        &self,
        tenants: &[String],
        before: Timestamp,
        idempotency_before: Timestamp,
    ) -> Result<Vec<Vec<u8>>> {
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        // Statistics rows whose whole bucket lies before the cutoff; each
        // tenant's rows are in bucket order, so this is one range each.
        for tenant in tenants {
            for (table, grain) in [
                (keys::STATS_MINUTE, Grain::Minute),
                (keys::STATS_HOUR, Grain::Hour),
                (keys::STATS_DAY, Grain::Day),
            ] {
                let end = keys::stats_from(table, tenant, before.plus_millis(1 - grain.ms()));
                let start = keys::stats_of(table, tenant);
                // Rows not yet written behind are purged from memory too.
                for (k, _) in self.committer.rows.dirty_with_prefix(&start) {
                    if k < end {
                        doomed.push(k);
                    }
                }
                for item in self.db.range(start..end) {
                    doomed.push(item.map_err(io)?.0.to_vec());
                }
            }
        }
        let end = keys::alert_history(before, 0);
        for item in self.db.range(keys::ALERT_HISTORY.to_vec()..end) {
            doomed.push(item.map_err(io)?.0.to_vec());
        }
        for item in self.db.scan_prefix(keys::IDEMPOTENCY) {
            let (k, v) = item.map_err(io)?;
            if idempotency_expired(Some(&v), idempotency_before) {
                doomed.push(k.to_vec());
            }
        }
        doomed.sort_unstable();
        doomed.dedup();
        Ok(doomed)
    }

    /// Removes `doomed` on the committer thread; returns how many went.
    /// Statistics rows and alert history of past times are never written
    /// again, but an Idempotency-Key may be used afresh between the scan
    /// and this write, so each key is checked again here.
    fn remove_rows(&self, doomed: Vec<Vec<u8>>, idempotency_before: Timestamp) -> Result<usize> {
        if doomed.is_empty() {
            return Ok(0);
        }
        let (tx, rx) = crossbeam_channel::bounded::<Result<usize>>(1);
        self.committer
            .submit(Box::new(move |cycle: &mut Cycle| -> Continuation {
                let removed = (|| {
                    let mut gone = Vec::with_capacity(doomed.len());
                    for k in doomed {
                        if k.starts_with(keys::IDEMPOTENCY)
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
                })();
                Box::new(move |flushed| {
                    let _ = tx.send(flushed.and(removed));
                })
            }));
        rx.recv()
            .unwrap_or_else(|_| Err(StoreError::Io("the store is shutting down".into())))
    }
}

/// Whether an idempotency record (or its absence) is past its window:
/// recorded before `before`, or unreadable.
fn idempotency_expired(value: Option<&[u8]>, before: Timestamp) -> bool {
    value.is_some_and(|v| parse_keys_value(v).is_none_or(|(at, _)| at < before))
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
        f: &super::DeliveryFilter,
        before: Option<DeliveryId>,
        limit: usize,
    ) -> Result<super::DeliveryPage> {
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
        let mut page = super::DeliveryPage::default();
        let mut scanned = 0;
        let mut last_seen = None;
        for item in self.db.range((Bound::Included(start), end)).rev() {
            let (k, _) = item.map_err(io)?;
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
            let Some(d) = self.delivery(id)? else {
                continue;
            };
            if d.tenant_id != f.tenant
                || f.event_type.as_deref().is_some_and(|e| e != d.event_type)
                || f.state.is_some_and(|s| s != d.state)
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
    use crate::domain::delivery::Verdict;
    use crate::domain::event::generated_id;
    use crate::domain::ids::{new_ulid, AttemptId};
    use crate::store::Store;

    fn pending(ep: EndpointId, at: Timestamp) -> Delivery {
        Delivery {
            id: DeliveryId::new(at),
            event_key: 1,
            event_id: "evt_1".into(),
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
        let (tx, rx) = crossbeam_channel::bounded(1);
        s.record_attempt(
            d,
            &after,
            &a,
            status < 300,
            Box::new(move |r| {
                let _ = tx.send(r.map(|_| ()));
            }),
        );
        rx.recv().unwrap().unwrap();
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
            },
            deliveries: vec![],
        }
    }

    fn commit(s: &SledStore, events: Vec<NewEvent>) -> Vec<Committed> {
        match s.commit_events(events, None).unwrap() {
            CommitOutcome::Done(r) => r,
            other => panic!("{other:?}"),
        }
    }

    /// A server-named event gets no id index entry, yet is found by its id
    /// in its own tenant only; a client that sends the same id is told it
    /// is a duplicate in that tenant and gets its own event in another.
    #[test]
    fn server_named_events_need_no_id_index_and_still_deduplicate() {
        let s = SledStore::temporary().unwrap();
        let key = new_ulid(Timestamp::from_millis(1_700_000_000_000)).0;
        let id = generated_id(key);
        assert_eq!(
            commit(&s, vec![event("acme", key, None)]),
            [Committed::Created]
        );
        assert!(s.db.get(keys::event_id("acme", &id)).unwrap().is_none());
        assert_eq!(s.event_by_id("acme", &id).unwrap().unwrap().key, key);
        assert!(s.event_by_id("globex", &id).unwrap().is_none());
        // Neither the lower-case spelling nor another key's id finds it.
        assert!(s.event_by_id("acme", &id.to_lowercase()).unwrap().is_none());

        // The same id sent by a client of the tenant: a duplicate of it,
        // also when both arrive in one commit.
        let again = event("acme", key + 1, Some(&id));
        assert_eq!(commit(&s, vec![again]), [Committed::Duplicate(key)]);
        let k2 = key + 100;
        let both = vec![
            event("acme", k2, None),
            event("acme", k2 + 1, Some(&generated_id(k2))),
        ];
        assert_eq!(
            commit(&s, both),
            [Committed::Created, Committed::Duplicate(k2)]
        );

        // Another tenant's client may use it: its own event, found by it.
        let theirs = event("globex", key + 2, Some(&id));
        assert_eq!(commit(&s, vec![theirs]), [Committed::Created]);
        assert_eq!(s.event_by_id("globex", &id).unwrap().unwrap().key, key + 2);
        assert_eq!(s.event_by_id("acme", &id).unwrap().unwrap().key, key);

        // Client-named events keep their index entry, and a store written
        // when server-named events were indexed too still finds them.
        assert!(s.db.get(keys::event_id("globex", &id)).unwrap().is_some());
        let old = key + 3;
        commit(&s, vec![event("acme", old, None)]);
        s.db.insert(keys::event_id("acme", "legacy"), &old.to_be_bytes())
            .unwrap();
        assert_eq!(s.event_by_id("acme", "legacy").unwrap().unwrap().key, old);
    }

    /// The purge takes an event whose deliveries ended, with everything of
    /// it, and keeps one with a pending delivery; a resend that read a
    /// delivery before the purge cannot write it back afterwards.
    #[test]
    fn purge_takes_ended_events_whole_and_refuses_late_writes() {
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
        let waiting = make(DeliveryState::Pending);
        assert!(s.event(done.event_key).unwrap().is_some()); // cached now

        // Not old enough yet.
        let (p, next) = s.purge_events(at, None, 10).unwrap();
        assert_eq!((p.examined, p.events, next), (0, 0, None));

        let later = at.plus_millis(3_600_000);
        let (p, next) = s.purge_events(later, None, 10).unwrap();
        assert_eq!(
            (p.examined, p.events, p.deliveries, p.attempts),
            (2, 1, 1, 1)
        );
        assert_eq!(next, None);
        assert!(
            s.event(done.event_key).unwrap().is_none(),
            "not served from the cache"
        );
        assert!(s.delivery(done.id).unwrap().is_none());
        assert!(s.attempts(done.id).unwrap().is_empty());
        for prefix in [
            keys::deliveries_of_endpoint(ep),
            keys::deliveries_of_tenant("acme"),
        ] {
            let left: Vec<_> = s.db.scan_prefix(&prefix).keys().collect();
            assert_eq!(left.len(), 1, "only the pending delivery's index entry");
        }
        assert_eq!(
            s.delivery(waiting.id).unwrap().unwrap().state,
            DeliveryState::Pending
        );
        assert_eq!(s.due_between(None, later, 10).unwrap().len(), 1);

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
        let (tx, rx) = crossbeam_channel::bounded(1);
        s.update_delivery(
            &done,
            &resent,
            None,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        assert!(matches!(
            rx.recv().unwrap(),
            Err(StoreError::Conflict(super::super::Conflict::Changed))
        ));
        assert!(s.delivery(done.id).unwrap().is_none());
        assert_eq!(s.due_between(None, later, 10).unwrap().len(), 1);
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
        s.commit_events(vec![first], Some(idem(old))).unwrap();
        let cutoff = fresh.plus_millis(-day);
        let doomed = s.expired_rows(&[], cutoff, cutoff).unwrap();
        assert_eq!(doomed, vec![keys::idempotency("acme", "order-1")]);

        let again = event("acme", new_ulid(fresh).0, None);
        s.commit_events(vec![again], Some(idem(fresh))).unwrap();
        assert_eq!(s.remove_rows(doomed, cutoff).unwrap(), 0);
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
            let s = SledStore::open(dir.path(), 16 << 20).unwrap();
            record(&s, &pending(ep, at), at, 200);
            record(&s, &pending(ep, at), at.plus_millis(5), 500);
            check(&s);
            s.flush().unwrap();
        }
        let s = SledStore::open(dir.path(), 16 << 20).unwrap();
        check(&s);
    }
}
