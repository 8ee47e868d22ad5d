//! An endpoint's rate limit: sends spaced evenly, pure, on the caller's
//! clock.
//!
//! A limit of `r` deliveries per second lets one send go every `1/r`
//! second (rounded up to the microsecond), with no burst: so any window of
//! one second (half-open) holds at most `r` sends, which is what an
//! operator reading "5 per second" expects of a receiver's load. The
//! state is one number per endpoint, the *theoretical arrival time*: the
//! earliest moment the next send may go, in unix microseconds (GCRA with
//! a bucket of one).

use super::time::Timestamp;

/// What the limit says about a send at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// It may go; the endpoint's state becomes this (unix µs).
    Go(i64),
    /// Not before this moment (ms, rounded up); the state is unchanged.
    Wait(Timestamp),
}

/// The spacing between sends under `per_second`, µs (at least 1).
pub fn interval_us(per_second: u32) -> i64 {
    let r = i64::from(per_second.max(1));
    (1_000_000 + r - 1) / r
}

/// Decides a send at `now` under `per_second`, from the endpoint's state
/// `next_us` (0: it never sent under a limit).
pub fn pace(next_us: i64, now: Timestamp, per_second: u32) -> Pace {
    let now_us = now.as_millis().saturating_mul(1000);
    if now_us < next_us {
        return Pace::Wait(Timestamp::from_millis((next_us + 999) / 1000));
    }
    Pace::Go(now_us.saturating_add(interval_us(per_second)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_705_314_600_000 + ms)
    }

    /// Sends as often as allowed from `from` for `ms`: their times.
    fn greedy(per_second: u32, ms: i64) -> Vec<i64> {
        let mut state = 0;
        let mut sent = Vec::new();
        for t in 0..ms {
            if let Pace::Go(next) = pace(state, at(t), per_second) {
                state = next;
                sent.push(t);
            }
        }
        sent
    }

    #[test]
    fn any_second_holds_at_most_the_limit_and_the_limit_is_reached() {
        for r in [1, 3, 5, 7, 250, 1000] {
            let sent = greedy(r, 5_000);
            for (i, t) in sent.iter().enumerate() {
                let in_window = sent[i..].iter().take_while(|u| **u < t + 1000).count();
                assert!(in_window <= r as usize, "rate {r}: {in_window} from {t}");
            }
            // Over five seconds nearly five seconds' worth went.
            assert!(sent.len() as u32 >= 5 * r - 1, "rate {r}: {}", sent.len());
        }
    }

    #[test]
    fn a_send_too_soon_waits_until_the_slot_and_changes_nothing() {
        let Pace::Go(next) = pace(0, at(0), 5) else {
            panic!("first goes")
        };
        assert_eq!(next, at(200).as_millis() * 1000);
        assert_eq!(pace(next, at(150), 5), Pace::Wait(at(200)));
        assert!(matches!(pace(next, at(200), 5), Pace::Go(_)));
        // A third of a second rounds up: the fourth send is past 1 s.
        assert_eq!(interval_us(3), 333_334);
        assert_eq!(interval_us(0), 1_000_000, "never divides by zero");
    }
}
