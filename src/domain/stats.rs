//! Delivery statistics: counters and a latency histogram per endpoint and
//! time bucket, and the figures derived from them.
//!
//! Definitions (the README repeats them):
//! - a delivery counts once, when it ends: `delivered` if an attempt got a
//!   2xx (whatever attempt it was), `given_up` if it failed for good;
//! - `attempts` counts every HTTP attempt; `retries` those after the first;
//! - response time is measured on attempts that got an HTTP response.

use serde::{Deserialize, Serialize};

use super::delivery::{Attempt, DeliveryState, Verdict};
use super::time::Timestamp;

/// Upper bounds (ms, inclusive) of the latency histogram buckets; a last,
/// open bucket holds everything slower.
pub const BUCKETS_MS: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000,
];

/// The time buckets statistics are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// One row per endpoint per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day (UTC).
    Day,
}

impl Grain {
    /// The bucket length, ms.
    pub fn ms(self) -> i64 {
        match self {
            Grain::Minute => 60_000,
            Grain::Hour => 3_600_000,
            Grain::Day => 86_400_000,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn floor(self, t: Timestamp) -> Timestamp {
        Timestamp::from_millis(t.as_millis().div_euclid(self.ms()) * self.ms())
    }
}

impl Grain {
    /// Every grain, finest first: an attempt is counted into one row of each.
    pub const ALL: [Grain; 3] = [Grain::Minute, Grain::Hour, Grain::Day];
}

/// Counters for one endpoint over one time bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// HTTP attempts.
    pub attempts: u64,
    /// Attempts answered 2xx.
    pub successes: u64,
    /// Attempts after a delivery's first.
    pub retries: u64,
    /// Failed attempts by kind: `status_3xx`, `status_4xx`, `status_429`,
    /// `status_5xx`, or the transport error kind (`timeout`, `connect`, …).
    pub failures_by_kind: Vec<(String, u64)>,
    /// Deliveries that ended succeeded.
    pub delivered: u64,
    /// Deliveries that ended failed.
    pub given_up: u64,
    /// Attempts that got an HTTP response.
    pub responses: u64,
    /// Sum of their latencies, ms.
    pub latency_sum_ms: u64,
    /// Their latencies by [`BUCKETS_MS`], plus one open bucket.
    pub histogram: [u64; 13],
}

impl Stats {
    /// The counters one recorded attempt contributes; `state` is the
    /// delivery's state after it.
    pub fn of_attempt(a: &Attempt, state: DeliveryState) -> Self {
        Self::delta_of(a, state)
    }

    /// The rows an attempt counts into, one per grain, as (grain, bucket
    /// start), with the delta each gets ([`Stats::of_attempt`]): counted as
    /// it happens into the minute, hour and day rows, any window is then a
    /// sum of a few hundred rows.
    pub fn rows_of_attempt(a: &Attempt, state: DeliveryState) -> (Stats, [(Grain, Timestamp); 3]) {
        let at = a.started_at;
        (
            Self::delta_of(a, state),
            Grain::ALL.map(|g| (g, g.floor(at))),
        )
    }

    fn delta_of(a: &Attempt, state: DeliveryState) -> Self {
        let mut s = Stats {
            attempts: 1,
            retries: u64::from(a.number > 1),
            ..Stats::default()
        };
        if a.verdict == Verdict::Success {
            s.successes = 1;
        } else {
            s.add_failure(&failure_kind(a), 1);
        }
        match state {
            DeliveryState::Succeeded => s.delivered = 1,
            DeliveryState::Failed => s.given_up = 1,
            DeliveryState::Pending => {}
        }
        if a.status.is_some() {
            s.responses = 1;
            s.latency_sum_ms = u64::from(a.latency_ms);
            s.histogram[bucket_of(u64::from(a.latency_ms))] = 1;
        }
        s
    }

    fn add_failure(&mut self, kind: &str, n: u64) {
        match self.failures_by_kind.iter_mut().find(|(k, _)| k == kind) {
            Some((_, c)) => *c += n,
            None => self.failures_by_kind.push((kind.to_string(), n)),
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        self.attempts += other.attempts;
        self.successes += other.successes;
        self.retries += other.retries;
        for (k, n) in &other.failures_by_kind {
            self.add_failure(k, *n);
        }
        self.delivered += other.delivered;
        self.given_up += other.given_up;
        self.responses += other.responses;
        self.latency_sum_ms += other.latency_sum_ms;
        for (a, b) in self.histogram.iter_mut().zip(other.histogram.iter()) {
            *a += b;
        }
    }

    /// Failed attempts.
    pub fn failures(&self) -> u64 {
        self.attempts - self.successes
    }

    /// Failed attempts of one kind.
    pub fn failures_of(&self, kind: &str) -> u64 {
        self.failures_by_kind
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Deliveries that ended.
    pub fn total_deliveries(&self) -> u64 {
        self.delivered + self.given_up
    }

    /// delivered / ended; `None` when nothing ended.
    pub fn success_rate(&self) -> Option<f64> {
        ratio(self.delivered, self.total_deliveries())
    }

    /// retries / attempts; 0 with no attempts.
    pub fn retry_rate(&self) -> f64 {
        ratio(self.retries, self.attempts).unwrap_or(0.0)
    }

    /// Failed attempts / attempts; 0 with no attempts.
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures(), self.attempts).unwrap_or(0.0)
    }

    /// Mean response time, ms; `None` without responses.
    pub fn average_response_ms(&self) -> Option<f64> {
        ratio(self.latency_sum_ms, self.responses)
    }

    /// The `q` quantile (0–1) of response times, as the upper bound of the
    /// histogram bucket it falls in (ms); the open last bucket reports its
    /// lower bound. `None` without responses.
    pub fn quantile_ms(&self, q: f64) -> Option<u64> {
        if self.responses == 0 {
            return None;
        }
        let rank = ((q * self.responses as f64).ceil() as u64).clamp(1, self.responses);
        let mut seen = 0;
        for (i, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(BUCKETS_MS.get(i).copied().unwrap_or(BUCKETS_MS[11]));
            }
        }
        Some(BUCKETS_MS[11])
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The histogram bucket for a latency.
pub fn bucket_of(ms: u64) -> usize {
    BUCKETS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS_MS.len())
}

/// How an attempt failed, for `failures_by_kind`.
pub fn failure_kind(a: &Attempt) -> String {
    match (a.status, &a.error_kind) {
        (Some(429), _) => "status_429".into(),
        (Some(s), _) => format!("status_{}xx", s / 100),
        (None, Some(k)) => k.clone(),
        (None, None) => "other".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AttemptId, DeliveryId};
    use crate::domain::time::Timestamp;

    fn attempt(number: u32, status: Option<u16>, latency: u32, verdict: Verdict) -> Attempt {
        let t = Timestamp::from_millis(0);
        Attempt {
            id: AttemptId::new(t),
            delivery_id: DeliveryId::new(t),
            number,
            started_at: t,
            url: String::new(),
            request_headers: vec![],
            status,
            response_headers: vec![],
            response_body: vec![],
            response_truncated: false,
            latency_ms: latency,
            error_kind: status.is_none().then(|| "timeout".to_string()),
            error_message: None,
            verdict,
            next_attempt_at: None,
        }
    }

    #[test]
    fn a_delivery_that_succeeds_on_its_third_attempt_is_a_success() {
        let mut s = Stats::default();
        s.merge(&Stats::of_attempt(
            &attempt(1, Some(500), 40, Verdict::Retry),
            DeliveryState::Pending,
        ));
        s.merge(&Stats::of_attempt(
            &attempt(2, None, 15_000, Verdict::Retry),
            DeliveryState::Pending,
        ));
        s.merge(&Stats::of_attempt(
            &attempt(3, Some(200), 20, Verdict::Success),
            DeliveryState::Succeeded,
        ));
        assert_eq!((s.attempts, s.successes, s.retries), (3, 1, 2));
        assert_eq!((s.delivered, s.given_up, s.total_deliveries()), (1, 0, 1));
        assert_eq!(s.success_rate(), Some(1.0));
        assert!((s.retry_rate() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.failures_of("status_5xx"), 1);
        assert_eq!(s.failures_of("timeout"), 1);
        // Response time counts responses only: (40 + 20) / 2.
        assert_eq!(s.average_response_ms(), Some(30.0));
        assert_eq!(s.quantile_ms(0.5), Some(25));
        assert_eq!(s.quantile_ms(0.99), Some(50));
    }

    #[test]
    fn quantiles_and_empty_stats() {
        let s = Stats::default();
        assert_eq!(s.quantile_ms(0.95), None);
        assert_eq!(s.success_rate(), None);
        assert_eq!(s.retry_rate(), 0.0);
        let mut h = Stats::default();
        for ms in [1, 2, 3, 4, 5, 6, 7, 8, 9, 100_000] {
            h.merge(&Stats::of_attempt(
                &attempt(1, Some(200), ms, Verdict::Success),
                DeliveryState::Succeeded,
            ));
        }
        assert_eq!(h.quantile_ms(0.5), Some(5));
        assert_eq!(h.quantile_ms(0.9), Some(10));
        assert_eq!(
            h.quantile_ms(1.0),
            Some(30_000),
            "the open bucket reports its lower bound"
        );
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(5), 0);
        assert_eq!(bucket_of(6), 1);
        assert_eq!(bucket_of(30_001), 12);
    }
}
