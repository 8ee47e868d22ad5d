//! Tenants: the platform's customers, each with its own endpoints and keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// The longest tenant id accepted.
pub const MAX_TENANT_ID: usize = 64;
/// The longest tenant name accepted.
pub const MAX_TENANT_NAME: usize = 200;

/// A tenant. Its id is the platform's own tenant id (e.g. `company_xyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The platform's tenant id.
    pub id: String,
    /// A display name; defaults to the id.
    pub name: String,
    /// While suspended, events are accepted and stored but not delivered.
    pub suspended: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Free key/value pairs for the platform's own use (Svix's application
    /// `metadata`; checked like an endpoint's).
    pub metadata: BTreeMap<String, String>,
}

/// Whether `id` may name a new tenant: 1–64 of `[A-Za-z0-9_.-]`, not
/// made only of dots.
///
/// The charset keeps ids safe in URLs, headers, log lines and storage keys;
/// `.` and `..` (or any run of dots) are refused because URL parsers treat
/// them as path segments to remove (`/tenants/../suspend` becomes
/// `/suspend`), so such a tenant could not be named in a path.
pub fn valid_tenant_id(id: &str) -> bool {
    well_formed_tenant_id(id) && !id.bytes().all(|b| b == b'.')
}

/// Whether `id` could name a stored tenant: the charset and length of
/// [`valid_tenant_id`] without the dot rule, so tenants created before that
/// rule (e.g. `..`) can still be named to look them up and act on them.
pub fn well_formed_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TENANT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_charset() {
        assert!(valid_tenant_id("company_xyz"));
        assert!(valid_tenant_id("acme-1.eu"));
        assert!(!valid_tenant_id(""));
        assert!(!valid_tenant_id("a b"));
        assert!(!valid_tenant_id("x/y"));
        assert!(!valid_tenant_id(&"a".repeat(65)));
    }

    #[test]
    fn tenant_ids_made_only_of_dots_are_refused_for_new_tenants() {
        for id in [".", "..", "...", &".".repeat(64)] {
            assert!(!valid_tenant_id(id), "{id:?}");
            assert!(
                well_formed_tenant_id(id),
                "{id:?} still names a stored tenant"
            );
        }
        for id in [".a", "a.", "..a", "a..b", ".-.", "_..", "1.2"] {
            assert!(valid_tenant_id(id), "{id:?}");
        }
        for id in ["", "a b", "x/y", "./..", &".".repeat(65)] {
            assert!(!well_formed_tenant_id(id), "{id:?}");
            assert!(!valid_tenant_id(id), "{id:?}");
        }
    }
}
