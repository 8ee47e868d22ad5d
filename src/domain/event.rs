//! Events and the envelope receivers get.

use serde::{Deserialize, Serialize};

use super::endpoint::FieldError;
use super::time::Timestamp;

/// The `api_version` every envelope carries (the seed's).
pub const API_VERSION: &str = "2024-01-01";
/// The longest client-supplied event id or idempotency key.
pub const MAX_CLIENT_ID: usize = 128;

/// A stored event. `body` is the exact envelope sent to every endpoint on
/// every attempt: built once at ingest, so retries and resends are byte
/// for byte the same and receivers can de-duplicate on `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Internal key: a ULID (time-ordered), 16 bytes in storage keys.
    pub key: u128,
    /// The public id: client-supplied, or `evt_<ULID>`.
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// Its type, from the catalog.
    pub event_type: String,
    /// `created` as in the envelope.
    pub created: Timestamp,
    /// When Herald accepted it.
    pub received_at: Timestamp,
    /// The envelope, compact JSON.
    pub body: Vec<u8>,
    /// The deliveries fan-out made, as `(delivery id, endpoint id)` raw ids.
    pub deliveries: Vec<(u128, u128)>,
    /// The channels it was sent on (endpoints with channels receive it only
    /// when they share one); usually empty.
    pub channels: Vec<String>,
    /// Free labels the sender gave it (Svix's message `tags`).
    pub tags: Vec<String>,
}

/// The public id Herald gives an event the client did not name.
pub fn generated_id(key: u128) -> String {
    format!("evt_{}", ulid::Ulid(key))
}

/// The event key an id names by itself: `Some` only for an id in exactly
/// the form [`generated_id`] writes. Such ids need no id index, since the
/// id says where the event is; whether the event found there is really
/// the one asked for (tenant, exact id) is the caller's check, because a
/// client may send an id of this form too.
pub fn key_named_by(id: &str) -> Option<u128> {
    let key = ulid::Ulid::from_string(id.strip_prefix("evt_")?).ok()?.0;
    (generated_id(key) == id).then_some(key)
}

impl Event {
    /// Whether the public id is the one Herald generated from the key.
    pub fn self_named(&self) -> bool {
        key_named_by(&self.id) == Some(self.key)
    }
}

/// Whether a client-supplied id or idempotency key is acceptable: 1–128
/// characters from `[A-Za-z0-9_.:-]`, so it is safe in headers and logs.
pub fn valid_client_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CLIENT_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Checks a client-supplied event id.
pub fn validate_event_id(id: &str) -> Result<(), FieldError> {
    if valid_client_id(id) {
        Ok(())
    } else {
        Err(FieldError::new(
            "id",
            format!("must be 1-{MAX_CLIENT_ID} characters from A-Z a-z 0-9 _ - . :"),
        ))
    }
}

/// The most tags on one event.
pub const MAX_TAGS: usize = 10;
/// The longest tag.
pub const MAX_TAG_LEN: usize = 128;

/// Checks and normalises an event's tags: at most [`MAX_TAGS`], each
/// 1–[`MAX_TAG_LEN`] bytes of `[A-Za-z0-9_.:/#-]` (safe in logs and URLs),
/// duplicates removed.
pub fn validate_tags(tags: &[String]) -> Result<Vec<String>, FieldError> {
    if tags.len() > MAX_TAGS {
        return Err(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let ok = !t.is_empty()
            && t.len() <= MAX_TAG_LEN
            && t.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'#' | b'-')
            });
        if !ok {
            return Err(FieldError::new(
                "tags",
                format!(
                    "{:?} is not a tag (1–{MAX_TAG_LEN} of A–Z a–z 0–9 _ . : / # -)",
                    t.chars().take(80).collect::<String>()
                ),
            ));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_generated_form_of_an_id_names_a_key() {
        let key = crate::domain::ids::new_ulid(crate::domain::time::Timestamp::from_millis(1)).0;
        let id = super::generated_id(key);
        assert_eq!(super::key_named_by(&id), Some(key));
        for other in [
            id.to_lowercase(),
            id.replacen("evt_", "evt-", 1),
            id[4..].to_string(),
            format!("{id}0"),
            "evt_".into(),
            "evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            "order-1".into(),
        ] {
            assert_eq!(super::key_named_by(&other), None, "{other}");
        }
    }

    use super::*;

    #[test]
    fn tags() {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_tags(&v(&["user/42", "vip", "vip"])).unwrap(),
            v(&["user/42", "vip"])
        );
        assert!(validate_tags(&v(&["a b"])).is_err());
        assert!(validate_tags(&v(&[""])).is_err());
        assert!(validate_tags(&vec!["t".to_string(); MAX_TAGS + 1]).is_err());
    }

    #[test]
    fn client_ids() {
        assert!(valid_client_id("evt_1234567890"));
        assert!(valid_client_id("order:42.v2-x"));
        assert!(!valid_client_id(""));
        assert!(!valid_client_id("has space"));
        assert!(!valid_client_id(&"x".repeat(129)));
    }
}
