//! Idempotent requests of the Svix-compatible API: the SDKs send an
//! `idempotency-key` with every POST and retry a 5xx with the same key, so
//! the first answer is remembered and a repeat gets it again.
//!
//! A remembered request is scoped by its key, its method and URL and the
//! credential that sent it ([`scope_of`]: a SHA-256 over all four, so the
//! store holds no key text); only a success is remembered ([`remembers`]),
//! kept for [`KEEP_MS`] and answered again only while it is that young. While the first request runs its record says so
//! ([`Remembered::Running`]); a repeat waits for it, and a running record
//! older than [`RUNNING_STALE_MS`] (its request died with the process) may
//! be taken over.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::time::Timestamp;

/// How long an answer is remembered (24 hours, as Svix does).
pub const KEEP_MS: i64 = 24 * 3_600_000;
/// A request still marked running after this long is taken to have died
/// (the process stopped mid-request): a repeat runs it again.
pub const RUNNING_STALE_MS: i64 = 60_000;
/// The longest idempotency key accepted (Svix's SDKs send
/// `auto_<uuid>`, 41 characters).
pub const MAX_KEY_LEN: usize = 256;
/// The largest answer body remembered; a larger one is answered but not
/// remembered (the API's answers are far smaller).
pub const MAX_BODY: usize = 256 * 1024;

/// What is remembered of one idempotent request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remembered {
    /// The first request is still running.
    Running {
        /// When it started.
        since: Timestamp,
    },
    /// The first request was answered with this.
    Done(SavedAnswer),
}

/// An answer to repeat: its status and JSON body (empty for a 204).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When it was answered.
    pub at: Timestamp,
}

impl Remembered {
    /// When the record was written (start, or answer).
    pub fn at(&self) -> Timestamp {
        match self {
            Remembered::Running { since } => *since,
            Remembered::Done(a) => a.at,
        }
    }
}

/// What a request finds when it claims its scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nothing (usable) was there: this request runs, and its record now
    /// says so.
    Run,
    /// The first request with this key is still running.
    Wait,
    /// The first request's answer.
    Answer(SavedAnswer),
}

/// What a request that finds `existing` at `now` does: the one rule every
/// store backend applies when claiming (an expired answer or a stale
/// running mark is replaced).
pub fn claim(existing: Option<&Remembered>, now: Timestamp) -> Claim {
    match existing {
        Some(Remembered::Done(a)) if !expired(a.at, now) => Claim::Answer(a.clone()),
        Some(Remembered::Running { since })
            if now.as_millis() - since.as_millis() < RUNNING_STALE_MS =>
        {
            Claim::Wait
        }
        _ => Claim::Run,
    }
}

/// Whether a record written at `at` is past keeping at `now`.
pub fn expired(at: Timestamp, now: Timestamp) -> bool {
    now.as_millis() - at.as_millis() >= KEEP_MS
}

/// Whether an answer with `status` and a body of `len` bytes is
/// remembered: only a success, as Svix does. A 5xx is retried by the SDKs
/// with the same key, and the retry must run again; a refusal (a 422, a
/// 429 over a rate limit, a 409) changed nothing, so the request fixed or
/// later may run. Nor a body over [`MAX_BODY`].
pub fn remembers(status: u16, len: usize) -> bool {
    (200..300).contains(&status) && len <= MAX_BODY
}

/// Whether `key` is an acceptable idempotency key: 1–[`MAX_KEY_LEN`]
/// visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The scope a request is remembered under: SHA-256 over the hash of the
/// credential, the method, the path with its query, and the key, each
/// length-prefixed so no two requests share a scope by concatenation.
pub fn scope_of(credential_hash: &[u8; 32], method: &str, url: &str, key: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        &credential_hash[..],
        method.as_bytes(),
        url.as_bytes(),
        key.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn claims_follow_the_record() {
        assert_eq!(claim(None, t(0)), Claim::Run);
        let running = Remembered::Running { since: t(0) };
        assert_eq!(claim(Some(&running), t(RUNNING_STALE_MS - 1)), Claim::Wait);
        assert_eq!(claim(Some(&running), t(RUNNING_STALE_MS)), Claim::Run);
        let answer = SavedAnswer {
            status: 201,
            body: b"{}".to_vec(),
            at: t(0),
        };
        let done = Remembered::Done(answer.clone());
        assert_eq!(claim(Some(&done), t(KEEP_MS - 1)), Claim::Answer(answer));
        assert_eq!(claim(Some(&done), t(KEEP_MS)), Claim::Run);
    }

    #[test]
    fn only_successes_that_fit_are_remembered() {
        assert!(remembers(200, 10));
        assert!(remembers(202, 10));
        assert!(remembers(204, 0));
        assert!(!remembers(409, 10));
        assert!(!remembers(422, 10));
        assert!(!remembers(429, 10));
        assert!(!remembers(500, 10));
        assert!(!remembers(503, 10));
        assert!(!remembers(200, MAX_BODY + 1));
    }

    #[test]
    fn scopes_differ_by_every_part() {
        let c = [1u8; 32];
        let base = scope_of(&c, "POST", "/api/v1/app", "k");
        assert_ne!(base, scope_of(&[2u8; 32], "POST", "/api/v1/app", "k"));
        assert_ne!(base, scope_of(&c, "PUT", "/api/v1/app", "k"));
        assert_ne!(base, scope_of(&c, "POST", "/api/v1/app/x", "k"));
        assert_ne!(base, scope_of(&c, "POST", "/api/v1/app", "k2"));
        // Length prefixes: moving a byte between parts changes the scope.
        assert_ne!(
            scope_of(&c, "POST", "/a", "bc"),
            scope_of(&c, "POST", "/ab", "c")
        );
        assert_eq!(base, scope_of(&c, "POST", "/api/v1/app", "k"));
    }

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(valid_key("auto_6f1c2f9e-1b1a-4c1e-9a57-0a8f6f3b1d2e"));
        assert!(!valid_key(""));
        assert!(!valid_key("a b"));
        assert!(!valid_key(&"k".repeat(MAX_KEY_LEN + 1)));
        assert!(!valid_key("ключ"));
    }
}
