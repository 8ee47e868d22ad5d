//! Export, import and check on PostgreSQL's tables.
//!
//! Export reads every table inside one `REPEATABLE READ` snapshot, so the
//! dump is one consistent moment of the database (events before
//! deliveries before attempts, as the contract orders them; no delivery
//! can appear without its event, since both are written in one
//! transaction), while ingest and delivery go on. The snapshot streams on
//! a connection thread; its records come to the caller's sink over a
//! bounded channel, so memory stays bounded whatever the database holds.
//! Import takes the records the other way, into one transaction: a failed
//! import leaves the database as empty as it found it.

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;

use super::cycle::{insert_attempt, insert_deliveries};
use super::pool::{pg_error, Db};
use super::{
    b16, due_at, grain_code, grain_of, id16, key_value, parse_key_value, u128_of, PgStore,
};
use crate::domain::alert::{Alert, Transition};
use crate::domain::apikey::ApiKey;
use crate::domain::delivery::{Attempt, Delivery};
use crate::domain::endpoint::Endpoint;
use crate::domain::event::Event;
use crate::domain::event_type::CustomEventType;
use crate::domain::health::Health;
use crate::domain::ids::EndpointId;
use crate::domain::lastuse::LastUse;
use crate::domain::session::Session;
use crate::domain::stats::Stats;
use crate::domain::tenant::Tenant;
use crate::domain::time::Timestamp;
use crate::domain::user::User;
use crate::store::codec::Versioned;
use crate::store::dump::Record;
use crate::store::{Problem, Result, StoreError};

/// Records in flight between the snapshot's thread and the caller.
const CHANNEL: usize = 256;

/// Deliveries inserted per statement during an import.
const IMPORT_BATCH: usize = 500;

/// Every table Herald writes (the import's emptiness check and `check`).
const TABLES: [&str; 19] = [
    "tenants",
    "api_keys",
    "key_uses",
    "users",
    "user_logins",
    "sessions",
    "event_types",
    "endpoints",
    "events",
    "event_ids",
    "idempotency",
    "deliveries",
    "attempts",
    "health",
    "stats",
    "alerts",
    "alert_history",
    "answers",
    "herald_meta",
];

/// How one row of an export query becomes a record.
type ToRecord = fn(&postgres::Row) -> Result<Record>;

/// The export's queries, in export order, each with how its rows become
/// records. Sessions and last-use times are not dumped (see `store::dump`).
const EXPORT: [(&str, ToRecord); 14] = [
    ("SELECT 1 FROM herald_meta WHERE k = 'bootstrapped'", |_| {
        Ok(Record::Bootstrapped)
    }),
    ("SELECT v FROM tenants ORDER BY id", |r| {
        Tenant::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Tenant)
    }),
    ("SELECT v FROM api_keys ORDER BY id", |r| {
        ApiKey::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Key)
    }),
    ("SELECT v FROM users ORDER BY username", |r| {
        User::decode(&r.get::<_, Vec<u8>>(0)).map(Record::User)
    }),
    ("SELECT v FROM event_types ORDER BY name", |r| {
        CustomEventType::decode(&r.get::<_, Vec<u8>>(0)).map(Record::EventType)
    }),
    ("SELECT v FROM endpoints ORDER BY id", |r| {
        Endpoint::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Endpoint)
    }),
    ("SELECT endpoint, v FROM health ORDER BY endpoint", |r| {
        Ok(Record::Health {
            endpoint: EndpointId::from_bytes(id16(&r.get::<_, Vec<u8>>(0), "health endpoint")?),
            health: Health::decode(&r.get::<_, Vec<u8>>(1))?,
        })
    }),
    ("SELECT v FROM alerts ORDER BY rule, endpoint", |r| {
        Alert::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Alert)
    }),
    ("SELECT at, seq, v FROM alert_history ORDER BY at, seq", |r| {
        Ok(Record::AlertHistory {
            at_ms: r.get(0),
            seq: u128_of(&r.get::<_, Vec<u8>>(1), "alert sequence")?,
            transition: Transition::decode(&r.get::<_, Vec<u8>>(2))?,
        })
    }),
    (
        "SELECT grain, tenant, start, endpoint, v FROM stats ORDER BY grain, tenant, start, endpoint",
        |r| {
            Ok(Record::Stats {
                grain: grain_of(r.get(0)).ok_or_else(|| StoreError::Corrupt {
                    kind: "stats",
                    reason: format!("unknown grain {}", r.get::<_, i16>(0)),
                })?,
                tenant: r.get(1),
                start: Timestamp::from_millis(r.get(2)),
                endpoint: EndpointId::from_bytes(id16(&r.get::<_, Vec<u8>>(3), "stats endpoint")?),
                stats: Stats::decode(&r.get::<_, Vec<u8>>(4))?,
            })
        },
    ),
    ("SELECT tenant, key, at, events FROM idempotency ORDER BY tenant, key", |r| {
        Ok(Record::Idempotency {
            tenant: r.get(0),
            key: r.get(1),
            at: Timestamp::from_millis(r.get(2)),
            events: parse_key_value(&r.get::<_, Vec<u8>>(3)).ok_or_else(|| {
                StoreError::Corrupt {
                    kind: "idempotency",
                    reason: "event keys of a length not a multiple of 16".into(),
                }
            })?,
        })
    }),
    ("SELECT v FROM events ORDER BY key", |r| {
        Event::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Event)
    }),
    ("SELECT v FROM deliveries ORDER BY id", |r| {
        Delivery::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Delivery)
    }),
    ("SELECT v FROM attempts ORDER BY delivery, id", |r| {
        Attempt::decode(&r.get::<_, Vec<u8>>(0)).map(Record::Attempt)
    }),
];

/// Streams the rows of `sql` (no parameters) to `each`.
fn stream(
    db: &mut Db,
    sql: &'static str,
    mut each: impl FnMut(&postgres::Row) -> Result<()>,
) -> Result<()> {
    let stmt = db.prepared(sql)?;
    let none: [&(dyn ToSql + Sync); 0] = [];
    let mut rows = db
        .client()
        .query_raw(&stmt, none)
        .map_err(|e| pg_error(&e))?;
    while let Some(row) = rows.next().map_err(|e| pg_error(&e))? {
        each(&row)?;
    }
    Ok(())
}

/// Opens the snapshot: no statement or idle timeout for it (a backup
/// streams for as long as its reader takes).
fn snapshot(db: &mut Db) -> Result<()> {
    db.batch(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0; \
         SET LOCAL idle_in_transaction_session_timeout = 0",
    )
}

/// What the import sends its connection thread.
enum Msg {
    Record(Box<Record>),
    /// Every record was sent: commit.
    End,
}

impl PgStore {
    pub(super) fn export_impl(&self, sink: &mut dyn FnMut(Record) -> Result<()>) -> Result<()> {
        // Held for the whole export, as the contract says (the snapshot
        // would keep the records anyway).
        let _gate = self.export_gate.read().unwrap_or_else(|e| e.into_inner());
        let (tx, rx) = crossbeam_channel::bounded::<Record>(CHANNEL);
        let done = self.pool.submit(move |db| {
            snapshot(db)?;
            let r = (|| {
                for (sql, to_record) in EXPORT {
                    stream(db, sql, |row| {
                        tx.send(to_record(row)?)
                            .map_err(|_| StoreError::Io("the export's reader stopped".into()))
                    })?;
                }
                Ok(())
            })();
            let _ = db.batch("ROLLBACK");
            r
        });
        let mut failed = None;
        for r in rx.iter() {
            if let Err(e) = sink(r) {
                failed = Some(e);
                break;
            }
        }
        // Dropping the receiver stops the snapshot's thread if it was
        // still sending.
        drop(rx);
        let r = done
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Io("a connection thread stopped".into())));
        match failed {
            Some(e) => Err(e),
            None => r,
        }
    }

    pub(super) fn import_impl(
        &self,
        source: &mut dyn FnMut() -> Result<Option<Record>>,
    ) -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(CHANNEL);
        let done = self.pool.submit(move |db| {
            db.batch("BEGIN; SET LOCAL statement_timeout = 0")?;
            let r = (|| {
                refuse_non_empty(db)?;
                let mut deliveries = Vec::new();
                loop {
                    match rx.recv() {
                        Ok(Msg::Record(r)) => {
                            if let Record::Delivery(d) = *r {
                                deliveries.push(d);
                                if deliveries.len() >= IMPORT_BATCH {
                                    insert_deliveries(db, &std::mem::take(&mut deliveries), None)?;
                                }
                            } else {
                                insert_record(db, &r)?;
                            }
                        }
                        Ok(Msg::End) => break,
                        Err(_) => return Err(StoreError::Io("the import's source stopped".into())),
                    }
                }
                insert_deliveries(db, &deliveries, None)?;
                Ok(())
            })();
            match r {
                Ok(()) => db.batch("COMMIT"),
                Err(e) => {
                    let _ = db.batch("ROLLBACK");
                    Err(e)
                }
            }
        });
        let mut failed = None;
        loop {
            match source() {
                Ok(Some(r)) => {
                    if tx.send(Msg::Record(Box::new(r))).is_err() {
                        break; // the thread failed: its answer says why
                    }
                }
                Ok(None) => {
                    let _ = tx.send(Msg::End);
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let r = done
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Io("a connection thread stopped".into())));
        match failed {
            Some(e) => Err(e),
            None => r,
        }
    }

    pub(super) fn check_impl(&self, report: &mut dyn FnMut(Problem)) -> Result<u64> {
        let (tx, rx) = crossbeam_channel::bounded::<Problem>(CHANNEL);
        let done = self.pool.submit(move |db| {
            snapshot(db)?;
            let r = check_tables(db, &mut |p| {
                let _ = tx.send(p);
            });
            let _ = db.batch("ROLLBACK");
            r
        });
        for p in rx.iter() {
            report(p);
        }
        done.recv()
            .unwrap_or_else(|_| Err(StoreError::Io("a connection thread stopped".into())))
    }
}

/// Refuses a database that holds any record (the schema version aside).
fn refuse_non_empty(db: &mut Db) -> Result<()> {
    for table in TABLES {
        let sql: &'static str = match table {
            "herald_meta" => "SELECT k FROM herald_meta WHERE k <> 'schema_version' LIMIT 1",
            "tenants" => "SELECT 1 FROM tenants LIMIT 1",
            "api_keys" => "SELECT 1 FROM api_keys LIMIT 1",
            "key_uses" => "SELECT 1 FROM key_uses LIMIT 1",
            "users" => "SELECT 1 FROM users LIMIT 1",
            "user_logins" => "SELECT 1 FROM user_logins LIMIT 1",
            "sessions" => "SELECT 1 FROM sessions LIMIT 1",
            "event_types" => "SELECT 1 FROM event_types LIMIT 1",
            "endpoints" => "SELECT 1 FROM endpoints LIMIT 1",
            "events" => "SELECT 1 FROM events LIMIT 1",
            "event_ids" => "SELECT 1 FROM event_ids LIMIT 1",
            "idempotency" => "SELECT 1 FROM idempotency LIMIT 1",
            "deliveries" => "SELECT 1 FROM deliveries LIMIT 1",
            "attempts" => "SELECT 1 FROM attempts LIMIT 1",
            "health" => "SELECT 1 FROM health LIMIT 1",
            "stats" => "SELECT 1 FROM stats LIMIT 1",
            "alerts" => "SELECT 1 FROM alerts LIMIT 1",
            "answers" => "SELECT 1 FROM answers LIMIT 1",
            _ => "SELECT 1 FROM alert_history LIMIT 1",
        };
        if db.query_opt(sql, &[])?.is_some() {
            return Err(StoreError::NotEmpty(format!("found rows in table {table}")));
        }
    }
    Ok(())
}

/// Writes one record with the columns derived from it.
fn insert_record(db: &mut Db, r: &Record) -> Result<()> {
    match r {
        Record::Bootstrapped => db.execute(
            "INSERT INTO herald_meta (k, v) VALUES ('bootstrapped', '\\x01') ON CONFLICT (k) DO NOTHING",
            &[],
        ),
        Record::Tenant(t) => db.execute(
            "INSERT INTO tenants (id, v) VALUES ($1, $2)",
            &[&t.id, &t.encode()],
        ),
        Record::Key(k) => db.execute(
            "INSERT INTO api_keys (id, hash, v) VALUES ($1, $2, $3)",
            &[&k.id.to_bytes().to_vec(), &k.hash.to_vec(), &k.encode()],
        ),
        Record::User(u) => db.execute(
            "INSERT INTO users (username, v) VALUES ($1, $2)",
            &[&u.username, &u.encode()],
        ),
        Record::EventType(t) => db.execute(
            "INSERT INTO event_types (name, v) VALUES ($1, $2)",
            &[&t.name, &t.encode()],
        ),
        Record::Endpoint(e) => db.execute(
            "INSERT INTO endpoints (id, tenant, url, uid, revision, v) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &e.id.to_bytes().to_vec(),
                &e.tenant_id,
                &e.url,
                &e.uid,
                &(e.revision as i64),
                &e.encode(),
            ],
        ),
        Record::Health { endpoint, health } => db.execute(
            "INSERT INTO health (endpoint, v) VALUES ($1, $2)",
            &[&endpoint.to_bytes().to_vec(), &health.encode()],
        ),
        Record::Alert(a) => db.execute(
            "INSERT INTO alerts (rule, endpoint, v) VALUES ($1, $2, $3)",
            &[
                &i16::from(a.rule.code()),
                &a.endpoint_id.to_bytes().to_vec(),
                &a.encode(),
            ],
        ),
        Record::AlertHistory {
            at_ms,
            seq,
            transition,
        } => db.execute(
            "INSERT INTO alert_history (at, seq, v) VALUES ($1, $2, $3)",
            &[at_ms, &b16(*seq), &transition.encode()],
        ),
        Record::Stats {
            grain,
            tenant,
            start,
            endpoint,
            stats,
        } => db.execute(
            "INSERT INTO stats (grain, tenant, start, endpoint, v) VALUES ($1, $2, $3, $4, $5)",
            &[
                &grain_code(*grain),
                tenant,
                &start.as_millis(),
                &endpoint.to_bytes().to_vec(),
                &stats.encode(),
            ],
        ),
        Record::Idempotency {
            tenant,
            key,
            at,
            events,
        } => db.execute(
            "INSERT INTO idempotency (tenant, key, at, events) VALUES ($1, $2, $3, $4)",
            &[tenant, key, &at.as_millis(), &key_value(events)],
        ),
        Record::Event(e) => {
            db.execute(
                "INSERT INTO event_ids (tenant, id, key) VALUES ($1, $2, $3)",
                &[&e.tenant_id, &e.id, &b16(e.key)],
            )?;
            db.execute(
                "INSERT INTO events (key, tenant, id, v) VALUES ($1, $2, $3, $4)",
                &[&b16(e.key), &e.tenant_id, &e.id, &e.encode()],
            )
        }
        Record::Delivery(d) => {
            insert_deliveries(db, std::slice::from_ref(d), None)?;
            Ok(1)
        }
        Record::Attempt(a) => {
            insert_attempt(db, a)?;
            Ok(1)
        }
    }
    .map(drop)
}

/// A column value for a person.
fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks every row of every table: it decodes, and its key columns agree
/// with the record; plus the references a restore needs (a delivery's
/// event, an attempt's delivery). Answers how many rows it read.
fn check_tables(db: &mut Db, report: &mut dyn FnMut(Problem)) -> Result<u64> {
    let mut seen = 0u64;
    macro_rules! each {
        ($table:literal, $sql:literal, |$row:ident| -> $key:expr, $check:expr) => {
            stream(db, $sql, |$row| {
                seen += 1;
                let key: String = $key;
                let outcome: std::result::Result<(), String> = $check;
                if let Err(problem) = outcome {
                    report(Problem {
                        table: $table.to_string(),
                        key,
                        problem,
                    });
                }
                Ok(())
            })?;
        };
    }
    fn decoded<T: Versioned>(v: &[u8]) -> std::result::Result<T, String> {
        T::decode(v).map_err(|e| format!("does not decode: {e}"))
    }
    fn agree(ok: bool, what: &str) -> std::result::Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("its {what} column disagrees with its record"))
        }
    }
    each!("herald_meta", "SELECT k, v FROM herald_meta ORDER BY k", |r| -> r.get(0), {
        let k: String = r.get(0);
        let v: Vec<u8> = r.get(1);
        match k.as_str() {
            "schema_version" => super::schema::decode_version(Some(&v))
                .map(drop)
                .map_err(|e| e.to_string()),
            "bootstrapped" => Ok(()),
            _ => Err("not a key this herald knows".into()),
        }
    });
    each!("tenants", "SELECT id, v FROM tenants", |r| -> r.get(0), {
        decoded::<Tenant>(&r.get::<_, Vec<u8>>(1)).and_then(|t| agree(t.id == r.get::<_, String>(0), "id"))
    });
    each!("api_keys", "SELECT id, hash, v FROM api_keys", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<ApiKey>(&r.get::<_, Vec<u8>>(2)).and_then(|k| {
            agree(k.id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(0), "id")?;
            agree(k.hash.to_vec() == r.get::<_, Vec<u8>>(1), "hash")
        })
    });
    each!("key_uses", "SELECT id, v FROM key_uses", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<LastUse>(&r.get::<_, Vec<u8>>(1)).map(drop)
    });
    each!("users", "SELECT username, v FROM users", |r| -> r.get(0), {
        decoded::<User>(&r.get::<_, Vec<u8>>(1))
            .and_then(|u| agree(u.username == r.get::<_, String>(0), "username"))
    });
    each!("user_logins", "SELECT username, v FROM user_logins", |r| -> r.get(0), {
        decoded::<LastUse>(&r.get::<_, Vec<u8>>(1)).map(drop)
    });
    each!("sessions", "SELECT id_hash, v FROM sessions", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<Session>(&r.get::<_, Vec<u8>>(1))
            .and_then(|s| agree(s.id_hash.to_vec() == r.get::<_, Vec<u8>>(0), "id_hash"))
    });
    each!("event_types", "SELECT name, v FROM event_types", |r| -> r.get(0), {
        decoded::<CustomEventType>(&r.get::<_, Vec<u8>>(1))
            .and_then(|t| agree(t.name == r.get::<_, String>(0), "name"))
    });
    each!(
        "endpoints",
        "SELECT id, tenant, url, uid, revision, v FROM endpoints",
        |r| -> hex(&r.get::<_, Vec<u8>>(0)),
        {
            decoded::<Endpoint>(&r.get::<_, Vec<u8>>(5)).and_then(|e| {
                agree(e.id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(0), "id")?;
                agree(e.tenant_id == r.get::<_, String>(1), "tenant")?;
                agree(e.url == r.get::<_, String>(2), "url")?;
                agree(e.uid == r.get::<_, Option<String>>(3), "uid")?;
                agree(e.revision as i64 == r.get::<_, i64>(4), "revision")
            })
        }
    );
    each!("events", "SELECT key, tenant, id, v FROM events", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<Event>(&r.get::<_, Vec<u8>>(3)).and_then(|e| {
            agree(b16(e.key) == r.get::<_, Vec<u8>>(0), "key")?;
            agree(e.tenant_id == r.get::<_, String>(1), "tenant")?;
            agree(e.id == r.get::<_, String>(2), "id")
        })
    });
    each!(
        "idempotency",
        "SELECT tenant, key, events FROM idempotency",
        |r| -> format!("{}/{}", r.get::<_, String>(0), r.get::<_, String>(1)),
        {
            parse_key_value(&r.get::<_, Vec<u8>>(2))
                .map(drop)
                .ok_or_else(|| "event keys of a length not a multiple of 16".to_string())
        }
    );
    each!(
        "deliveries",
        "SELECT id, event_key, endpoint, tenant, due_at, held, v FROM deliveries",
        |r| -> hex(&r.get::<_, Vec<u8>>(0)),
        {
            decoded::<Delivery>(&r.get::<_, Vec<u8>>(6)).and_then(|d| {
                agree(d.id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(0), "id")?;
                agree(b16(d.event_key) == r.get::<_, Vec<u8>>(1), "event_key")?;
                agree(d.endpoint_id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(2), "endpoint")?;
                agree(d.tenant_id == r.get::<_, String>(3), "tenant")?;
                agree(due_at(&d) == r.get::<_, Option<i64>>(4), "due_at")?;
                agree(d.held == r.get::<_, bool>(5), "held")
            })
        }
    );
    each!(
        "attempts",
        "SELECT delivery, id, v FROM attempts",
        |r| -> format!("{}/{}", hex(&r.get::<_, Vec<u8>>(0)), hex(&r.get::<_, Vec<u8>>(1))),
        {
            decoded::<Attempt>(&r.get::<_, Vec<u8>>(2)).and_then(|a| {
                agree(a.delivery_id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(0), "delivery")?;
                agree(a.id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(1), "id")
            })
        }
    );
    each!("health", "SELECT endpoint, v FROM health", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<Health>(&r.get::<_, Vec<u8>>(1)).map(drop)
    });
    each!(
        "stats",
        "SELECT grain, tenant, start, endpoint, v FROM stats",
        |r| -> format!("{}/{}/{}", r.get::<_, i16>(0), r.get::<_, String>(1), r.get::<_, i64>(2)),
        {
            match grain_of(r.get(0)) {
                Some(_) => decoded::<Stats>(&r.get::<_, Vec<u8>>(4)).map(drop),
                None => Err("an unknown grain".into()),
            }
        }
    );
    each!("alerts", "SELECT rule, endpoint, v FROM alerts", |r| -> hex(&r.get::<_, Vec<u8>>(1)), {
        decoded::<Alert>(&r.get::<_, Vec<u8>>(2)).and_then(|a| {
            agree(i16::from(a.rule.code()) == r.get::<_, i16>(0), "rule")?;
            agree(a.endpoint_id.to_bytes().to_vec() == r.get::<_, Vec<u8>>(1), "endpoint")
        })
    });
    each!(
        "alert_history",
        "SELECT at, seq, v FROM alert_history",
        |r| -> format!("{}/{}", r.get::<_, i64>(0), hex(&r.get::<_, Vec<u8>>(1))),
        { decoded::<Transition>(&r.get::<_, Vec<u8>>(2)).map(drop) }
    );
    // Remembered answers are not dumped (see `store::dump`): they only
    // need to decode.
    each!("answers", "SELECT scope, v FROM answers", |r| -> hex(&r.get::<_, Vec<u8>>(0)), {
        decoded::<crate::domain::idempotent::Remembered>(&r.get::<_, Vec<u8>>(1)).map(drop)
    });
    // References a restore could not make sense of.
    stream(
        db,
        "SELECT d.id FROM deliveries d LEFT JOIN events e ON e.key = d.event_key WHERE e.key IS NULL",
        |r| {
            report(Problem {
                table: "deliveries".into(),
                key: hex(&r.get::<_, Vec<u8>>(0)),
                problem: "delivery without its event".into(),
            });
            Ok(())
        },
    )?;
    // Every event is in `event_ids` under its own id, or a second event
    // with the same id could be stored. (Rows of a day whose partitions
    // retention has just dropped may outlive their events until it
    // removes them; those point at nothing and are harmless.)
    stream(
        db,
        "SELECT e.key FROM events e LEFT JOIN event_ids i \
         ON i.tenant = e.tenant AND i.id = e.id AND i.key = e.key WHERE i.key IS NULL",
        |r| {
            report(Problem {
                table: "events".into(),
                key: hex(&r.get::<_, Vec<u8>>(0)),
                problem: "event missing from event_ids (its id is not kept unique)".into(),
            });
            Ok(())
        },
    )?;
    stream(
        db,
        "SELECT a.delivery, a.id FROM attempts a LEFT JOIN deliveries d ON d.id = a.delivery \
         WHERE d.id IS NULL",
        |r| {
            report(Problem {
                table: "attempts".into(),
                key: format!(
                    "{}/{}",
                    hex(&r.get::<_, Vec<u8>>(0)),
                    hex(&r.get::<_, Vec<u8>>(1))
                ),
                problem: "attempt without its delivery".into(),
            });
            Ok(())
        },
    )?;
    Ok(seen)
}
