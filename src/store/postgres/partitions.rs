//! Daily partitions of `events`, `deliveries` and `attempts`, so the
//! retention purge drops a whole day instead of deleting its rows one by
//! one (each delete leaves a dead tuple for vacuum and WAL for every
//! replica).
//!
//! The three tables are range-partitioned on their ULID keys (`events.key`,
//! `deliveries.id`, `attempts.delivery`), whose first 48 bits are the
//! creation time in milliseconds: day `d` (days since the Unix epoch, UTC)
//! holds the keys from `first_ulid_at(d × 86,400,000)` up to the next
//! day's. A delivery is made with its event and an attempt belongs to its
//! delivery, so one day's rows of the three tables belong together, and
//! a day is created and dropped for the three tables in one transaction.
//! Rows outside every day partition (a restored dump, a schema migrated
//! from before partitioning, a node that was down while its days passed)
//! land in each table's `_default` partition, which the row-wise purge
//! keeps handling; creating a day moves its rows out of the default first.
//!
//! **Invariant:** a day is dropped only when it ended before the cutoff,
//! none of its deliveries is pending or held, and no delivery links it
//! with another partition (an event of the day with a delivery stored
//! elsewhere, or the other way round). Those checks and the drop run in
//! one transaction holding the three tables exclusively, so no write can
//! slip in between; a day that fails them is left to the row-wise purge,
//! which applies the same rule event by event. Nothing acknowledged goes
//! before it is delivered or given up.
//!
//! Client event ids stay unique across days in the unpartitioned
//! `event_ids` table (a unique constraint needs the partition key, which
//! `(tenant, id)` does not contain). Its rows of a dropped day are removed
//! after the drop, in bounded batches outside the exclusive lock; until
//! then an id of that day is still answered as a duplicate (of an event
//! past its retention), never stored twice.

use super::b16;
use super::pool::Db;
use crate::domain::ids::first_ulid_at;
use crate::domain::time::Timestamp;
use crate::store::{Purged, Result, StoreError};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Days created ahead of today, so ingest never waits for a partition and
/// a node down for a while still finds its day on return.
pub const AHEAD_DAYS: i64 = 3;

/// The partitioned tables, with the column each is partitioned on.
pub const TABLES: [(&str, &str); 3] = [
    ("events", "key"),
    ("deliveries", "id"),
    ("attempts", "delivery"),
];

/// How long a partition change waits for the tables' locks before it
/// gives up and tries again: below PostgreSQL's `deadlock_timeout` (1 s),
/// so it is this side that gives way, never the committer's transaction.
const LOCK_TIMEOUT: &str = "400ms";

/// How long one partition change's statements may run.
const STEP_TIMEOUT: &str = "10min";

/// Tries per partition change before the pass leaves it for the next one.
const TRIES: usize = 5;

/// `event_ids` rows removed per statement after a drop.
const ID_BATCH: i64 = 10_000;

/// Advisory lock key serialising partition changes between nodes
/// ("hrlddays" in hex, any constant apart from the migrations').
const PARTITION_LOCK: i64 = 0x6872_6c64_6461_7973;

/// The day (days since the Unix epoch, UTC) `t` falls in.
pub fn day_of(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(DAY_MS)
}

/// The key range of day `day`: from its first ULID (inclusive) to the
/// next day's (exclusive), as the 16-byte keys are stored.
pub fn bounds(day: i64) -> (Vec<u8>, Vec<u8>) {
    let at = |d: i64| {
        b16(first_ulid_at(Timestamp::from_millis(
            d.saturating_mul(DAY_MS),
        )))
    };
    (at(day), at(day + 1))
}

/// The name of `table`'s partition for `day`: `events_p20261201`.
pub fn name(table: &str, day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{table}_p{y:04}{m:02}{d:02}")
}

/// Day `day` as a date, for the log: `2026-12-01`.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day a partition named by [`name`] for `table` holds, if `name` is
/// one.
pub fn parse_name(table: &str, name: &str) -> Option<i64> {
    let digits = name.strip_prefix(table)?.strip_prefix("_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = digits[..4].parse().ok()?;
    let m: u32 = digits[4..6].parse().ok()?;
    let d: u32 = digits[6..].parse().ok()?;
    let day = days_from_civil(y, m, d)?;
    (civil(day) == (y, m, d)).then_some(day)
}

/// Whether day `day` ended before `before` (its last instant is earlier),
/// so every event in it is older than the cutoff.
pub fn ended_before(day: i64, before: Timestamp) -> bool {
    (day + 1).saturating_mul(DAY_MS) <= before.as_millis()
}

/// The proleptic Gregorian date of a day number (Howard Hinnant's
/// `civil_from_days`).
fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day number of a date (`days_from_civil`); `None` for a month or
/// day out of range.
fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A `bytea` literal of `b`.
fn literal(b: &[u8]) -> String {
    let hex: String = b.iter().map(|b| format!("{b:02x}")).collect();
    format!("'\\x{hex}'::bytea")
}

/// Whether `e` is PostgreSQL giving up on a lock (`lock_timeout`) or
/// breaking a deadlock: worth another try.
fn lock_lost(e: &StoreError) -> bool {
    matches!(e, StoreError::Io(t) if t.ends_with("(55P03)") || t.ends_with("(40P01)"))
}

/// Runs `step` in its own transaction with the lock timeout, retrying a
/// lost lock a few times with a short pause.
fn with_retries<T>(db: &mut Db, mut step: impl FnMut(&mut Db) -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        // Making a day may move many rows out of the default partition
        // (after a migration): more than a request's statement timeout.
        db.batch(&format!(
            "BEGIN; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; \
             SET LOCAL statement_timeout = '{STEP_TIMEOUT}'; \
             SELECT pg_advisory_xact_lock({PARTITION_LOCK})"
        ))?;
        match step(db) {
            Ok(v) => {
                db.batch("COMMIT")?;
                return Ok(v);
            }
            Err(e) => {
                let _ = db.batch("ROLLBACK");
                tries += 1;
                if !lock_lost(&e) || tries >= TRIES {
                    return Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(50 * tries as u64));
            }
        }
    }
}

/// The days that have partitions (those of `events`; the three tables
/// have the same ones), oldest first.
pub fn days(db: &mut Db) -> Result<Vec<i64>> {
    let rows = db.query(
        "SELECT c.relname::text FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent \
         WHERE p.oid = 'events'::regclass",
        &[],
    )?;
    let mut days: Vec<i64> = rows
        .iter()
        .filter_map(|r| parse_name("events", &r.get::<_, String>(0)))
        .collect();
    days.sort_unstable();
    Ok(days)
}

/// Creates the partitions of today and the [`AHEAD_DAYS`] after it that
/// are missing; answers how many days were created.
pub fn ensure(db: &mut Db, now: Timestamp) -> Result<usize> {
    let today = day_of(now);
    let have = days(db)?;
    let mut made = 0;
    for day in today..=today + AHEAD_DAYS {
        if have.contains(&day) {
            continue;
        }
        if with_retries(db, |db| create(db, day))? {
            made += 1;
        }
    }
    Ok(made)
}

/// One day's three partitions, each made apart, filled with the day's rows
/// the default partition holds, then attached (attaching a partition with
/// rows of its range still in the default would be refused). `false` if
/// another node made the day meanwhile.
fn create(db: &mut Db, day: i64) -> Result<bool> {
    if days(db)?.contains(&day) {
        return Ok(false);
    }
    let (lo, hi) = bounds(day);
    let (lo, hi) = (literal(&lo), literal(&hi));
    for (table, column) in TABLES {
        let part = name(table, day);
        db.batch(&format!(
            "CREATE TABLE {part} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS); \
             WITH moved AS (DELETE FROM {table}_default \
                 WHERE {column} >= {lo} AND {column} < {hi} RETURNING *) \
             INSERT INTO {part} SELECT * FROM moved; \
             ALTER TABLE {table} ATTACH PARTITION {part} FOR VALUES FROM ({lo}) TO ({hi})"
        ))?;
    }
    Ok(true)
}

/// What a drop of one day found.
enum Dropped {
    /// Gone, with these counts.
    Gone(Purged),
    /// Kept: it has a pending or held delivery, or a delivery linking it
    /// with another partition.
    Kept(&'static str),
}

/// Drops every day partition that ended before `before` and passes the
/// rule in the module doc; days that do not are left to the row-wise
/// purge. Then removes the dropped days' `event_ids` rows.
pub fn drop_expired(db: &mut Db, before: Timestamp) -> Result<Purged> {
    let mut total = Purged::default();
    let mut dropped = Vec::new();
    for day in days(db)? {
        if !ended_before(day, before) {
            break;
        }
        // Counted before the exclusive lock, which should be held for as
        // short a time as possible: a day past its retention with nothing
        // pending takes no writes, so the counts stand.
        let counts = count(db, day)?;
        match with_retries(db, |db| drop_day(db, day, counts))? {
            Dropped::Gone(p) => {
                log::info!(
                    "retention: dropped the partitions of {} ({} events, {} deliveries, {} attempts)",
                    date(day),
                    p.events,
                    p.deliveries,
                    p.attempts
                );
                total.examined += p.events;
                total.events += p.events;
                total.deliveries += p.deliveries;
                total.attempts += p.attempts;
                dropped.push(day);
            }
            Dropped::Kept(why) => log::debug!(
                "retention: day {} kept for the row-wise purge: {why}",
                date(day)
            ),
        }
    }
    for day in dropped {
        remove_ids(db, day)?;
    }
    Ok(total)
}

fn count(db: &mut Db, day: i64) -> Result<Purged> {
    let sql = format!(
        "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {}), (SELECT count(*) FROM {})",
        name("events", day),
        name("deliveries", day),
        name("attempts", day)
    );
    let row = db
        .client()
        .query_one(sql.as_str(), &[])
        .map_err(|e| super::pool::pg_error(&e))?;
    let n = |i: usize| row.get::<_, i64>(i).max(0) as usize;
    Ok(Purged {
        events: n(0),
        deliveries: n(1),
        attempts: n(2),
        ..Purged::default()
    })
}

/// The checks and the drop of one day, inside [`with_retries`]'s
/// transaction.
fn drop_day(db: &mut Db, day: i64, counts: Purged) -> Result<Dropped> {
    // Every partition of the three tables at once, in one statement, so
    // no write to them can come between the checks and the drop.
    db.batch("LOCK TABLE events, deliveries, attempts IN ACCESS EXCLUSIVE MODE")?;
    let (lo, hi) = bounds(day);
    let (l, h) = (literal(&lo), literal(&hi));
    let deliveries = name("deliveries", day);
    let checks = [
        (
            format!("SELECT 1 FROM {deliveries} WHERE due_at IS NOT NULL OR held LIMIT 1"),
            "a delivery is pending or held",
        ),
        (
            format!("SELECT 1 FROM {deliveries} WHERE event_key < {l} OR event_key >= {h} LIMIT 1"),
            "a delivery of an event of another day",
        ),
        (
            // Pruned to the other partitions by the `id` condition.
            format!(
                "SELECT 1 FROM deliveries WHERE event_key >= {l} AND event_key < {h} \
                 AND (id < {l} OR id >= {h}) LIMIT 1"
            ),
            "an event with a delivery stored on another day",
        ),
    ];
    for (sql, why) in checks {
        let found = db
            .client()
            .query_opt(sql.as_str(), &[])
            .map_err(|e| super::pool::pg_error(&e))?;
        if found.is_some() {
            return Ok(Dropped::Kept(why));
        }
    }
    db.batch(&format!(
        "DROP TABLE {}, {}, {}",
        name("attempts", day),
        deliveries,
        name("events", day)
    ))?;
    Ok(Dropped::Gone(counts))
}

/// Removes the `event_ids` rows of a dropped day, a batch per statement
/// (each its own short transaction).
fn remove_ids(db: &mut Db, day: i64) -> Result<()> {
    let (lo, hi) = bounds(day);
    loop {
        let n = db.execute(
            "DELETE FROM event_ids WHERE (tenant, id) IN \
             (SELECT tenant, id FROM event_ids WHERE key >= $1 AND key < $2 LIMIT $3)",
            &[&lo, &hi, &ID_BATCH],
        )?;
        if n < ID_BATCH as u64 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates_and_names_round_trip() {
        // 2026-12-01T00:00:00Z and one millisecond before it.
        let midnight = Timestamp::from_millis(1_796_083_200_000);
        let day = day_of(midnight);
        assert_eq!(name("events", day), "events_p20261201");
        assert_eq!(
            name("events", day_of(midnight.plus_millis(-1))),
            "events_p20261130"
        );
        assert_eq!(parse_name("events", "events_p20261201"), Some(day));
        assert_eq!(name("x", 0), "x_p19700101");
        assert_eq!(
            name("x", day_of(Timestamp::from_millis(951_782_400_000))),
            "x_p20000229"
        );
        // Every day of a few leap cycles round-trips.
        for d in 0..(400 * 366) {
            assert_eq!(parse_name("attempts", &name("attempts", d)), Some(d), "{d}");
        }
        for bad in [
            "events_default",
            "events_p2026120",
            "events_p20261301",
            "events_p20260230",
            "deliveries_p20261201",
            "events_p2026120a",
        ] {
            assert_eq!(parse_name("events", bad), None, "{bad}");
        }
    }

    #[test]
    fn a_day_holds_the_keys_made_in_it() {
        let midnight = Timestamp::from_millis(1_796_083_200_000);
        let day = day_of(midnight);
        let (lo, hi) = bounds(day);
        let key = |t: Timestamp| b16(crate::domain::ids::new_ulid(t).0);
        assert!(key(midnight) >= lo && key(midnight) < hi);
        let last = midnight.plus_millis(DAY_MS - 1);
        assert!(key(last) >= lo && key(last) < hi);
        assert!(key(midnight.plus_millis(-1)) < lo);
        assert!(key(midnight.plus_millis(DAY_MS)) >= hi);
        assert_eq!(bounds(day + 1).0, hi);
    }

    #[test]
    fn a_day_has_ended_once_its_last_instant_is_before_the_cutoff() {
        let midnight = Timestamp::from_millis(1_796_083_200_000);
        let day = day_of(midnight);
        assert!(!ended_before(day, midnight));
        assert!(!ended_before(day, midnight.plus_millis(DAY_MS - 1)));
        assert!(ended_before(day, midnight.plus_millis(DAY_MS)));
        assert!(ended_before(day - 1, midnight));
    }

    /// On a real PostgreSQL (`tests/pg/start.sh`).
    mod on_postgres {
        use std::sync::Arc;

        use super::super::super::{pool, spec, tests::test_url, DropSchema, PgStore};
        use super::*;
        use crate::domain::delivery::DeliveryState;
        use crate::domain::ids::{DeliveryId, EndpointId};
        use crate::store::codec::Versioned;
        use crate::store::conformance::{end, new_event};
        use crate::store::{
            CommitOutcome, Committed, DeliveryStore, EventStore, NewEvent, StatsStore, Store,
        };

        fn at(day: i64, ms: i64) -> Timestamp {
            Timestamp::from_millis(day * DAY_MS + ms)
        }

        fn rows(s: &PgStore, sql: String) -> i64 {
            s.run(move |db| {
                let r = db
                    .client()
                    .query_one(sql.as_str(), &[])
                    .map_err(|e| pool::pg_error(&e))?;
                Ok(r.get::<_, i64>(0))
            })
            .unwrap()
        }

        /// The days with partitions, but for those the store made for the
        /// real today when it opened.
        fn days_of(s: &PgStore) -> Vec<i64> {
            let today = day_of(crate::clock::Clock::now(&crate::clock::SystemClock));
            let mut d = s.run(days).unwrap();
            d.retain(|d| *d < today);
            d
        }

        fn commit(s: &PgStore, ne: NewEvent) -> Committed {
            match s.commit_events(vec![ne], None).wait().unwrap() {
                CommitOutcome::Done(mut c) => c.remove(0),
                other => panic!("{other:?}"),
            }
        }

        /// Retention drops a day whole once it ended before the cutoff and
        /// nothing in it is pending or linked to another day; a day that
        /// is not is kept, and the row-wise purge takes what it can, after
        /// which the day goes too. A day's ids can be used afresh after.
        #[test]
        fn whole_days_go_once_ended_and_settled_and_are_kept_otherwise() {
            let s = PgStore::temporary(&test_url()).unwrap();
            let day0 = day_of(crate::store::conformance::t0());
            let ep = EndpointId::new(at(day0, 0));
            // Stored before its day has a partition: in the default one,
            // moved into the day when the day is made.
            let early = new_event("acme", at(day0, 1_000), Some("early"), &[]);
            commit(&s, early.clone());
            assert_eq!(rows(&s, "SELECT count(*) FROM events_default".into()), 1);
            assert_eq!(
                s.prepare_days(at(day0, 0)).unwrap(),
                (AHEAD_DAYS + 1) as usize
            );
            assert_eq!(s.prepare_days(at(day0, 5)).unwrap(), 0, "made once");
            assert_eq!(days_of(&s), (day0..=day0 + AHEAD_DAYS).collect::<Vec<_>>());
            assert_eq!(rows(&s, "SELECT count(*) FROM events_default".into()), 0);
            assert_eq!(
                rows(&s, format!("SELECT count(*) FROM {}", name("events", day0))),
                1
            );

            // Day 0: settled. Day 1: a delivery still pending. Day 2: an
            // event whose delivery was stored on day 3 (made across
            // midnight), both ended.
            let settled = new_event("acme", at(day0, 2_000), Some("settled"), &[ep, ep]);
            commit(&s, settled.clone());
            for d in &settled.deliveries {
                end(&s, d, at(day0, 3_000), 200);
            }
            let pending = new_event("acme", at(day0 + 1, 0), Some("pending"), &[ep]);
            commit(&s, pending.clone());
            let mut across = new_event("acme", at(day0 + 3, -1), Some("across"), &[ep]);
            let late = DeliveryId::new(at(day0 + 3, 1));
            across.deliveries[0].id = late;
            across.event.deliveries = vec![(late.as_u128(), ep.as_u128())];
            commit(&s, across.clone());
            end(&s, &across.deliveries[0], at(day0 + 3, 2), 200);
            assert_eq!(
                rows(
                    &s,
                    format!("SELECT count(*) FROM {}", name("deliveries", day0 + 3))
                ),
                1
            );

            // Nothing has ended before day 0 ends.
            assert_eq!(
                s.purge_whole_days(at(day0 + 1, -1)).unwrap(),
                Purged::default()
            );
            let p = s.purge_whole_days(at(day0 + 4, 0)).unwrap();
            assert_eq!((p.events, p.deliveries, p.attempts), (2, 2, 2), "{p:?}");
            assert_eq!(days_of(&s), vec![day0 + 1, day0 + 2, day0 + 3]);
            for e in [&early, &settled] {
                assert_eq!(s.event(e.event.key).unwrap(), None);
                assert_eq!(s.event_by_id("acme", &e.event.id).unwrap(), None);
            }
            assert!(s.delivery(settled.deliveries[0].id).unwrap().is_none());
            assert!(s.attempts(settled.deliveries[0].id).unwrap().is_empty());
            assert_eq!(rows(&s, "SELECT count(*) FROM event_ids".into()), 2);
            // Kept whole: the pending delivery and the linked pair.
            let kept = s.delivery(pending.deliveries[0].id).unwrap().unwrap();
            assert_eq!(kept.state, DeliveryState::Pending);
            assert!(s.event_by_id("acme", "across").unwrap().is_some());
            // The dropped day's id is free again (as after a row-wise
            // purge); a kept one is still a duplicate.
            let again = new_event("acme", at(day0 + 3, 5), Some("settled"), &[]);
            assert!(matches!(commit(&s, again), Committed::Created));
            let dup = new_event("acme", at(day0 + 3, 6), Some("pending"), &[]);
            assert!(matches!(commit(&s, dup), Committed::Duplicate(k) if k == pending.event.key));

            // The row-wise purge takes the linked pair; then their days
            // are empty and go whole.
            let (rowwise, _) = s.purge_events(at(day0 + 3, 0), None, 100).unwrap();
            assert_eq!(rowwise.events, 1, "{rowwise:?}");
            let p = s.purge_whole_days(at(day0 + 3, 0)).unwrap();
            assert_eq!(p.events, 0, "{p:?}");
            assert_eq!(days_of(&s), vec![day0 + 1, day0 + 3]);
            end(&s, &kept, at(day0 + 2, 0), 200);
            let p = s.purge_whole_days(at(day0 + 3, 0)).unwrap();
            assert_eq!((p.events, p.deliveries, p.attempts), (1, 1, 1), "{p:?}");
            assert_eq!(days_of(&s), vec![day0 + 3]);
            // Day 3 has not ended: what it holds stays.
            assert!(s.event_by_id("acme", "settled").unwrap().is_some());
        }

        /// A schema at version 4 (tables not partitioned) with records in
        /// it opens migrated: the records read back, today's rows are in
        /// today's partition, older ones in the default, ids stay unique.
        #[test]
        fn a_version_4_schema_is_partitioned_with_its_records() {
            let url = test_url();
            let schema = format!(
                "herald_test_{}",
                crate::domain::ids::new_ulid(Timestamp::from_millis(0))
                    .to_string()
                    .to_lowercase()
            );
            let spec = spec(&url, &schema).unwrap();
            let _guard = DropSchema(spec.clone());
            let now = Timestamp::from_millis(1_796_152_477_000);
            let ep = EndpointId::new(now);
            let today = new_event("acme", now, Some("today"), &[ep]);
            let old = new_event("acme", now.plus_millis(-10 * DAY_MS), Some("old"), &[ep]);
            {
                let (spec, today, old) = (spec.clone(), today.clone(), old.clone());
                std::thread::spawn(move || {
                    let mut db = pool::Db::connect(&spec).unwrap();
                    db.batch(&format!(
                        "CREATE SCHEMA {0}; SET search_path TO {0}; \
                         CREATE TABLE herald_meta (k text COLLATE \"C\" PRIMARY KEY, v bytea NOT NULL)",
                        pool::ident(&spec.schema)
                    ))
                    .unwrap();
                    for m in &super::super::super::schema::MIGRATIONS[..4] {
                        db.batch(m.sql).unwrap();
                    }
                    let v = 4u32.to_be_bytes().to_vec();
                    db.execute("INSERT INTO herald_meta (k, v) VALUES ('schema_version', $1)", &[&v])
                        .unwrap();
                    for ne in [&today, &old] {
                        let e = &ne.event;
                        db.execute(
                            "INSERT INTO events (key, tenant, id, v) VALUES ($1, $2, $3, $4)",
                            &[&b16(e.key), &e.tenant_id, &e.id, &e.encode()],
                        )
                        .unwrap();
                        super::super::super::cycle::insert_deliveries(&mut db, &ne.deliveries, None)
                            .unwrap();
                    }
                })
                .join()
                .unwrap();
            }
            let clock = Arc::new(crate::clock::ManualClock::new(now));
            let s = PgStore::open_in(&url, &schema, clock).unwrap();
            for ne in [&today, &old] {
                assert_eq!(s.event(ne.event.key).unwrap().as_ref(), Some(&ne.event));
                assert_eq!(
                    s.event_by_id("acme", &ne.event.id).unwrap().as_ref(),
                    Some(&ne.event)
                );
                assert_eq!(
                    s.delivery(ne.deliveries[0].id).unwrap().as_ref(),
                    Some(&ne.deliveries[0])
                );
            }
            let day = day_of(now);
            assert_eq!(
                s.run(days).unwrap(),
                (day..=day + AHEAD_DAYS).collect::<Vec<_>>()
            );
            assert_eq!(
                rows(&s, format!("SELECT count(*) FROM {}", name("events", day))),
                1
            );
            assert_eq!(
                rows(
                    &s,
                    format!("SELECT count(*) FROM {}", name("deliveries", day))
                ),
                1
            );
            assert_eq!(rows(&s, "SELECT count(*) FROM events_default".into()), 1);
            let dup = new_event("acme", now.plus_millis(5), Some("old"), &[]);
            assert!(matches!(commit(&s, dup), Committed::Duplicate(k) if k == old.event.key));
            let _: Arc<dyn Store> = Arc::new(s);
        }
    }
}
