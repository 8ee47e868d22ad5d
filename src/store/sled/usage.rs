//! What a closed data directory holds, as sled itself reports it: its
//! `size_on_disk` and, per table prefix, the keys and their bytes. For
//! `herald bench disk`, which traces bytes per delivery to what is stored.

use std::collections::BTreeMap;
use std::path::Path;

use crate::store::{Result, StoreError};

/// Keys, key bytes and value bytes under one table prefix.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableUsage {
    /// Keys stored.
    pub keys: u64,
    /// Their bytes.
    pub key_bytes: u64,
    /// Their values' bytes (as stored: version byte and bincode).
    pub value_bytes: u64,
}

/// A data directory's usage.
#[derive(Debug, Default, Clone)]
pub struct DirUsage {
    /// sled's `size_on_disk`.
    pub size_on_disk: u64,
    /// By table prefix (a key's bytes up to and including its first `/`).
    pub tables: BTreeMap<String, TableUsage>,
}

/// Opens the data directory at `dir` (no server may hold it) and counts
/// every key of every tree by table prefix.
pub fn usage(dir: &Path) -> Result<DirUsage> {
    let io = |e: sled::Error| StoreError::Io(format!("{}: {e}", dir.display()));
    let p = super::params::for_dir(dir);
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(16 << 20)
        .use_compression(p.compression)
        .segment_size(p.segment_size)
        .open()
        .map_err(io)?;
    let mut out = DirUsage::default();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).map_err(io)?;
        for item in tree.iter() {
            let (k, v) = item.map_err(io)?;
            let u = out.tables.entry(prefix_of(&k)).or_default();
            u.keys += 1;
            u.key_bytes += k.len() as u64;
            u.value_bytes += v.len() as u64;
        }
    }
    out.size_on_disk = db.size_on_disk().map_err(io)?;
    Ok(out)
}

/// A key's table: its bytes up to and including the first `/` (all of it
/// when it has none, e.g. sled's own tree names).
fn prefix_of(k: &[u8]) -> String {
    let end = k.iter().position(|b| *b == b'/').map_or(k.len(), |i| i + 1);
    String::from_utf8_lossy(&k[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_counted_by_table() {
        assert_eq!(prefix_of(b"dn/\x01\x02"), "dn/");
        assert_eq!(prefix_of(b"m/schema_version"), "m/");
        assert_eq!(prefix_of(b"plain"), "plain");
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.insert(b"d/1", b"abc".to_vec()).unwrap();
            db.insert(b"d/2", b"de".to_vec()).unwrap();
            db.insert(b"a/1", b"".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let u = usage(dir.path()).unwrap();
        assert_eq!(
            u.tables["d/"],
            TableUsage {
                keys: 2,
                key_bytes: 6,
                value_bytes: 5
            }
        );
        assert_eq!(u.tables["a/"].keys, 1);
        assert!(u.size_on_disk > 0);
    }
}
