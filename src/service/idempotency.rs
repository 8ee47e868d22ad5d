//! Idempotent requests (the Svix-compatible API's `idempotency-key`): the
//! first request with a key runs and its answer is remembered; a repeat
//! (same key, method, URL and API key) within a day gets that answer again
//! without running; a repeat while the first still runs waits for it, for
//! a bounded time. The rules are `domain::idempotent`'s; the records are
//! the store's [`crate::store::AnswerStore`].

use std::time::Duration;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::apikey::hash_key;
use crate::domain::idempotent::{remembers, scope_of, valid_key, Claim, SavedAnswer, MAX_KEY_LEN};

/// How often a repeat looks again while the first request runs.
const WAIT_STEP: Duration = Duration::from_millis(25);
/// How many times it looks (10 s in all) before answering 409: the API's
/// requests take milliseconds, so a first request still running after
/// that is stuck, and the client had better retry later.
const WAIT_STEPS: u32 = 400;

/// What to do with a request that carries an idempotency key.
#[derive(Debug)]
pub enum Idempotent {
    /// Run it, then hand its answer to [`Herald::idempotent_finish`].
    Run(Claimed),
    /// Answer this (the first request's answer), without running it.
    Repeat(SavedAnswer),
}

/// A claimed scope: the request runs and its answer is remembered (or
/// forgotten) with [`Herald::idempotent_finish`].
#[derive(Debug)]
pub struct Claimed {
    scope: [u8; 32],
}

impl Herald {
    /// Claims the scope of a request with idempotency key `key`: the
    /// caller must authenticate first (a 401 is never remembered), the key
    /// must be well-formed (422 otherwise), then the first request runs, a
    /// repeat gets the first answer, and a concurrent repeat waits for it
    /// (409 `request_in_progress` after 10 s). Blocks while waiting: call
    /// it off the async executor.
    pub fn idempotent_begin(
        &self,
        caller: &Caller,
        method: &str,
        url: &str,
        key: &str,
    ) -> Result<Idempotent> {
        self.authenticate(caller)?;
        if !valid_key(key) {
            return Err(ServiceError::invalid(
                "idempotency-key",
                format!("must be 1-{MAX_KEY_LEN} visible ASCII characters"),
            ));
        }
        // The credential's hash, never its text; a session (the panel
        // never sends keys) is scoped by its token's hash the same way.
        let credential = match caller {
            Caller::Api { bearer, .. } => hash_key(bearer.as_deref().unwrap_or_default()),
            Caller::Session { token } => hash_key(token),
            Caller::Local { .. } => hash_key(""),
        };
        let scope = scope_of(&credential, method, url, key);
        for _ in 0..WAIT_STEPS {
            match self.store.claim_answer(&scope, self.clock.now())? {
                Claim::Run => return Ok(Idempotent::Run(Claimed { scope })),
                Claim::Answer(a) => return Ok(Idempotent::Repeat(a)),
                Claim::Wait => std::thread::sleep(WAIT_STEP),
            }
        }
        Err(ServiceError::Conflict {
            code: "request_in_progress",
            message: "a request with this idempotency-key is still being processed; retry later"
                .into(),
        })
    }

    /// Remembers the answer of a claimed request (`status`, `body`), or,
    /// for one not remembered (a 5xx, which the SDKs retry with the same
    /// key), forgets the claim so the retry runs.
    pub fn idempotent_finish(&self, claimed: Claimed, status: u16, body: &[u8]) -> Result<()> {
        if remembers(status, body.len()) {
            let answer = SavedAnswer {
                status,
                body: body.to_vec(),
                at: self.clock.now(),
            };
            self.store.save_answer(&claimed.scope, &answer)?;
        } else {
            self.store.forget_answer(&claimed.scope)?;
        }
        Ok(())
    }
}
