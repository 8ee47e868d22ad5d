//! The data directory's disk: when new events are refused, and when a
//! store whose writes failed may be reopened.
//!
//! Why a reserve: a sender that fills its disk with new events can no
//! longer record the attempts of the events it already acknowledged.
//! Refusing ingest while less than the reserve is free keeps room for
//! deliveries (and their logs) to go on; an operator frees space (or
//! grows the disk) before anything is lost.

/// Free bytes a reopen wants at least (or the whole reserve if smaller):
/// reopening sled with no room at all fails, and a failed reopen closes
/// the store for reads too.
pub const REOPEN_MIN_FREE: u64 = 16 << 20;

/// Whether ingest is refused: less than `reserve` bytes are free.
/// `free == None` (the disk could not be read, or there is no data
/// directory to watch) refuses nothing: the store's own errors still do.
pub fn below_reserve(free: Option<u64>, reserve: u64) -> bool {
    free.is_some_and(|f| f < reserve)
}

/// Whether a store whose writes failed is worth reopening now.
pub fn may_reopen(free: Option<u64>, reserve: u64) -> bool {
    free.is_none_or(|f| f >= reserve.min(REOPEN_MIN_FREE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_is_refused_only_below_the_reserve() {
        let mib = 1 << 20;
        assert!(below_reserve(Some(255 * mib), 256 * mib));
        assert!(!below_reserve(Some(256 * mib), 256 * mib));
        assert!(!below_reserve(None, 256 * mib));
        assert!(!below_reserve(Some(0), 0), "a zero reserve refuses nothing");
    }

    #[test]
    fn a_reopen_waits_for_room() {
        let mib = 1 << 20;
        // A large reserve: 16 MiB free is enough to try.
        assert!(!may_reopen(Some(15 * mib), 256 * mib));
        assert!(may_reopen(Some(16 * mib), 256 * mib));
        // A small reserve is its own bar.
        assert!(may_reopen(Some(4 * mib), 4 * mib));
        assert!(!may_reopen(Some(3 * mib), 4 * mib));
        assert!(may_reopen(None, 256 * mib));
    }
}
