//! Who is calling, and for which tenant.
//!
//! A platform key acts for any tenant and names it with `X-Tenant-ID`; a
//! tenant key is bound to one tenant. The CLI, working on the data
//! directory directly, has the platform's rights.

use super::{Herald, Result, ServiceError};
use crate::domain::apikey::{hash_key, KeyScope};
use crate::domain::ids::KeyId;
use crate::domain::tenant::{valid_tenant_id, Tenant};

/// The caller of a service operation, as the edge saw it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// An API request: its bearer key and `X-Tenant-ID`, both unverified.
    Api {
        /// The `Authorization: Bearer` value, if any.
        bearer: Option<String>,
        /// The `X-Tenant-ID` value, if any.
        tenant: Option<String>,
    },
    /// The local CLI, which holds the data directory itself.
    Local {
        /// The tenant it names, if any.
        tenant: Option<String>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A platform key (or the local CLI, with `key: None`).
    Platform {
        /// The key used.
        key: Option<KeyId>,
    },
    /// A key bound to one tenant.
    Tenant {
        /// The key used.
        key: KeyId,
        /// Its tenant.
        tenant: String,
    },
}

/// A caller resolved to the tenant it acts for.
#[derive(Debug, Clone)]
pub struct TenantScope {
    /// Who is calling.
    pub principal: Principal,
    /// The tenant the call is about.
    pub tenant_id: String,
}

impl Herald {
    /// Checks the caller's key.
    pub fn authenticate(&self, caller: &Caller) -> Result<Principal> {
        let bearer = match caller {
            Caller::Local { .. } => return Ok(Principal::Platform { key: None }),
            Caller::Api { bearer, .. } => bearer.as_deref(),
        };
        let text = bearer.ok_or(ServiceError::Unauthorized(
            "missing API key: send Authorization: Bearer <key>",
        ))?;
        let key = self
            .store
            .key_by_hash(&hash_key(text))?
            .filter(|k| k.revoked_at.is_none())
            .ok_or(ServiceError::Unauthorized("invalid or revoked API key"))?;
        Ok(match key.scope {
            KeyScope::Platform => Principal::Platform { key: Some(key.id) },
            KeyScope::Tenant(tenant) => Principal::Tenant {
                key: key.id,
                tenant,
            },
        })
    }

    /// Checks that the caller holds a platform key.
    pub fn require_platform(&self, caller: &Caller) -> Result<Principal> {
        match self.authenticate(caller)? {
            p @ Principal::Platform { .. } => Ok(p),
            Principal::Tenant { .. } => Err(ServiceError::Forbidden(
                "this operation needs a platform key".into(),
            )),
        }
    }

    /// Resolves the tenant a call acts for. It does not create it: writes
    /// call [`Herald::ensure_tenant`] once their input is valid (PRODUCT.md:
    /// "a tenant is created explicitly, or implicitly the first time a
    /// platform key names it"); reads never create.
    pub fn tenant_scope(&self, caller: &Caller) -> Result<TenantScope> {
        let principal = self.authenticate(caller)?;
        let asked = match caller {
            Caller::Api { tenant, .. } | Caller::Local { tenant } => tenant.as_deref(),
        };
        let tenant_id = match &principal {
            Principal::Tenant { tenant, .. } => match asked {
                Some(a) if a != tenant => {
                    return Err(ServiceError::TenantMismatch {
                        bound: tenant.clone(),
                        asked: a.to_string(),
                    })
                }
                _ => tenant.clone(),
            },
            Principal::Platform { .. } => {
                let a = asked.ok_or(ServiceError::TenantRequired)?;
                if !valid_tenant_id(a) {
                    return Err(ServiceError::InvalidTenantId(a.to_string()));
                }
                a.to_string()
            }
        };
        Ok(TenantScope {
            principal,
            tenant_id,
        })
    }

    /// Creates tenant `id` unless it exists.
    pub(super) fn ensure_tenant(&self, id: &str) -> Result<()> {
        if self.store.tenant(id)?.is_none() {
            if id.starts_with('_') {
                return Err(ServiceError::InvalidTenantId(id.to_string()));
            }
            let now = self.clock.now();
            let created = self.store.insert_tenant(&Tenant {
                id: id.to_string(),
                name: id.to_string(),
                suspended: false,
                created_at: now,
                updated_at: now,
            })?;
            if created {
                log::info!("tenant {id} created implicitly by a platform key");
            }
        }
        Ok(())
    }
}
