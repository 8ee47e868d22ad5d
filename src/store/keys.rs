//! The key layout of the single sled tree.
//!
//! One tree holds every table, each under its own prefix, so that any set of
//! writes can be one atomic batch. No prefix is a prefix of another.
//! Multi-byte numbers and ids are big-endian so byte order is numeric and
//! time order; variable-length parts (tenant ids) carry a length byte so a
//! prefix scan for tenant `a` never returns tenant `ab`.

use crate::domain::ids::{EndpointId, KeyId};

pub const TENANT: &[u8] = b"t/";
pub const KEY: &[u8] = b"k/";
pub const KEY_HASH: &[u8] = b"kh/";
pub const USER: &[u8] = b"u/";
pub const ENDPOINT: &[u8] = b"e/";
pub const ENDPOINT_BY_TENANT: &[u8] = b"et/";
pub const ENDPOINT_URL: &[u8] = b"eu/";

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

/// The last 16 bytes of an index key, read as an id.
pub fn trailing_id(key: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key[start..].try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Timestamp;

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
    fn table_prefixes_are_disjoint() {
        let all: [&[u8]; 8] = [
            b"m/",
            TENANT,
            KEY,
            KEY_HASH,
            USER,
            ENDPOINT,
            ENDPOINT_BY_TENANT,
            ENDPOINT_URL,
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
