//! Endpoint health: consecutive failures and the last success.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// How an endpoint has been answering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When an attempt last succeeded.
    pub last_success_at: Option<Timestamp>,
    /// When the current run of failures began (None while healthy).
    pub failing_since: Option<Timestamp>,
    /// When the last attempt ended.
    pub last_attempt_at: Option<Timestamp>,
}

impl Health {
    /// Folds in one attempt's outcome.
    pub fn record(&mut self, success: bool, at: Timestamp) {
        self.last_attempt_at = Some(at);
        if success {
            self.consecutive_failures = 0;
            self.last_success_at = Some(at);
            self.failing_since = None;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.failing_since.get_or_insert(at);
        }
    }

    /// Whether the endpoint has failed continuously for at least
    /// `period_ms` with no success in between.
    pub fn failing_for(&self, period_ms: i64, now: Timestamp) -> bool {
        self.failing_since
            .is_some_and(|since| now.as_millis() - since.as_millis() >= period_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_resets_the_run() {
        let mut h = Health::default();
        let t = |s: i64| Timestamp::from_millis(s * 1000);
        h.record(false, t(10));
        h.record(false, t(20));
        assert_eq!(h.consecutive_failures, 2);
        assert_eq!(h.failing_since, Some(t(10)));
        assert!(h.failing_for(10_000, t(20)));
        assert!(!h.failing_for(10_001, t(20)));
        h.record(true, t(30));
        assert_eq!(h.consecutive_failures, 0);
        assert_eq!(h.failing_since, None);
        assert_eq!(h.last_success_at, Some(t(30)));
        assert!(!h.failing_for(0, t(40)));
    }
}
