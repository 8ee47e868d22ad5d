//! The retry policy: the seed's status-code rules and schedule, the parts
//! [`super::outcome::outcome`] combines into an attempt's whole decision.
//!
//! 2xx success; 3xx retried (redirects are never followed); 4xx permanent
//! except 429, retried honouring `Retry-After`; 5xx retried; no response
//! (timeout, connection, DNS, TLS) retried. After the last step of the
//! schedule the delivery fails for good. A refused address
//! (`blocked_address`) is retried too: the operator may allow the range, or
//! DNS may change, and the schedule bounds the cost.

use std::time::Duration;

use super::delivery::Verdict;
use super::time::Timestamp;

/// The shortest and longest `Retry-After` honoured.
pub const RETRY_AFTER_MIN_MS: i64 = 1_000;
/// See [`RETRY_AFTER_MIN_MS`].
pub const RETRY_AFTER_MAX_MS: i64 = 24 * 3_600_000;

/// The verdict for a response status (or none: a transport error).
pub fn verdict_for(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Success,
        Some(429) => Verdict::Retry,
        Some(400..=499) => Verdict::Permanent,
        // 1xx never reaches us as final; 3xx, 5xx and anything odd retry.
        Some(_) | None => Verdict::Retry,
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date, as milliseconds
/// from `now`, clamped to [1 s, 24 h]. `None` if absent or unparseable.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<i64> {
    let v = value.trim();
    let ms = if let Ok(secs) = v.parse::<u64>() {
        i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
        at_ms - now.as_millis()
    };
    Some(ms.clamp(RETRY_AFTER_MIN_MS, RETRY_AFTER_MAX_MS))
}

/// When attempt number `attempts + 1` is due after attempt `attempts`
/// (1-based) failed retryably; `None` when the schedule is exhausted.
pub fn next_due(
    schedule: &[Duration],
    attempts: u32,
    now: Timestamp,
    retry_after_ms: Option<i64>,
) -> Option<Timestamp> {
    let step = schedule.get(attempts.checked_sub(1)? as usize)?;
    let delay = retry_after_ms.unwrap_or(step.as_millis() as i64);
    Some(now.plus_millis(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Vec<Duration> {
        [300, 1800, 7200, 43_200, 86_400]
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect()
    }

    #[test]
    fn status_rules_from_the_seed() {
        assert_eq!(verdict_for(Some(200)), Verdict::Success);
        assert_eq!(verdict_for(Some(204)), Verdict::Success);
        assert_eq!(verdict_for(Some(301)), Verdict::Retry);
        assert_eq!(verdict_for(Some(302)), Verdict::Retry);
        assert_eq!(verdict_for(Some(400)), Verdict::Permanent);
        assert_eq!(verdict_for(Some(401)), Verdict::Permanent);
        assert_eq!(verdict_for(Some(404)), Verdict::Permanent);
        assert_eq!(verdict_for(Some(410)), Verdict::Permanent);
        assert_eq!(verdict_for(Some(429)), Verdict::Retry);
        assert_eq!(verdict_for(Some(500)), Verdict::Retry);
        assert_eq!(verdict_for(Some(503)), Verdict::Retry);
        assert_eq!(verdict_for(None), Verdict::Retry);
    }

    #[test]
    fn six_attempts_at_the_seed_offsets() {
        let t0 = Timestamp::from_millis(0);
        let mut now = t0;
        let mut offsets = vec![0];
        for attempt in 1.. {
            match next_due(&seed(), attempt, now, None) {
                Some(t) => {
                    now = t;
                    offsets.push(t.as_millis() / 1000);
                }
                None => break,
            }
        }
        assert_eq!(offsets, vec![0, 300, 2100, 9300, 52_500, 138_900]);
    }

    #[test]
    fn retry_after_seconds_and_dates_are_clamped() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(parse_retry_after("0", now), Some(1_000));
        assert_eq!(parse_retry_after("999999", now), Some(RETRY_AFTER_MAX_MS));
        assert_eq!(
            parse_retry_after("Mon, 15 Jan 2024 10:32:00 GMT", now),
            Some(120_000)
        );
        assert_eq!(
            parse_retry_after("Mon, 15 Jan 2024 10:00:00 GMT", now),
            Some(1_000)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            next_due(&seed(), 1, now, Some(120_000)),
            Some(now.plus_millis(120_000))
        );
        assert_eq!(next_due(&seed(), 6, now, Some(120_000)), None);
    }
}
