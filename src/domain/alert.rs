//! Alerts from the seed's "Monitoring Webhooks" section: rules, and a
//! state machine per rule and endpoint with hysteresis, so a flapping
//! endpoint does not page anyone on every attempt.

use serde::{Deserialize, Serialize};

use super::health::Health;
use super::ids::EndpointId;
use super::stats::Stats;
use super::time::Timestamp;

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rule {
    /// Failed attempts / attempts over the window above the threshold.
    FailureRate,
    /// p95 response time over the window above the threshold, or timeouts.
    SlowResponses,
    /// N consecutive failed attempts.
    EndpointDown,
    /// Herald disabled the endpoint (410 Gone, or failing too long).
    EndpointDisabled,
    /// About Herald itself, not an endpoint: the data directory's disk is
    /// below its reserve, or the store cannot write. Its alerts carry
    /// [`HERALD_ITSELF`] as their endpoint.
    Storage,
    /// About Herald itself: the last scheduled backup failed.
    Backup,
}

/// The endpoint id of alerts about Herald itself ([`Rule::Storage`],
/// [`Rule::Backup`]): no
/// endpoint has it (ids are ULIDs, never zero).
pub const HERALD_ITSELF: EndpointId = EndpointId::from_u128(0);

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 6] = [
        Rule::FailureRate,
        Rule::SlowResponses,
        Rule::EndpointDown,
        Rule::EndpointDisabled,
        Rule::Storage,
        Rule::Backup,
    ];

    /// Whether the rule is about Herald itself rather than an endpoint.
    pub fn about_herald(self) -> bool {
        matches!(self, Rule::Storage | Rule::Backup)
    }

    /// `failure_rate`, `slow_responses`, `endpoint_down`, `endpoint_disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FailureRate => "failure_rate",
            Rule::SlowResponses => "slow_responses",
            Rule::EndpointDown => "endpoint_down",
            Rule::EndpointDisabled => "endpoint_disabled",
            Rule::Storage => "storage",
            Rule::Backup => "backup",
        }
    }

    /// One byte for storage keys.
    pub fn code(self) -> u8 {
        match self {
            Rule::FailureRate => 1,
            Rule::SlowResponses => 2,
            Rule::EndpointDown => 3,
            Rule::EndpointDisabled => 4,
            Rule::Storage => 5,
            Rule::Backup => 6,
        }
    }
}

/// Thresholds (configurable; defaults from the seed).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Fire above this failure rate (0.05 = 5 %).
    pub failure_rate: f64,
    /// Resolve below this failure rate (hysteresis).
    pub failure_rate_resolve: f64,
    /// Attempts needed in the window before the rate means anything.
    pub min_sample: u64,
    /// Fire when p95 exceeds this, ms.
    pub slow_p95_ms: u64,
    /// Or when this many attempts timed out in the window.
    pub slow_timeouts: u64,
    /// Consecutive failures that mean "down".
    pub down_after: u32,
    /// The window the rate and latency rules look at, ms.
    pub window_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            failure_rate: 0.05,
            failure_rate_resolve: 0.025,
            min_sample: 20,
            slow_p95_ms: 5_000,
            slow_timeouts: 3,
            down_after: 5,
            window_ms: 15 * 60_000,
        }
    }
}

/// Where a rule stands for one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Nothing wrong (or resolved).
    Ok,
    /// The condition holds.
    Firing,
}

/// The stored state of one rule for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Which rule.
    pub rule: Rule,
    /// Which endpoint.
    pub endpoint_id: EndpointId,
    /// Its tenant.
    pub tenant_id: String,
    /// Firing or ok.
    pub state: State,
    /// When it entered this state.
    pub since: Timestamp,
    /// What the measurement said at the last transition.
    pub detail: String,
}

/// A stored state change: the alert history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The rule.
    pub rule: Rule,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Its tenant.
    pub tenant_id: String,
    /// The endpoint's URL at the time.
    pub url: String,
    /// The new state.
    pub to: State,
    /// When.
    pub at: Timestamp,
    /// What triggered it.
    pub detail: String,
}

/// What a rule sees of an endpoint.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Its health after the latest attempt.
    pub health: Health,
    /// Its statistics over the window.
    pub window: Option<Stats>,
    /// Whether it is disabled, and why (by Herald).
    pub disabled: Option<String>,
}

/// Evaluates `rule` for an endpoint now in state `current`: the new state
/// and a detail, if it changes. Each rule fires on one threshold and
/// resolves on a lower one, so a value hovering at the threshold flips
/// once, not on every evaluation.
pub fn evaluate(
    rule: Rule,
    current: State,
    o: &Observation,
    t: &Thresholds,
) -> Option<(State, String)> {
    let (fire, resolve, detail) = match rule {
        // Not about an endpoint: the disk guard decides (service::disk).
        Rule::Storage | Rule::Backup => return None,
        Rule::EndpointDown => {
            let n = o.health.consecutive_failures;
            (
                n >= t.down_after,
                n == 0,
                format!("{n} consecutive failed attempts"),
            )
        }
        Rule::EndpointDisabled => (
            o.disabled.is_some(),
            o.disabled.is_none(),
            o.disabled.clone().unwrap_or_else(|| "re-enabled".into()),
        ),
        Rule::FailureRate => {
            let w = o.window.as_ref()?;
            if w.attempts < t.min_sample {
                return None; // too little traffic to judge either way
            }
            let r = w.failure_rate();
            (
                r > t.failure_rate,
                r < t.failure_rate_resolve,
                format!("{:.1} % of {} attempts failed", r * 100.0, w.attempts),
            )
        }
        Rule::SlowResponses => {
            let w = o.window.as_ref()?;
            let p95 = w.quantile_ms(0.95).unwrap_or(0);
            let timeouts = w.failures_of("timeout");
            (
                p95 > t.slow_p95_ms || timeouts >= t.slow_timeouts,
                p95 <= t.slow_p95_ms / 2 && timeouts == 0,
                format!("p95 {p95} ms, {timeouts} timeouts"),
            )
        }
    };
    match current {
        State::Ok if fire => Some((State::Firing, detail)),
        State::Firing if resolve => Some((State::Ok, detail)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(failures: u32) -> Observation {
        Observation {
            health: Health {
                consecutive_failures: failures,
                ..Health::default()
            },
            ..Observation::default()
        }
    }

    #[test]
    fn endpoint_down_fires_at_five_and_resolves_on_success_only() {
        let t = Thresholds::default();
        let mut state = State::Ok;
        let mut changes = vec![];
        for n in [1, 2, 3, 4, 5, 6, 7, 0, 1, 0] {
            if let Some((s, _)) = evaluate(Rule::EndpointDown, state, &obs(n), &t) {
                changes.push((n, s));
                state = s;
            }
        }
        assert_eq!(changes, vec![(5, State::Firing), (0, State::Ok)]);
    }

    #[test]
    fn failure_rate_has_a_minimum_sample_and_hysteresis() {
        let t = Thresholds::default();
        let window = |attempts: u64, failed: u64| Observation {
            window: Some(Stats {
                attempts,
                successes: attempts - failed,
                ..Stats::default()
            }),
            ..Observation::default()
        };
        assert_eq!(
            evaluate(Rule::FailureRate, State::Ok, &window(10, 5), &t),
            None,
            "too few"
        );
        assert!(matches!(
            evaluate(Rule::FailureRate, State::Ok, &window(100, 6), &t),
            Some((State::Firing, _))
        ));
        // 4 % is under the firing threshold but over the resolve one: stays.
        assert_eq!(
            evaluate(Rule::FailureRate, State::Firing, &window(100, 4), &t),
            None
        );
        assert!(matches!(
            evaluate(Rule::FailureRate, State::Firing, &window(100, 2), &t),
            Some((State::Ok, _))
        ));
    }

    fn timed(latencies_ms: &[u64], timeouts: u64) -> Observation {
        let mut histogram = [0u64; 13];
        for ms in latencies_ms {
            histogram[super::super::stats::bucket_of(*ms)] += 1;
        }
        let responses = latencies_ms.len() as u64;
        Observation {
            window: Some(Stats {
                attempts: responses + timeouts,
                successes: responses,
                responses,
                histogram,
                failures_by_kind: if timeouts > 0 {
                    vec![("timeout".into(), timeouts)]
                } else {
                    vec![]
                },
                ..Stats::default()
            }),
            ..Observation::default()
        }
    }

    fn slow(current: State, o: &Observation, t: &Thresholds) -> Option<State> {
        evaluate(Rule::SlowResponses, current, o, t).map(|(s, _)| s)
    }

    #[test]
    fn slow_responses_fires_over_the_p95_threshold_and_resolves_under_half_of_it() {
        let t = Thresholds::default(); // 5 s, 3 timeouts
                                       // p95 of 20 answers is the 19th: 19 fast and 1 slow is still fast.
        let mostly_fast: Vec<u64> = [vec![40; 19], vec![9_000]].concat();
        assert_eq!(slow(State::Ok, &timed(&mostly_fast, 0), &t), None);
        let slow_tail: Vec<u64> = [vec![40; 18], vec![9_000; 2]].concat();
        assert_eq!(
            slow(State::Ok, &timed(&slow_tail, 0), &t),
            Some(State::Firing)
        );
        let (_, detail) =
            evaluate(Rule::SlowResponses, State::Ok, &timed(&slow_tail, 0), &t).expect("fires");
        assert_eq!(detail, "p95 10000 ms, 0 timeouts");
        // Firing: a p95 under the threshold but over half of it stays …
        assert_eq!(slow(State::Firing, &timed(&[4_000; 20], 0), &t), None);
        // … at or under half, with no timeout, resolves.
        assert_eq!(
            slow(State::Firing, &timed(&[2_500; 20], 0), &t),
            Some(State::Ok)
        );
        assert_eq!(slow(State::Firing, &timed(&[40; 20], 1), &t), None);
        // No window (never evaluated with statistics): no change either way.
        assert_eq!(slow(State::Ok, &Observation::default(), &t), None);
        assert_eq!(slow(State::Firing, &Observation::default(), &t), None);
        // An empty window (no answers) resolves: nothing is slow.
        assert_eq!(slow(State::Firing, &timed(&[], 0), &t), Some(State::Ok));
    }

    #[test]
    fn slow_responses_fires_on_n_timeouts_whatever_the_p95() {
        let t = Thresholds::default();
        assert_eq!(slow(State::Ok, &timed(&[40; 50], 2), &t), None);
        assert_eq!(
            slow(State::Ok, &timed(&[40; 50], 3), &t),
            Some(State::Firing)
        );
        assert_eq!(slow(State::Ok, &timed(&[], 3), &t), Some(State::Firing));
        let one = Thresholds {
            slow_timeouts: 1,
            ..Thresholds::default()
        };
        assert_eq!(
            slow(State::Ok, &timed(&[40; 50], 1), &one),
            Some(State::Firing)
        );
    }

    #[test]
    fn the_slow_threshold_is_what_alert_slow_sets() {
        // --alert-slow 300ms: a 500 ms bucket fires, 250 ms does not;
        // resolving needs the p95 at or under 150 ms.
        let t = Thresholds {
            slow_p95_ms: 300,
            ..Thresholds::default()
        };
        assert_eq!(slow(State::Ok, &timed(&[250; 20], 0), &t), None);
        assert_eq!(
            slow(State::Ok, &timed(&[400; 20], 0), &t),
            Some(State::Firing)
        );
        assert_eq!(slow(State::Firing, &timed(&[250; 20], 0), &t), None);
        assert_eq!(
            slow(State::Firing, &timed(&[100; 20], 0), &t),
            Some(State::Ok)
        );
        // The default threshold would not have fired on 400 ms.
        assert_eq!(
            slow(State::Ok, &timed(&[400; 20], 0), &Thresholds::default()),
            None
        );
    }

    #[test]
    fn down_after_sets_how_many_consecutive_failures_mean_down() {
        for down_after in [1, 3, 10] {
            let t = Thresholds {
                down_after,
                ..Thresholds::default()
            };
            let fires = |n| evaluate(Rule::EndpointDown, State::Ok, &obs(n), &t).map(|(s, _)| s);
            assert_eq!(fires(down_after - 1), None, "{down_after}");
            assert_eq!(fires(down_after), Some(State::Firing), "{down_after}");
            assert_eq!(fires(down_after + 1), Some(State::Firing), "{down_after}");
            // Resolving is one success, whatever the threshold.
            let still_failing = obs((down_after - 1).max(1));
            assert_eq!(
                evaluate(Rule::EndpointDown, State::Firing, &still_failing, &t),
                None
            );
            assert!(matches!(
                evaluate(Rule::EndpointDown, State::Firing, &obs(0), &t),
                Some((State::Ok, _))
            ));
        }
    }

    #[test]
    fn failure_rate_and_min_sample_follow_their_thresholds() {
        let window = |attempts: u64, failed: u64| Observation {
            window: Some(Stats {
                attempts,
                successes: attempts - failed,
                ..Stats::default()
            }),
            ..Observation::default()
        };
        // --alert-failure-rate 0.5 (resolve at 0.25), --alert-min-sample 4.
        let t = Thresholds {
            failure_rate: 0.5,
            failure_rate_resolve: 0.25,
            min_sample: 4,
            ..Thresholds::default()
        };
        let rate = |current, a, f| evaluate(Rule::FailureRate, current, &window(a, f), &t);
        assert_eq!(rate(State::Ok, 3, 3), None, "under the minimum sample");
        assert_eq!(rate(State::Ok, 4, 2), None, "0.5 is not over 0.5");
        assert!(matches!(rate(State::Ok, 4, 3), Some((State::Firing, _))));
        assert_eq!(
            rate(State::Ok, 100, 10),
            None,
            "10 % fires the default, not 0.5"
        );
        assert_eq!(rate(State::Firing, 100, 30), None, "between: stays");
        assert!(matches!(rate(State::Firing, 100, 20), Some((State::Ok, _))));
        assert_eq!(rate(State::Firing, 3, 0), None, "too few to resolve");
        let (_, detail) = rate(State::Ok, 4, 3).unwrap();
        assert_eq!(detail, "75.0 % of 4 attempts failed");
    }

    #[test]
    fn endpoint_disabled_and_storage_ignore_the_thresholds() {
        let t = Thresholds::default();
        let off = Observation {
            disabled: Some("the receiver answered 410 Gone".into()),
            ..Observation::default()
        };
        assert_eq!(
            evaluate(Rule::EndpointDisabled, State::Ok, &off, &t),
            Some((State::Firing, "the receiver answered 410 Gone".into()))
        );
        assert!(matches!(
            evaluate(Rule::EndpointDisabled, State::Firing, &obs(0), &t),
            Some((State::Ok, _))
        ));
        assert_eq!(evaluate(Rule::Storage, State::Ok, &off, &t), None);
    }
}
