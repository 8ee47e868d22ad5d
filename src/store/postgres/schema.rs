//! The ordered list of schema migrations on PostgreSQL. Add new ones at
//! the end.
//!
//! The schema version lives in `herald_meta` (`k = 'schema_version'`),
//! like sled's `m/schema_version`. On open, every migration newer than the
//! stored version runs in order, each in its own transaction together with
//! the bump of the version, so an interrupted upgrade resumes where it
//! stopped; a transaction-scoped advisory lock makes nodes that start at
//! once take turns. A schema newer than this build is refused
//! ([`StoreError::TooNew`], as on sled) rather than misread.
//!
//! Layout: one table per record kind; the record itself is a `bytea` in
//! the versioned codec (`store::codec`), so the format has one definition
//! for both backends; beside it only the columns a query filters or sorts
//! on, and UNIQUE constraints for what the contract calls conflicts. Ids
//! are their 16 big-endian bytes (byte order is creation order, as on
//! sled); text keys are `COLLATE "C"` (byte order, whatever the database's
//! locale). Deliveries are rows with an indexed `due_at` (set exactly
//! while the delivery is pending and not held); migration 3 adds the
//! columns several nodes claim them with (`lease_owner`, `lease_until`,
//! `sending`: see `cluster`), the `roles` one node holds at a time and the
//! `nodes` table of heartbeats. Those are coordination, not records: no
//! dump carries them. Migration 5 partitions events, deliveries and
//! attempts by day (`partitions`), and keeps client event ids unique in
//! `event_ids`, derived from the events like an index (not dumped either).

use super::pool::Db;
use crate::store::{Result, StoreError};

/// One step of the schema.
pub struct Migration {
    /// The version this step produces.
    pub to: u32,
    /// What it does, for the log.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        name: "initial layout: every record kind, its indexes and uniqueness rules",
        sql: r#"
CREATE TABLE tenants (id text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE api_keys (id bytea PRIMARY KEY, hash bytea NOT NULL,
    v bytea NOT NULL, CONSTRAINT api_keys_hash_key UNIQUE (hash));
CREATE TABLE key_uses (id bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE users (username text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE user_logins (username text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE sessions (id_hash bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE event_types (name text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE endpoints (id bytea PRIMARY KEY, tenant text COLLATE "C" NOT NULL,
    url text COLLATE "C" NOT NULL, uid text COLLATE "C", revision bigint NOT NULL,
    v bytea NOT NULL,
    CONSTRAINT endpoints_url_key UNIQUE (tenant, url),
    CONSTRAINT endpoints_uid_key UNIQUE (tenant, uid));
CREATE INDEX endpoints_by_tenant ON endpoints (tenant, id);
CREATE TABLE events (key bytea PRIMARY KEY, tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL, v bytea NOT NULL,
    CONSTRAINT events_id_key UNIQUE (tenant, id));
CREATE TABLE idempotency (tenant text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
    at bigint NOT NULL, events bytea NOT NULL, PRIMARY KEY (tenant, key));
CREATE TABLE deliveries (id bytea PRIMARY KEY, event_key bytea NOT NULL,
    endpoint bytea NOT NULL, tenant text COLLATE "C" NOT NULL, due_at bigint,
    held boolean NOT NULL, v bytea NOT NULL);
CREATE INDEX deliveries_due ON deliveries (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_held ON deliveries (endpoint, id) WHERE held;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint, id);
CREATE INDEX deliveries_by_tenant ON deliveries (tenant, id);
CREATE INDEX deliveries_by_event ON deliveries (event_key);
CREATE TABLE attempts (delivery bytea NOT NULL, id bytea NOT NULL, v bytea NOT NULL,
    PRIMARY KEY (delivery, id));
CREATE TABLE health (endpoint bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE stats (grain smallint NOT NULL, tenant text COLLATE "C" NOT NULL,
    start bigint NOT NULL, endpoint bytea NOT NULL, v bytea NOT NULL,
    PRIMARY KEY (grain, tenant, start, endpoint));
CREATE TABLE alerts (rule smallint NOT NULL, endpoint bytea NOT NULL, v bytea NOT NULL,
    PRIMARY KEY (rule, endpoint));
CREATE TABLE alert_history (at bigint NOT NULL, seq bytea NOT NULL, v bytea NOT NULL,
    PRIMARY KEY (at, seq));
"#,
    },
    Migration {
        to: 2,
        name: "remembered answers of idempotent requests (the Svix-compatible API)",
        sql: r#"
CREATE TABLE answers (scope bytea PRIMARY KEY, v bytea NOT NULL);
"#,
    },
    Migration {
        to: 3,
        name: "several nodes: delivery claims and send leases, cluster roles, nodes",
        sql: r#"
ALTER TABLE deliveries ADD COLUMN lease_owner text COLLATE "C",
    ADD COLUMN lease_until bigint, ADD COLUMN sending boolean NOT NULL DEFAULT false;
CREATE INDEX deliveries_sending ON deliveries (endpoint) WHERE sending;
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE lease_owner IS NOT NULL;
CREATE TABLE roles (name text COLLATE "C" PRIMARY KEY, owner text COLLATE "C" NOT NULL,
    until bigint NOT NULL);
CREATE TABLE nodes (name text COLLATE "C" PRIMARY KEY, started bigint NOT NULL,
    seen bigint NOT NULL);
"#,
    },
    Migration {
        to: 4,
        name: "ordered and rate-limited endpoints: deliveries not ended per endpoint, send slots",
        sql: r#"
CREATE INDEX deliveries_pending ON deliveries (endpoint, id) WHERE due_at IS NOT NULL OR held;
CREATE TABLE endpoint_rates (endpoint bytea PRIMARY KEY, next_us bigint NOT NULL);
"#,
    },
    Migration {
        to: 5,
        name: "events, deliveries and attempts partitioned by day; client event ids unique in event_ids",
        // Each table is rebuilt partitioned, its rows copied into the
        // default partition (`partitions::ensure` then moves today's into
        // their day), the old one dropped before the new one takes its
        // name and its indexes are made (index names are per schema).
        sql: r#"
CREATE TABLE event_ids (tenant text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
    key bytea NOT NULL, PRIMARY KEY (tenant, id));
INSERT INTO event_ids (tenant, id, key) SELECT tenant, id, key FROM events;
CREATE INDEX event_ids_by_key ON event_ids (key);

CREATE TABLE events_new (key bytea NOT NULL, tenant text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL, v bytea NOT NULL) PARTITION BY RANGE (key);
CREATE TABLE events_default PARTITION OF events_new DEFAULT;
INSERT INTO events_new (key, tenant, id, v) SELECT key, tenant, id, v FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
ALTER TABLE events ADD PRIMARY KEY (key);

CREATE TABLE deliveries_new (id bytea NOT NULL, event_key bytea NOT NULL,
    endpoint bytea NOT NULL, tenant text COLLATE "C" NOT NULL, due_at bigint,
    held boolean NOT NULL, v bytea NOT NULL, lease_owner text COLLATE "C",
    lease_until bigint, sending boolean NOT NULL DEFAULT false) PARTITION BY RANGE (id);
CREATE TABLE deliveries_default PARTITION OF deliveries_new DEFAULT;
INSERT INTO deliveries_new (id, event_key, endpoint, tenant, due_at, held, v,
    lease_owner, lease_until, sending)
    SELECT id, event_key, endpoint, tenant, due_at, held, v, lease_owner, lease_until, sending
    FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
ALTER TABLE deliveries ADD PRIMARY KEY (id);
CREATE INDEX deliveries_due ON deliveries (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_held ON deliveries (endpoint, id) WHERE held;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint, id);
CREATE INDEX deliveries_by_tenant ON deliveries (tenant, id);
CREATE INDEX deliveries_by_event ON deliveries (event_key);
CREATE INDEX deliveries_sending ON deliveries (endpoint) WHERE sending;
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_pending ON deliveries (endpoint, id) WHERE due_at IS NOT NULL OR held;

CREATE TABLE attempts_new (delivery bytea NOT NULL, id bytea NOT NULL, v bytea NOT NULL)
    PARTITION BY RANGE (delivery);
CREATE TABLE attempts_default PARTITION OF attempts_new DEFAULT;
INSERT INTO attempts_new (delivery, id, v) SELECT delivery, id, v FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
ALTER TABLE attempts ADD PRIMARY KEY (delivery, id);
"#,
    },
];

/// The version a fully migrated schema has.
pub const CURRENT: u32 = 5;

/// The advisory lock key migrations take (any constant; "herald" in hex).
const MIGRATION_LOCK: i64 = 0x6865_7261_6c64;

/// The stored version (0 for a schema that has none yet).
pub fn stored_version(db: &mut Db) -> Result<u32> {
    let row = db.query_opt("SELECT v FROM herald_meta WHERE k = 'schema_version'", &[])?;
    decode_version(row.map(|r| r.get::<_, Vec<u8>>(0)).as_deref())
}

/// The schema version a stored value says (0 for none).
pub fn decode_version(v: Option<&[u8]>) -> Result<u32> {
    match v {
        None => Ok(0),
        Some(v) => {
            let arr: [u8; 4] = v.try_into().map_err(|_| StoreError::Corrupt {
                kind: "schema version",
                reason: format!("{} bytes", v.len()),
            })?;
            Ok(u32::from_be_bytes(arr))
        }
    }
}

/// Creates the schema (if missing) and brings it up to [`CURRENT`].
pub fn run(db: &mut Db, schema: &str) -> Result<()> {
    let schema = super::pool::ident(schema);
    db.batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.herald_meta (k text COLLATE \"C\" PRIMARY KEY, v bytea NOT NULL)"
    ))
    .or_else(|e| {
        // Two nodes creating the schema at once: one of them loses the race
        // on the catalog; what it wanted exists now.
        if db.batch("SELECT 1 FROM herald_meta LIMIT 1").is_ok() {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let found = stored_version(db)?;
    if found > CURRENT {
        return Err(StoreError::TooNew {
            found,
            known: CURRENT,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.to > found) {
        db.batch("BEGIN")?;
        let step = (|| {
            // A step may copy whole tables: the session's statement
            // timeout is for requests, not for this.
            db.batch(&format!(
                "SET LOCAL statement_timeout = 0; SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
            ))?;
            // Another node may have run it while this one waited.
            let now = stored_version(db)?;
            if now > CURRENT {
                return Err(StoreError::TooNew {
                    found: now,
                    known: CURRENT,
                });
            }
            if now >= m.to {
                return Ok(());
            }
            log::info!("migrating the PostgreSQL schema to {}: {}", m.to, m.name);
            db.batch(m.sql)?;
            let v = m.to.to_be_bytes().to_vec();
            db.execute(
                "INSERT INTO herald_meta (k, v) VALUES ('schema_version', $1) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                &[&v],
            )?;
            Ok(())
        })();
        match step {
            Ok(()) => db.batch("COMMIT")?,
            Err(e) => {
                let _ = db.batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered_and_end_at_current() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.to, i as u32 + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.to), Some(CURRENT));
    }
}
