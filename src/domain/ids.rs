//! Prefixed, time-sortable identifiers (`ep_…`, `key_…`, `dlv_…`).
//!
//! Every id is a ULID: 48 bits of milliseconds then 80 random bits. Stored
//! keys use its 16 big-endian bytes, so byte order is creation order and a
//! range scan over an index returns records oldest first. The text form is
//! the prefix followed by the 26-character Crockford base32 ULID.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::time::Timestamp;

static LAST: Mutex<Option<Ulid>> = Mutex::new(None);

/// The smallest ULID made at or after `at`: ULIDs start with 48 bits of
/// milliseconds, so ids (and keys) made before `at` are exactly those below
/// it, and a time range of ids is a key range.
pub fn first_ulid_at(at: Timestamp) -> u128 {
    (at.as_millis().max(0) as u128) << 80
}

/// A new ULID for `at`. Within one millisecond ids are monotonic (the
/// previous one plus one), so ids made in the same millisecond still sort
/// in the order they were made; otherwise the random part is fresh. The
/// timestamp is always `at`'s, even if an earlier call used a later time
/// (as with several manual clocks in one test process), so an id's time
/// can be trusted by range queries.
pub fn new_ulid(at: Timestamp) -> Ulid {
    let ms = at.as_millis().max(0) as u64;
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let next = match *last {
        Some(prev) if prev.timestamp_ms() == ms => prev.increment(),
        _ => None,
    }
    .unwrap_or_else(|| Ulid::from_datetime(UNIX_EPOCH + Duration::from_millis(ms)));
    *last = Some(next);
    next
}

/// The error for an id string that is not `<prefix>_<ULID>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct BadId {
    /// Which kind of id was expected.
    pub kind: &'static str,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(u128);

        impl $name {
            /// The text prefix, including the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A new id stamped with `at`.
            pub fn new(at: Timestamp) -> Self {
                Self(new_ulid(at).0)
            }

            /// The 16 big-endian bytes used in storage keys.
            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }

            /// From the 16 big-endian storage bytes.
            pub fn from_bytes(b: [u8; 16]) -> Self {
                Self(u128::from_be_bytes(b))
            }

            /// The raw 128-bit value.
            pub fn as_u128(self) -> u128 {
                self.0
            }

            /// From the raw 128-bit value.
            pub const fn from_u128(v: u128) -> Self {
                Self(v)
            }

            /// The creation time embedded in the id.
            pub fn timestamp(self) -> Timestamp {
                Timestamp::from_millis(Ulid(self.0).timestamp_ms() as i64)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, Ulid(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                let bad = BadId { kind: $kind };
                let rest = s.strip_prefix($prefix).ok_or(bad.clone())?;
                // 26 base32 digits hold 130 bits; a ULID has 128, so the
                // first digit is at most 7 (the ulid crate does not check).
                if rest.len() != 26 || rest.as_bytes()[0] > b'7' {
                    return Err(bad);
                }
                Ulid::from_string(rest).map(|u| Self(u.0)).map_err(|_| bad)
            }
        }
    };
}

define_id!(
    /// An endpoint (a tenant's webhook URL and subscription).
    EndpointId, "ep_", "endpoint"
);
define_id!(
    /// An API key.
    KeyId, "key_", "API key"
);
define_id!(
    /// One delivery: an event bound for one endpoint.
    DeliveryId, "dlv_", "delivery"
);
define_id!(
    /// One HTTP attempt of a delivery.
    AttemptId, "att_", "attempt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text_and_bytes() {
        let id = EndpointId::new(Timestamp::from_millis(1_705_314_600_000));
        let text = id.to_string();
        assert!(text.starts_with("ep_") && text.len() == 29, "{text}");
        assert_eq!(text.parse::<EndpointId>().unwrap(), id);
        assert_eq!(EndpointId::from_bytes(id.to_bytes()), id);
        assert_eq!(id.timestamp().as_millis(), 1_705_314_600_000);
    }

    #[test]
    fn rejects_wrong_prefix_and_garbage() {
        let id = KeyId::new(Timestamp::from_millis(1));
        assert!(id
            .to_string()
            .replace("key_", "ep_")
            .parse::<KeyId>()
            .is_err());
        assert!("ep_".parse::<EndpointId>().is_err());
        assert!("ep_../../etc/passwd".parse::<EndpointId>().is_err());
        assert!("ep_ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
            .parse::<EndpointId>()
            .is_err());
        assert!("ep_0UUUUUUUUUUUUUUUUUUUUUUUUU"
            .parse::<EndpointId>()
            .is_err());
    }

    #[test]
    fn ids_sort_by_creation_even_within_one_millisecond() {
        let t = Timestamp::from_millis(1_000_000);
        let ids: Vec<_> = (0..100).map(|_| DeliveryId::new(t)).collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|i| i.to_bytes());
        assert_eq!(ids, sorted);
        let later = DeliveryId::new(t.plus_millis(1));
        assert!(later.to_bytes() > ids[99].to_bytes());
    }
}
