//! The per-endpoint rate limits of one process: each limited endpoint's
//! next free send slot ([`crate::domain::sendrate`]), shared by the
//! workers.
//!
//! On a store shared by several nodes the slots live in the store instead
//! (`ClusterStore::acquire_limited`), so the limit holds for all nodes
//! together; this pacer then stands aside.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::ids::EndpointId;
use crate::domain::sendrate::{self, Pace};
use crate::domain::time::Timestamp;

/// Past this many endpoints, slots already passed are forgotten (they
/// decide nothing: a passed slot lets the next send go at once).
const PRUNE_AT: usize = 10_000;

/// A send refused this recently still shows the endpoint as throttled.
const SHOWN_MS: i64 = 2_000;

/// One limited endpoint: its next send slot (unix µs) and when a send was
/// last made to wait.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    next_us: i64,
    waited: Option<Timestamp>,
}

/// Every limited endpoint's slot.
#[derive(Debug, Default)]
pub struct Pacer {
    next: Mutex<HashMap<EndpointId, Slot>>,
}

impl Pacer {
    /// Takes `ep`'s slot at `now` under `per_second`, or says when the
    /// next one comes (nothing is taken then).
    pub fn take(&self, ep: EndpointId, per_second: u32, now: Timestamp) -> Pace {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next.len() >= PRUNE_AT && !next.contains_key(&ep) {
            let now_us = now.as_millis().saturating_mul(1000);
            next.retain(|_, s| s.next_us > now_us);
        }
        let slot = next.entry(ep).or_default();
        let pace = sendrate::pace(slot.next_us, now, per_second);
        match pace {
            Pace::Go(n) => slot.next_us = n,
            Pace::Wait(_) => slot.waited = Some(now),
        }
        pace
    }

    /// Whether `ep` is being throttled at `now` (a send had to wait in
    /// the last two seconds): when its next slot comes.
    pub fn throttled(&self, ep: EndpointId, now: Timestamp) -> Option<Timestamp> {
        let next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = next.get(&ep)?;
        let recent = slot.waited? >= now.plus_millis(-SHOWN_MS);
        recent.then(|| Timestamp::from_millis((slot.next_us + 999) / 1000))
    }
}
