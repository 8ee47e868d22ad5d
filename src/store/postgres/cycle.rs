//! PostgreSQL as a group-commit backend: one transaction per committer
//! cycle, a savepoint per op, and the `apply_*` function of each
//! [`WriteOp`] as SQL.
//!
//! The committer thread is Herald's own (never inside a tokio runtime), so
//! it owns its connection directly. A cycle is `BEGIN`, then for each op
//! `SAVEPOINT op` … `RELEASE` (or `ROLLBACK TO` when the op fails or
//! panics: it leaves nothing and fails only its own ticket), then `COMMIT`
//! in [`CommitBackend::write`]. The commit is the durable step (the
//! server's WAL flush, `synchronous_commit` on), so [`CommitSync::sync`]
//! has nothing left to do: tickets are answered after the commit, and a
//! 202 still means committed.
//!
//! Health and statistics rows are read `FOR UPDATE` and written back in
//! the op's own transaction (no write-behind: several nodes will share the
//! database, and the row lock is what keeps their counts whole).

use std::sync::Arc;

use super::pool::{Db, Spec};
use super::{b16, due_at, grain_code, key_value, parse_key_value, Failure};
use crate::domain::delivery::{Attempt, Delivery, Verdict};
use crate::domain::event::Event;
use crate::domain::health::Health;
use crate::domain::retention;
use crate::domain::stats::Stats;
use crate::store::codec::Versioned;
use crate::store::committer::{CommitBackend, CommitSync};
use crate::store::ops::{OpOutput, Seen, WriteOp};
use crate::store::{
    CommitOutcome, Committed, Conflict, Idempotency, NewEvent, Purged, Result, RowKey, StoreError,
};

/// PostgreSQL under the generic committer.
pub(super) struct PgBackend {
    spec: Spec,
    db: Option<Db>,
    failure: Arc<Failure>,
    /// A transaction is open on `db`.
    in_tx: bool,
    /// This node, whose claims and leases the cycle writes and clears.
    node: Arc<super::cluster::Node>,
    /// The cycle left due deliveries that no node holds: other nodes are
    /// told at its commit (`NOTIFY`).
    notify: bool,
    /// Ops applied in this cycle (the index of the next one).
    applied: usize,
    /// The cycle's attempts whose health and statistics rows are written
    /// at its end, all at once and in key order (see [`fold_attempts`]).
    attempts: Vec<Counted>,
    /// The health each attempt op answers, once written: (op index, health).
    healths: Vec<(usize, Health)>,
}

/// An attempt of the cycle, to be counted into its rows.
struct Counted {
    /// Its op's index in the cycle.
    index: usize,
    endpoint: Vec<u8>,
    tenant: String,
    success: bool,
    finished: crate::domain::time::Timestamp,
    delta: Stats,
    rows: [(crate::domain::stats::Grain, crate::domain::time::Timestamp); 3],
}

impl PgBackend {
    pub fn new(spec: Spec, failure: Arc<Failure>, node: Arc<super::cluster::Node>) -> Self {
        Self {
            spec,
            db: None,
            failure,
            in_tx: false,
            node,
            notify: false,
            applied: 0,
            attempts: Vec::new(),
            healths: Vec::new(),
        }
    }

    fn db(&mut self) -> Result<&mut Db> {
        if self.db.as_ref().is_some_and(Db::is_closed) {
            self.db = None;
        }
        if self.db.is_none() {
            self.db = Some(Db::connect(&self.spec)?);
        }
        self.db
            .as_mut()
            .ok_or_else(|| StoreError::Io("no connection".into()))
    }

    /// Notes an `Unavailable` for `write_failure` and drops a broken
    /// connection, so the next cycle reconnects.
    fn noted<T>(&mut self, r: Result<T>) -> Result<T> {
        if let Err(e @ StoreError::Unavailable(_)) = &r {
            self.failure.note(e);
            self.db = None;
            self.in_tx = false;
        }
        r
    }
}

/// Nothing to do: the cycle's `COMMIT` was the durable step.
pub(super) struct PgSync;

impl CommitSync for PgSync {
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}

impl CommitBackend for PgBackend {
    type Sync = PgSync;

    fn sync_handle(&self) -> PgSync {
        PgSync
    }

    fn begin(&mut self) -> Result<()> {
        self.notify = false;
        self.applied = 0;
        self.attempts.clear();
        self.healths.clear();
        let r = self.db().and_then(|db| db.batch("BEGIN"));
        let r = self.noted(r);
        self.in_tx = r.is_ok();
        r
    }

    fn apply(&mut self, op: &WriteOp) -> Result<OpOutput> {
        let node = self.node.clone();
        let mut notify = false;
        let index = self.applied;
        self.applied += 1;
        let mut counted = None;
        let r = (|| {
            let db = self.db()?;
            db.batch("SAVEPOINT op")?;
            let out = match op {
                WriteOp::CommitEvents {
                    events,
                    idempotency,
                } => {
                    // A node with a backlog claims nothing at ingest: the
                    // others are told and take what is due.
                    let claim = (!node.shedding()).then_some(node.name.as_str());
                    notify = claim.is_none();
                    apply_events(db, events, idempotency.as_ref(), claim).map(OpOutput::Committed)
                }
                WriteOp::UpdateDelivery {
                    delivery,
                    attempt,
                    seen,
                } => {
                    notify = due_at(delivery).is_some();
                    apply_update(db, delivery, attempt.as_ref(), seen.as_ref(), &node.name)
                        .map(|()| OpOutput::Done)
                }
                WriteOp::RecordAttempt {
                    delivery,
                    attempt,
                    seen,
                } => {
                    notify = due_at(delivery).is_some();
                    apply_update(db, delivery, Some(attempt), seen.as_ref(), &node.name).map(|()| {
                        counted = Some(counted_of(index, delivery, attempt));
                        // Completed in `complete` once the rows are written.
                        OpOutput::Health(Health::default())
                    })
                }
                WriteOp::PurgeEvents { candidates } => {
                    apply_purge(db, candidates).map(|(p, gone)| OpOutput::Purged(p, gone))
                }
                WriteOp::RemoveRows {
                    rows,
                    idempotency_before,
                } => apply_remove_rows(db, rows, *idempotency_before).map(OpOutput::Removed),
                // Nothing is held in memory: every op's rows are in its
                // transaction already.
                WriteOp::Flush => Ok(OpOutput::Done),
            };
            match &out {
                Ok(_) => db.batch("RELEASE SAVEPOINT op")?,
                Err(_) => db.batch("ROLLBACK TO SAVEPOINT op")?,
            }
            out
        })();
        self.notify |= notify && r.is_ok();
        if r.is_ok() {
            self.attempts.extend(counted);
        }
        self.noted(r)
    }

    fn discard_op(&mut self) {
        let r = self
            .db()
            .and_then(|db| db.batch("ROLLBACK TO SAVEPOINT op"));
        if let Err(e) = self.noted(r) {
            log::error!("taking back an op that panicked: {e}");
        }
    }

    fn write(&mut self, _tick: bool) -> Result<()> {
        // Delivered by the server at the commit, once per transaction.
        let sql = if std::mem::take(&mut self.notify) {
            super::cluster::NOTIFY_AND_COMMIT
        } else {
            "COMMIT"
        };
        let attempts = std::mem::take(&mut self.attempts);
        let r = self.db().and_then(|db| {
            let healths = fold_attempts(db, &attempts)?;
            db.batch(sql)?;
            Ok(healths)
        });
        let r = r.map(|healths| self.healths = healths);
        self.in_tx = false;
        self.noted(r)
    }

    fn complete(&mut self, index: usize, output: &mut OpOutput) {
        if let Some(i) = self.healths.iter().position(|(at, _)| *at == index) {
            *output = OpOutput::Health(self.healths.swap_remove(i).1);
        }
    }

    fn end(&mut self) {
        // A cycle whose write never ran (or failed before the commit)
        // leaves nothing open on the connection.
        if self.in_tx {
            self.in_tx = false;
            if let Some(db) = self.db.as_mut() {
                if db.batch("ROLLBACK").is_err() {
                    self.db = None;
                }
            }
        }
    }
}

/// Whether a stored idempotency record still answers.
fn idempotent(db: &mut Db, i: &Idempotency) -> Result<Option<Vec<u128>>> {
    let row = db.query_opt(
        "SELECT at, events FROM idempotency WHERE tenant = $1 AND key = $2",
        &[&i.tenant_id, &i.key],
    )?;
    Ok(row.and_then(|r| {
        let at = crate::domain::time::Timestamp::from_millis(r.get(0));
        let events: Vec<u8> = r.get(1);
        parse_key_value(&events).filter(|_| retention::idempotency_answers(at, i.not_before))
    }))
}

/// [`WriteOp::CommitEvents`]: the `(tenant, id)` constraint is the
/// duplicate check (every event is in it, server-named ones too), and
/// reads inside the transaction see what earlier ops of the cycle wrote.
fn apply_events(
    db: &mut Db,
    events: &[NewEvent],
    idem: Option<&Idempotency>,
    claim: Option<&str>,
) -> Result<CommitOutcome> {
    if let Some(i) = idem {
        if let Some(ks) = idempotent(db, i)? {
            return Ok(CommitOutcome::Replayed(ks));
        }
    }
    let mut results = Vec::with_capacity(events.len());
    let mut event_keys = Vec::with_capacity(events.len());
    for ne in events {
        let ev = &ne.event;
        let key = b16(ev.key);
        // The id first, in the unpartitioned table that keeps it unique
        // across the days `events` is partitioned by.
        let inserted = db.query_opt(
            "INSERT INTO event_ids (tenant, id, key) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, id) DO NOTHING RETURNING key",
            &[&ev.tenant_id, &ev.id, &key],
        )?;
        if inserted.is_none() {
            let existing = db.query_opt(
                "SELECT key FROM event_ids WHERE tenant = $1 AND id = $2",
                &[&ev.tenant_id, &ev.id],
            )?;
            let k = existing
                .map(|r| super::u128_of(&r.get::<_, Vec<u8>>(0), "event key"))
                .transpose()?
                .ok_or_else(|| StoreError::Io("a duplicate event id without its event".into()))?;
            event_keys.push(k);
            results.push(Committed::Duplicate(k));
            continue;
        }
        db.execute(
            "INSERT INTO events (key, tenant, id, v) VALUES ($1, $2, $3, $4)",
            &[&key, &ev.tenant_id, &ev.id, &ev.encode()],
        )?;
        insert_deliveries(db, &ne.deliveries, claim)?;
        event_keys.push(ev.key);
        results.push(Committed::Created);
    }
    if let Some(i) = idem {
        let v = key_value(&event_keys);
        db.execute(
            "INSERT INTO idempotency (tenant, key, at, events) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant, key) DO UPDATE SET at = excluded.at, events = excluded.events",
            &[&i.tenant_id, &i.key, &i.now.as_millis(), &v],
        )?;
    }
    Ok(CommitOutcome::Done(results))
}

/// Inserts deliveries in one statement (fan-out makes many per event);
/// with `claim`, the due ones are claimed for that node (the one that
/// committed them sends them now) for [`super::cluster::CLAIM_MS`].
pub(super) fn insert_deliveries(db: &mut Db, ds: &[Delivery], claim: Option<&str>) -> Result<()> {
    if ds.is_empty() {
        return Ok(());
    }
    let ids: Vec<Vec<u8>> = ds.iter().map(|d| d.id.to_bytes().to_vec()).collect();
    let events: Vec<Vec<u8>> = ds.iter().map(|d| b16(d.event_key)).collect();
    let eps: Vec<Vec<u8>> = ds
        .iter()
        .map(|d| d.endpoint_id.to_bytes().to_vec())
        .collect();
    let tenants: Vec<&str> = ds.iter().map(|d| d.tenant_id.as_str()).collect();
    let due: Vec<Option<i64>> = ds.iter().map(due_at).collect();
    let held: Vec<bool> = ds.iter().map(|d| d.held).collect();
    let vs: Vec<Vec<u8>> = ds.iter().map(Versioned::encode).collect();
    let owners: Vec<Option<&str>> = due.iter().map(|d| d.and(claim)).collect();
    let until: Vec<Option<i64>> = due
        .iter()
        .map(|d| claim.and(d.map(|at| at.saturating_add(super::cluster::CLAIM_MS))))
        .collect();
    db.execute(
        "INSERT INTO deliveries (id, event_key, endpoint, tenant, due_at, held, v, \
         lease_owner, lease_until) \
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::text[], \
         $5::int8[], $6::bool[], $7::bytea[], $8::text[], $9::int8[])",
        &[
            &ids, &events, &eps, &tenants, &due, &held, &vs, &owners, &until,
        ],
    )?;
    Ok(())
}

/// [`WriteOp::UpdateDelivery`]: the due and held columns follow from the
/// new state alone; a delivery no longer stored (purged) is a conflict
/// and nothing is written.
///
/// This node's claim or send lease on the row ends with the write (the
/// attempt it was taken for is recorded); another node's stays (a write
/// from the API while that node sends must not let a third one send too).
fn apply_update(
    db: &mut Db,
    after: &Delivery,
    attempt: Option<&Attempt>,
    seen: Option<&Seen>,
    node: &str,
) -> Result<()> {
    // Unguarded: `$6` is NULL and the row is written whatever it holds.
    let n = db.execute(
        "UPDATE deliveries SET due_at = $2, held = $3, v = $4, \
         lease_until = CASE WHEN lease_owner = $5 THEN NULL ELSE lease_until END, \
         sending = CASE WHEN lease_owner = $5 THEN false ELSE sending END, \
         lease_owner = CASE WHEN lease_owner = $5 THEN NULL ELSE lease_owner END \
         WHERE id = $1 AND ($6::bool IS NULL \
         OR (held = $6 AND due_at IS NOT DISTINCT FROM $7::bigint))",
        &[
            &after.id.to_bytes().to_vec(),
            &due_at(after),
            &after.held,
            &after.encode(),
            &node,
            &seen.map(|s| s.held),
            &seen.and_then(|s| s.due).map(|t| t.as_millis()),
        ],
    )?;
    if n == 0 {
        return Err(StoreError::Conflict(Conflict::Changed));
    }
    if let Some(a) = attempt {
        insert_attempt(db, a)?;
    }
    Ok(())
}

pub(super) fn insert_attempt(db: &mut Db, a: &Attempt) -> Result<()> {
    db.execute(
        "INSERT INTO attempts (delivery, id, v) VALUES ($1, $2, $3) \
         ON CONFLICT (delivery, id) DO UPDATE SET v = excluded.v",
        &[
            &a.delivery_id.to_bytes().to_vec(),
            &a.id.to_bytes().to_vec(),
            &a.encode(),
        ],
    )?;
    Ok(())
}

/// What the cycle's [`WriteOp::RecordAttempt`] of op `index` counts.
fn counted_of(index: usize, after: &Delivery, attempt: &Attempt) -> Counted {
    let (delta, rows) = Stats::rows_of_attempt(attempt, after.state);
    Counted {
        index,
        endpoint: after.endpoint_id.to_bytes().to_vec(),
        tenant: after.tenant_id.clone(),
        success: attempt.verdict == Verdict::Success,
        finished: attempt.started_at.plus_millis(attempt.latency_ms as i64),
        delta,
        rows,
    }
}

/// The health and statistics rows of the cycle's attempts, written at the
/// end of the cycle, in key order; answers the health after each attempt
/// (by op index).
///
/// Why at the end and in order: every node's committer updates the same
/// rows (an endpoint's health, a minute's statistics), each row locked
/// until its transaction commits. Taken op by op, two nodes' cycles take
/// them in different orders and deadlock; taken all at once, sorted, they
/// only ever wait for each other in one direction. Rows that do not exist
/// yet are first inserted empty in that same order (an insert waits for
/// another transaction's insert of the same key), then every row is
/// locked with `ORDER BY … FOR UPDATE`, folded and written back.
fn fold_attempts(db: &mut Db, attempts: &[Counted]) -> Result<Vec<(usize, Health)>> {
    if attempts.is_empty() {
        return Ok(Vec::new());
    }
    // Health: one row per endpoint.
    let mut eps: Vec<Vec<u8>> = attempts.iter().map(|a| a.endpoint.clone()).collect();
    eps.sort();
    eps.dedup();
    let empty = Health::default().encode();
    db.execute(
        "INSERT INTO health (endpoint, v) SELECT e, $2 FROM unnest($1::bytea[]) WITH ORDINALITY AS x(e, n) \
         ORDER BY n ON CONFLICT (endpoint) DO NOTHING",
        &[&eps, &empty],
    )?;
    let rows = db.query(
        "SELECT endpoint, v FROM health WHERE endpoint = ANY($1) ORDER BY endpoint FOR UPDATE",
        &[&eps],
    )?;
    let mut health: std::collections::HashMap<Vec<u8>, Health> = std::collections::HashMap::new();
    for r in &rows {
        health.insert(r.get(0), Health::decode(&r.get::<_, Vec<u8>>(1))?);
    }
    let mut answers = Vec::with_capacity(attempts.len());
    for a in attempts {
        let h = health.entry(a.endpoint.clone()).or_default();
        h.record(a.success, a.finished);
        answers.push((a.index, h.clone()));
    }
    let (keys, vs): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        health.iter().map(|(k, h)| (k.clone(), h.encode())).unzip();
    db.execute(
        "UPDATE health SET v = x.v FROM unnest($1::bytea[], $2::bytea[]) AS x(e, v) \
         WHERE health.endpoint = x.e",
        &[&keys, &vs],
    )?;

    // Statistics: one row per grain, tenant, bucket start and endpoint.
    type Key = (i16, String, i64, Vec<u8>);
    // Each attempt's rows, keyed once: the keys make the rows to lock, and
    // then take the attempts' deltas.
    let keyed: Vec<(Key, &Stats)> = attempts
        .iter()
        .flat_map(|a| {
            a.rows.iter().map(move |(g, start)| {
                let key = (
                    grain_code(*g),
                    a.tenant.clone(),
                    start.as_millis(),
                    a.endpoint.clone(),
                );
                (key, &a.delta)
            })
        })
        .collect();
    let mut stats: std::collections::BTreeMap<Key, Stats> = keyed
        .iter()
        .map(|(k, _)| (k.clone(), Stats::default()))
        .collect();
    let grains: Vec<i16> = stats.keys().map(|k| k.0).collect();
    let tenants: Vec<String> = stats.keys().map(|k| k.1.clone()).collect();
    let starts: Vec<i64> = stats.keys().map(|k| k.2).collect();
    let endpoints: Vec<Vec<u8>> = stats.keys().map(|k| k.3.clone()).collect();
    let empty = Stats::default().encode();
    db.execute(
        "INSERT INTO stats (grain, tenant, start, endpoint, v) \
         SELECT g, t, s, e, $5 FROM unnest($1::int2[], $2::text[], $3::int8[], $4::bytea[]) \
         WITH ORDINALITY AS x(g, t, s, e, n) ORDER BY n \
         ON CONFLICT (grain, tenant, start, endpoint) DO NOTHING",
        &[&grains, &tenants, &starts, &endpoints, &empty],
    )?;
    let found = db.query(
        "SELECT grain, tenant, start, endpoint, v FROM stats \
         WHERE (grain, tenant, start, endpoint) IN \
         (SELECT * FROM unnest($1::int2[], $2::text[], $3::int8[], $4::bytea[])) \
         ORDER BY grain, tenant, start, endpoint FOR UPDATE",
        &[&grains, &tenants, &starts, &endpoints],
    )?;
    for r in &found {
        let key: Key = (r.get(0), r.get(1), r.get(2), r.get(3));
        stats.insert(key, Stats::decode(&r.get::<_, Vec<u8>>(4))?);
    }
    for (key, delta) in &keyed {
        if let Some(row) = stats.get_mut(key) {
            row.merge(delta);
        }
    }
    let vs: Vec<Vec<u8>> = stats.values().map(Versioned::encode).collect();
    db.execute(
        "UPDATE stats SET v = x.v \
         FROM unnest($1::int2[], $2::text[], $3::int8[], $4::bytea[], $5::bytea[]) AS x(g, t, s, e, v) \
         WHERE stats.grain = x.g AND stats.tenant = x.t AND stats.start = x.s AND stats.endpoint = x.e",
        &[&grains, &tenants, &starts, &endpoints, &vs],
    )?;
    Ok(answers)
}

/// [`WriteOp::PurgeEvents`]: each event whose every delivery ended goes
/// with its deliveries and attempts; the check and the removal are in
/// one transaction with the delivery rows locked, so no attempt or resend
/// slips in between.
fn apply_purge(db: &mut Db, candidates: &[u128]) -> Result<(Purged, Vec<u128>)> {
    let mut purged = Purged {
        examined: candidates.len(),
        ..Purged::default()
    };
    let mut gone = Vec::new();
    for &key in candidates {
        let k = b16(key);
        let Some(row) = db.query_opt("SELECT v FROM events WHERE key = $1 FOR UPDATE", &[&k])?
        else {
            continue;
        };
        let event = Event::decode(&row.get::<_, Vec<u8>>(0))?;
        let ids: Vec<Vec<u8>> = event.deliveries.iter().map(|(d, _)| b16(*d)).collect();
        let rows = db.query(
            "SELECT v FROM deliveries WHERE id = ANY($1) FOR UPDATE",
            &[&ids],
        )?;
        let deliveries = rows
            .iter()
            .map(|r| Delivery::decode(&r.get::<_, Vec<u8>>(0)))
            .collect::<Result<Vec<_>>>()?;
        if !retention::event_purgeable(&deliveries) {
            continue;
        }
        let stored: Vec<Vec<u8>> = deliveries
            .iter()
            .map(|d| d.id.to_bytes().to_vec())
            .collect();
        let attempts = db.execute("DELETE FROM attempts WHERE delivery = ANY($1)", &[&stored])?;
        db.execute("DELETE FROM deliveries WHERE id = ANY($1)", &[&stored])?;
        db.execute("DELETE FROM events WHERE key = $1", &[&k])?;
        db.execute(
            "DELETE FROM event_ids WHERE tenant = $1 AND id = $2 AND key = $3",
            &[&event.tenant_id, &event.id, &k],
        )?;
        purged.events += 1;
        purged.deliveries += deliveries.len();
        purged.attempts += attempts as usize;
        gone.push(key);
    }
    Ok((purged, gone))
}

/// [`WriteOp::RemoveRows`]. An Idempotency-Key may have been used afresh
/// since the read that found it expired, so its removal checks again.
fn apply_remove_rows(
    db: &mut Db,
    rows: &[RowKey],
    idempotency_before: crate::domain::time::Timestamp,
) -> Result<usize> {
    let mut n = 0;
    for r in rows {
        n += match r {
            RowKey::Stats {
                grain,
                tenant,
                start_ms,
                endpoint,
            } => db.execute(
                "DELETE FROM stats WHERE grain = $1 AND tenant = $2 AND start = $3 AND endpoint = $4",
                &[&grain_code(*grain), tenant, start_ms, &endpoint.to_bytes().to_vec()],
            )?,
            RowKey::AlertHistory { at_ms, seq } => db.execute(
                "DELETE FROM alert_history WHERE at = $1 AND seq = $2",
                &[at_ms, &b16(*seq)],
            )?,
            RowKey::Idempotency { tenant, key } => db.execute(
                "DELETE FROM idempotency WHERE tenant = $1 AND key = $2 AND at < $3",
                &[tenant, key, &idempotency_before.as_millis()],
            )?,
        } as usize;
    }
    Ok(n)
}
