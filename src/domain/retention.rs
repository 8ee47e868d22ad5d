//! What the retention purge and the idempotency window allow: pure rules
//! every store backend applies the same way.

use super::delivery::{Delivery, DeliveryState};
use super::stats::Grain;
use super::time::Timestamp;

/// Whether an event may be purged, given its deliveries as stored now: only
/// once every one of them has ended (succeeded or failed). A pending or
/// held delivery keeps its event, whatever its age: nothing acknowledged is
/// dropped before it is delivered or given up.
pub fn event_purgeable<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> bool {
    deliveries
        .into_iter()
        .all(|d| d.state != DeliveryState::Pending && !d.held)
}

/// Whether an idempotency record made at `recorded_at` still answers a
/// request whose window starts at `not_before` (it does at the boundary).
pub fn idempotency_answers(recorded_at: Timestamp, not_before: Timestamp) -> bool {
    recorded_at >= not_before
}

/// Whether an idempotency record made at `recorded_at` (`None`: unreadable)
/// may be purged at a cutoff of `before`.
pub fn idempotency_expired(recorded_at: Option<Timestamp>, before: Timestamp) -> bool {
    recorded_at.is_none_or(|at| at < before)
}

/// Whether a statistics bucket of `grain` starting at `start` ended before
/// `before` (its last instant is earlier), so no attempt can count into it
/// any more and the purge may remove it.
pub fn stats_bucket_ended(grain: Grain, start: Timestamp, before: Timestamp) -> bool {
    start.as_millis().saturating_add(grain.ms()) <= before.as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DeliveryId, EndpointId};

    fn delivery(state: DeliveryState, held: bool) -> Delivery {
        let at = Timestamp::from_millis(1_700_000_000_000);
        Delivery {
            id: DeliveryId::new(at),
            event_key: 1,
            event_id: "evt_1".into(),
            event_type: "order.created".into(),
            endpoint_id: EndpointId::new(at),
            tenant_id: "acme".into(),
            state,
            attempts: 0,
            next_attempt_at: None,
            held,
            last_status: None,
            last_error: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn only_events_whose_deliveries_all_ended_may_go() {
        use DeliveryState::*;
        assert!(event_purgeable(&[]));
        assert!(event_purgeable(&[
            delivery(Succeeded, false),
            delivery(Failed, false)
        ]));
        assert!(!event_purgeable(&[
            delivery(Succeeded, false),
            delivery(Pending, false)
        ]));
        assert!(!event_purgeable(&[delivery(Pending, true)]));
    }

    #[test]
    fn the_idempotency_window_includes_its_start() {
        let t = Timestamp::from_millis(1_000);
        assert!(idempotency_answers(t, t));
        assert!(!idempotency_answers(t, t.plus_millis(1)));
        assert!(!idempotency_expired(Some(t), t));
        assert!(idempotency_expired(Some(t), t.plus_millis(1)));
        assert!(idempotency_expired(None, t), "an unreadable record goes");
    }

    #[test]
    fn a_bucket_goes_once_it_ended() {
        let start = Timestamp::from_millis(60_000);
        assert!(!stats_bucket_ended(
            Grain::Minute,
            start,
            start.plus_millis(59_999)
        ));
        assert!(stats_bucket_ended(
            Grain::Minute,
            start,
            start.plus_millis(60_000)
        ));
        assert!(!stats_bucket_ended(
            Grain::Hour,
            start,
            start.plus_millis(60_000)
        ));
    }
}
