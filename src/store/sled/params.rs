//! sled's storage parameters: what a new data directory is created with,
//! and what an existing one must be opened with.
//!
//! sled 0.34 writes `use_compression` and `segment_size` into the
//! directory's `conf` file when it creates it and refuses to open the
//! directory with other values ("cannot change compression values across
//! restarts"). Herald creates new directories with zstd compression (pages
//! of ULID-ordered keys and similar records shrink several times over), and
//! opens a directory made by an older build, without compression, the way
//! it was made — so an upgrade never locks an operator out of their data.

use std::path::Path;

/// The parameters one data directory is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// zstd on every page sled writes.
    pub compression: bool,
    /// sled's log segment size, in bytes (a power of two).
    pub segment_size: usize,
}

/// What a new directory is created with: compression on, and sled's
/// default segment size.
pub const NEW: Params = Params {
    compression: true,
    segment_size: 512 * 1024,
};

/// zstd's level: 1 is the fastest, and the pages are small, so higher
/// levels buy little and cost the committer's thread time.
pub const COMPRESSION_LEVEL: i32 = 1;

/// The parameters to open the directory at `path` with: what its `conf`
/// file says, or [`NEW`] when it has none (a new directory).
pub fn for_dir(path: &Path) -> Params {
    match std::fs::read(path.join("conf")) {
        Ok(bytes) => parse_conf(&bytes),
        Err(_) => NEW,
    }
}

/// Parses sled's `conf` file: `key: value` lines, then a CRC (4 binary
/// bytes) that this does not need. A value it cannot read keeps the one
/// sled itself assumed before compression existed here (no compression,
/// its default segment size), so sled — which checks the file itself —
/// is the one to report a damaged file.
pub fn parse_conf(bytes: &[u8]) -> Params {
    let text = String::from_utf8_lossy(bytes);
    let mut p = Params {
        compression: false,
        segment_size: NEW.segment_size,
    };
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "use_compression" => p.compression = v.trim() == "true",
            "segment_size" => {
                if let Ok(n) = v.trim().parse::<usize>() {
                    p.segment_size = n;
                }
            }
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_directory_keeps_what_it_was_made_with() {
        let old = b"segment_size: 524288\nuse_compression: false\nversion: 0.34\n\x01\x02\x03\x04";
        assert_eq!(
            parse_conf(old),
            Params {
                compression: false,
                segment_size: 524288
            }
        );
        let new = b"segment_size: 262144\nuse_compression: true\nversion: 0.34\n\xff\xfe\x00\x07";
        assert_eq!(
            parse_conf(new),
            Params {
                compression: true,
                segment_size: 262144
            }
        );
    }

    #[test]
    fn a_new_directory_gets_compression() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(for_dir(dir.path()), NEW);
        // Written by sled itself, read back by us.
        let db = sled::Config::new()
            .path(dir.path())
            .use_compression(false)
            .open()
            .unwrap();
        drop(db);
        assert!(!for_dir(dir.path()).compression);
    }
}
