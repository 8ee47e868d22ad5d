//! When a key or a user was last used, and how often that is written.
//!
//! Every API request authenticates a key; writing (and syncing) the store
//! on each would cost a disk flush per request. A use is therefore written
//! only when the one written before is at least [`WRITE_EVERY_MS`] old, so
//! what is shown is at most a minute behind.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// A key's (or a user's) last use is written at most this often.
pub const WRITE_EVERY_MS: i64 = 60_000;

/// The stored time of the last use (a key's last authenticated request, a
/// user's last login).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    /// When.
    pub at: Timestamp,
}

/// Whether a use at `now` should be written, given when one was last
/// written (`None`: never, or not since this process started).
pub fn due(last_written: Option<Timestamp>, now: Timestamp) -> bool {
    last_written.is_none_or(|t| now.as_millis() - t.as_millis() >= WRITE_EVERY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_written_once_a_minute_at_most() {
        let t = |ms| Timestamp::from_millis(1_700_000_000_000 + ms);
        assert!(due(None, t(0)), "the first use is written");
        assert!(!due(Some(t(0)), t(0)));
        assert!(!due(Some(t(0)), t(WRITE_EVERY_MS - 1)));
        assert!(due(Some(t(0)), t(WRITE_EVERY_MS)));
        assert!(
            !due(Some(t(10)), t(5)),
            "a clock that went back writes nothing"
        );
    }
}
