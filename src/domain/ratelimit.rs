//! Per-key request budgets: a token bucket (as GCRA, one timestamp per
//! bucket), pure, on the caller's clock.
//!
//! A bucket holds `burst` tokens and refills `per_second` of them each
//! second; a request takes one. GCRA keeps only the "theoretical arrival
//! time" (when the bucket would be full again), so a bucket is 16 bytes
//! and a check is a few integer operations. Time is counted in units of
//! `1 / per_second` ms, so every rate up to a million a second is exact
//! in integers.

/// A budget: requests per second and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second refilled; 0 turns the budget off.
    pub per_second: u32,
    /// Requests allowed at once (the bucket's size), at least 1.
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate {
        per_second: 0,
        burst: 0,
    };

    /// Whether this budget limits anything.
    pub fn is_off(self) -> bool {
        self.per_second == 0
    }
}

/// One key's bucket for one budget: when it would be full again, in
/// units of `1 / per_second` ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bucket {
    full_at: i128,
}

/// What a check decided, with what the `RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead (it took a token).
    pub allowed: bool,
    /// The bucket's size (`RateLimit-Limit`).
    pub limit: u32,
    /// Tokens left after this request (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Milliseconds until the bucket is full again (`RateLimit-Reset`).
    pub reset_ms: u64,
    /// Milliseconds until a request would be allowed (`Retry-After`); 0
    /// when this one was.
    pub retry_after_ms: u64,
}

impl Decision {
    /// Whole seconds, rounded up, as the headers carry them.
    pub fn secs(ms: u64) -> u64 {
        ms.div_ceil(1000)
    }
}

impl Bucket {
    /// Takes a token at `now_ms` if one is left under `rate`. A rate that
    /// is off always allows.
    pub fn check(&mut self, rate: Rate, now_ms: i64) -> Decision {
        if rate.is_off() {
            return Decision {
                allowed: true,
                limit: 0,
                remaining: 0,
                reset_ms: 0,
                retry_after_ms: 0,
            };
        }
        let per_second = i128::from(rate.per_second);
        let burst = i128::from(rate.burst.max(1));
        // One token is 1000 units; the bucket holds `burst` of them.
        let token = 1000_i128;
        let capacity = burst * token;
        let now = i128::from(now_ms) * per_second;
        let start = self.full_at.max(now);
        let to_ms = |units: i128| -> u64 {
            // Rounded up, so "retry in" is never too early.
            u64::try_from((units.max(0) + per_second - 1) / per_second).unwrap_or(u64::MAX)
        };
        let after = start + token;
        if after - now > capacity {
            // Over budget: nothing changes; a token is back once the
            // bucket has room for one.
            return Decision {
                allowed: false,
                limit: rate.burst.max(1),
                remaining: 0,
                reset_ms: to_ms(start - now),
                retry_after_ms: to_ms(after - now - capacity).max(1),
            };
        }
        self.full_at = after;
        let remaining = (capacity - (after - now)) / token;
        Decision {
            allowed: true,
            limit: rate.burst.max(1),
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_ms: to_ms(after - now),
            retry_after_ms: 0,
        }
    }

    /// Whether the bucket is full at `now_ms` (it can be forgotten: a new
    /// one is the same).
    pub fn is_full(&self, rate: Rate, now_ms: i64) -> bool {
        self.full_at <= i128::from(now_ms) * i128::from(rate.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 2,
        burst: 3,
    };

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = Bucket::default();
        let t0 = 1_700_000_000_000;
        let left: Vec<_> = (0..3).map(|_| b.check(RATE, t0)).collect();
        assert!(left.iter().all(|d| d.allowed));
        assert_eq!(
            left.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert_eq!(left[2].reset_ms, 1500, "3 tokens at 2/s");
        let denied = b.check(RATE, t0);
        assert!(!denied.allowed);
        assert_eq!((denied.limit, denied.remaining), (3, 0));
        assert_eq!(denied.retry_after_ms, 500, "one token every 500 ms");
        assert!(!b.check(RATE, t0 + 499).allowed);
        assert!(b.check(RATE, t0 + 500).allowed);
        assert!(!b.check(RATE, t0 + 500).allowed, "one token came back");
        assert!(!b.is_full(RATE, t0 + 1999));
        assert!(b.is_full(RATE, t0 + 2000));
        let after_rest = b.check(RATE, t0 + 10_000);
        assert_eq!((after_rest.allowed, after_rest.remaining), (true, 2));
    }

    #[test]
    fn high_rates_are_exact_and_off_always_allows() {
        let rate = Rate {
            per_second: 1_000_000,
            burst: 1,
        };
        let mut b = Bucket::default();
        assert!(b.check(rate, 5).allowed);
        let d = b.check(rate, 5);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 1, "never 0 when refused");
        let mut b = Bucket::default();
        assert!((0..10_000).all(|_| b.check(Rate::OFF, 0).allowed));
        assert_eq!(Decision::secs(1), 1);
        assert_eq!(Decision::secs(1000), 1);
        assert_eq!(Decision::secs(1001), 2);
    }
}
