//! The key layout of the single sled tree.
//!
//! One tree holds every table, each under its own prefix, so that any set of
//! writes can be one atomic batch. No prefix is a prefix of another.
//! Multi-byte numbers and ids are big-endian so byte order is numeric and
//! time order; variable-length parts (tenant ids) carry a length byte so a
//! prefix scan for tenant `a` never returns tenant `ab`.

use crate::domain::ids::{AttemptId, DeliveryId, EndpointId, KeyId};
use crate::domain::stats::Grain;
use crate::domain::time::Timestamp;
use crate::store::RowKey;

pub const TENANT: &[u8] = b"t/";
pub const KEY: &[u8] = b"k/";
pub const KEY_HASH: &[u8] = b"kh/";
pub const USER: &[u8] = b"u/";
/// A key's last use (`ku/` ‖ key id), written at most once a minute.
pub const KEY_USE: &[u8] = b"ku/";
/// A user's last login (`ul/` ‖ username).
pub const USER_LOGIN: &[u8] = b"ul/";
pub const ENDPOINT: &[u8] = b"e/";
pub const ENDPOINT_BY_TENANT: &[u8] = b"et/";
pub const ENDPOINT_URL: &[u8] = b"eu/";
/// (tenant, uid) → endpoint id, for endpoints that have a `uid`.
pub const ENDPOINT_UID: &[u8] = b"ep/";
pub const EVENT: &[u8] = b"ev/";
pub const EVENT_ID: &[u8] = b"ei/";
pub const IDEMPOTENCY: &[u8] = b"ik/";
pub const DELIVERY: &[u8] = b"d/";
pub const DELIVERY_BY_ENDPOINT: &[u8] = b"dn/";
pub const DELIVERY_BY_TENANT: &[u8] = b"dt/";
pub const DUE: &[u8] = b"q/";
pub const HELD: &[u8] = b"h/";
/// `dp/ ‖ endpoint ‖ delivery`: deliveries not ended (pending), per endpoint.
pub const PENDING: &[u8] = b"dp/";
pub const ATTEMPT: &[u8] = b"a/";
pub const HEALTH: &[u8] = b"eh/";
pub const SESSION: &[u8] = b"s/";
pub const STATS_MINUTE: &[u8] = b"sm/";
pub const STATS_HOUR: &[u8] = b"sh/";
pub const STATS_DAY: &[u8] = b"sd/";
pub const ALERT: &[u8] = b"al/";
pub const ALERT_HISTORY: &[u8] = b"ah/";
/// Remembered answers of idempotent requests (`ir/` ‖ scope hash).
pub const ANSWER: &[u8] = b"ir/";
/// Custom event types (`ty/` ‖ name).
pub const EVENT_TYPE: &[u8] = b"ty/";

pub const META_SCHEMA: &[u8] = b"m/schema_version";
pub const META_BOOTSTRAPPED: &[u8] = b"m/bootstrapped";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// `len ‖ tenant`: tenant ids are at most 64 bytes, so one length byte.
fn tenant_part(tenant: &str) -> Vec<u8> {
    cat(&[&[tenant.len() as u8], tenant.as_bytes()])
}

pub fn tenant(id: &str) -> Vec<u8> {
    cat(&[TENANT, id.as_bytes()])
}

pub fn key(id: KeyId) -> Vec<u8> {
    cat(&[KEY, &id.to_bytes()])
}

pub fn key_hash(hash: &[u8; 32]) -> Vec<u8> {
    cat(&[KEY_HASH, hash])
}

pub fn user(name: &str) -> Vec<u8> {
    cat(&[USER, name.as_bytes()])
}

pub fn key_use(id: KeyId) -> Vec<u8> {
    cat(&[KEY_USE, &id.to_bytes()])
}

pub fn event_type(name: &str) -> Vec<u8> {
    cat(&[EVENT_TYPE, name.as_bytes()])
}

pub fn user_login(name: &str) -> Vec<u8> {
    cat(&[USER_LOGIN, name.as_bytes()])
}

/// `s/ ‖ SHA-256 of the session id`.
pub fn session(id_hash: &[u8; 32]) -> Vec<u8> {
    cat(&[SESSION, id_hash])
}

pub fn endpoint(id: EndpointId) -> Vec<u8> {
    cat(&[ENDPOINT, &id.to_bytes()])
}

pub fn endpoints_of(tenant: &str) -> Vec<u8> {
    cat(&[ENDPOINT_BY_TENANT, &tenant_part(tenant)])
}

pub fn endpoint_by_tenant(tenant: &str, id: EndpointId) -> Vec<u8> {
    cat(&[&endpoints_of(tenant), &id.to_bytes()])
}

pub fn endpoint_url(tenant: &str, url: &str) -> Vec<u8> {
    cat(&[ENDPOINT_URL, &tenant_part(tenant), url.as_bytes()])
}

pub fn endpoint_uid(tenant: &str, uid: &str) -> Vec<u8> {
    cat(&[ENDPOINT_UID, &tenant_part(tenant), uid.as_bytes()])
}

pub fn answer(scope: &[u8; 32]) -> Vec<u8> {
    cat(&[ANSWER, scope])
}

pub fn event(key: u128) -> Vec<u8> {
    cat(&[EVENT, &key.to_be_bytes()])
}

pub fn event_id(tenant: &str, id: &str) -> Vec<u8> {
    cat(&[EVENT_ID, &tenant_part(tenant), id.as_bytes()])
}

pub fn idempotency(tenant: &str, key: &str) -> Vec<u8> {
    cat(&[IDEMPOTENCY, &tenant_part(tenant), key.as_bytes()])
}

pub fn delivery(id: DeliveryId) -> Vec<u8> {
    cat(&[DELIVERY, &id.to_bytes()])
}

pub fn delivery_by_endpoint(ep: EndpointId, id: DeliveryId) -> Vec<u8> {
    cat(&[DELIVERY_BY_ENDPOINT, &ep.to_bytes(), &id.to_bytes()])
}

pub fn delivery_by_tenant(tenant: &str, id: DeliveryId) -> Vec<u8> {
    cat(&[DELIVERY_BY_TENANT, &tenant_part(tenant), &id.to_bytes()])
}

/// `q/ ‖ due ms (8, big-endian) ‖ delivery id`: the durable retry queue,
/// in due order. Times before 1970 do not occur; negative values clamp to 0.
pub fn due(at: Timestamp, id: DeliveryId) -> Vec<u8> {
    let ms = at.as_millis().max(0) as u64;
    cat(&[DUE, &ms.to_be_bytes(), &id.to_bytes()])
}

/// Decodes a [`due`] key.
pub fn parse_due(key: &[u8]) -> Option<(Timestamp, DeliveryId)> {
    let rest = key.strip_prefix(DUE)?;
    if rest.len() != 24 {
        return None;
    }
    let ms = u64::from_be_bytes(rest[..8].try_into().ok()?);
    let id = DeliveryId::from_bytes(rest[8..].try_into().ok()?);
    Some((Timestamp::from_millis(ms as i64), id))
}

pub fn held_of(ep: EndpointId) -> Vec<u8> {
    cat(&[HELD, &ep.to_bytes()])
}

pub fn held(ep: EndpointId, id: DeliveryId) -> Vec<u8> {
    cat(&[HELD, &ep.to_bytes(), &id.to_bytes()])
}

pub fn pending_of(ep: EndpointId) -> Vec<u8> {
    cat(&[PENDING, &ep.to_bytes()])
}

pub fn pending(ep: EndpointId, id: DeliveryId) -> Vec<u8> {
    cat(&[PENDING, &ep.to_bytes(), &id.to_bytes()])
}

/// `s?/ ‖ len ‖ tenant ‖ bucket start ms (8, BE) ‖ endpoint`: a tenant's
/// stats rows in time order, so a window is one range scan.
pub fn stats(table: &[u8], tenant: &str, start: Timestamp, ep: EndpointId) -> Vec<u8> {
    let ms = start.as_millis().max(0) as u64;
    cat(&[
        table,
        &tenant_part(tenant),
        &ms.to_be_bytes(),
        &ep.to_bytes(),
    ])
}

/// The first key of a tenant's stats rows from `start` on.
pub fn stats_from(table: &[u8], tenant: &str, start: Timestamp) -> Vec<u8> {
    let ms = start.as_millis().max(0) as u64;
    cat(&[table, &tenant_part(tenant), &ms.to_be_bytes()])
}

/// The prefix of a tenant's stats rows.
pub fn stats_of(table: &[u8], tenant: &str) -> Vec<u8> {
    cat(&[table, &tenant_part(tenant)])
}

pub fn alert(rule: u8, ep: EndpointId) -> Vec<u8> {
    cat(&[ALERT, &[rule], &ep.to_bytes()])
}

pub fn alert_history(at: Timestamp, seq: u128) -> Vec<u8> {
    let ms = at.as_millis().max(0) as u64;
    cat(&[ALERT_HISTORY, &ms.to_be_bytes(), &seq.to_be_bytes()])
}

pub fn health(ep: EndpointId) -> Vec<u8> {
    cat(&[HEALTH, &ep.to_bytes()])
}

pub fn deliveries_of_endpoint(ep: EndpointId) -> Vec<u8> {
    cat(&[DELIVERY_BY_ENDPOINT, &ep.to_bytes()])
}

pub fn deliveries_of_tenant(tenant: &str) -> Vec<u8> {
    cat(&[DELIVERY_BY_TENANT, &tenant_part(tenant)])
}

pub fn attempts_of(id: DeliveryId) -> Vec<u8> {
    cat(&[ATTEMPT, &id.to_bytes()])
}

pub fn attempt(id: DeliveryId, att: AttemptId) -> Vec<u8> {
    cat(&[ATTEMPT, &id.to_bytes(), &att.to_bytes()])
}

/// The table of a statistics grain.
pub fn stats_table(grain: Grain) -> &'static [u8] {
    match grain {
        Grain::Minute => STATS_MINUTE,
        Grain::Hour => STATS_HOUR,
        Grain::Day => STATS_DAY,
    }
}

/// Splits `len ‖ tenant ‖ rest`.
fn split_tenant(key: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = key.split_first()?;
    let len = usize::from(len);
    let tenant = std::str::from_utf8(rest.get(..len)?).ok()?;
    Some((tenant.to_string(), &rest[len..]))
}

/// The sled key of a backend-neutral row name.
pub fn row(r: &RowKey) -> Vec<u8> {
    match r {
        RowKey::Stats {
            grain,
            tenant,
            start_ms,
            endpoint,
        } => stats(
            stats_table(*grain),
            tenant,
            Timestamp::from_millis(*start_ms),
            *endpoint,
        ),
        RowKey::AlertHistory { at_ms, seq } => alert_history(Timestamp::from_millis(*at_ms), *seq),
        RowKey::Idempotency { tenant, key } => idempotency(tenant, key),
    }
}

/// Names a stored row's key (the inverse of [`row`]) for the kinds the
/// retention purge removes.
pub fn parse_row(key: &[u8]) -> Option<RowKey> {
    if let Some(rest) = key.strip_prefix(IDEMPOTENCY) {
        let (tenant, k) = split_tenant(rest)?;
        let key = std::str::from_utf8(k).ok()?.to_string();
        return Some(RowKey::Idempotency { tenant, key });
    }
    if let Some(rest) = key.strip_prefix(ALERT_HISTORY) {
        let at_ms = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as i64;
        let seq = u128::from_be_bytes(rest.get(8..)?.try_into().ok()?);
        return Some(RowKey::AlertHistory { at_ms, seq });
    }
    for grain in Grain::ALL {
        if let Some(rest) = key.strip_prefix(stats_table(grain)) {
            let (tenant, rest) = split_tenant(rest)?;
            let start_ms = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as i64;
            let endpoint = EndpointId::from_bytes(rest.get(8..)?.try_into().ok()?);
            return Some(RowKey::Stats {
                grain,
                tenant,
                start_ms,
                endpoint,
            });
        }
    }
    None
}

/// The last 16 bytes of an index key, read as an id.
pub fn trailing_id(key: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key[start..].try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purged_row_keys_parse_back() {
        let endpoint = EndpointId::new(Timestamp::from_millis(7));
        for r in [
            RowKey::Stats {
                grain: Grain::Hour,
                tenant: "acme".into(),
                start_ms: 3_600_000,
                endpoint,
            },
            RowKey::AlertHistory { at_ms: 5, seq: 9 },
            RowKey::Idempotency {
                tenant: "acme".into(),
                key: "order-1".into(),
            },
        ] {
            assert_eq!(parse_row(&row(&r)), Some(r));
        }
        assert_eq!(parse_row(&tenant("acme")), None);
    }

    #[test]
    fn tenant_prefixes_do_not_overlap() {
        let id = EndpointId::new(Timestamp::from_millis(1));
        assert!(!endpoint_by_tenant("ab", id).starts_with(&endpoints_of("a")));
        assert!(endpoint_by_tenant("a", id).starts_with(&endpoints_of("a")));
        assert_eq!(
            trailing_id(&endpoint_by_tenant("a", id)),
            Some(id.to_bytes())
        );
    }

    #[test]
    fn due_keys_sort_by_time_then_id() {
        let a = DeliveryId::new(Timestamp::from_millis(5));
        let k1 = due(Timestamp::from_millis(1_000), a);
        let k2 = due(Timestamp::from_millis(256), a);
        assert!(k2 < k1, "big-endian time order");
        assert_eq!(parse_due(&k1), Some((Timestamp::from_millis(1_000), a)));
        assert_eq!(parse_due(b"q/short"), None);
    }

    #[test]
    fn table_prefixes_are_disjoint() {
        let all: [&[u8]; 29] = [
            ANSWER,
            EVENT_TYPE,
            KEY_USE,
            USER_LOGIN,
            ALERT,
            ALERT_HISTORY,
            HEALTH,
            SESSION,
            STATS_MINUTE,
            STATS_HOUR,
            STATS_DAY,
            b"m/",
            TENANT,
            KEY,
            KEY_HASH,
            USER,
            ENDPOINT,
            ENDPOINT_BY_TENANT,
            ENDPOINT_URL,
            ENDPOINT_UID,
            EVENT,
            EVENT_ID,
            IDEMPOTENCY,
            DELIVERY,
            DELIVERY_BY_ENDPOINT,
            DELIVERY_BY_TENANT,
            DUE,
            HELD,
            ATTEMPT,
        ];
        for a in all {
            for b in all {
                if a != b {
                    assert!(!a.starts_with(b), "{a:?} vs {b:?}");
                }
            }
        }
    }
}
