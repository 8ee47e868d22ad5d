//! Start-up recovery: N overdue retries in sled, then a cold reopen.
//!
//! Measures what a restart after an outage costs before the first retry
//! can be sent: opening the data directory, reading the first page of the
//! due index (what the scheduler does first), and paging through all of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{fig, rss_bytes, Figure};
use crate::clock::{Clock, SystemClock};
use crate::domain::delivery::{Delivery, DeliveryState};
use crate::domain::event::Event;
use crate::domain::ids::{new_ulid, DeliveryId, EndpointId};
use crate::store::{Location, NewEvent, Store, StoreError};

const BATCH: usize = 1000;
const PAGE: usize = 10_000;

pub(super) fn open(dir: &std::path::Path) -> Result<std::sync::Arc<dyn Store>, String> {
    let location = Location::Sled {
        dir: dir.to_path_buf(),
        cache_bytes: 64 << 20,
    };
    // The previous handle's committer thread may still be letting go.
    for _ in 0..100 {
        match crate::app::open_store(&location, Arc::new(SystemClock)) {
            Err(StoreError::Locked { .. }) => std::thread::sleep(Duration::from_millis(50)),
            other => return other.map_err(|e| e.to_string()),
        }
    }
    Err("the data directory stayed locked".into())
}

/// Writes `n` pending deliveries (one per event, round-robin over
/// `endpoints`) due at `due`, in group-committed batches of 1000 events.
pub fn fill(
    store: &dyn Store,
    tenant: &str,
    endpoints: &[EndpointId],
    n: usize,
    due: crate::domain::time::Timestamp,
) -> Result<(), String> {
    let now = SystemClock.now();
    let mut written = 0;
    while written < n {
        let batch: Vec<NewEvent> = (0..BATCH.min(n - written))
            .map(|i| {
                let endpoint = endpoints[(written + i) % endpoints.len()];
                let key = new_ulid(now).0;
                let d = Delivery {
                    id: DeliveryId::new(now),
                    event_key: key,
                    // Named as the server names events sent without an id.
                    event_id: crate::domain::event::generated_id(key),
                    event_type: "order.created".into(),
                    endpoint_id: endpoint,
                    tenant_id: tenant.into(),
                    state: DeliveryState::Pending,
                    attempts: 1,
                    next_attempt_at: Some(due),
                    held: false,
                    last_status: Some(503),
                    last_error: None,
                    created_at: now,
                    updated_at: now,
                };
                NewEvent {
                    event: Event {
                        key,
                        id: d.event_id.clone(),
                        tenant_id: tenant.into(),
                        event_type: "order.created".into(),
                        created: now,
                        received_at: now,
                        body: br#"{"id":"evt","data":{"object":{}}}"#.to_vec(),
                        deliveries: vec![(d.id.as_u128(), endpoint.as_u128())],
                        channels: Vec::new(),
                        tags: Vec::new(),
                    },
                    deliveries: vec![d],
                }
            })
            .collect();
        written += batch.len();
        store
            .commit_events(batch, None)
            .wait()
            .map_err(|e| e.to_string())?;
    }
    store.flush().map_err(|e| e.to_string())
}

pub fn run(n: usize) -> Result<Vec<Figure>, String> {
    let tmp = std::env::temp_dir().join(format!("herald-bench-recovery-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let clock = SystemClock;
    let now = clock.now();
    let overdue = now.plus_millis(-3_600_000);
    let endpoint = EndpointId::new(now);
    let t = Instant::now();
    {
        let store = open(&tmp)?;
        fill(store.as_ref(), "bench", &[endpoint], n, overdue)?;
    }
    let write = t.elapsed().as_secs_f64();

    let rss_before = rss_bytes();
    let t = Instant::now();
    let store: Arc<dyn Store> = open(&tmp)?;
    let opened = t.elapsed().as_secs_f64();
    let horizon = now.plus_millis(15 * 60_000);
    let first = store
        .due_between(None, horizon, PAGE)
        .map_err(|e| e.to_string())?;
    let first_page = t.elapsed().as_secs_f64();
    let mut cursor = first.last().map(|d| (d.due, d.delivery));
    let mut total = first.len();
    while let Some(c) = cursor {
        let page = store
            .due_between(Some(c), horizon, PAGE)
            .map_err(|e| e.to_string())?;
        total += page.len();
        cursor = page.last().map(|d| (d.due, d.delivery));
    }
    let full_scan = t.elapsed().as_secs_f64();
    let disk = store.size_on_disk().map_err(|e| e.to_string())? as f64;
    let rss = rss_bytes();
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);
    if total != n {
        return Err(format!("found {total} of {n} pending retries"));
    }
    Ok(vec![
        fig("pending retries", n as f64, "count"),
        fig(
            "write rate (group-committed batches of 1000)",
            n as f64 / write,
            "retries/s",
        ),
        fig("reopen the data directory", opened * 1000.0, "ms"),
        fig(
            "open + first page of due retries (first retry can go)",
            first_page * 1000.0,
            "ms",
        ),
        fig(
            "open + page through every due retry",
            full_scan * 1000.0,
            "ms",
        ),
        fig("size on disk", disk / (1 << 20) as f64, "MiB"),
        fig("RSS after the scan", rss as f64 / (1 << 20) as f64, "MiB"),
        fig(
            "RSS growth from reopening and scanning",
            rss.saturating_sub(rss_before) as f64 / (1 << 20) as f64,
            "MiB",
        ),
    ])
}
