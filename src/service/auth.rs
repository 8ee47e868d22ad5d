//! Who is calling, and for which tenant.
//!
//! A platform key acts for any tenant and names it with `X-Tenant-ID`; a
//! tenant key is bound to one tenant. The CLI, working on the data
//! directory directly, has the platform's rights. An admin panel user acts
//! through a session: an operator like a platform key (the tenant is the
//! one chosen with the tenant switcher), a tenant-bound user like a tenant
//! key.

use super::sessions::Live;
use super::{Herald, Result, ServiceError};
use crate::domain::apikey::{hash_key, KeyScope};
use crate::domain::ids::KeyId;
use crate::domain::tenant::{valid_tenant_id, well_formed_tenant_id, Tenant};
use crate::domain::user::Role;

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
    /// An admin panel request: the session id from its cookie, unverified.
    /// The tenant is the one the session chose (operators) or the user's.
    Session {
        /// The session id (the cookie value).
        token: String,
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
    /// A tenant portal session, opened with a one-time link: acts like a
    /// tenant-bound user for `tenant`, without account pages, and changes
    /// nothing when `read_only`.
    Portal {
        /// The tenant it is scoped to.
        tenant: String,
        /// Every write is refused.
        read_only: bool,
    },
    /// An admin panel user, through a session.
    User {
        /// The user.
        username: String,
        /// The tenant the user is bound to; `None` for operators.
        bound: Option<String>,
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
    /// Checks the caller's key (or session).
    pub fn authenticate(&self, caller: &Caller) -> Result<Principal> {
        Ok(self.authenticate_asking(caller)?.0)
    }

    /// The principal and the tenant the caller asks for.
    fn authenticate_asking(&self, caller: &Caller) -> Result<(Principal, Option<String>)> {
        let bearer = match caller {
            Caller::Local { tenant } => {
                return Ok((Principal::Platform { key: None }, tenant.clone()))
            }
            Caller::Session { token } => {
                let (session, user) = match self.live(token)? {
                    Live::Portal(tenant, portal) => {
                        let principal = Principal::Portal {
                            tenant: tenant.clone(),
                            read_only: portal.read_only,
                        };
                        return Ok((principal, Some(tenant)));
                    }
                    Live::User(session, user) => (session, user),
                };
                let bound = match user.role {
                    Role::Operator => None,
                    Role::Tenant(t) => Some(t),
                };
                let principal = Principal::User {
                    username: user.username,
                    bound,
                };
                return Ok((principal, session.tenant));
            }
            Caller::Api { bearer, tenant } => (bearer.as_deref(), tenant.clone()),
        };
        let (bearer, asked) = bearer;
        let text = bearer.ok_or(ServiceError::Unauthorized(
            "missing API key: send Authorization: Bearer <key>",
        ))?;
        let key = self
            .store
            .key_by_hash(&hash_key(text))?
            .filter(|k| k.revoked_at.is_none())
            .ok_or(ServiceError::Unauthorized("invalid or revoked API key"))?;
        self.note_key_use(key.id);
        let principal = match key.scope {
            KeyScope::Platform => Principal::Platform { key: Some(key.id) },
            KeyScope::Tenant(tenant) => Principal::Tenant {
                key: key.id,
                tenant,
            },
        };
        Ok((principal, asked))
    }

    /// Checks that the caller holds a platform key (or is an operator).
    pub fn require_platform(&self, caller: &Caller) -> Result<Principal> {
        match self.authenticate(caller)? {
            p @ (Principal::Platform { .. } | Principal::User { bound: None, .. }) => Ok(p),
            Principal::Tenant { .. }
            | Principal::Portal { .. }
            | Principal::User { bound: Some(_), .. } => Err(ServiceError::Forbidden(
                "this operation needs a platform key".into(),
            )),
        }
    }

    /// Resolves the tenant a call acts for. It does not create it: writes
    /// call [`Herald::ensure_tenant`] once their input is valid (PRODUCT.md:
    /// "a tenant is created explicitly, or implicitly the first time a
    /// platform key names it"); reads never create.
    pub fn tenant_scope(&self, caller: &Caller) -> Result<TenantScope> {
        let (principal, asked) = self.authenticate_asking(caller)?;
        let asked = asked.as_deref();
        let tenant_id = match &principal {
            // The session never asks for another tenant than a bound user's
            // (the switcher is for operators), so a bound user is simply
            // scoped to its tenant.
            Principal::User {
                bound: Some(tenant),
                ..
            }
            | Principal::Portal { tenant, .. } => tenant.clone(),
            Principal::Tenant { tenant, .. } => match asked {
                Some(a) if a != tenant => {
                    return Err(ServiceError::TenantMismatch {
                        bound: tenant.clone(),
                        asked: a.to_string(),
                    })
                }
                _ => tenant.clone(),
            },
            Principal::Platform { .. } | Principal::User { bound: None, .. } => {
                let a = asked.ok_or(ServiceError::TenantRequired)?;
                // A tenant stored before the dot rule (e.g. `..`) may still
                // be named; nothing new may be created under such an id.
                let valid = valid_tenant_id(a)
                    || (well_formed_tenant_id(a) && self.store.tenant(a)?.is_some());
                if !valid {
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

    /// Tenant `id`, created first if it does not exist yet.
    pub(super) fn ensure_tenant(&self, id: &str) -> Result<Tenant> {
        if let Some(t) = self.store.tenant(id)? {
            return Ok(t);
        }
        if id.starts_with('_') || !valid_tenant_id(id) {
            return Err(ServiceError::InvalidTenantId(id.to_string()));
        }
        let now = self.clock.now();
        let tenant = Tenant {
            id: id.to_string(),
            name: id.to_string(),
            suspended: false,
            created_at: now,
            updated_at: now,
            metadata: Default::default(),
        };
        if self.store.insert_tenant(&tenant)? {
            log::info!("tenant {id} created implicitly by a platform key");
            return Ok(tenant);
        }
        // Another request created it in between: that one is the tenant.
        self.store
            .tenant(id)?
            .ok_or(ServiceError::NotFound("tenant"))
    }
}
