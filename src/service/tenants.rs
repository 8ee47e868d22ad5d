//! Tenant management (platform key only).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Caller, Herald, Page, PageRequest, Result, ServiceError};
use crate::domain::endpoint::validate_metadata;
use crate::domain::tenant::{valid_tenant_id, Tenant, MAX_TENANT_NAME};

/// `POST /api/v1/tenants`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The platform's tenant id.
    pub id: String,
    /// A display name (defaults to the id).
    pub name: Option<String>,
    /// Free key/value pairs.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `PATCH /api/v1/tenants/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// A new display name.
    pub name: Option<String>,
    /// Suspend (true) or resume (false) its deliveries.
    pub suspended: Option<bool>,
    /// New metadata (the whole set).
    pub metadata: Option<BTreeMap<String, String>>,
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_TENANT_NAME {
        return Err(ServiceError::invalid(
            "name",
            format!("must be 1 to {MAX_TENANT_NAME} characters"),
        ));
    }
    Ok(())
}

impl Herald {
    /// Creates a tenant.
    pub fn create_tenant(&self, caller: &Caller, input: NewTenant) -> Result<Tenant> {
        self.require_platform(caller)?;
        if !valid_tenant_id(&input.id) || input.id.starts_with('_') {
            return Err(ServiceError::invalid(
                "id",
                "use 1-64 characters from A-Z a-z 0-9 _ - . (not starting with _, which Herald reserves, and not only dots)",
            ));
        }
        let name = input.name.unwrap_or_else(|| input.id.clone());
        check_name(&name)?;
        validate_metadata(&input.metadata)?;
        let now = self.clock.now();
        let tenant = Tenant {
            id: input.id,
            name,
            suspended: false,
            created_at: now,
            updated_at: now,
            metadata: input.metadata,
        };
        if !self.store.insert_tenant(&tenant)? {
            return Err(ServiceError::TenantExists(tenant.id));
        }
        log::info!("tenant {} created", tenant.id);
        Ok(tenant)
    }

    /// Lists tenants in id order.
    pub fn list_tenants(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Tenant>> {
        self.require_platform(caller)?;
        let after = page
            .after
            .as_ref()
            .map(|a| String::from_utf8(a.clone()))
            .transpose()
            .map_err(|_| ServiceError::bad_query("cursor", "cursor is not one this API issued"))?;
        let items = self.store.list_tenants(after.as_deref(), page.limit + 1)?;
        Ok(Page::from_overfetch(items, page.limit, |t| {
            t.id.clone().into_bytes()
        }))
    }

    /// One tenant.
    pub fn get_tenant(&self, caller: &Caller, id: &str) -> Result<Tenant> {
        self.require_platform(caller)?;
        self.store
            .tenant(id)?
            .ok_or(ServiceError::NotFound("tenant"))
    }

    /// Renames, suspends or resumes a tenant.
    pub fn update_tenant(&self, caller: &Caller, id: &str, patch: TenantPatch) -> Result<Tenant> {
        self.require_platform(caller)?;
        let mut tenant = self
            .store
            .tenant(id)?
            .ok_or(ServiceError::NotFound("tenant"))?;
        let resumed = tenant.suspended && patch.suspended == Some(false);
        if let Some(name) = &patch.name {
            check_name(name)?;
        }
        if let Some(m) = &patch.metadata {
            validate_metadata(m)?;
        }
        if let Some(name) = patch.name {
            tenant.name = name;
        }
        if let Some(m) = patch.metadata {
            tenant.metadata = m;
        }
        if let Some(s) = patch.suspended {
            if s != tenant.suspended {
                log::info!("tenant {id} {}", if s { "suspended" } else { "resumed" });
            }
            tenant.suspended = s;
        }
        tenant.updated_at = self.clock.now();
        self.store.put_tenant(&tenant)?;
        if resumed {
            for ep in self.store.list_endpoints(id, None, usize::MAX)? {
                if ep.active {
                    self.release_held(ep.id)?;
                }
            }
        }
        Ok(tenant)
    }
}
