//! Stream endpoints: the rules of handing deliveries to a polling client
//! (`herald listen`) instead of POSTing them to a URL.
//!
//! The store is the queue, as for every endpoint: a poll takes the
//! endpoint's due deliveries and moves their due time to the end of an
//! acknowledgement window, marked as offered ([`AWAITING_ACK`]). An
//! acknowledgement is an attempt, judged by [`super::outcome`] like any
//! answer. One that never comes (the client died, its local receiver
//! hung) is, once the window has passed, recorded by the next poll on
//! whichever node as a failed attempt ([`UNACKNOWLEDGED`], like a
//! timeout), so the retry schedule runs as for a URL endpoint and the
//! delivery fails once it is exhausted. While no client polls at all,
//! nothing is counted: the deliveries wait for one.

use std::time::Duration;

use super::ids::EndpointId;
use super::time::Timestamp;

/// The longest a poll may wait for a delivery, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;
/// How often a waiting poll looks at the store again, in milliseconds
/// (another node's fan-out or a retry coming due is seen this late).
pub const LOOK_EVERY_MS: u64 = 250;
/// The most deliveries one poll hands out.
pub const MAX_OFFER: usize = 20;
/// The shortest acknowledgement window: a local receiver gets at least
/// this long before its delivery is offered again.
pub const MIN_ACK_WINDOW_MS: i64 = 5_000;
/// The longest acknowledgement window.
pub const MAX_ACK_WINDOW_MS: i64 = 5 * 60 * 1000;
/// A stream's last poll is written at most this often, so a client that
/// polls in a loop costs at most one endpoint write per period.
pub const SEEN_EVERY_MS: i64 = 5_000;
/// A stream counts as connected while its last poll is this recent: a
/// poll may hold for [`MAX_WAIT_SECS`], and its write may have been
/// skipped for [`SEEN_EVERY_MS`].
pub const CONNECTED_WITHIN_MS: i64 = MAX_WAIT_SECS as i64 * 1000 + SEEN_EVERY_MS + 5_000;
/// The longest local latency an acknowledgement may report.
pub const MAX_LATENCY_MS: u32 = 10 * 60 * 1000;
/// The longest error kind an acknowledgement may carry.
pub const MAX_ERROR_LEN: usize = 40;

/// A stream delivery's `last_error` while it is offered and its
/// acknowledgement awaited. Only a poll's offer writes it (an
/// acknowledgement or a missed one replaces it), so a ready delivery that
/// still carries it is one whose window passed without an answer.
pub const AWAITING_ACK: &str = "offered to the stream client; awaiting its acknowledgement";

/// The error kind of the attempt recorded for a missed acknowledgement.
pub const UNACKNOWLEDGED: &str = "unacknowledged";

/// Whether `last_error` says the delivery was offered and not answered:
/// ready again (due or parked), it is a missed acknowledgement.
pub fn offer_unanswered(last_error: Option<&str>) -> bool {
    last_error == Some(AWAITING_ACK)
}

/// The URL a stream endpoint stores: unique per endpoint (the store keeps
/// URLs unique per tenant) and never dialled (workers skip streams).
pub fn placeholder_url(id: EndpointId) -> String {
    format!("stream:{id}")
}

/// How long the client has to acknowledge attempt `attempt` (1-based)
/// before it is offered again: the retry schedule's step after that
/// attempt (its last step once exhausted), within
/// [`MIN_ACK_WINDOW_MS`]..=[`MAX_ACK_WINDOW_MS`].
pub fn ack_window_ms(schedule: &[Duration], attempt: u32) -> i64 {
    let i = (attempt.max(1) - 1) as usize;
    let step = schedule
        .get(i)
        .or(schedule.last())
        .map_or(MIN_ACK_WINDOW_MS, |d| {
            d.as_millis().min(i64::MAX as u128) as i64
        });
    step.clamp(MIN_ACK_WINDOW_MS, MAX_ACK_WINDOW_MS)
}

/// Whether a poll at `now` writes the stream's last-seen time.
pub fn seen_write_due(last: Option<Timestamp>, now: Timestamp) -> bool {
    last.is_none_or(|t| now.as_millis() - t.as_millis() >= SEEN_EVERY_MS)
}

/// Whether a stream last polled at `seen` counts as connected at `now`.
pub fn connected(seen: Option<Timestamp>, now: Timestamp) -> bool {
    seen.is_some_and(|t| now.as_millis() - t.as_millis() <= CONNECTED_WITHIN_MS)
}

/// The wait a poll asked for (`?wait=` seconds), bounded.
pub fn bounded_wait(asked: Option<u64>) -> u64 {
    asked.unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS)
}

/// The number of deliveries a poll asked for (`?limit=`), bounded.
pub fn bounded_offer(asked: Option<usize>) -> usize {
    asked.unwrap_or(MAX_OFFER).clamp(1, MAX_OFFER)
}

/// Why an acknowledgement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Neither a status nor an error kind.
    #[error("give the local receiver's status, or an error kind when it did not answer")]
    Empty,
    /// A status outside 100–599.
    #[error("status {0} is not an HTTP status (100–599)")]
    Status(u16),
    /// An error kind that is not a short lowercase word.
    #[error("error must be a short lowercase kind such as connect or timeout (a–z and _, at most {MAX_ERROR_LEN})")]
    ErrorKind,
    /// A latency past [`MAX_LATENCY_MS`].
    #[error("latency_ms must be at most {MAX_LATENCY_MS}")]
    Latency,
    /// An `offered_at` this offer cannot have had.
    #[error("offered_at must be the timestamp of a recent offer of this delivery")]
    OfferedAt,
}

/// Checks an acknowledgement: what the local receiver answered (`status`)
/// or why it did not (`error`), its latency, and the offer's timestamp
/// (unix seconds, as signed), which must lie within the longest window
/// before `now`.
pub fn check_ack(
    status: Option<u16>,
    error: Option<&str>,
    latency_ms: u32,
    offered_at: i64,
    now: Timestamp,
) -> Result<(), AckError> {
    match (status, error) {
        (None, None) => return Err(AckError::Empty),
        (Some(s), _) if !(100..=599).contains(&s) => return Err(AckError::Status(s)),
        _ => {}
    }
    if let Some(e) = error {
        let ok = !e.is_empty()
            && e.len() <= MAX_ERROR_LEN
            && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        if !ok {
            return Err(AckError::ErrorKind);
        }
    }
    if latency_ms > MAX_LATENCY_MS {
        return Err(AckError::Latency);
    }
    let now_s = now.as_secs();
    let oldest = now_s - (MAX_ACK_WINDOW_MS + MAX_LATENCY_MS as i64) / 1000;
    if offered_at > now_s + 5 || offered_at < oldest {
        return Err(AckError::OfferedAt);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(xs: &[u64]) -> Vec<Duration> {
        xs.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn the_ack_window_follows_the_schedule_within_bounds() {
        let s = secs(&[1, 60, 3600]);
        assert_eq!(ack_window_ms(&s, 1), MIN_ACK_WINDOW_MS, "1 s → the floor");
        assert_eq!(ack_window_ms(&s, 2), 60_000);
        assert_eq!(ack_window_ms(&s, 3), MAX_ACK_WINDOW_MS, "1 h → the cap");
        assert_eq!(
            ack_window_ms(&s, 9),
            MAX_ACK_WINDOW_MS,
            "exhausted: last step"
        );
        assert_eq!(ack_window_ms(&[], 1), MIN_ACK_WINDOW_MS);
        assert_eq!(ack_window_ms(&s, 0), MIN_ACK_WINDOW_MS);
    }

    #[test]
    fn last_seen_is_written_at_most_every_few_seconds_and_means_connected_for_a_while() {
        let t0 = Timestamp::from_millis(1_705_314_600_000);
        assert!(seen_write_due(None, t0));
        assert!(!seen_write_due(Some(t0), t0.plus_millis(SEEN_EVERY_MS - 1)));
        assert!(seen_write_due(Some(t0), t0.plus_millis(SEEN_EVERY_MS)));
        assert!(!connected(None, t0));
        assert!(connected(Some(t0), t0.plus_millis(CONNECTED_WITHIN_MS)));
        assert!(!connected(
            Some(t0),
            t0.plus_millis(CONNECTED_WITHIN_MS + 1)
        ));
    }

    #[test]
    fn waits_and_offers_are_bounded() {
        assert_eq!(bounded_wait(None), MAX_WAIT_SECS);
        assert_eq!(bounded_wait(Some(0)), 0);
        assert_eq!(bounded_wait(Some(u64::MAX)), MAX_WAIT_SECS);
        assert_eq!(bounded_offer(Some(0)), 1);
        assert_eq!(bounded_offer(Some(10_000)), MAX_OFFER);
    }

    #[test]
    fn acknowledgements_are_checked() {
        let now = Timestamp::from_millis(1_705_314_600_000);
        let at = now.as_secs() - 2;
        type Row<'a> = (Option<u16>, Option<&'a str>, u32, i64, Result<(), AckError>);
        let table: &[Row] = &[
            (Some(200), None, 12, at, Ok(())),
            (Some(500), None, 12, at, Ok(())),
            (None, Some("connect"), 0, at, Ok(())),
            (None, None, 0, at, Err(AckError::Empty)),
            (Some(99), None, 0, at, Err(AckError::Status(99))),
            (Some(600), None, 0, at, Err(AckError::Status(600))),
            (None, Some("Connect"), 0, at, Err(AckError::ErrorKind)),
            (None, Some(""), 0, at, Err(AckError::ErrorKind)),
            (None, Some(&"x".repeat(41)), 0, at, Err(AckError::ErrorKind)),
            (
                Some(200),
                None,
                MAX_LATENCY_MS + 1,
                at,
                Err(AckError::Latency),
            ),
            (
                Some(200),
                None,
                0,
                now.as_secs() + 60,
                Err(AckError::OfferedAt),
            ),
            (Some(200), None, 0, 0, Err(AckError::OfferedAt)),
        ];
        for (status, error, latency, offered, want) in table {
            assert_eq!(
                &check_ack(*status, *error, *latency, *offered, now),
                want,
                "{status:?} {error:?} {latency} {offered}"
            );
        }
    }

    #[test]
    fn placeholders_name_the_endpoint() {
        let id = EndpointId::new(Timestamp::from_millis(1_705_314_600_000));
        assert_eq!(placeholder_url(id), format!("stream:{id}"));
    }
}
