//! Each API key's request budgets (`--ingest-rate`, `--management-rate`):
//! a token bucket per key and budget, on the injected clock.
//!
//! The edge asks [`Herald::admit`] once per API request, before it reads
//! the body, so a key over its budget costs a hash and a cached key read,
//! not a parse. Only a valid key has buckets: an unknown or revoked key
//! is not charged (the call itself answers 401), so made-up keys cannot
//! grow the table. Admin panel sessions and the local CLI are not API
//! keys and have no budget (logins have their own throttle).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::apikey::hash_key;
use crate::domain::ids::KeyId;
use crate::domain::ratelimit::{Bucket, Decision, Rate};

/// Which budget a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    /// `POST /api/v1/events` and `/events/batch`.
    Ingest,
    /// Every other API call.
    Management,
}

impl Budget {
    /// Its name in errors and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Budget::Ingest => "ingest",
            Budget::Management => "management",
        }
    }
}

/// The budgets every API key has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// For ingest.
    pub ingest: Rate,
    /// For management calls.
    pub management: Rate,
}

impl RateLimits {
    /// The rate of `budget`.
    pub fn of(&self, budget: Budget) -> Rate {
        match budget {
            Budget::Ingest => self.ingest,
            Budget::Management => self.management,
        }
    }
}

impl Default for RateLimits {
    /// Both off.
    fn default() -> Self {
        RateLimits {
            ingest: Rate::OFF,
            management: Rate::OFF,
        }
    }
}

/// Past this many buckets, a check first forgets the full ones (a full
/// bucket is the same as none), so the table stays about the size of the
/// keys in use.
const PRUNE_OVER: usize = 10_000;

/// The buckets, by key and budget.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    buckets: Mutex<HashMap<(KeyId, Budget), Bucket>>,
}

impl Limiter {
    fn check(&self, key: KeyId, budget: Budget, limits: &RateLimits, now_ms: i64) -> Decision {
        // A poisoned lock only means a panic elsewhere mid-check; the
        // buckets are still whole (each update is one assignment).
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_OVER {
            // Each bucket counts time in units of its own budget's rate.
            buckets.retain(|(_, b), bucket| !bucket.is_full(limits.of(*b), now_ms));
        }
        buckets
            .entry((key, budget))
            .or_default()
            .check(limits.of(budget), now_ms)
    }
}

impl Herald {
    /// Whether an API request of `caller` may go ahead under `budget`:
    /// `Err(RateLimited)` once its key is over budget. Callers that are
    /// not a valid API key always may.
    pub fn admit(&self, caller: &Caller, budget: Budget) -> Result<()> {
        let limits = &self.settings.rate_limits;
        if limits.of(budget).is_off() {
            return Ok(());
        }
        let Caller::Api {
            bearer: Some(text), ..
        } = caller
        else {
            return Ok(());
        };
        let Some(key) = self
            .store
            .key_by_hash(&hash_key(text))?
            .filter(|k| k.revoked_at.is_none())
        else {
            return Ok(());
        };
        let d = self
            .limiter
            .check(key.id, budget, limits, self.clock.now().as_millis());
        if d.allowed {
            return Ok(());
        }
        crate::telemetry::rate_limited(budget == Budget::Ingest);
        Err(ServiceError::RateLimited {
            budget: budget.name(),
            limit: d.limit,
            remaining: d.remaining,
            reset_secs: Decision::secs(d.reset_ms),
            retry_after_secs: Decision::secs(d.retry_after_ms),
        })
    }
}
