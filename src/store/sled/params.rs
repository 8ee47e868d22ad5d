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
///
/// Herald also keeps its own copy (`herald-storage`, written when it creates
/// a directory), since sled rewrites a damaged `conf` with whatever it is
/// opened with: that copy comes first; a directory without it was made by
/// an older build, without compression.
pub fn for_dir(path: &Path) -> Params {
    if let Ok(bytes) = std::fs::read(path.join(OURS)) {
        if let Some(p) = parse_conf(&bytes) {
            return p;
        }
    }
    let has_log = std::fs::metadata(path.join("db")).is_ok_and(|m| m.len() > 0);
    match std::fs::read(path.join("conf")) {
        Ok(bytes) => parse_conf(&bytes).unwrap_or(LEGACY),
        Err(_) if has_log => LEGACY,
        Err(_) => NEW,
    }
}

/// What builds before compression created directories with.
const LEGACY: Params = Params {
    compression: false,
    segment_size: 512 * 1024,
};

/// Herald's copy of the parameters, beside sled's files.
const OURS: &str = "herald-storage";

/// Records `p` as the directory's parameters (after sled opened it).
pub fn remember(path: &Path, p: Params) -> std::io::Result<()> {
    let want = format!(
        "segment_size: {}\nuse_compression: {}\n",
        p.segment_size, p.compression
    );
    if std::fs::read(path.join(OURS)).ok().as_deref() == Some(want.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path.join(OURS), want)
}

/// Parses sled's `conf` file: `key: value` lines, then a CRC (4 binary
/// bytes) that this does not need. `None` when it does not say whether
/// pages are compressed (a damaged file).
pub fn parse_conf(bytes: &[u8]) -> Option<Params> {
    let text = String::from_utf8_lossy(bytes);
    let mut p = LEGACY;
    let mut seen = false;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "use_compression" => {
                p.compression = v.trim() == "true";
                seen = true;
            }
            "segment_size" => {
                if let Ok(n) = v.trim().parse::<usize>() {
                    p.segment_size = n;
                }
            }
            _ => {}
        }
    }
    seen.then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_directory_keeps_what_it_was_made_with() {
        let old = b"segment_size: 524288\nuse_compression: false\nversion: 0.34\n\x01\x02\x03\x04";
        assert_eq!(
            parse_conf(old).unwrap(),
            Params {
                compression: false,
                segment_size: 524288
            }
        );
        let new = b"segment_size: 262144\nuse_compression: true\nversion: 0.34\n\xff\xfe\x00\x07";
        assert_eq!(
            parse_conf(new).unwrap(),
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
        assert_eq!(parse_conf(b"garbage\n"), None);
        // Our own copy outlives a damaged `conf`.
        remember(dir.path(), NEW).unwrap();
        std::fs::write(dir.path().join("conf"), b"garbage\n").unwrap();
        assert_eq!(for_dir(dir.path()), NEW);
    }
}
