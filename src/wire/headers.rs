//! The headers of a delivery request: what a receiver checks, in one place.

use std::borrow::Cow;
use std::collections::BTreeMap;

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
///
/// An endpoint's `custom` headers come first (the endpoint's validation
/// keeps them off every name set here); with `svix_names` the Standard
/// Webhooks trio is repeated under Svix's names (`svix-id`,
/// `svix-timestamp`, `svix-signature`), same values.
pub fn delivery(
    secrets: &[&str],
    event: &Event,
    timestamp: i64,
    custom: &BTreeMap<String, String>,
    svix_names: bool,
) -> Result<Vec<(Cow<'static, str>, String)>, SigningError> {
    let signer = Signer::new(secrets)?;
    let mut out: Vec<(Cow<'static, str>, String)> =
        Vec::with_capacity(custom.len() + if svix_names { 10 } else { 7 });
    out.extend(
        custom
            .iter()
            .map(|(k, v)| (Cow::Owned(k.clone()), v.clone())),
    );
    let signature = signer.webhook_signature(&event.id, timestamp, &event.body);
    let timestamp = timestamp.to_string();
    if svix_names {
        out.push(("svix-id".into(), event.id.clone()));
        out.push(("svix-timestamp".into(), timestamp.clone()));
        out.push(("svix-signature".into(), signature.clone()));
    }
    out.extend([
        ("Content-Type".into(), "application/json".into()),
        ("User-Agent".into(), USER_AGENT.into()),
        (
            "X-BrainSAIT-Signature".into(),
            signer.brainsait(&event.body),
        ),
        ("X-BrainSAIT-Event".into(), event.event_type.clone()),
        ("webhook-id".into(), event.id.clone()),
        ("webhook-timestamp".into(), timestamp),
        ("webhook-signature".into(), signature),
    ]);
    Ok(out)
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
            channels: vec![],
            tags: vec![],
        };
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let h = delivery(&[secret], &event, at.as_secs(), &BTreeMap::new(), false).unwrap();
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
        assert_eq!(get("svix-id"), None);
        assert_eq!(h.len(), 7);

        // Custom headers first, then Herald's; Svix's names on request.
        let custom: BTreeMap<String, String> =
            [("X-Api-Key".to_string(), "k-1".to_string())].into();
        let h = delivery(&[secret], &event, at.as_secs(), &custom, true).unwrap();
        let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(h[0].0, "X-Api-Key");
        assert_eq!(get("X-Api-Key"), Some("k-1"));
        assert_eq!(get("svix-id"), get("webhook-id"));
        assert_eq!(get("svix-timestamp"), get("webhook-timestamp"));
        assert_eq!(get("svix-signature"), get("webhook-signature"));
        assert_eq!(h.len(), 11);
    }
}
