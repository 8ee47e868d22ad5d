//! API key management (platform key only). Key texts are shown once.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

use super::{Caller, Herald, Page, PageRequest, Result, ServiceError};
use crate::domain::apikey::{
    generate_key_text, hash_key, key_hint, requested_scope, ApiKey, KeyScope, ScopeAsked,
    ScopeError, MAX_KEY_NAME, MIN_SUPPLIED_KEY_LEN,
};
use crate::domain::ids::KeyId;
use crate::domain::lastuse::due;
use crate::domain::logtext::log_text;
use crate::domain::time::Timestamp;

/// `POST /api/v1/keys`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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

/// A key as listed: the record and its last use.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// The stored key.
    pub key: ApiKey,
    /// When it last authenticated a request, to within
    /// [`crate::domain::lastuse::WRITE_EVERY_MS`] (`None`: never).
    pub last_used_at: Option<Timestamp>,
}

/// The last writes of each key's use, so a key in use is written once a
/// minute, not on every request. It holds one entry per key that
/// authenticated since start (keys are few; revoked ones authenticate
/// nothing).
#[derive(Debug, Default)]
pub(super) struct KeyUses(Mutex<HashMap<KeyId, Timestamp>>);

impl KeyUses {
    /// Whether a use of `id` at `now` is to be written, noting it as
    /// written if so (before the write: two requests at once write once).
    fn claim(&self, id: KeyId, now: Timestamp) -> bool {
        let mut written = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !due(written.get(&id).copied(), now) {
            return false;
        }
        written.insert(id, now);
        true
    }
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

    /// Lists keys, oldest first (revoked ones included, marked), each
    /// with its last use.
    pub fn list_keys(&self, caller: &Caller, page: &PageRequest) -> Result<Page<KeyInfo>> {
        self.require_platform(caller)?;
        let after = page.after_id()?.map(KeyId::from_bytes);
        let items = self.store.list_keys(after, page.limit + 1)?;
        let p = Page::from_overfetch(items, page.limit, |k| k.id.to_bytes().to_vec());
        let items = p
            .items
            .into_iter()
            .map(|key| {
                let last_used_at = self.store.key_last_used(key.id)?;
                Ok(KeyInfo { key, last_used_at })
            })
            .collect::<Result<_>>()?;
        Ok(Page {
            items,
            next_cursor: p.next_cursor,
        })
    }

    /// Notes that key `id` authenticated a request now: written to the
    /// store only if this process has not written a use of it in the last
    /// [`crate::domain::lastuse::WRITE_EVERY_MS`]. A failed write is
    /// logged, never the request's failure (the store may be full; the
    /// request may not need to write at all).
    pub(super) fn note_key_use(&self, id: KeyId) {
        let now = self.clock.now();
        if !self.key_uses.claim(id, now) {
            return;
        }
        if let Err(e) = self.store.record_key_use(id, now) {
            log::warn!("cannot record the last use of API key {id}: {e}");
        }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::lastuse::WRITE_EVERY_MS;
    use crate::service::Settings;

    const LOCAL: Caller = Caller::Local { tenant: None };

    #[test]
    fn a_keys_use_is_written_at_most_once_a_minute() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let h = Herald::new(
            crate::store::temporary(),
            clock.clone(),
            Settings::offline(),
        );
        let k = h
            .create_key(
                &LOCAL,
                NewKey {
                    name: "ci".into(),
                    tenant_id: None,
                    scope: Some(ScopeAsked::Platform),
                },
            )
            .unwrap();
        let api = Caller::Api {
            bearer: Some(k.text.clone()),
            tenant: None,
        };
        let last_used = |h: &Herald| {
            h.list_keys(&LOCAL, &PageRequest::parse(None, None).unwrap())
                .unwrap()
                .items
                .into_iter()
                .find(|i| i.key.id == k.key.id)
                .unwrap()
                .last_used_at
        };
        assert_eq!(last_used(&h), None, "never used");
        let first = clock.now();
        h.authenticate(&api).unwrap();
        assert_eq!(last_used(&h), Some(first));
        // Requests within the minute write nothing …
        clock.advance_ms(WRITE_EVERY_MS - 1);
        h.authenticate(&api).unwrap();
        assert_eq!(h.store.key_last_used(k.key.id).unwrap(), Some(first));
        // … the first one after it does.
        clock.advance_ms(1);
        h.authenticate(&api).unwrap();
        assert_eq!(last_used(&h), Some(clock.now()));
        // A revoked key authenticates nothing, so records no use; the
        // revocation (a write of the key) keeps the use recorded.
        let at = clock.now();
        clock.advance_ms(2 * WRITE_EVERY_MS);
        h.revoke_key(&LOCAL, &k.key.id.to_string()).unwrap();
        assert!(h.authenticate(&api).is_err());
        assert_eq!(last_used(&h), Some(at));
        // The local CLI is no key: nothing to record.
        h.authenticate(&LOCAL).unwrap();
    }

    #[test]
    fn platform_scope_must_be_asked_for() {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let h = Herald::new(crate::store::temporary(), clock, Settings::offline());
        let ask = |tenant: Option<&str>, scope| NewKey {
            name: "k".into(),
            tenant_id: tenant.map(str::to_string),
            scope,
        };
        let err = h.create_key(&LOCAL, ask(None, None)).unwrap_err();
        assert_eq!(
            (err.code(), err.field()),
            ("validation_failed", Some("scope"))
        );
        assert!(err.to_string().contains("\"scope\": \"platform\""), "{err}");
        let k = h
            .create_key(&LOCAL, ask(None, Some(ScopeAsked::Platform)))
            .unwrap();
        assert_eq!(k.key.scope, KeyScope::Platform);
        assert!(k.text.starts_with("hpk_"));
        let err = h.create_key(&LOCAL, ask(Some("nobody"), None)).unwrap_err();
        assert_eq!(err.field(), Some("tenant_id"), "{err}");
    }
}
