//! The ingest memory budget (`--ingest-memory-mb`): how many bytes of batch
//! bodies may be in memory at once, all keys together, and each key's
//! share (half of it).
//!
//! A batch is parsed one event at a time, so it costs a bounded multiple
//! of its body: [`COST_PER_BODY_BYTE`]. Measured peak RSS per body byte
//! (8.3 MB bodies of 1,000 events): 5.5 for arrays of small numbers (the
//! costliest tree, 38 when the body was parsed whole), 16.7 for arrays of
//! `1e20`, whose canonical form `100000000000000000000` is 4.4 times the
//! input, held as compact data, envelope and the store's copies. A batch reserves its body length times
//! that multiple before its body is read, and gives it back when its
//! request ends ([`MemoryReservation`] is a guard). Past the key's share it
//! is refused with 429 `key_busy`, past the budget with 503 `server_busy`,
//! both with `Retry-After`: never a wait. A key (or the server) with
//! nothing reserved is always admitted once, so a budget smaller than one
//! batch slows ingest to one batch at a time instead of refusing it all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Caller, Herald, Principal, Result, ServiceError};

/// Bytes of memory a batch costs per byte of body, rounded up from the
/// worst measured, 16.7 (see the module's doc).
pub const COST_PER_BODY_BYTE: usize = 17;

/// Seconds a refused batch is told to wait: a batch's parse takes well
/// under a second.
const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_key: HashMap<String, usize>,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The key's share is taken.
    Key,
    /// The whole budget is taken.
    Server,
}

/// The budget and what is held of it, by key.
#[derive(Debug)]
pub(super) struct MemoryBudget {
    total: usize,
    per_key: usize,
    held: Arc<Mutex<Held>>,
}

impl MemoryBudget {
    /// A budget of `total` bytes (0: off), each key at most `per_key`.
    pub(super) fn new(total: usize, per_key: usize) -> Self {
        Self {
            total,
            per_key,
            held: Arc::default(),
        }
    }

    /// Reserves `bytes` for `key`, or says which limit refuses them.
    pub(super) fn reserve(
        &self,
        key: &str,
        bytes: usize,
    ) -> std::result::Result<MemoryReservation, Refusal> {
        if self.total == 0 {
            return Ok(MemoryReservation::none());
        }
        // A poisoned lock only means a panic elsewhere mid-update; each
        // update is a few additions, so the counts are still whole.
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mine = held.by_key.get(key).copied().unwrap_or(0);
        if mine > 0 && mine.saturating_add(bytes) > self.per_key {
            return Err(Refusal::Key);
        }
        if held.total > 0 && held.total.saturating_add(bytes) > self.total {
            return Err(Refusal::Server);
        }
        held.total += bytes;
        *held.by_key.entry(key.to_string()).or_default() += bytes;
        Ok(MemoryReservation {
            held: Some(self.held.clone()),
            key: key.to_string(),
            bytes,
        })
    }

    /// Bytes held now, all keys together.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        (held.total, held.by_key.len())
    }
}

/// Bytes of the ingest budget held by one request; given back on drop.
#[derive(Debug)]
#[must_use = "the reservation is given back when dropped"]
pub struct MemoryReservation {
    held: Option<Arc<Mutex<Held>>>,
    key: String,
    bytes: usize,
}

impl MemoryReservation {
    fn none() -> Self {
        Self {
            held: None,
            key: String::new(),
            bytes: 0,
        }
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        let Some(held) = &self.held else {
            return;
        };
        let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
        held.total = held.total.saturating_sub(self.bytes);
        if let Some(n) = held.by_key.get_mut(&self.key) {
            *n = n.saturating_sub(self.bytes);
            if *n == 0 {
                held.by_key.remove(&self.key);
            }
        }
    }
}

impl Herald {
    /// Reserves the memory a batch body of `body_bytes` will cost
    /// ([`COST_PER_BODY_BYTE`] each) under `--ingest-memory-mb`: 429
    /// `key_busy` past the caller's share, 503 `server_busy` past the
    /// budget, both to retry in a second. Callers that are not a valid key
    /// share one share, so made-up keys cannot take more than half. Only
    /// a cached key read: fine on an async thread.
    pub fn reserve_ingest(&self, caller: &Caller, body_bytes: usize) -> Result<MemoryReservation> {
        let who = match self.authenticate(caller) {
            Ok(Principal::Platform { key: Some(k) }) | Ok(Principal::Tenant { key: k, .. }) => {
                format!("key:{k}")
            }
            Ok(Principal::Platform { key: None }) => "local".to_string(),
            Ok(Principal::User { username, .. }) => format!("user:{username}"),
            Ok(Principal::Portal { tenant, .. }) => format!("portal:{tenant}"),
            Err(_) => "unauthenticated".to_string(),
        };
        let bytes = body_bytes.saturating_mul(COST_PER_BODY_BYTE);
        self.memory.reserve(&who, bytes).map_err(|r| match r {
            Refusal::Key => ServiceError::KeyBusy {
                retry_after_secs: RETRY_AFTER_SECS,
            },
            Refusal::Server => ServiceError::ServerBusy {
                retry_after_secs: RETRY_AFTER_SECS,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_share_and_the_server_its_budget() {
        let b = MemoryBudget::new(100, 50);
        let a1 = b.reserve("a", 30).expect("a's first");
        assert_eq!(b.reserve("a", 30).err(), Some(Refusal::Key), "a past 50");
        let a2 = b.reserve("a", 20).expect("a up to exactly 50");
        let c1 = b.reserve("c", 40).expect("c's first");
        assert_eq!(b.reserve("d", 20).err(), Some(Refusal::Server), "90 + 20");
        let d1 = b.reserve("d", 10).expect("up to exactly 100");
        assert_eq!(b.held(), (100, 3));
        drop(a1);
        assert_eq!(b.held(), (70, 3));
        let d2 = b.reserve("d", 30).expect("room again");
        drop((a2, c1, d1, d2));
        assert_eq!(b.held(), (0, 0), "every byte given back, no key left");
    }

    #[test]
    fn an_idle_key_or_server_always_admits_one() {
        let b = MemoryBudget::new(100, 50);
        let big = b.reserve("a", 500).expect("alone, even past both limits");
        assert_eq!(b.reserve("a", 1).err(), Some(Refusal::Key));
        assert_eq!(b.reserve("c", 1).err(), Some(Refusal::Server));
        drop(big);
        assert!(b.reserve("c", 1).is_ok());
    }

    #[test]
    fn an_off_budget_admits_everything_and_holds_nothing() {
        let b = MemoryBudget::new(0, 0);
        let r: Vec<_> = (0..10)
            .map(|_| b.reserve("a", usize::MAX).expect("off"))
            .collect();
        assert_eq!(b.held(), (0, 0));
        drop(r);
    }
}
