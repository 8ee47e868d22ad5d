//! How many API connections fit in the process's open-file limit once the
//! delivery pool and the store have what they need: pure arithmetic, so the
//! numbers are tested without changing the process's limits.
//!
//! Every accepted connection holds a descriptor. Without a cap, a flood of
//! idle connections takes the descriptors the delivery workers need for
//! their sockets, and deliveries fail with "Too many open files" (issue
//! 13). With it, connections over the cap wait in the kernel's listen
//! backlog, which holds no descriptor of ours: the API slows, deliveries
//! go on.

/// Descriptors kept for each delivery worker: the socket of its request,
/// an idle pooled keep-alive socket (the pool holds one per worker), and a
/// transient one for name resolution, with one to spare.
pub const FDS_PER_DELIVERY_WORKER: u64 = 4;

/// Descriptors kept for everything else: sled's files, the standard
/// streams, actix's and the runtime's pollers and wakers, the metrics
/// listener and its few connections, the blocking pool's file reads.
/// Herald holds about 25 idle with the default 16 workers; this leaves
/// room for growth.
pub const OTHER_FDS: u64 = 256;

/// The API connections the open-file limit leaves, and how they divide
/// among the HTTP workers (actix applies its cap per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The open-file limit the budget was computed from (`None`: unknown,
    /// e.g. on a platform without `RLIMIT_NOFILE`).
    pub nofile: Option<u64>,
    /// Descriptors kept for the delivery pool.
    pub delivery_reserve: u64,
    /// Descriptors kept for the store and the rest ([`OTHER_FDS`]).
    pub other_reserve: u64,
    /// Connections each HTTP worker accepts at most.
    pub per_http_worker: usize,
    /// All HTTP workers together: `per_http_worker × http_workers`, at
    /// most what was asked for unless that is fewer than one per worker.
    pub api_connections: usize,
    /// Whether the limit lowered what was asked for.
    pub lowered: bool,
}

/// The budget for `requested` API connections under an open-file limit
/// of `nofile` (`None` when unknown: the request stands), with
/// `delivery_workers` delivery threads and `http_workers` HTTP workers.
/// Every HTTP worker accepts at least one connection, so the API never
/// stops answering whatever the limit.
pub fn connection_budget(
    nofile: Option<u64>,
    delivery_workers: usize,
    http_workers: usize,
    requested: usize,
) -> ConnectionBudget {
    let http_workers = http_workers.max(1);
    let delivery_reserve = FDS_PER_DELIVERY_WORKER.saturating_mul(delivery_workers as u64);
    let fits = match nofile {
        Some(n) => {
            usize::try_from(n.saturating_sub(delivery_reserve + OTHER_FDS)).unwrap_or(usize::MAX)
        }
        None => usize::MAX,
    };
    let total = requested.min(fits);
    let per_http_worker = (total / http_workers).max(1);
    ConnectionBudget {
        nofile,
        delivery_reserve,
        other_reserve: OTHER_FDS,
        per_http_worker,
        api_connections: per_http_worker * http_workers,
        lowered: fits < requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generous_limit_leaves_the_request_divided_among_workers() {
        let b = connection_budget(Some(65_536), 16, 2, 10_000);
        assert_eq!(b.delivery_reserve, 64);
        assert_eq!(b.per_http_worker, 5_000);
        assert_eq!(b.api_connections, 10_000);
        assert!(!b.lowered);
        // Division rounds down, never over the request.
        let b = connection_budget(Some(65_536), 16, 3, 10_000);
        assert_eq!((b.per_http_worker, b.api_connections), (3_333, 9_999));
    }

    #[test]
    fn the_limit_lowers_the_request_after_the_reserves() {
        // The old unit's 1,024: 1024 - 16×4 - 256 = 704 connections.
        let b = connection_budget(Some(1_024), 16, 2, 10_000);
        assert_eq!(b.api_connections, 704);
        assert_eq!(b.per_http_worker, 352);
        assert!(b.lowered);
        // Reserves plus connections stay within the limit.
        for (nofile, workers, http) in [(1_024, 16, 4), (4_096, 512, 4), (65_536, 64, 1)] {
            let b = connection_budget(Some(nofile), workers, http, usize::MAX);
            assert!(b.api_connections as u64 + b.delivery_reserve + b.other_reserve <= nofile);
        }
    }

    #[test]
    fn every_worker_keeps_one_connection_and_unknown_limits_keep_the_request() {
        let b = connection_budget(Some(100), 512, 4, 10_000);
        assert_eq!((b.per_http_worker, b.api_connections), (1, 4));
        assert!(b.lowered);
        let b = connection_budget(Some(65_536), 16, 4, 2);
        assert_eq!((b.per_http_worker, b.api_connections), (1, 4));
        let b = connection_budget(None, 16, 2, 8);
        assert_eq!((b.per_http_worker, b.api_connections), (4, 8));
        assert!(!b.lowered);
        assert_eq!(connection_budget(Some(0), 0, 0, 0).per_http_worker, 1);
    }
}
