//! API key management (platform key only). Key texts are shown once.

use serde::Deserialize;

use super::{Caller, Herald, Page, PageRequest, Result, ServiceError};
use crate::domain::apikey::{
    generate_key_text, hash_key, key_hint, requested_scope, ApiKey, KeyScope, ScopeAsked,
    ScopeError, MAX_KEY_NAME, MIN_SUPPLIED_KEY_LEN,
};
use crate::domain::ids::KeyId;
use crate::domain::logtext::log_text;

/// `POST /api/v1/keys`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for.
    pub name: String,
    /// Bind it to this tenant.
    pub tenant_id: Option<String>,
    /// `"platform"` makes a key for every tenant (required without
    /// `tenant_id`: platform scope is never the default); `"tenant"` is
    /// what a `tenant_id` implies.
    #[serde(default)]
    pub scope: Option<ScopeAsked>,
}

/// A key just created: the record and its text, which is never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The key text; shown once.
    pub text: String,
}

/// The input field a scope refusal is about.
fn scope_field(e: &ScopeError) -> &'static str {
    match e {
        ScopeError::Unstated | ScopeError::PlatformWithTenant => "scope",
        ScopeError::TenantMissing => "tenant_id",
    }
}

impl Herald {
    /// Creates a key.
    pub fn create_key(&self, caller: &Caller, input: NewKey) -> Result<CreatedKey> {
        self.require_platform(caller)?;
        let scope = requested_scope(input.tenant_id, input.scope)
            .map_err(|e| ServiceError::invalid(scope_field(&e), e.to_string()))?;
        match &scope {
            KeyScope::Platform => {}
            KeyScope::Tenant(t) => {
                if self.store.tenant(t)?.is_none() {
                    return Err(ServiceError::invalid(
                        "tenant_id",
                        format!("no tenant {t:?}; create it first (POST /api/v1/tenants)"),
                    ));
                }
            }
        }
        let text = generate_key_text(&scope);
        self.insert_key(&input.name, scope, text)
    }

    /// Stores a key with the given text (generated, or supplied by the
    /// operator through `HERALD_PLATFORM_KEY`).
    pub(super) fn insert_key(
        &self,
        name: &str,
        scope: KeyScope,
        text: String,
    ) -> Result<CreatedKey> {
        if name.trim().is_empty() || name.chars().count() > MAX_KEY_NAME {
            return Err(ServiceError::invalid(
                "name",
                format!("must be 1 to {MAX_KEY_NAME} characters"),
            ));
        }
        if text.len() < MIN_SUPPLIED_KEY_LEN {
            return Err(ServiceError::invalid(
                "key",
                format!("must be at least {MIN_SUPPLIED_KEY_LEN} characters"),
            ));
        }
        let now = self.clock.now();
        let key = ApiKey {
            id: KeyId::new(now),
            name: name.to_string(),
            scope,
            hash: hash_key(&text),
            hint: key_hint(&text),
            created_at: now,
            revoked_at: None,
        };
        self.store.insert_key(&key)?;
        log::info!("API key {} ({}) created", key.id, log_text(&key.name));
        Ok(CreatedKey { key, text })
    }

    /// Lists keys, oldest first (revoked ones included, marked).
    pub fn list_keys(&self, caller: &Caller, page: &PageRequest) -> Result<Page<ApiKey>> {
        self.require_platform(caller)?;
        let after = page.after_id()?.map(KeyId::from_bytes);
        let items = self.store.list_keys(after, page.limit + 1)?;
        Ok(Page::from_overfetch(items, page.limit, |k| {
            k.id.to_bytes().to_vec()
        }))
    }

    /// Revokes a key; revoking a revoked key changes nothing.
    pub fn revoke_key(&self, caller: &Caller, id: &str) -> Result<ApiKey> {
        self.require_platform(caller)?;
        let id: KeyId = id.parse().map_err(|_| ServiceError::NotFound("API key"))?;
        let mut key = self
            .store
            .key(id)?
            .ok_or(ServiceError::NotFound("API key"))?;
        if key.revoked_at.is_none() {
            key.revoked_at = Some(self.clock.now());
            self.store.put_key(&key)?;
            log::info!("API key {} ({}) revoked", key.id, log_text(&key.name));
        }
        Ok(key)
    }
}
