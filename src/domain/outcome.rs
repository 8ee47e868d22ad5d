//! What one delivery attempt leads to: the whole decision, as one pure
//! function of the answer, the attempt number, the schedule and the time.
//!
//! The contract (the seed's status rules, see [`super::retry`]):
//!
//! | answer                                   | verdict   | next attempt                     |
//! |------------------------------------------|-----------|----------------------------------|
//! | 2xx                                      | success   | none (delivered)                 |
//! | 3xx (redirects are never followed)       | retry     | the schedule's next step         |
//! | 4xx, 408 included                        | permanent | none (failed)                    |
//! | 410 Gone                                 | permanent | none, and the endpoint is disabled |
//! | 429                                      | retry     | `Retry-After` (1 s – 24 h) or the next step |
//! | 5xx (a `Retry-After` is ignored)         | retry     | the schedule's next step         |
//! | no answer: timeout, connect, DNS, TLS, refused address, … | retry | the schedule's next step |
//!
//! A retry after the schedule's last step is a failure for good: the
//! delivery ends `failed` with the verdict `retry` recorded on its attempt.
//!
//! A receiver may also steer Herald with the [`CONTROL_HEADER`] response
//! header (comma-separated, case-insensitive tokens; others are ignored):
//! `stop-retrying` makes a failed answer final (`permanent`, the delivery
//! ends `failed`; a 2xx is unaffected), `disable-endpoint` disables the
//! endpoint (its pending deliveries wait until it is enabled again).

use std::fmt;
use std::time::Duration;

use super::delivery::{Delivery, DeliveryState, Verdict};
use super::health::Health;
use super::retry;
use super::time::Timestamp;

/// What came back from one attempt, as far as the rules care.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The HTTP status, if a status line arrived. It counts even if
    /// reading the body then failed: the receiver has answered.
    pub status: Option<u16>,
    /// The transport error's kind (`timeout`, `connect`, `dns`, `tls`,
    /// `blocked_address`, …) when the attempt failed.
    pub error_kind: Option<&'a str>,
    /// The raw `Retry-After` response header, if there was one.
    pub retry_after: Option<&'a str>,
    /// The raw [`CONTROL_HEADER`] response header, if there was one.
    pub control: Option<&'a str>,
}

/// The response header a receiver steers Herald with (see the module doc).
pub const CONTROL_HEADER: &str = "Herald-Control";

/// What a [`CONTROL_HEADER`] value asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// `stop-retrying`: no further attempt of this delivery.
    pub stop_retrying: bool,
    /// `disable-endpoint`: turn the endpoint off.
    pub disable_endpoint: bool,
}

impl Control {
    /// Reads a header value (bounded: at most the first 16 tokens count).
    pub fn parse(value: Option<&str>) -> Self {
        let mut c = Control::default();
        for token in value.unwrap_or_default().split(',').take(16) {
            match token.trim().to_ascii_lowercase().as_str() {
                "stop-retrying" => c.stop_retrying = true,
                "disable-endpoint" => c.disable_endpoint = true,
                _ => {}
            }
        }
        c
    }
}

/// Why Herald turned an endpoint off by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// The receiver answered 410 Gone (Standard Webhooks: "stop sending").
    Gone {
        /// When it answered.
        at: Timestamp,
    },
    /// The receiver asked for it ([`CONTROL_HEADER`]: `disable-endpoint`).
    Requested {
        /// When it answered.
        at: Timestamp,
    },
    /// Every attempt has failed since `since`, for longer than allowed.
    FailingSince {
        /// When the run of failures began.
        since: Timestamp,
    },
}

impl fmt::Display for DisableReason {
    /// The text stored as the endpoint's `disabled_reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisableReason::Gone { at } => write!(
                f,
                "the receiver answered 410 Gone at {}",
                at.to_rfc3339_secs()
            ),
            DisableReason::Requested { at } => write!(
                f,
                "the receiver asked for it ({CONTROL_HEADER}: disable-endpoint) at {}",
                at.to_rfc3339_secs()
            ),
            DisableReason::FailingSince { since } => write!(
                f,
                "failing continuously since {} with no success",
                since.to_rfc3339_secs()
            ),
        }
    }
}

/// How an attempt changes its endpoint's health (see [`Health::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    /// Whether the attempt succeeded (a success ends a run of failures).
    pub success: bool,
    /// When the attempt ended.
    pub at: Timestamp,
}

/// Everything one attempt decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Success, retry or permanent, as recorded on the attempt.
    pub verdict: Verdict,
    /// When the next attempt is due; `None` ends the delivery.
    pub next_attempt_at: Option<Timestamp>,
    /// Where the delivery stands after this attempt.
    ///
    /// **Invariant:** `Pending` exactly when `next_attempt_at` is `Some`.
    pub state: DeliveryState,
    /// Set when this answer means the endpoint must be disabled.
    pub disable: Option<DisableReason>,
    /// The health change to fold into the endpoint's health.
    pub health: HealthChange,
}

/// Decides attempt number `attempt` (1-based) of a delivery that got
/// `answer` at `now`, with `schedule` the delays after the first attempt
/// (the seed: 5 m, 30 m, 2 h, 12 h, 24 h).
pub fn outcome(
    answer: &Answer<'_>,
    attempt: u32,
    schedule: &[Duration],
    now: Timestamp,
) -> Outcome {
    let control = Control::parse(answer.control);
    let verdict = match retry::verdict_for(answer.status) {
        Verdict::Retry if control.stop_retrying => Verdict::Permanent,
        v => v,
    };
    let next_attempt_at = match verdict {
        Verdict::Retry => {
            // Only a 429 asks for a pace; elsewhere the schedule decides.
            let retry_after = match (answer.status, answer.retry_after) {
                (Some(429), Some(v)) => retry::parse_retry_after(v, now),
                _ => None,
            };
            retry::next_due(schedule, attempt, now, retry_after)
        }
        Verdict::Success | Verdict::Permanent => None,
    };
    let state = match (verdict, next_attempt_at) {
        (Verdict::Success, _) => DeliveryState::Succeeded,
        (_, Some(_)) => DeliveryState::Pending,
        (_, None) => DeliveryState::Failed,
    };
    Outcome {
        verdict,
        next_attempt_at,
        state,
        disable: if answer.status == Some(410) {
            Some(DisableReason::Gone { at: now })
        } else if control.disable_endpoint {
            Some(DisableReason::Requested { at: now })
        } else {
            None
        },
        health: HealthChange {
            success: verdict == Verdict::Success,
            at: now,
        },
    }
}

impl Outcome {
    /// The delivery after attempt number `attempt` with this outcome.
    pub fn apply(&self, before: &Delivery, attempt: u32, answer: &Answer<'_>) -> Delivery {
        Delivery {
            state: self.state,
            attempts: attempt,
            next_attempt_at: self.next_attempt_at,
            last_status: answer.status,
            last_error: answer.error_kind.map(str::to_string),
            updated_at: self.health.at,
            ..before.clone()
        }
    }
}

/// Whether an endpoint whose health, after an attempt at `now`, is
/// `health` has failed continuously for `period_ms` or longer and must be
/// disabled; the reason if so.
///
/// A success clears `failing_since` (see [`Health::record`]), so this is
/// never true right after a successful attempt.
pub fn failing_too_long(health: &Health, period_ms: i64, now: Timestamp) -> Option<DisableReason> {
    let since = health.failing_since?;
    health
        .failing_for(period_ms, now)
        .then_some(DisableReason::FailingSince { since })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DeliveryId, EndpointId};
    use DeliveryState::{Failed, Pending, Succeeded};
    use Verdict::{Permanent, Retry, Success};

    const T0: i64 = 1_705_314_600_000; // 2024-01-15T10:30:00Z
    const MIN: i64 = 60_000;

    fn seed() -> Vec<Duration> {
        [300, 1800, 7200, 43_200, 86_400]
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect()
    }

    fn status(s: u16) -> Answer<'static> {
        Answer {
            status: Some(s),
            ..Answer::default()
        }
    }

    fn failed(kind: &'static str) -> Answer<'static> {
        Answer {
            error_kind: Some(kind),
            ..Answer::default()
        }
    }

    #[test]
    fn the_receiver_may_stop_retries_or_disable_its_endpoint() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        let with = |status: u16, control: &'static str| Answer {
            status: Some(status),
            control: Some(control),
            ..Answer::default()
        };
        let o = outcome(&with(503, "Stop-Retrying"), 1, &seed(), now);
        assert_eq!(
            (o.verdict, o.next_attempt_at, o.state, o.disable),
            (Verdict::Permanent, None, DeliveryState::Failed, None)
        );
        // A success stays one; disabling is honoured whatever the status.
        let o = outcome(&with(200, "junk, disable-endpoint"), 1, &seed(), now);
        assert_eq!(o.verdict, Verdict::Success);
        assert_eq!(o.disable, Some(DisableReason::Requested { at: now }));
        // Unknown tokens change nothing.
        let plain = outcome(&status(503), 1, &seed(), now);
        assert_eq!(outcome(&with(503, "pause"), 1, &seed(), now), plain);
        assert_eq!(Control::parse(None), Control::default());
    }

    fn limited(retry_after: &'static str) -> Answer<'static> {
        Answer {
            status: Some(429),
            retry_after: Some(retry_after),
            ..Answer::default()
        }
    }

    /// A case: its name, the answer, and the verdict, next due (ms), state
    /// and disable reason expected.
    type Row = (
        &'static str,
        Answer<'static>,
        Verdict,
        Option<i64>,
        DeliveryState,
        Option<DisableReason>,
    );

    /// Every status rule of the contract, on the first attempt at T0.
    #[test]
    fn the_status_rules() {
        let now = Timestamp::from_millis(T0);
        let five_min = Some(T0 + 5 * MIN);
        let gone = Some(DisableReason::Gone { at: now });
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("200",                  status(200), Success,   None,            Succeeded, None),
            ("201",                  status(201), Success,   None,            Succeeded, None),
            ("204",                  status(204), Success,   None,            Succeeded, None),
            ("299",                  status(299), Success,   None,            Succeeded, None),
            ("2xx with a body error", Answer { status: Some(200), error_kind: Some("timeout"), retry_after: None, control: None },
                                                  Success,   None,            Succeeded, None),
            ("301 not followed",     status(301), Retry,     five_min,        Pending,   None),
            ("302 not followed",     status(302), Retry,     five_min,        Pending,   None),
            ("307 not followed",     status(307), Retry,     five_min,        Pending,   None),
            ("308 not followed",     status(308), Retry,     five_min,        Pending,   None),
            ("400",                  status(400), Permanent, None,            Failed,    None),
            ("401",                  status(401), Permanent, None,            Failed,    None),
            ("403",                  status(403), Permanent, None,            Failed,    None),
            ("404",                  status(404), Permanent, None,            Failed,    None),
            ("408 is a 4xx",         status(408), Permanent, None,            Failed,    None),
            ("410 disables",         status(410), Permanent, None,            Failed,    gone),
            ("422",                  status(422), Permanent, None,            Failed,    None),
            ("429 no Retry-After",   status(429), Retry,     five_min,        Pending,   None),
            ("429 Retry-After 120",  limited("120"), Retry,  Some(T0 + 2 * MIN), Pending, None),
            ("429 Retry-After 0 → 1 s", limited("0"), Retry, Some(T0 + 1_000), Pending,  None),
            ("429 Retry-After huge → 24 h", limited("999999"), Retry, Some(T0 + 24 * 60 * MIN), Pending, None),
            ("429 Retry-After date", limited("Mon, 15 Jan 2024 10:32:00 GMT"), Retry, Some(T0 + 2 * MIN), Pending, None),
            ("429 Retry-After past date → 1 s", limited("Mon, 15 Jan 2024 10:00:00 GMT"), Retry, Some(T0 + 1_000), Pending, None),
            ("429 Retry-After junk", limited("soon"), Retry, five_min,        Pending,   None),
            ("499",                  status(499), Permanent, None,            Failed,    None),
            ("500",                  status(500), Retry,     five_min,        Pending,   None),
            ("502",                  status(502), Retry,     five_min,        Pending,   None),
            ("503 ignores Retry-After", Answer { status: Some(503), error_kind: None, retry_after: Some("120"), control: None },
                                                  Retry,     five_min,        Pending,   None),
            ("504",                  status(504), Retry,     five_min,        Pending,   None),
            ("599",                  status(599), Retry,     five_min,        Pending,   None),
            ("timeout",              failed("timeout"), Retry, five_min,      Pending,   None),
            ("connect",              failed("connect"), Retry, five_min,      Pending,   None),
            ("dns",                  failed("dns"), Retry,   five_min,        Pending,   None),
            ("tls",                  failed("tls"), Retry,   five_min,        Pending,   None),
            ("blocked_address",      failed("blocked_address"), Retry, five_min, Pending, None),
            ("protocol",             failed("protocol"), Retry, five_min,     Pending,   None),
        ];
        for (name, answer, verdict, next, state, disable) in table {
            let o = outcome(&answer, 1, &seed(), now);
            assert_eq!(o.verdict, verdict, "{name}: verdict");
            assert_eq!(
                o.next_attempt_at.map(|t| t.as_millis()),
                next,
                "{name}: next"
            );
            assert_eq!(o.state, state, "{name}: state");
            assert_eq!(o.disable, disable, "{name}: disable");
            assert_eq!(
                o.health,
                HealthChange {
                    success: verdict == Success,
                    at: now
                },
                "{name}: health"
            );
        }
    }

    /// The immediate attempt, then 5 m, 30 m, 2 h, 12 h and 24 h after
    /// the previous one; the sixth attempt's retryable failure is final.
    #[test]
    fn the_schedule_then_failed_for_good() {
        let mut now = Timestamp::from_millis(T0);
        let mut offsets_s = vec![0];
        for attempt in 1..=6 {
            let o = outcome(&status(503), attempt, &seed(), now);
            assert_eq!(o.verdict, Retry, "attempt {attempt}");
            match o.next_attempt_at {
                Some(next) => {
                    assert!(attempt < 6);
                    assert_eq!(o.state, Pending);
                    now = next;
                    offsets_s.push((next.as_millis() - T0) / 1000);
                }
                None => {
                    assert_eq!(attempt, 6, "only the last attempt ends it");
                    assert_eq!(o.state, Failed);
                }
            }
        }
        assert_eq!(offsets_s, vec![0, 300, 2100, 9300, 52_500, 138_900]);
        // A 429 on the last attempt fails too, whatever its Retry-After.
        let o = outcome(&limited("1"), 6, &seed(), now);
        assert_eq!(
            (o.verdict, o.next_attempt_at, o.state),
            (Retry, None, Failed)
        );
        // A success on the last attempt still succeeds.
        assert_eq!(outcome(&status(200), 6, &seed(), now).state, Succeeded);
        // No schedule: the first retryable failure is final.
        assert_eq!(outcome(&status(500), 1, &[], now).state, Failed);
    }

    #[test]
    fn the_delivery_after_an_attempt() {
        let t0 = Timestamp::from_millis(T0);
        let before = Delivery {
            id: DeliveryId::new(t0),
            event_key: 7,
            event_id: "evt_1".into(),
            event_type: "order.created".into(),
            endpoint_id: EndpointId::new(t0),
            tenant_id: "company_xyz".into(),
            state: Pending,
            attempts: 1,
            next_attempt_at: Some(t0),
            held: false,
            last_status: Some(500),
            last_error: None,
            created_at: t0,
            updated_at: t0,
        };
        let now = t0.plus_millis(5 * MIN);
        let answer = failed("timeout");
        let o = outcome(&answer, 2, &seed(), now);
        let after = o.apply(&before, 2, &answer);
        assert_eq!(
            after,
            Delivery {
                attempts: 2,
                next_attempt_at: Some(now.plus_millis(30 * MIN)),
                last_status: None,
                last_error: Some("timeout".into()),
                updated_at: now,
                ..before.clone()
            }
        );
        let answer = status(204);
        let done = outcome(&answer, 3, &seed(), now).apply(&after, 3, &answer);
        assert_eq!(
            (
                done.state,
                done.next_attempt_at,
                done.last_status,
                done.last_error
            ),
            (Succeeded, None, Some(204), None)
        );
    }

    #[test]
    fn disable_reasons_read_as_before() {
        let at = Timestamp::from_millis(T0);
        assert_eq!(
            DisableReason::Gone { at }.to_string(),
            "the receiver answered 410 Gone at 2024-01-15T10:30:00Z"
        );
        assert_eq!(
            DisableReason::FailingSince { since: at }.to_string(),
            "failing continuously since 2024-01-15T10:30:00Z with no success"
        );
    }

    #[test]
    fn failing_too_long_needs_the_whole_period_without_a_success() {
        let t = |min: i64| Timestamp::from_millis(T0 + min * MIN);
        let period = 60 * MIN;
        let mut h = Health::default();
        assert_eq!(failing_too_long(&h, period, t(0)), None, "never attempted");
        h.record(false, t(0));
        assert_eq!(failing_too_long(&h, period, t(0)), None);
        h.record(false, t(59));
        assert_eq!(failing_too_long(&h, period, t(59)), None, "not yet");
        h.record(false, t(60));
        assert_eq!(
            failing_too_long(&h, period, t(60)),
            Some(DisableReason::FailingSince { since: t(0) }),
            "exactly the period"
        );
        h.record(true, t(61));
        assert_eq!(
            failing_too_long(&h, period, t(61)),
            None,
            "a success resets"
        );
        h.record(false, t(62));
        assert_eq!(failing_too_long(&h, period, t(121)), None);
        assert_eq!(
            failing_too_long(&h, period, t(122)),
            Some(DisableReason::FailingSince { since: t(62) })
        );
    }
}
