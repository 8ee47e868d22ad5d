//! The headers of a delivery request: what a receiver checks, in one place.

use super::signing::{Signer, SigningError};
use crate::domain::event::Event;

/// The `User-Agent` of every request Herald sends.
pub const USER_AGENT: &str = concat!("Herald/", env!("CARGO_PKG_VERSION"));

/// The headers of one delivery attempt of `event`, signed at `timestamp`
/// (unix seconds) with every secret in `secrets` (more than one during a
/// rotation's overlap): the seed's `X-BrainSAIT-Signature` and
/// `X-BrainSAIT-Event`, and the Standard Webhooks `webhook-id` (the event
/// id, the same on every retry), `webhook-timestamp` and
/// `webhook-signature`. Both signatures cover the stored body bytes.
pub fn delivery(
    secrets: &[&str],
    event: &Event,
    timestamp: i64,
) -> Result<Vec<(&'static str, String)>, SigningError> {
    let signer = Signer::new(secrets)?;
    Ok(vec![
        ("Content-Type", "application/json".into()),
        ("User-Agent", USER_AGENT.into()),
        ("X-BrainSAIT-Signature", signer.brainsait(&event.body)),
        ("X-BrainSAIT-Event", event.event_type.clone()),
        ("webhook-id", event.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signer.webhook_signature(&event.id, timestamp, &event.body),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;
    use crate::wire::signing::{brainsait_signature, verify_standard};

    #[test]
    fn a_delivery_is_signed_both_ways_over_the_stored_body() {
        let at = Timestamp::from_millis(1_705_314_600_000);
        let event = Event {
            key: 1,
            id: "evt_1234567890".into(),
            tenant_id: "company_xyz".into(),
            event_type: "payment.completed".into(),
            created: at,
            received_at: at,
            body: br#"{"id":"evt_1234567890"}"#.to_vec(),
            deliveries: vec![],
        };
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let h = delivery(&[secret], &event, at.as_secs()).unwrap();
        let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("User-Agent"), Some(USER_AGENT));
        assert_eq!(get("webhook-id"), Some("evt_1234567890"));
        assert_eq!(get("X-BrainSAIT-Event"), Some("payment.completed"));
        assert_eq!(get("webhook-timestamp"), Some("1705314600"));
        assert_eq!(
            get("X-BrainSAIT-Signature"),
            Some(brainsait_signature(secret, &event.body).as_str())
        );
        assert!(verify_standard(
            secret,
            "evt_1234567890",
            1_705_314_600,
            &event.body,
            get("webhook-signature").unwrap(),
        ));
    }
}
