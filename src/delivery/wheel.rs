//! Hierarchical timing wheel for the retry scheduler.
//!
//! A pure data structure: no threads, no I/O, no clock. Time is a plain `u64`
//! count of milliseconds supplied by the caller, and the wheel only moves when
//! [`Wheel::advance`] is called. The driver thread owns one wheel, sleeps until
//! [`Wheel::next_due`], calls `advance(now)` and hands the expired ids on.
//!
//! # Design
//!
//! * **Ticks.** A due time `d` belongs to tick `d / tick_ms` (absolute, not
//!   relative to the start, so every `u64` due time has a tick).
//! * **Levels.** [`LEVELS`] levels of 64 slots; level `l` slot `s` holds items
//!   whose tick agrees with the current tick on every base-64 digit above `l`
//!   and has digit `s` at position `l` (so `s` is strictly greater than the
//!   current tick's digit there). Eleven levels of 6 bits cover all 64 bits of
//!   a tick, so there is no separate overflow list: levels 5..=10 play that
//!   role, and an empty level costs one bitmap test. With 10 ms ticks level 0
//!   spans 640 ms, level 3 about 46 h and level 5 about 22 years.
//! * **The current tick.** Items whose tick is `<=` the current tick (inserted
//!   in the past, or due later inside the tick we are in) live in a small
//!   binary heap keyed by exact due time. This is what makes expiry exact to
//!   the millisecond although slots are `tick_ms` wide: `advance` to the
//!   middle of a tick returns exactly the items due so far, in order, and the
//!   rest wait in the heap for the next call.
//! * **Storage.** Every timer is one 32-byte node (for a `u128` id) in a slab
//!   (`Vec` plus free list) that records which slot it is in and where. A
//!   slot is a `Vec<u32>` of node numbers: cancel is `swap_remove` plus
//!   fixing the position of the node moved into the gap, so O(1). Vectors
//!   rather than intrusive linked lists because emptying a slot then reads
//!   nodes independently instead of chasing pointers, which lets the CPU
//!   overlap the cache misses (expiry about 2x faster at 1M timers).
//!   `id -> node` is a small open-addressing table of `(hash32, node)` pairs
//!   (8 bytes a bucket) that compares keys through the slab; a `std`
//!   `HashMap<u128, u32>` costs 69 bytes an entry at 1M entries on its own.
//! * **Advance.** Find the lowest non-empty level's first occupied slot with
//!   `trailing_zeros` on a per-level occupancy bitmap; if its start tick is
//!   not past the target, jump the clock straight to it and empty it: items
//!   of that exact tick expire (or go to the heap if due after the target
//!   inside the target tick), the rest cascade to lower levels. Empty slots
//!   and levels are never visited, so a 24 h (or 20-year) jump costs
//!   O(levels) per occupied slot, not per tick.
//!
//! # Complexity
//!
//! `insert` and `cancel` are O(1) expected, except for items in the current
//! tick, which pay O(log k) heap work for the k items of that tick. `advance`
//! does O(1) amortised wheel work per item (each item cascades at most once
//! per level, and usually only 2-4 levels are in use) plus a sort of each
//! expired tick's batch, which has at most `tick_ms` distinct keys.
//!
//! # Memory
//!
//! Per timer with a `u128` id: a 32-byte node (16-byte id, 8-byte due, 4-byte
//! slot, 4-byte position), 4 bytes in a slot vector, and 8 bytes per index
//! bucket at a load factor between 3/8 and 3/4, plus `Vec` growth slack:
//! about 45-60 bytes (55 measured with 1M timers over 24 h). After a burst
//! the slab and index keep their size (freed nodes are reused); slot vectors
//! bigger than [`RETAIN`] entries are freed as `advance` empties them.
//!
//! # Subtle points
//!
//! * Re-inserting or cancelling an id that sits in the current-tick heap
//!   leaves a 32-byte zombie node there until its old due time passes (a heap
//!   entry cannot be removed in O(1)); the heap top is kept live, so
//!   `next_due` stays exact. Churn on one id inside one tick is the only way
//!   zombies pile up, and one `advance` past that tick clears them.
//! * `next_due` is a lower bound, not always exact: see its documentation.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::{BuildHasher, Hash};

/// Bits of the tick consumed by each level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Enough 6-bit levels to cover a 64-bit tick (11 * 6 = 66 >= 64), so any
/// `u64` due time has a level and no overflow list is needed.
pub const LEVELS: usize = 11;
/// Number of slots; slot `l * SLOTS + s` is level `l`, slot `s`.
const ALL_SLOTS: usize = LEVELS * SLOTS;

/// "No node": empty free list, empty index bucket. Never a node number.
const NIL: u32 = u32::MAX;
/// `Node::slot` of a live node that sits in the current-tick heap.
const IN_HEAP: u32 = u32::MAX - 2;
/// `Node::slot` of a node cancelled while in the heap: it is no longer
/// indexed or counted, but its slab entry is not reused until the heap pops
/// it, so a heap entry never points at a recycled node.
const ZOMBIE: u32 = u32::MAX - 1;
/// `Node::slot` of a node on the free list.
const FREE: u32 = u32::MAX;
/// A slot emptied by `advance` keeps its allocation for reuse if it has room
/// for at most this many entries (level-0 slots refill every 64 ticks);
/// bigger ones are freed so a burst does not pin memory.
pub const RETAIN: usize = 256;

/// One timer in the slab.
#[derive(Clone, Copy)]
struct Node<K> {
    id: K,
    due: u64,
    /// The slot vector holding the node (`level * SLOTS + slot`), or one of
    /// `IN_HEAP`, `ZOMBIE`, `FREE`.
    slot: u32,
    /// Index in that slot vector; for a `FREE` node, the next free node.
    pos: u32,
}

/// One bucket of the id index: the low 32 bits of the id's hash and the node
/// holding the id, or `node == NIL` when empty.
#[derive(Clone, Copy)]
struct Bucket {
    hash: u32,
    node: u32,
}

const EMPTY: Bucket = Bucket { hash: 0, node: NIL };

/// `id -> node` map: linear probing over `(hash, node)` buckets, keys compared
/// through the slab so that the id is stored once. Deletion is by backward
/// shift (no tombstones), so probe sequences never degrade.
///
/// Invariants: `buckets.len()` is 0 or a power of two; fewer than 3/4 of the
/// buckets are full, so every probe reaches an empty bucket; every live node
/// is in exactly one bucket, reachable from `hash & mask` without crossing an
/// empty bucket.
struct Index {
    buckets: Vec<Bucket>,
    len: usize,
    hasher: RandomState,
}

impl Index {
    fn new() -> Self {
        Index {
            buckets: Vec::new(),
            len: 0,
            hasher: RandomState::new(),
        }
    }

    fn hash<K: Hash>(&self, id: &K) -> u32 {
        // SipHash output is well mixed, so its low bits are as good as any.
        self.hasher.hash_one(id) as u32
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// Bucket position holding `id`, if present.
    fn find<K: Eq>(&self, hash: u32, id: &K, nodes: &[Node<K>]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        loop {
            let b = self.buckets[pos];
            if b.node == NIL {
                return None;
            }
            if b.hash == hash && nodes[b.node as usize].id == *id {
                return Some(pos);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Bucket position of `node`, which must be indexed under `hash`.
    fn find_node(&self, hash: u32, node: u32) -> usize {
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        loop {
            let b = self.buckets[pos];
            if b.node == node {
                return pos;
            }
            assert!(b.node != NIL, "timing wheel index lost a node");
            pos = (pos + 1) & mask;
        }
    }

    /// Adds `node` under `hash`; the caller has checked that its id is absent.
    fn insert(&mut self, hash: u32, node: u32) {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        self.put(Bucket { hash, node });
        self.len += 1;
    }

    fn put(&mut self, b: Bucket) {
        let mask = self.mask();
        let mut pos = b.hash as usize & mask;
        while self.buckets[pos].node != NIL {
            pos = (pos + 1) & mask;
        }
        self.buckets[pos] = b;
    }

    fn grow(&mut self) {
        let cap = (self.buckets.len() * 2).max(16);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; cap]);
        // The stored hash is enough to re-place a bucket: no key access.
        for b in old.into_iter().filter(|b| b.node != NIL) {
            self.put(b);
        }
    }

    /// Empties bucket `hole` and shifts later members of its probe run back so
    /// that every remaining entry is still reachable from its home bucket.
    fn remove_at(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut pos = hole;
        loop {
            pos = (pos + 1) & mask;
            let b = self.buckets[pos];
            if b.node == NIL {
                break;
            }
            let home = b.hash as usize & mask;
            // `b` may fill the hole iff its home is not cyclically inside
            // (hole, pos], i.e. it is at least as far from home as the hole.
            if pos.wrapping_sub(home) & mask >= pos.wrapping_sub(hole) & mask {
                self.buckets[hole] = b;
                hole = pos;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
    }

    fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

/// A hierarchical timing wheel holding at most one due time per id.
///
/// `K` is the timer id (for Herald a `u128` delivery id). All times are
/// caller-supplied milliseconds; see the [module documentation](self) for the
/// design.
///
/// Invariants (between calls):
/// * `cur_tick == now_ms / tick_ms`.
/// * Every node in a slot has tick `> cur_tick`; level `l` slot `s` holds
///   ticks equal to `cur_tick` above digit `l` with digit `s` at `l`, hence
///   `s >` the current digit, all level-`l` items precede all level-`l+1`
///   items, and bit `s` of `occupied[l]` is set iff that slot is non-empty.
/// * Every node in the heap has tick `<= cur_tick`; the heap's top, if any,
///   is live (not a zombie).
/// * `index.len` is the number of live timers (zombies are not indexed).
pub struct Wheel<K> {
    tick_ms: u64,
    now_ms: u64,
    cur_tick: u64,
    nodes: Vec<Node<K>>,
    /// Head of the free list threaded through `Node::pos`.
    free: u32,
    index: Index,
    /// Node numbers in each slot; `nodes[slots[i][j]]` has `slot == i` and
    /// `pos == j`.
    slots: Box<[Vec<u32>]>,
    /// Bit `s` of `occupied[l]`: slot `l * SLOTS + s` is non-empty.
    occupied: [u64; LEVELS],
    /// Items of the current tick or earlier, by `(due, node)`.
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// Slots emptied by `advance`, for the tests that check idle gaps are
    /// skipped rather than walked.
    #[cfg(test)]
    slot_visits: u64,
}

impl<K> fmt::Debug for Wheel<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("len", &self.index.len)
            .field("current_ms", &self.now_ms)
            .field("tick_ms", &self.tick_ms)
            .finish_non_exhaustive()
    }
}

impl<K: Copy + Eq + Hash> Wheel<K> {
    /// Creates an empty wheel whose clock reads `start_ms`, with slots
    /// `tick_ms` milliseconds wide.
    ///
    /// `tick_ms` only trades cascade work against per-tick sorting: expiry is
    /// exact to the millisecond whatever its value. About 10 ms suits Herald.
    ///
    /// # Panics
    ///
    /// If `tick_ms` is 0.
    pub fn new(start_ms: u64, tick_ms: u64) -> Self {
        assert!(tick_ms > 0, "timing wheel tick must be at least 1 ms");
        Wheel {
            tick_ms,
            now_ms: start_ms,
            cur_tick: start_ms / tick_ms,
            nodes: Vec::new(),
            free: NIL,
            index: Index::new(),
            slots: (0..ALL_SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; LEVELS],
            heap: BinaryHeap::new(),
            #[cfg(test)]
            slot_visits: 0,
        }
    }

    /// Number of timers in the wheel.
    pub fn len(&self) -> usize {
        self.index.len
    }

    /// Whether the wheel holds no timer.
    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// The wheel's clock: the latest time passed to [`advance`](Self::advance),
    /// or the start time.
    pub fn current_ms(&self) -> u64 {
        self.now_ms
    }

    /// Slot width given to [`new`](Self::new).
    pub fn tick_ms(&self) -> u64 {
        self.tick_ms
    }

    /// Schedules `id` at `due_ms`, replacing its previous due time if it is
    /// already present (an id is in the wheel at most once).
    ///
    /// A `due_ms` at or before [`current_ms`](Self::current_ms) is returned by
    /// the next `advance`, whatever time that is given. O(1) expected; O(log k)
    /// if due within the current tick, which holds k items.
    pub fn insert(&mut self, id: K, due_ms: u64) {
        let hash = self.index.hash(&id);
        let Some(pos) = self.index.find(hash, &id, &self.nodes) else {
            let node = self.alloc(id, due_ms);
            self.index.insert(hash, node);
            self.place(node);
            return;
        };
        let node = self.index.buckets[pos].node;
        if self.nodes[node as usize].slot == IN_HEAP {
            // A heap entry cannot be moved in O(1): leave the old node behind
            // as a zombie for the heap to discard, and index a fresh one.
            self.nodes[node as usize].slot = ZOMBIE;
            let fresh = self.alloc(id, due_ms);
            self.index.buckets[pos].node = fresh;
            self.place(fresh);
            self.purge_heap_top();
        } else {
            self.unlink(node);
            self.nodes[node as usize].due = due_ms;
            self.place(node);
        }
    }

    /// Removes `id`; returns whether it was present. O(1) expected.
    pub fn cancel(&mut self, id: K) -> bool {
        let hash = self.index.hash(&id);
        let Some(pos) = self.index.find(hash, &id, &self.nodes) else {
            return false;
        };
        let node = self.index.buckets[pos].node;
        self.index.remove_at(pos);
        if self.nodes[node as usize].slot == IN_HEAP {
            self.nodes[node as usize].slot = ZOMBIE;
            self.purge_heap_top();
        } else {
            self.unlink(node);
            self.release(node);
        }
        true
    }

    /// Moves the clock to `now_ms` and appends to `out` every timer due at or
    /// before it, as `(id, due_ms)` in nondecreasing due order (ties in any
    /// order). Expired timers leave the wheel.
    ///
    /// A `now_ms` earlier than [`current_ms`](Self::current_ms) does not move
    /// the clock back; the call then only returns timers inserted in the past.
    /// Empty stretches of time are skipped, not walked: the cost is O(1)
    /// amortised per expired or cascaded timer plus O(levels) per occupied
    /// slot reached, however far the clock jumps.
    pub fn advance(&mut self, now_ms: u64, out: &mut Vec<(K, u64)>) {
        let target = now_ms.max(self.now_ms);
        let target_tick = target / self.tick_ms;
        // Heap items have ticks <= cur_tick, before anything in the slots.
        self.drain_heap(target, out);
        while let Some((level, slot)) = self.first_occupied() {
            let start = self.slot_start(level, slot);
            if start > target_tick {
                break;
            }
            // Nothing lies between the clock and `start` (this is the earliest
            // occupied slot), so jumping there skips the gap. Levels below
            // `level` are empty and `start` shares the digits above `level`
            // with the old tick, so every other item keeps its slot.
            self.cur_tick = start;
            #[cfg(test)]
            {
                self.slot_visits += 1;
            }
            let list = level * SLOTS + slot;
            // Cascades only go to lower levels, so nothing is linked into this
            // slot while it is taken out and its nodes are redistributed.
            let mut taken = std::mem::take(&mut self.slots[list]);
            self.occupied[level] &= !(1 << slot);
            let batch = out.len();
            for &node in &taken {
                let due = self.nodes[node as usize].due;
                let tick = due / self.tick_ms;
                if tick != start {
                    // tick > start: cascade to a lower level.
                    self.link(node, tick);
                } else if due <= target {
                    self.expire(node, out);
                } else {
                    // Due later inside the target tick (start == target_tick),
                    // which becomes the current tick below.
                    self.push_heap(node, due);
                }
            }
            if taken.capacity() <= RETAIN {
                taken.clear();
                self.slots[list] = taken;
            }
            // All of this batch is in tick `start`; earlier output is in
            // earlier ticks and later slots hold later ticks, so sorting the
            // batch alone keeps `out` ordered.
            out[batch..].sort_unstable_by_key(|&(_, due)| due);
        }
        self.cur_tick = target_tick;
        self.now_ms = target;
    }

    /// A lower bound on the earliest due time, `None` iff the wheel is empty.
    ///
    /// Exact when the earliest timer is in the current tick (or overdue);
    /// otherwise the start of the earliest occupied slot, which is later than
    /// [`current_ms`](Self::current_ms) but may be earlier than the timer:
    /// by less than `tick_ms` for a level-0 slot, by up to the slot's span for
    /// coarser ones. Advancing to it always makes progress (something expires
    /// or cascades and the bound tightens), so a driver that sleeps until
    /// `next_due` wakes at most a few times per level before each expiry and
    /// never spins: a result `<= current_ms()` means a timer is overdue.
    pub fn next_due(&self) -> Option<u64> {
        if let Some(&Reverse((due, _))) = self.heap.peek() {
            return Some(due);
        }
        let (level, slot) = self.first_occupied()?;
        // Cannot overflow: the slot holds a tick >= start, and tick * tick_ms
        // <= due <= u64::MAX.
        Some(self.slot_start(level, slot) * self.tick_ms)
    }

    /// Bytes of heap memory owned by the wheel (slab, index, slots, heap),
    /// counting spare capacity.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<K>>()
            + self.index.heap_bytes()
            + self.heap.capacity() * std::mem::size_of::<Reverse<(u64, u32)>>()
            + self.slots.len() * std::mem::size_of::<Vec<u32>>()
            + self.slots.iter().map(|v| v.capacity() * 4).sum::<usize>()
    }

    /// Lowest non-empty level and its first occupied slot: the earliest
    /// items in the slots (see the struct invariants).
    fn first_occupied(&self) -> Option<(usize, usize)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let slot = self.occupied[level].trailing_zeros() as usize;
        debug_assert!(slot as u64 > (self.cur_tick >> (level as u32 * SLOT_BITS)) & 63);
        Some((level, slot))
    }

    /// First tick covered by `slot` of `level` in the current rotation.
    fn slot_start(&self, level: usize, slot: usize) -> u64 {
        let shift = level as u32 * SLOT_BITS;
        let block = shift + SLOT_BITS;
        // The top level's block is the whole u64 range.
        let above = if block >= 64 {
            0
        } else {
            self.cur_tick >> block << block
        };
        above | (slot as u64) << shift
    }

    /// Puts a node that is in no slot or heap where its due time says.
    fn place(&mut self, node: u32) {
        let due = self.nodes[node as usize].due;
        let tick = due / self.tick_ms;
        if tick <= self.cur_tick {
            self.push_heap(node, due);
        } else {
            self.link(node, tick);
        }
    }

    /// Appends `node` to its slot; `tick > cur_tick`.
    fn link(&mut self, node: u32, tick: u64) {
        debug_assert!(tick > self.cur_tick);
        // The highest base-64 digit where `tick` and the clock differ.
        let level = ((63 - (tick ^ self.cur_tick).leading_zeros()) / SLOT_BITS) as usize;
        let slot = (tick >> (level as u32 * SLOT_BITS)) as usize & (SLOTS - 1);
        let list = level * SLOTS + slot;
        let v = &mut self.slots[list];
        let n = &mut self.nodes[node as usize];
        n.slot = list as u32;
        // Fits: a slot holds fewer nodes than the slab, which is < u32::MAX.
        n.pos = v.len() as u32;
        v.push(node);
        self.occupied[level] |= 1 << slot;
    }

    /// Takes a node out of its slot: `swap_remove`, then tell the node moved
    /// into the gap (if any) its new position.
    fn unlink(&mut self, node: u32) {
        let Node {
            slot: list, pos, ..
        } = self.nodes[node as usize];
        assert!(
            (list as usize) < ALL_SLOTS,
            "timing wheel: unlink of a node that is in no slot"
        );
        let v = &mut self.slots[list as usize];
        debug_assert_eq!(v[pos as usize], node);
        v.swap_remove(pos as usize);
        if let Some(&moved) = v.get(pos as usize) {
            self.nodes[moved as usize].pos = pos;
        } else if v.is_empty() {
            self.occupied[list as usize / SLOTS] &= !(1 << (list as usize % SLOTS));
        }
    }

    fn push_heap(&mut self, node: u32, due: u64) {
        self.nodes[node as usize].slot = IN_HEAP;
        self.heap.push(Reverse((due, node)));
    }

    /// Pops heap items due at or before `upto` into `out`, in order.
    fn drain_heap(&mut self, upto: u64, out: &mut Vec<(K, u64)>) {
        while let Some(&Reverse((due, node))) = self.heap.peek() {
            if due > upto {
                break;
            }
            self.heap.pop();
            if self.nodes[node as usize].slot == ZOMBIE {
                self.release(node);
            } else {
                self.expire(node, out);
            }
        }
        self.purge_heap_top();
    }

    /// Restores "the heap's top is live", which keeps `next_due` exact.
    /// Each zombie is popped once, so this is amortised against its insert.
    fn purge_heap_top(&mut self) {
        while let Some(&Reverse((_, node))) = self.heap.peek() {
            if self.nodes[node as usize].slot != ZOMBIE {
                break;
            }
            self.heap.pop();
            self.release(node);
        }
    }

    /// Reports a live node (already out of its slot or heap) and frees it.
    fn expire(&mut self, node: u32, out: &mut Vec<(K, u64)>) {
        let Node { id, due, .. } = self.nodes[node as usize];
        out.push((id, due));
        let hash = self.index.hash(&id);
        let pos = self.index.find_node(hash, node);
        self.index.remove_at(pos);
        self.release(node);
    }

    fn alloc(&mut self, id: K, due: u64) -> u32 {
        // `place` sets `slot` and `pos`.
        let fresh = Node {
            id,
            due,
            slot: FREE,
            pos: NIL,
        };
        if self.free != NIL {
            let node = self.free;
            self.free = self.nodes[node as usize].pos;
            self.nodes[node as usize] = fresh;
            node
        } else {
            let node = self.nodes.len();
            // NIL is reserved, so node numbers stop just below it.
            assert!(
                node < NIL as usize,
                "timing wheel holds at most 2^32 - 1 timers"
            );
            self.nodes.push(fresh);
            node as u32
        }
    }

    fn release(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        n.slot = FREE;
        n.pos = self.free;
        self.free = node;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    const SEC: u64 = 1_000;
    const HOUR: u64 = 3_600 * SEC;

    fn advance(w: &mut Wheel<u64>, now: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        w.advance(now, &mut out);
        assert_sorted(&out);
        out
    }

    fn assert_sorted(out: &[(u64, u64)]) {
        assert!(
            out.windows(2).all(|p| p[0].1 <= p[1].1),
            "out of order: {out:?}"
        );
    }

    /// Checks every timer fires exactly at its due millisecond: advancing to
    /// `due - 1` does not return it, advancing to `due` does.
    fn check_exact(w: &mut Wheel<u64>, mut timers: Vec<(u64, u64)>) {
        timers.sort_by_key(|&(id, due)| (due, id));
        let mut i = 0;
        while i < timers.len() {
            let due = timers[i].1;
            assert!(advance(w, due - 1).is_empty(), "early before {due}");
            let mut got = advance(w, due);
            got.sort_unstable();
            let mut want: Vec<_> = timers[i..]
                .iter()
                .take_while(|t| t.1 == due)
                .copied()
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "at {due}");
            i += want.len();
        }
        assert!(w.is_empty());
    }

    #[test]
    fn expires_in_due_order() {
        let mut w = Wheel::new(1_000, 10);
        let mut x = 12345u64;
        let mut want = Vec::new();
        for id in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let due = 1_000 + (x >> 20) % (2 * HOUR);
            w.insert(id, due);
            want.push((id, due));
        }
        assert_eq!(w.len(), 5_000);
        let out = advance(&mut w, 1_000 + 2 * HOUR);
        let mut got = out.clone();
        got.sort_by_key(|&(id, due)| (due, id));
        want.sort_by_key(|&(id, due)| (due, id));
        assert_eq!(got, want);
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);
    }

    #[test]
    fn many_timers_in_one_slot() {
        let mut w = Wheel::new(0, 10);
        // 3000 timers in tick 50 (ms 500..=509), three per millisecond.
        for id in 0..3_000 {
            w.insert(id, 500 + id % 10);
        }
        assert!(advance(&mut w, 499).is_empty());
        assert_eq!(w.next_due(), Some(500));
        // Mid-tick: exactly ms 500..=504 expire; the rest wait.
        let out = advance(&mut w, 504);
        assert_eq!(out.len(), 1_500);
        assert!(out
            .iter()
            .all(|&(id, due)| due == 500 + id % 10 && due <= 504));
        assert_eq!(w.len(), 1_500);
        assert_eq!(w.next_due(), Some(505), "exact inside the current tick");
        assert_eq!(advance(&mut w, 505).len(), 300);
        assert_eq!(advance(&mut w, 1_000).len(), 1_200);
        assert!(w.is_empty());
    }

    #[test]
    fn far_future_cascades_in_small_and_large_steps() {
        let start = 7 * SEC + 3;
        let due = start + 30 * HOUR;
        for steps in [SEC, 7 * 60 * SEC + 13, 5 * HOUR, 40 * HOUR] {
            let mut w = Wheel::new(start, 10);
            w.insert(1u64, due);
            w.insert(2u64, due + 1);
            w.insert(3u64, due + 10 * HOUR);
            let mut now = start;
            let mut fired = Vec::new();
            while now < due + 11 * HOUR {
                now = (now + steps).min(due + 11 * HOUR);
                for (id, d) in advance(&mut w, now) {
                    assert!(d <= now);
                    fired.push((id, d, now));
                }
                // Nothing is reported late: the bound is at most `now + step`.
                if let Some(next) = w.next_due() {
                    assert!(next > now);
                }
            }
            let expect_at = |d: u64| (d - start).div_ceil(steps) * steps + start;
            assert_eq!(
                fired,
                vec![
                    (1, due, expect_at(due).min(due + 11 * HOUR)),
                    (2, due + 1, expect_at(due + 1).min(due + 11 * HOUR)),
                    (
                        3,
                        due + 10 * HOUR,
                        expect_at(due + 10 * HOUR).min(due + 11 * HOUR)
                    ),
                ],
                "step {steps}"
            );
        }
        // And exact to the millisecond when driven by next_due.
        let mut w = Wheel::new(start, 10);
        w.insert(1, due);
        let mut wakes = 0;
        while let Some(next) = w.next_due() {
            let out = advance(&mut w, next);
            wakes += 1;
            if !out.is_empty() {
                assert_eq!(out, vec![(1, due)]);
                assert_eq!(w.current_ms(), due);
            }
        }
        assert!(wakes <= 2 * LEVELS, "{wakes} wake-ups");
    }

    #[test]
    fn cancel_before_due_after_cascade_and_unknown() {
        let mut w = Wheel::new(0, 10);
        w.insert(1u64, 30 * HOUR);
        w.insert(2u64, 30 * HOUR + 5);
        w.insert(3u64, 100);
        assert!(!w.cancel(99), "unknown id");
        assert!(w.cancel(3), "before due");
        assert!(!w.cancel(3), "twice");
        assert_eq!(w.len(), 2);
        // Cascade both down to level 0 / the current tick.
        assert!(advance(&mut w, 30 * HOUR - 1).is_empty());
        assert!(advance(&mut w, 30 * HOUR).len() == 1);
        assert!(w.cancel(2), "after cascade, in the current tick");
        assert!(advance(&mut w, 31 * HOUR).is_empty());
        assert!(w.is_empty());
        assert_eq!(w.next_due(), None);

        // Cancel after a partial cascade into a mid level.
        let mut w = Wheel::new(0, 10);
        w.insert(1u64, 30 * HOUR);
        w.insert(2u64, 29 * HOUR);
        assert_eq!(advance(&mut w, 29 * HOUR), vec![(2, 29 * HOUR)]);
        assert!(w.cancel(1));
        assert!(advance(&mut w, u64::MAX).is_empty());
    }

    #[test]
    fn reinsert_moves_item() {
        let mut w = Wheel::new(0, 10);
        w.insert(7u64, 5 * HOUR);
        w.insert(7, 2 * SEC); // earlier
        assert_eq!(w.len(), 1);
        assert!(advance(&mut w, 2 * SEC - 1).is_empty());
        w.insert(7, 3 * HOUR); // later, from the slots
        assert!(advance(&mut w, 3 * HOUR - 1).is_empty());
        assert_eq!(advance(&mut w, 3 * HOUR), vec![(7, 3 * HOUR)]);
        // Re-insert while in the current-tick heap, then move it back out.
        w.insert(8, 3 * HOUR + 5);
        w.insert(8, 3 * HOUR + 3);
        w.insert(8, 3 * HOUR + 9 * SEC);
        assert_eq!(w.len(), 1);
        let next = w.next_due().unwrap();
        assert!(next > 3 * HOUR && next <= 3 * HOUR + 9 * SEC);
        assert!(advance(&mut w, 3 * HOUR + 9 * SEC - 1).is_empty());
        assert_eq!(advance(&mut w, u64::MAX), vec![(8, 3 * HOUR + 9 * SEC)]);
        assert!(w.is_empty());
    }

    #[test]
    fn level_boundaries() {
        for tick in [1, 10] {
            for start_tick in [0, 5, 64 * 64 - 1, 64u64.pow(3) + 17] {
                let mut timers = Vec::new();
                for k in 1..=6u32 {
                    let b = 64u64.pow(k);
                    for t in [b - 1, b, b + 1] {
                        let t = t + start_tick;
                        for extra in [0, tick - 1] {
                            timers.push((timers.len() as u64, t * tick + extra));
                        }
                    }
                    // And absolute boundaries of the tick space.
                    if b > start_tick {
                        timers.push((timers.len() as u64, b * tick));
                    }
                }
                let mut w = Wheel::new(start_tick * tick, tick);
                for &(id, d) in &timers {
                    w.insert(id, d);
                }
                check_exact(&mut w, timers);
            }
        }
    }

    #[test]
    fn advance_to_same_time_twice() {
        let mut w = Wheel::new(100, 10);
        w.insert(1u64, 150);
        assert_eq!(advance(&mut w, 150), vec![(1, 150)]);
        assert!(advance(&mut w, 150).is_empty());
        assert_eq!(w.current_ms(), 150);
        // Going "back" does not move the clock.
        assert!(advance(&mut w, 120).is_empty());
        assert_eq!(w.current_ms(), 150);
    }

    #[test]
    fn items_inserted_in_the_past() {
        let mut w = Wheel::new(10 * SEC, 10);
        w.insert(1u64, 10 * SEC); // exactly now
        w.insert(2u64, 3);
        w.insert(3u64, 9 * SEC + 995);
        w.insert(4u64, 10 * SEC + 1); // future, same tick
        assert_eq!(w.next_due(), Some(3));
        // Due at the next advance, even one that does not move the clock.
        assert_eq!(
            advance(&mut w, 0),
            vec![(2, 3), (3, 9 * SEC + 995), (1, 10 * SEC)]
        );
        assert_eq!(w.next_due(), Some(10 * SEC + 1));
        assert_eq!(advance(&mut w, 20 * SEC), vec![(4, 10 * SEC + 1)]);
        // Far in the past after a big jump.
        w.insert(5, 0);
        assert_eq!(advance(&mut w, 20 * SEC), vec![(5, 0)]);
    }

    #[test]
    fn extreme_due_times() {
        let mut w = Wheel::new(0, 10);
        w.insert(1u64, u64::MAX);
        w.insert(2u64, u64::MAX - 1);
        w.insert(3u64, 1 << 63);
        w.insert(4u64, 1);
        assert_eq!(advance(&mut w, 1), vec![(4, 1)]);
        assert!(w.next_due().unwrap() > 1);
        assert_eq!(advance(&mut w, (1 << 63) - 1), vec![]);
        assert_eq!(advance(&mut w, 1 << 63), vec![(3, 1 << 63)]);
        assert_eq!(advance(&mut w, u64::MAX - 2), vec![]);
        assert_eq!(
            advance(&mut w, u64::MAX),
            vec![(2, u64::MAX - 1), (1, u64::MAX)]
        );
        w.insert(9, u64::MAX);
        assert_eq!(advance(&mut w, 0), vec![(9, u64::MAX)]);
    }

    #[test]
    fn idle_gaps_are_skipped() {
        let mut w = Wheel::new(0, 1);
        // A 10-year jump with 1 ms ticks would be 3e11 ticks if walked.
        let year = 365 * 24 * HOUR;
        for (id, d) in [(1u64, year), (2, 5 * year + 17), (3, 10 * year - 1)] {
            w.insert(id, d);
        }
        assert!(advance(&mut w, year / 2).is_empty());
        let out = advance(&mut w, 10 * year);
        assert_eq!(out.len(), 3);
        assert!(w.slot_visits <= 3 * LEVELS as u64, "{}", w.slot_visits);
        w.slot_visits = 0;
        assert!(advance(&mut w, u64::MAX).is_empty());
        assert_eq!(w.slot_visits, 0);
    }

    #[test]
    fn index_survives_growth_and_churn() {
        let mut w = Wheel::new(0, 10);
        let mut x = 99u64;
        let mut model = HashMap::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 20_000;
            // A third cancels (`is_multiple_of` is newer than Herald's MSRV).
            if x % 3 < 1 {
                assert_eq!(w.cancel(id), model.remove(&id).is_some());
            } else {
                let due = (x >> 32) % HOUR;
                w.insert(id, due);
                model.insert(id, due);
            }
        }
        assert_eq!(w.len(), model.len());
        let mut got = advance(&mut w, HOUR);
        got.sort_unstable();
        let mut want: Vec<_> = model.into_iter().collect();
        want.sort_unstable();
        assert_eq!(got, want);
        assert!(w.nodes.len() <= 20_000);
    }

    #[test]
    fn node_is_32_bytes_for_u128_ids() {
        assert_eq!(std::mem::size_of::<Node<u128>>(), 32);
        assert_eq!(std::mem::size_of::<Node<u64>>(), 24);
    }

    // ---- property tests against a BTreeSet model ----

    #[derive(Debug, Clone)]
    enum Due {
        After(u64),
        Before(u64),
        Abs(u64),
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, Due),
        Cancel(u16),
        Advance(u64),
        /// Advance exactly to `next_due()`.
        AdvanceToNextDue,
        /// Advance to a time before the clock.
        AdvanceBack(u64),
    }

    fn due() -> impl Strategy<Value = Due> {
        prop_oneof![
            4 => (0u64..300).prop_map(Due::After),
            3 => (0u64..200_000).prop_map(Due::After),
            2 => (0u64..60 * HOUR).prop_map(Due::After),
            1 => (0u64..1 << 44).prop_map(Due::After),
            1 => any::<u64>().prop_map(Due::After),
            1 => (0u64..1_000).prop_map(Due::Before),
            1 => prop_oneof![
                Just(u64::MAX),
                (0u64..20).prop_map(|x| u64::MAX - x),
                (1u32..11).prop_map(|k| 64u64.pow(k).saturating_mul(10)),
            ]
            .prop_map(Due::Abs),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let id = 0u16..48;
        prop_oneof![
            8 => (id.clone(), due()).prop_map(|(i, d)| Op::Insert(i, d)),
            2 => id.prop_map(Op::Cancel),
            2 => (0u64..25).prop_map(Op::Advance),
            2 => (0u64..2_000).prop_map(Op::Advance),
            2 => (0u64..3 * HOUR).prop_map(Op::Advance),
            1 => (0u64..1 << 45).prop_map(Op::Advance),
            1 => Just(Op::Advance(u64::MAX / 3)),
            2 => Just(Op::AdvanceToNextDue),
            1 => (0u64..100).prop_map(Op::AdvanceBack),
        ]
    }

    fn start() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..100_000,
            Just(64u64.pow(3) * 10 - 3),
            any::<u64>().prop_map(|x| x >> 1),
            (u64::MAX - 2_000_000)..=u64::MAX,
        ]
    }

    fn tick() -> impl Strategy<Value = u64> {
        prop_oneof![Just(1u64), Just(10), Just(64), 1u64..=1_000]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn matches_model(
            start in start(),
            tick in tick(),
            ops in prop::collection::vec(op(), 1..150),
        ) {
            let mut w: Wheel<u16> = Wheel::new(start, tick);
            let mut by_due: BTreeSet<(u64, u16)> = BTreeSet::new();
            let mut by_id: HashMap<u16, u64> = HashMap::new();
            let mut now = start;
            let mut out = Vec::new();
            for op in ops {
                let target = match op {
                    Op::Insert(id, d) => {
                        let due = match d {
                            Due::After(x) => now.saturating_add(x),
                            Due::Before(x) => now.saturating_sub(x),
                            Due::Abs(x) => x,
                        };
                        w.insert(id, due);
                        if let Some(old) = by_id.insert(id, due) {
                            by_due.remove(&(old, id));
                        }
                        by_due.insert((due, id));
                        None
                    }
                    Op::Cancel(id) => {
                        let present = by_id.remove(&id).map(|d| by_due.remove(&(d, id)));
                        prop_assert_eq!(w.cancel(id), present.is_some());
                        None
                    }
                    Op::Advance(step) => Some(now.saturating_add(step)),
                    Op::AdvanceToNextDue => w.next_due(),
                    Op::AdvanceBack(x) => Some(now.saturating_sub(x)),
                };
                if let Some(t) = target {
                    out.clear();
                    w.advance(t, &mut out);
                    now = now.max(t);
                    prop_assert_eq!(w.current_ms(), now);
                    prop_assert!(out.windows(2).all(|p| p[0].1 <= p[1].1), "order {:?}", out);
                    let mut want = Vec::new();
                    while let Some(&(d, id)) = by_due.first() {
                        if d > now {
                            break;
                        }
                        by_due.pop_first();
                        by_id.remove(&id);
                        want.push((id, d));
                    }
                    let mut got = out.clone();
                    got.sort_by_key(|&(id, d)| (d, id));
                    prop_assert_eq!(got, want);
                }
                prop_assert_eq!(w.len(), by_due.len());
                prop_assert_eq!(w.is_empty(), by_due.is_empty());
                let min = by_due.first().map(|&(d, _)| d);
                match (w.next_due(), min) {
                    (None, None) => {}
                    (Some(nd), Some(min)) => {
                        prop_assert!(nd <= min, "next_due {} > earliest {}", nd, min);
                        // Never a busy loop: "due now" only if something is.
                        if nd <= now {
                            prop_assert!(min <= now);
                        }
                        // Within a tick of the truth when it is at level 0.
                        if Some(min / tick) == (now / tick).checked_add(1) {
                            prop_assert!(min - nd < tick);
                        }
                    }
                    (nd, min) => prop_assert!(false, "next_due {:?} vs earliest {:?}", nd, min),
                }
            }
        }
    }
}
