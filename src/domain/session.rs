//! Admin panel sessions: a random 256-bit id in a cookie, stored only as its
//! SHA-256 hash, with a CSRF token and an idle expiry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::portal::Portal;
use super::time::Timestamp;

/// Random bytes in a session id and in a CSRF token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// A session unused for this long is over (two hours).
pub const IDLE_TIMEOUT_MS: i64 = 2 * 3_600_000;
/// A session is over this long after login whatever its use (seven days).
pub const MAX_AGE_MS: i64 = 7 * 24 * 3_600_000;
/// Recording "last seen" costs a durable write, so it is refreshed at most
/// this often (one minute); idle expiry is that much coarser.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// A logged-in admin panel user's session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 of the id in the cookie. The id itself is never stored, so
    /// a copy of the data directory holds no usable session.
    pub id_hash: [u8; 32],
    /// Whose session it is.
    pub username: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The tenant an operator has chosen with the tenant switcher.
    pub tenant: Option<String>,
    /// When the user logged in.
    pub created_at: Timestamp,
    /// When the session was last used (to [`TOUCH_EVERY_MS`]).
    pub last_seen_at: Timestamp,
    /// Set for the tenant portal: a session opened with a one-time link
    /// (no user: `username` is empty and `tenant` is the portal's), or the
    /// link itself while unused.
    pub portal: Option<Portal>,
}

impl Session {
    /// Whether the session is over at `now` (idle too long, or too old).
    pub fn expired(&self, now: Timestamp) -> bool {
        self.portal.as_ref().is_some_and(|p| p.ended(now))
            || now.as_millis() - self.last_seen_at.as_millis() >= IDLE_TIMEOUT_MS
            || now.as_millis() - self.created_at.as_millis() >= MAX_AGE_MS
    }

    /// Whether "last seen" is stale enough to be written again.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.as_millis() - self.last_seen_at.as_millis() >= TOUCH_EVERY_MS
    }
}

/// A new random token (session id or CSRF token): 256 bits, base64url.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a session id.
pub fn hash_session_id(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_256_bits() {
        let a = generate_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate_token());
        assert_eq!(hash_session_id(&a), hash_session_id(&a));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let t = |ms| Timestamp::from_millis(ms);
        let s = Session {
            id_hash: [0; 32],
            username: "admin".into(),
            csrf: "x".into(),
            tenant: None,
            created_at: t(0),
            last_seen_at: t(0),
            portal: None,
        };
        assert!(!s.expired(t(IDLE_TIMEOUT_MS - 1)));
        assert!(s.expired(t(IDLE_TIMEOUT_MS)));
        let busy = Session {
            last_seen_at: t(MAX_AGE_MS - 1),
            ..s.clone()
        };
        assert!(busy.expired(t(MAX_AGE_MS)));
        assert!(!s.needs_touch(t(TOUCH_EVERY_MS - 1)));
        assert!(s.needs_touch(t(TOUCH_EVERY_MS)));
        let portal = Session {
            portal: Some(crate::domain::portal::Portal {
                read_only: false,
                return_url: None,
                ends_at: t(1_000),
                stage: crate::domain::portal::Stage::Session,
            }),
            ..s.clone()
        };
        assert!(!portal.expired(t(999)));
        assert!(portal.expired(t(1_000)), "a portal session ends on time");
    }
}
