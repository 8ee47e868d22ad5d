//! Placeholder timer set with the time wheel's API (replaced by the
//! hierarchical wheel).

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Timers keyed by id.
pub struct Wheel<K: Copy + Eq + Hash + Ord> {
    by_id: HashMap<K, u64>,
    order: BTreeSet<(u64, K)>,
    now: u64,
}

impl<K: Copy + Eq + Hash + Ord> Wheel<K> {
    /// A wheel at `start_ms`.
    pub fn new(start_ms: u64, _tick_ms: u64) -> Self {
        Self {
            by_id: HashMap::new(),
            order: BTreeSet::new(),
            now: start_ms,
        }
    }
    /// Inserts or moves `id`.
    pub fn insert(&mut self, id: K, due_ms: u64) {
        if let Some(old) = self.by_id.insert(id, due_ms) {
            self.order.remove(&(old, id));
        }
        self.order.insert((due_ms, id));
    }
    /// Removes `id`.
    pub fn cancel(&mut self, id: K) -> bool {
        match self.by_id.remove(&id) {
            Some(d) => self.order.remove(&(d, id)),
            None => false,
        }
    }
    /// Expires everything due by `now_ms`.
    pub fn advance(&mut self, now_ms: u64, out: &mut Vec<(K, u64)>) {
        self.now = self.now.max(now_ms);
        while let Some(&(d, id)) = self.order.first() {
            if d > self.now {
                break;
            }
            self.order.pop_first();
            self.by_id.remove(&id);
            out.push((id, d));
        }
    }
    /// The earliest due time.
    pub fn next_due(&self) -> Option<u64> {
        self.order.first().map(|(d, _)| *d)
    }
    /// Timers held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
