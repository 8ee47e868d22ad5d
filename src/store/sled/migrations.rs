//! The ordered list of schema migrations. Add new ones at the end.
//!
//! The schema version lives under `m/schema_version` (u32, big-endian).
//! On open, every migration newer than the stored version runs in order and
//! the version is bumped after each, so an interrupted upgrade resumes where
//! it stopped. A data directory newer than this build is refused rather
//! than misread. Record-level changes (a new field) do not need a migration:
//! the codec decodes every format version it has ever written.

use super::keys;
use super::{Result, StoreError};

/// One step of the schema.
pub struct Migration {
    /// The version this step produces.
    pub to: u32,
    /// What it does, for the log.
    pub name: &'static str,
    /// Rewrites the tree from version `to - 1` to `to`.
    pub run: fn(&sled::Tree) -> sled::Result<()>,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        name: "initial layout: tenants, keys, users, endpoints and their indexes",
        run: |_| Ok(()),
    },
    Migration {
        to: 2,
        name: "an index of the deliveries not ended, per endpoint (ordered endpoints)",
        run: index_pending,
    },
];

/// The version a fully migrated data directory has.
pub const CURRENT: u32 = 2;

/// Migration 2: a `dp/` entry for every pending delivery (an unreadable
/// record is left to `herald check`, which reports it).
fn index_pending(tree: &sled::Tree) -> sled::Result<()> {
    use crate::domain::delivery::{Delivery, DeliveryState};
    use crate::store::codec::Versioned;
    let mut batch = sled::Batch::default();
    for item in tree.scan_prefix(keys::DELIVERY) {
        let (_, v) = item?;
        if let Ok(d) = Delivery::decode(&v) {
            if d.state == DeliveryState::Pending {
                batch.insert(keys::pending(d.endpoint_id, d.id), &[][..]);
            }
        }
    }
    tree.apply_batch(batch)
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Reads the stored version (0 for a directory that has none yet).
pub fn stored_version(tree: &sled::Tree) -> Result<u32> {
    decode_version(tree.get(keys::META_SCHEMA).map_err(io)?.as_deref())
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

/// Whether the directory at `path` holds sled's files already (a data
/// directory opened before): its log, its configuration or a snapshot,
/// whatever their state. Looked at before sled opens it (which creates
/// them).
pub fn holds_data(path: &std::path::Path) -> bool {
    let log = path.join("db").exists() || path.join("conf").exists();
    let snapshot = || {
        std::fs::read_dir(path).is_ok_and(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("snap."))
        })
    };
    log || snapshot()
}

/// Refuses a tree that sled opened empty from a log that was not: sled
/// recovers an unreadable log (garbage, truncated) by starting afresh, and
/// Herald must not then take a damaged data directory for a new one (a
/// second first start, everything gone). Every data directory Herald
/// opened holds its schema version from the first open on.
pub fn check_recovered(tree: &sled::Tree, held_data: bool) -> Result<()> {
    if held_data && tree.is_empty() {
        return Err(StoreError::Io(
            "its files exist but the storage engine found nothing readable in them \
             (damaged, truncated, or not a herald data directory; one left by a first start \
             that never finished can be removed)"
                .into(),
        ));
    }
    Ok(())
}

/// Brings `tree` up to [`CURRENT`].
pub fn run(tree: &sled::Tree) -> Result<()> {
    let found = stored_version(tree)?;
    if found > CURRENT {
        return Err(StoreError::TooNew {
            found,
            known: CURRENT,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.to > found) {
        log::info!("migrating data directory to schema {}: {}", m.to, m.name);
        (m.run)(tree).map_err(io)?;
        tree.insert(keys::META_SCHEMA, &m.to.to_be_bytes())
            .map_err(io)?;
        tree.flush().map_err(io)?;
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

    #[test]
    fn fresh_tree_is_stamped_and_newer_is_refused() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        run(&db).unwrap();
        assert_eq!(stored_version(&db).unwrap(), CURRENT);
        db.insert(keys::META_SCHEMA, &(CURRENT + 1).to_be_bytes())
            .unwrap();
        assert!(matches!(run(&db), Err(StoreError::TooNew { .. })));
    }

    #[test]
    fn an_empty_tree_from_files_that_held_data_is_refused() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        assert!(check_recovered(&db, false).is_ok(), "a new directory");
        assert!(matches!(check_recovered(&db, true), Err(StoreError::Io(_))));
        run(&db).unwrap();
        assert!(check_recovered(&db, true).is_ok(), "a stamped one");
    }
}
