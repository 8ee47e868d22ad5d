//! API keys: random bearer tokens, stored only as SHA-256 hashes.
//!
//! A key carries 256 bits of entropy, so a fast hash is enough to store it
//! (no password stretching needed): an attacker with the data directory
//! cannot invert SHA-256 of a random 32-byte value.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::KeyId;
use super::time::Timestamp;

/// Prefix of generated platform keys.
pub const PLATFORM_PREFIX: &str = "hpk_";
/// Prefix of generated tenant keys.
pub const TENANT_PREFIX: &str = "htk_";
/// The shortest operator-supplied key accepted (`HERALD_PLATFORM_KEY`).
pub const MIN_SUPPLIED_KEY_LEN: usize = 32;
/// The longest key name accepted.
pub const MAX_KEY_NAME: usize = 200;

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyScope {
    /// Acts for any tenant, naming it with `X-Tenant-ID`; manages tenants and keys.
    Platform,
    /// Bound to one tenant.
    Tenant(String),
}

/// A stored API key (never the key text itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Its id, used to list and revoke it.
    pub id: KeyId,
    /// A name the operator chose.
    pub name: String,
    /// Platform or tenant.
    pub scope: KeyScope,
    /// SHA-256 of the key text.
    pub hash: [u8; 32],
    /// The first characters of the key, so an operator can tell keys apart.
    pub hint: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<Timestamp>,
}

/// The scope a key creation asks for in so many words (`"scope"` in the
/// API, `--platform` / `--tenant` in the CLI, the panel's scope choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeAsked {
    /// Every tenant.
    Platform,
    /// The tenant named alongside.
    Tenant,
}

/// Why a key creation's scope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Neither a tenant nor platform scope: a platform key (every tenant)
    /// is never the silent default.
    #[error(
        "name a tenant_id for a tenant key; a key for every tenant needs \"scope\": \"platform\" (CLI: --platform)"
    )]
    Unstated,
    /// Platform scope and a tenant together.
    #[error(
        "a platform key acts for every tenant: drop tenant_id, or drop \"scope\": \"platform\""
    )]
    PlatformWithTenant,
    /// Tenant scope without a tenant.
    #[error("\"scope\": \"tenant\" needs a tenant_id")]
    TenantMissing,
}

/// The scope of a new key from what the caller asked: a tenant key when a
/// tenant is named, a platform key only when platform scope is asked for
/// explicitly (a forgotten tenant must not make a key for every tenant).
pub fn requested_scope(
    tenant: Option<String>,
    asked: Option<ScopeAsked>,
) -> Result<KeyScope, ScopeError> {
    match (tenant.filter(|t| !t.is_empty()), asked) {
        (Some(t), None | Some(ScopeAsked::Tenant)) => Ok(KeyScope::Tenant(t)),
        (Some(_), Some(ScopeAsked::Platform)) => Err(ScopeError::PlatformWithTenant),
        (None, Some(ScopeAsked::Platform)) => Ok(KeyScope::Platform),
        (None, Some(ScopeAsked::Tenant)) => Err(ScopeError::TenantMissing),
        (None, None) => Err(ScopeError::Unstated),
    }
}

/// Generates a key text: prefix + base64url of 32 random bytes.
pub fn generate_key_text(scope: &KeyScope) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = match scope {
        KeyScope::Platform => PLATFORM_PREFIX,
        KeyScope::Tenant(_) => TENANT_PREFIX,
    };
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored hash of a key text.
pub fn hash_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The display hint of a key text: its first 8 characters and an ellipsis.
pub fn key_hint(text: &str) -> String {
    let head: String = text.chars().take(8).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_random_and_prefixed() {
        let a = generate_key_text(&KeyScope::Platform);
        let b = generate_key_text(&KeyScope::Tenant("t".into()));
        assert!(a.starts_with("hpk_") && a.len() == 4 + 43, "{a}");
        assert!(b.starts_with("htk_"));
        assert_ne!(hash_key(&a), hash_key(&b));
        assert_eq!(key_hint(&a).chars().count(), 9);
    }

    #[test]
    fn platform_scope_is_only_ever_explicit() {
        let t = || Some("acme".to_string());
        let tenant = Ok(KeyScope::Tenant("acme".into()));
        assert_eq!(requested_scope(t(), None), tenant);
        assert_eq!(requested_scope(t(), Some(ScopeAsked::Tenant)), tenant);
        assert_eq!(
            requested_scope(None, Some(ScopeAsked::Platform)),
            Ok(KeyScope::Platform)
        );
        assert_eq!(requested_scope(None, None), Err(ScopeError::Unstated));
        assert_eq!(
            requested_scope(Some(String::new()), None),
            Err(ScopeError::Unstated),
            "an empty tenant is no tenant"
        );
        assert_eq!(
            requested_scope(t(), Some(ScopeAsked::Platform)),
            Err(ScopeError::PlatformWithTenant)
        );
        assert_eq!(
            requested_scope(None, Some(ScopeAsked::Tenant)),
            Err(ScopeError::TenantMissing)
        );
        assert!(ScopeError::Unstated
            .to_string()
            .contains("\"scope\": \"platform\""));
    }
}
