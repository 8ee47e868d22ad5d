//! Several Herald nodes on one database: the [`ClusterStore`] on
//! PostgreSQL.
//!
//! A delivery row carries `lease_owner` (a node's name), `lease_until`
//! (unix ms) and `sending`. Three short transactions move them, none
//! held across an HTTP request:
//!
//! - a **claim** (`sending` false): the node that committed an event
//!   claims its due deliveries in the same transaction (it sends them at
//!   once), and every node claims due rows no one holds in batches,
//!   `FOR UPDATE SKIP LOCKED`, so nodes never wait on each other's rows;
//!   a claim lasts [`CLAIM_MS`];
//! - the **send lease** (`sending` true), taken just before the request
//!   under the endpoint's advisory lock, which is also where the
//!   per-endpoint cap is counted across nodes; it lasts longer than the
//!   request may take;
//! - the outcome's write (in the committer's cycle) clears this node's
//!   claim or lease.
//!
//! A node that dies leaves its claims and leases to expire; any node then
//! takes the rows (the claim query treats an expired holder as none), and
//! the sweeper clears what is left. The `herald_due` channel wakes nodes
//! when a write leaves due rows that no node holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::pool::{Db, Spec};
use super::{decode_opt, id16, limit, PgStore};
use crate::domain::delivery::Delivery;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::time::Timestamp;
use crate::store::{Acquired, ClusterStore, Due, NodeInfo, Result};

pub(super) use crate::store::CLAIM_MS;

/// The cycle's commit when it left due rows no node holds.
pub(super) const NOTIFY_AND_COMMIT: &str = "NOTIFY herald_due; COMMIT";

/// The first key of the endpoint advisory locks (the second is taken
/// from the endpoint id's random bits).
const ENDPOINT_LOCK: i32 = 0x6865_7270;

/// This process as a node of the cluster.
pub(super) struct Node {
    /// Its name in leases: host, process id and a random suffix, so a
    /// restarted process never mistakes an earlier one's leases for its own.
    pub name: String,
    /// When it started.
    pub started: Timestamp,
    /// Whether it claims nothing at ingest (its engine has a backlog).
    shedding: AtomicBool,
}

impl Node {
    /// A node named after this host and process.
    pub fn new(started: Timestamp) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "herald".into());
        let suffix = crate::domain::ids::new_ulid(started).to_string();
        let suffix = suffix.get(suffix.len() - 6..).unwrap_or("").to_lowercase();
        Self {
            name: format!("{host}-{}-{suffix}", std::process::id()),
            started,
            shedding: AtomicBool::new(false),
        }
    }

    /// Whether ingest leaves its deliveries unclaimed.
    pub fn shedding(&self) -> bool {
        self.shedding.load(Ordering::Relaxed)
    }
}

/// The second key of an endpoint's advisory lock: bits of the id's random
/// part (two endpoints sharing it only take turns).
fn endpoint_lock_key(endpoint: EndpointId) -> i32 {
    let b = endpoint.to_bytes();
    i32::from_be_bytes([b[12], b[13], b[14], b[15]])
}

impl ClusterStore for PgStore {
    fn node(&self) -> &str {
        &self.node.name
    }

    fn claim_due(
        &self,
        now: Timestamp,
        until: Timestamp,
        claim_until: Timestamp,
        n: usize,
    ) -> Result<Vec<Due>> {
        let node = self.node.name.clone();
        let rows = self.run(move |db| {
            db.query(
                "UPDATE deliveries d SET lease_owner = $1, lease_until = $2, sending = false \
                 FROM (SELECT id FROM deliveries \
                       WHERE due_at IS NOT NULL AND due_at <= $3 \
                       AND (lease_owner IS NULL OR lease_until < $4) \
                       ORDER BY due_at LIMIT $5 FOR UPDATE SKIP LOCKED) c \
                 WHERE d.id = c.id RETURNING d.due_at, d.id, d.endpoint",
                &[
                    &node,
                    &claim_until.as_millis(),
                    &until.as_millis(),
                    &now.as_millis(),
                    &limit(n),
                ],
            )
        })?;
        let mut due = rows
            .iter()
            .map(|r| {
                Ok(Due {
                    due: Timestamp::from_millis(r.get(0)),
                    delivery: DeliveryId::from_bytes(id16(&r.get::<_, Vec<u8>>(1), "delivery id")?),
                    endpoint: EndpointId::from_bytes(id16(&r.get::<_, Vec<u8>>(2), "endpoint id")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        due.sort_by_key(|d| (d.due, d.delivery.to_bytes()));
        Ok(due)
    }

    fn acquire(
        &self,
        delivery: DeliveryId,
        endpoint: EndpointId,
        now: Timestamp,
        until: Timestamp,
        cap: usize,
    ) -> Result<Acquired> {
        let node = self.node.name.clone();
        let (id, ep) = (delivery.to_bytes().to_vec(), endpoint.to_bytes().to_vec());
        let key = endpoint_lock_key(endpoint);
        let cap = limit(cap);
        self.transaction(move |db| {
            // Counting and taking under the endpoint's lock: two nodes
            // counting at once would each see room for one more.
            db.execute(
                "SELECT pg_advisory_xact_lock($1::int4, $2::int4)",
                &[&ENDPOINT_LOCK, &key],
            )?;
            let busy: i64 = db
                .query_opt(
                    "SELECT count(*) FROM deliveries \
                     WHERE endpoint = $1 AND sending AND lease_until >= $2 AND id <> $3",
                    &[&ep, &now.as_millis(), &id],
                )?
                .map_or(0, |r| r.get(0));
            if busy >= cap {
                return Ok(Acquired::Busy);
            }
            let row = db.query_opt(
                "UPDATE deliveries SET lease_owner = $2, lease_until = $3, sending = true \
                 WHERE id = $1 AND due_at IS NOT NULL AND due_at <= $4 \
                 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $4) \
                 RETURNING v",
                &[&id, &node, &until.as_millis(), &now.as_millis()],
            )?;
            Ok(match decode_opt::<Delivery>(row)? {
                Some(d) => Acquired::Mine(Box::new(d)),
                None => Acquired::Skip,
            })
        })
    }

    fn release(&self, delivery: DeliveryId) -> Result<()> {
        let node = self.node.name.clone();
        let id = delivery.to_bytes().to_vec();
        self.run(move |db| {
            db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, sending = false \
                 WHERE id = $1 AND lease_owner = $2",
                &[&id, &node],
            )
            .map(drop)
        })
    }

    fn sweep(&self, before: Timestamp) -> Result<u64> {
        self.run(move |db| {
            let n = db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, sending = false \
                 WHERE lease_owner IS NOT NULL AND lease_until < $1",
                &[&before.as_millis()],
            )?;
            // Nodes not heard of for a day are gone for good.
            db.execute(
                "DELETE FROM nodes WHERE seen < $1",
                &[&before.plus_millis(-86_400_000).as_millis()],
            )?;
            Ok(n)
        })
    }

    fn hold_role(&self, role: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        let node = self.node.name.clone();
        let role = role.to_string();
        self.run(move |db| {
            Ok(db
                .query_opt(
                    "INSERT INTO roles (name, owner, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until \
                     WHERE roles.owner = excluded.owner OR roles.until < $4 RETURNING owner",
                    &[&role, &node, &until.as_millis(), &now.as_millis()],
                )?
                .is_some())
        })
    }

    fn shed(&self, on: bool) {
        self.node.shedding.store(on, Ordering::Relaxed);
    }

    fn heartbeat(&self, now: Timestamp) -> Result<()> {
        let node = self.node.name.clone();
        let started = self.node.started;
        self.run(move |db| {
            db.execute(
                "INSERT INTO nodes (name, started, seen) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET seen = excluded.seen",
                &[&node, &started.as_millis(), &now.as_millis()],
            )
            .map(drop)
        })
    }

    fn nodes(&self, since: Timestamp) -> Result<Vec<NodeInfo>> {
        let rows = self.run(move |db| {
            db.query(
                "SELECT name, started, seen FROM nodes WHERE seen >= $1 ORDER BY name",
                &[&since.as_millis()],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| NodeInfo {
                name: r.get(0),
                started: Timestamp::from_millis(r.get(1)),
                seen: Timestamp::from_millis(r.get(2)),
            })
            .collect())
    }

    fn watch(&self, wake: Box<dyn Fn() + Send>) -> Result<()> {
        let spec = self.spec.clone();
        let alive = Arc::downgrade(&self.alive);
        std::thread::Builder::new()
            .name("herald-pg-listen".into())
            .spawn(move || listen(spec, alive, wake))
            .map(drop)
            .map_err(|e| crate::store::StoreError::Io(format!("starting the listener: {e}")))
    }

    fn leave(&self) -> Result<()> {
        let node = self.node.name.clone();
        self.run(move |db| {
            db.execute(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, sending = false \
                 WHERE lease_owner = $1",
                &[&node],
            )?;
            db.execute("DELETE FROM roles WHERE owner = $1", &[&node])?;
            db.execute("DELETE FROM nodes WHERE name = $1", &[&node])?;
            Ok(())
        })
    }
}

/// The listener thread: its own connection, `LISTEN herald_due`, a wake
/// per burst of notifications; reconnects after a second when the
/// connection breaks; ends once the store is gone.
fn listen(spec: Spec, alive: Weak<()>, wake: Box<dyn Fn() + Send>) {
    let mut warned = false;
    while alive.upgrade().is_some() {
        let mut db = match Db::connect(&spec).and_then(|mut db| {
            db.batch("LISTEN herald_due")?;
            Ok(db)
        }) {
            Ok(db) => db,
            Err(e) => {
                if !warned {
                    log::warn!("cluster: cannot listen for due deliveries ({e}); retrying");
                    warned = true;
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        warned = false;
        // The connection may have missed notifications while it was down.
        wake();
        loop {
            if alive.upgrade().is_none() {
                return;
            }
            match db.wait_notifications(Duration::from_millis(500)) {
                Ok(0) => {}
                Ok(_) => wake(),
                Err(e) => {
                    log::warn!("cluster: the listening connection broke ({e}); reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::store::conformance::{end, new_event, t0};
    use crate::store::{DeliveryStore, EventStore};

    /// Two nodes on one fresh schema (the first drops it at the end).
    fn two_nodes() -> (PgStore, PgStore) {
        let url = super::super::tests::test_url();
        let a = PgStore::temporary(&url).expect("node a");
        let b = PgStore::open_in(&url, &a.spec.schema, Arc::new(crate::clock::SystemClock))
            .expect("node b");
        assert_ne!(
            a.node(),
            b.node(),
            "every process start is a node of its own"
        );
        (a, b)
    }

    fn ids(due: &[Due]) -> Vec<DeliveryId> {
        due.iter().map(|d| d.delivery).collect()
    }

    #[test]
    fn claims_leases_and_the_cap_hold_across_nodes() {
        let (a, b) = two_nodes();
        let at = t0();
        let ep = EndpointId::new(at);
        // Committed on a: its due deliveries are a's claim.
        let ne = new_event("acme", at, None, &[ep, ep, ep]);
        let d: Vec<Delivery> = ne.deliveries.clone();
        a.commit_events(vec![ne], None).wait().unwrap();
        let later = at.plus_millis(100);
        let far = later.plus_millis(60_000);
        assert!(
            b.claim_due(later, later, far, 10).unwrap().is_empty(),
            "a's"
        );
        assert!(
            a.claim_due(later, later, far, 10).unwrap().is_empty(),
            "already a's"
        );
        // b may not send them either, while a's claim holds ...
        assert_eq!(
            b.acquire(d[0].id, ep, later, far, 4).unwrap(),
            Acquired::Skip
        );
        // ... but once it has lapsed (a stalled or died), b claims them all.
        let lapsed = at.plus_millis(CLAIM_MS + 1);
        let claimed = b
            .claim_due(lapsed, lapsed, lapsed.plus_millis(CLAIM_MS), 10)
            .unwrap();
        let mut want: Vec<DeliveryId> = d.iter().map(|d| d.id).collect();
        want.sort_by_key(|i| i.to_bytes());
        let mut got = ids(&claimed);
        got.sort_by_key(|i| i.to_bytes());
        assert_eq!(got, want);
        assert!(
            b.claim_due(lapsed, lapsed, far, 10).unwrap().is_empty(),
            "claimed once"
        );

        // The send lease: b takes it; a cannot, even with a claim of its own gone.
        let send_until = lapsed.plus_millis(30_000);
        let Acquired::Mine(d0) = b.acquire(d[0].id, ep, lapsed, send_until, 2).unwrap() else {
            panic!("b sends d0");
        };
        assert_eq!(d0.id, d[0].id);
        assert_eq!(
            a.acquire(d[0].id, ep, lapsed, send_until, 2).unwrap(),
            Acquired::Skip
        );
        // The cap counts every node's requests in flight: 2 allowed, a
        // takes the second (b's claim of d1 has lapsed for a at this time) ...
        let after_claims = lapsed.plus_millis(CLAIM_MS + 1);
        assert!(matches!(
            a.acquire(
                d[1].id,
                ep,
                after_claims,
                after_claims.plus_millis(30_000),
                2
            )
            .unwrap(),
            Acquired::Mine(_)
        ));
        // ... and the third waits, on either node.
        for n in [&a, &b] {
            assert_eq!(
                n.acquire(
                    d[2].id,
                    ep,
                    after_claims,
                    after_claims.plus_millis(30_000),
                    2
                )
                .unwrap(),
                Acquired::Busy
            );
        }
        // b records d0's attempt: its lease ends, and with it one of the
        // two requests in flight.
        end(&b, &d0, after_claims, 200);
        assert!(matches!(
            b.acquire(
                d[2].id,
                ep,
                after_claims,
                after_claims.plus_millis(120_000),
                2
            )
            .unwrap(),
            Acquired::Mine(_)
        ));
        // Ended: nobody sends it again.
        assert_eq!(
            a.acquire(d[0].id, ep, far, far.plus_millis(1), 2).unwrap(),
            Acquired::Skip
        );
        // A send lease that expired (its node died mid-request) is free to
        // take, and no longer counts against the cap.
        let expired = after_claims.plus_millis(30_001);
        assert!(matches!(
            b.acquire(d[1].id, ep, expired, expired.plus_millis(30_000), 2)
                .unwrap(),
            Acquired::Mine(_)
        ));
        // Giving it back lets another node take it at once.
        b.release(d[1].id).unwrap();
        assert!(
            matches!(
                a.acquire(d[1].id, ep, expired, expired.plus_millis(30_000), 1)
                    .unwrap(),
                Acquired::Busy
            ),
            "d2 is still in flight on b"
        );
        b.release(d[2].id).unwrap();
        assert!(matches!(
            a.acquire(d[1].id, ep, expired, expired.plus_millis(30_000), 1)
                .unwrap(),
            Acquired::Mine(_)
        ));
        // A clean stop gives back everything a holds.
        a.leave().unwrap();
        assert!(matches!(
            b.acquire(d[1].id, ep, expired, expired.plus_millis(30_000), 1)
                .unwrap(),
            Acquired::Mine(_)
        ));
        // The sweeper clears what has expired.
        assert_eq!(
            b.sweep(far.plus_millis(120_000)).unwrap(),
            1,
            "b's lease of d1"
        );
        drop(b);
    }

    #[test]
    fn a_shedding_node_leaves_its_ingest_to_the_others_and_wakes_them() {
        let (a, b) = two_nodes();
        let (tx, rx) = crossbeam_channel::unbounded();
        b.watch(Box::new(move || {
            let _ = tx.send(());
        }))
        .unwrap();
        // The listener's first wake-up comes once it listens.
        rx.recv_timeout(Duration::from_secs(10)).expect("listening");
        let at = t0();
        let ep = EndpointId::new(at);
        a.shed(true);
        let ne = new_event("acme", at, None, &[ep]);
        let id = ne.deliveries[0].id;
        a.commit_events(vec![ne], None).wait().unwrap();
        rx.recv_timeout(Duration::from_secs(10)).expect("b is told");
        let now = at.plus_millis(1);
        assert_eq!(
            ids(&b
                .claim_due(now, now, now.plus_millis(CLAIM_MS), 10)
                .unwrap()),
            vec![id]
        );
        // Not shedding, a claims what it commits, and tells nobody.
        a.shed(false);
        a.commit_events(vec![new_event("acme", at, None, &[ep])], None)
            .wait()
            .unwrap();
        assert!(b
            .claim_due(now, now, now.plus_millis(CLAIM_MS), 10)
            .unwrap()
            .is_empty());
        drop(b);
    }

    #[test]
    fn one_node_holds_a_role_until_it_lapses_and_heartbeats_list_nodes() {
        let (a, b) = two_nodes();
        let at = t0();
        assert!(a.hold_role("retention", at, at.plus_millis(1_000)).unwrap());
        assert!(!b
            .hold_role("retention", at.plus_millis(10), at.plus_millis(1_010))
            .unwrap());
        // The holder renews it; the other takes it only once it lapsed.
        assert!(a
            .hold_role("retention", at.plus_millis(500), at.plus_millis(1_500))
            .unwrap());
        assert!(!b
            .hold_role("retention", at.plus_millis(1_400), at.plus_millis(2_400))
            .unwrap());
        assert!(b
            .hold_role("retention", at.plus_millis(1_501), at.plus_millis(2_500))
            .unwrap());
        assert!(!a
            .hold_role("retention", at.plus_millis(1_600), at.plus_millis(2_600))
            .unwrap());
        // Roles are separate.
        assert!(a.hold_role("backups", at, at.plus_millis(1_000)).unwrap());

        a.heartbeat(at).unwrap();
        b.heartbeat(at.plus_millis(5_000)).unwrap();
        let names = |since: i64| -> Vec<String> {
            a.nodes(at.plus_millis(since))
                .unwrap()
                .into_iter()
                .map(|n| n.name)
                .collect()
        };
        let mut both = vec![a.node().to_string(), b.node().to_string()];
        both.sort();
        assert_eq!(names(0), both);
        assert_eq!(names(1_000), vec![b.node().to_string()]);
        a.leave().unwrap();
        assert_eq!(names(0), vec![b.node().to_string()]);
        assert!(
            b.hold_role("backups", at, at.plus_millis(1_000)).unwrap(),
            "a gave it up"
        );
        drop(b);
    }

    #[test]
    fn a_delivery_is_claimed_by_one_of_many_concurrent_claimers() {
        let (a, b) = two_nodes();
        let at = t0();
        let ep = EndpointId::new(at);
        a.shed(true);
        let eps = vec![ep; 200];
        a.commit_events(vec![new_event("acme", at, None, &eps)], None)
            .wait()
            .unwrap();
        let now = at.plus_millis(1);
        let claim = |s: PgStore| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let page = s.claim_due(now, now, now.plus_millis(CLAIM_MS), 7).unwrap();
                    if page.is_empty() {
                        return got;
                    }
                    got.extend(ids(&page));
                }
            })
        };
        let (ta, tb) = (claim(a.clone()), claim(b.clone()));
        let (ga, gb) = (ta.join().unwrap(), tb.join().unwrap());
        let mut all: Vec<_> = ga.iter().chain(&gb).map(|i| i.to_bytes()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "no delivery claimed twice");
        assert_eq!(n, 200, "every one claimed");
        drop(b);
    }

    /// Two nodes' committers recording attempts of the same endpoints at
    /// once, in opposite orders, in large cycles: every write succeeds
    /// (no deadlock between their transactions) and every attempt counts.
    #[test]
    fn two_committers_count_the_same_endpoints_without_deadlock() {
        use crate::domain::delivery::{DeliveryState, Verdict};
        use crate::store::conformance::attempt;
        let (a, b) = two_nodes();
        let at = t0();
        let eps: Vec<EndpointId> = (0..8).map(|_| EndpointId::new(at)).collect();
        // Each node records its own deliveries (the send lease sees to
        // that), to the same endpoints: what they share is the endpoints'
        // health and statistics rows.
        let (ne, ne2) = (
            new_event("acme", at, None, &eps),
            new_event("acme", at, None, &eps),
        );
        let (ds, ds2) = (ne.deliveries.clone(), ne2.deliveries.clone());
        a.commit_events(vec![ne, ne2], None).wait().unwrap();
        const ROUNDS: usize = 25;
        let run = |s: PgStore, ds: Vec<Delivery>, reverse: bool| {
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mut order = ds.clone();
                    if reverse {
                        order.reverse();
                    }
                    // Queued together: they land in one or two cycles.
                    let tickets: Vec<_> = order
                        .iter()
                        .map(|d| {
                            let a =
                                attempt(d, at.plus_millis(round as i64), Some(500), Verdict::Retry);
                            let after = Delivery {
                                attempts: d.attempts + 1,
                                state: DeliveryState::Pending,
                                ..d.clone()
                            };
                            s.record_attempt(&after, &a)
                        })
                        .collect();
                    for t in tickets {
                        t.wait().expect("recorded");
                    }
                }
            })
        };
        let (ta, tb) = (run(a.clone(), ds, false), run(b.clone(), ds2, true));
        ta.join().unwrap();
        tb.join().unwrap();
        for ep in &eps {
            let h = crate::store::StatsStore::endpoint_health(&a, *ep).unwrap();
            assert_eq!(h.consecutive_failures, 2 * ROUNDS as u32, "{h:?}");
        }
        drop(b);
    }
}
