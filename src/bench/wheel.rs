//! The time wheel alone: N timers spread over 24 h.

use std::hint::black_box;
use std::time::Instant;

use super::{fig, Figure};
use crate::delivery::wheel::Wheel;

const DAY_MS: u64 = 24 * 3_600 * 1_000;
const START: u64 = 1_767_225_600_003;

/// splitmix64: deterministic, no dependency.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn run(n: usize) -> Vec<Figure> {
    let mut s = 42u64;
    let timers: Vec<(u128, u64)> = (0..n)
        .map(|_| {
            let id = ((next(&mut s) as u128) << 64) | next(&mut s) as u128;
            (id, START + 1 + next(&mut s) % DAY_MS)
        })
        .collect();
    let mut wheel = Wheel::new(START, 10);
    let t = Instant::now();
    for (id, due) in &timers {
        wheel.insert(*id, *due);
    }
    let insert = t.elapsed().as_secs_f64();
    let bytes = wheel.heap_bytes() as f64;
    let mut out = Vec::with_capacity(n);
    let t = Instant::now();
    // Advance a minute at a time through the day, as the scheduler would
    // after idling.
    let mut now = START;
    while now <= START + DAY_MS + 60_000 {
        now += 60_000;
        wheel.advance(now, &mut out);
        black_box(out.len());
    }
    let expire = t.elapsed().as_secs_f64();
    assert_eq!(out.len(), n, "every timer expires");
    vec![
        fig("timers", n as f64, "count"),
        fig("insert throughput", n as f64 / insert, "timers/s"),
        fig(
            "expiry throughput (1-minute steps over 24 h)",
            n as f64 / expire,
            "timers/s",
        ),
        fig("wheel memory per timer", bytes / n as f64, "bytes"),
        fig("wheel memory", bytes / (1 << 20) as f64, "MiB"),
    ]
}
