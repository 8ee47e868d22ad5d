//! Idempotent requests (the Svix-compatible API's `idempotency-key`): the
//! first request with a key runs and its answer, if a success, is
//! remembered; a repeat
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
    /// for one not remembered (an error: a 5xx, which the SDKs retry with
    /// the same key, or a refusal), forgets the claim so a retry runs.
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::idempotent::KEEP_MS;
    use crate::domain::time::Timestamp;
    use crate::service::Settings;

    fn herald() -> (Herald, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let h = Herald::new(
            crate::store::temporary(),
            clock.clone(),
            Settings::offline(),
        );
        (h, clock)
    }

    fn run(i: Idempotent) -> Claimed {
        match i {
            Idempotent::Run(c) => c,
            Idempotent::Repeat(a) => panic!("a repeat: {a:?}"),
        }
    }

    #[test]
    fn answers_repeat_5xx_runs_again_and_the_purge_forgets_them() {
        let (h, clock) = herald();
        let me = Caller::Local { tenant: None };
        let c = run(h.idempotent_begin(&me, "POST", "/api/v1/app", "k").unwrap());
        h.idempotent_finish(c, 201, b"{\"id\":1}").unwrap();
        match h.idempotent_begin(&me, "POST", "/api/v1/app", "k").unwrap() {
            Idempotent::Repeat(a) => assert_eq!((a.status, a.body), (201, b"{\"id\":1}".to_vec())),
            other => panic!("{other:?}"),
        }
        // A 5xx is not remembered: the retry runs.
        let c = run(h
            .idempotent_begin(&me, "POST", "/api/v1/app/x/msg", "k")
            .unwrap());
        h.idempotent_finish(c, 503, b"{}").unwrap();
        let c = run(h
            .idempotent_begin(&me, "POST", "/api/v1/app/x/msg", "k")
            .unwrap());
        h.idempotent_finish(c, 202, b"{}").unwrap();
        // Bad keys are refused before anything is claimed.
        assert!(h.idempotent_begin(&me, "POST", "/api/v1/app", "").is_err());
        // A day later the retention pass removes both, and the key runs again.
        clock.advance_ms(KEEP_MS);
        assert_eq!(h.purge_expired().unwrap().rows, 2);
        run(h.idempotent_begin(&me, "POST", "/api/v1/app", "k").unwrap());
    }

    #[test]
    fn a_repeat_waits_for_the_first_then_gets_its_answer() {
        let (h, _) = herald();
        let me = Caller::Local { tenant: None };
        let c = run(h.idempotent_begin(&me, "POST", "/p", "k").unwrap());
        let waiter = {
            let h = h.clone();
            std::thread::spawn(move || {
                h.idempotent_begin(&Caller::Local { tenant: None }, "POST", "/p", "k")
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "the repeat waits");
        h.idempotent_finish(c, 200, b"[]").unwrap();
        match waiter.join().unwrap().unwrap() {
            Idempotent::Repeat(a) => assert_eq!(a.status, 200),
            other => panic!("{other:?}"),
        }
    }
}
