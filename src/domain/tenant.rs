//! Tenants: the platform's customers, each with its own endpoints and keys.

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
}

/// Whether `id` is a well-formed tenant id: 1–64 of `[A-Za-z0-9_.-]`.
///
/// The charset keeps ids safe in URLs, headers, log lines and storage keys.
pub fn valid_tenant_id(id: &str) -> bool {
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
}
