//! Endpoint management: create, list, read, update, delete, rotate.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use super::{Caller, Herald, Page, PageRequest, Result, ServiceError};
use crate::domain::endpoint::{
    generate_secret, validate_description, validate_events, validate_url, Endpoint,
};
use crate::domain::ids::EndpointId;
use crate::store::{modify_endpoint, Conflict, ModifyError, StoreError};

/// How long a save waits for DNS before accepting the URL unchecked (the
/// delivery client checks every address again at connect time anyway).
const SAVE_RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where to deliver.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
}

/// `PATCH /api/v1/webhooks/{id}`: only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new subscription.
    pub events: Option<Vec<String>>,
    /// A new description.
    pub description: Option<String>,
    /// Enable or disable.
    pub active: Option<bool>,
}

impl Herald {
    /// Validates a URL fully: syntax, scheme, and every address it resolves
    /// to against the operator's network policy.
    fn checked_url(&self, raw: &str) -> Result<String> {
        let url = validate_url(raw, self.settings.allow_http)?;
        self.check_destination(&url)?;
        Ok(url.to_string())
    }

    fn check_destination(&self, url: &Url) -> Result<()> {
        let addrs: Vec<IpAddr> = match url.host() {
            Some(Host::Ipv4(a)) => vec![a.into()],
            Some(Host::Ipv6(a)) => vec![a.into()],
            Some(Host::Domain(d)) => resolve(d, url.port_or_known_default().unwrap_or(443)),
            None => vec![],
        };
        for ip in addrs {
            if let Err(why) = self.settings.ip_policy.check(ip) {
                return Err(ServiceError::invalid(
                    "url",
                    format!(
                        "{} points to {ip}, a {} address; the operator has not allowed deliveries into that network (--allow-private-networks)",
                        url.host_str().unwrap_or_default(),
                        why.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Creates an endpoint; the answer carries its new secret.
    pub fn create_endpoint(&self, caller: &Caller, input: NewEndpoint) -> Result<Endpoint> {
        let scope = self.tenant_scope(caller)?;
        let events = validate_events(&input.events)?;
        let description = input.description.unwrap_or_default();
        validate_description(&description)?;
        let url = self.checked_url(&input.url)?;
        self.ensure_tenant(&scope.tenant_id)?;
        let now = self.clock.now();
        let ep = Endpoint {
            id: EndpointId::new(now),
            tenant_id: scope.tenant_id,
            url,
            events,
            description,
            active: input.active.unwrap_or(true),
            secret: generate_secret(),
            previous_secrets: Vec::new(),
            disabled_reason: None,
            revision: 0,
            created_at: now,
            updated_at: now,
        };
        self.store
            .insert_endpoint(&ep)
            .map_err(|e| url_conflict(e, &ep.url))?;
        log::info!("endpoint {} created for tenant {}", ep.id, ep.tenant_id);
        Ok(ep)
    }

    /// The caller's tenant's endpoints, oldest first.
    pub fn list_endpoints(&self, caller: &Caller, page: &PageRequest) -> Result<Page<Endpoint>> {
        let scope = self.tenant_scope(caller)?;
        let after = page.after_id()?.map(EndpointId::from_bytes);
        let items = self
            .store
            .list_endpoints(&scope.tenant_id, after, page.limit + 1)?;
        Ok(Page::from_overfetch(items, page.limit, |e| {
            e.id.to_bytes().to_vec()
        }))
    }

    /// One endpoint of the caller's tenant. Another tenant's endpoint is
    /// "not found", never "forbidden": ids must not leak across tenants.
    pub fn get_endpoint(&self, caller: &Caller, id: &str) -> Result<Endpoint> {
        let scope = self.tenant_scope(caller)?;
        self.endpoint_of(&scope.tenant_id, id)
    }

    /// One endpoint with its health.
    pub fn get_endpoint_with_health(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Endpoint, crate::domain::health::Health)> {
        let ep = self.get_endpoint(caller, id)?;
        let health = self.store.endpoint_health(ep.id)?;
        Ok((ep, health))
    }

    pub(super) fn endpoint_of(&self, tenant: &str, id: &str) -> Result<Endpoint> {
        let id: EndpointId = id.parse().map_err(|_| ServiceError::NotFound("endpoint"))?;
        self.store
            .endpoint(id)?
            .filter(|e| e.tenant_id == tenant)
            .ok_or(ServiceError::NotFound("endpoint"))
    }

    /// Applies `change` to one of the caller's endpoints with optimistic
    /// concurrency (the store's [`modify_endpoint`], shared with the
    /// engine's auto-disable): if another writer changed it in between,
    /// re-read and re-apply.
    fn modify_endpoint(
        &self,
        caller: &Caller,
        id: &str,
        mut change: impl FnMut(&mut Endpoint) -> Result<()>,
    ) -> Result<Endpoint> {
        let scope = self.tenant_scope(caller)?;
        let id: EndpointId = id.parse().map_err(|_| ServiceError::NotFound("endpoint"))?;
        let now = self.clock.now();
        let written = modify_endpoint(self.store.as_ref(), id, |before| {
            // Another tenant's endpoint is "not found", never "forbidden".
            if before.tenant_id != scope.tenant_id {
                return Err(ServiceError::NotFound("endpoint"));
            }
            let mut after = before.clone();
            change(&mut after)?;
            after.updated_at = now;
            Ok(Some(after))
        });
        match written {
            Ok(Some(ep)) => Ok(ep),
            Ok(None) => Err(ServiceError::NotFound("endpoint")),
            Err(ModifyError::Refused(e)) => Err(e),
            Err(ModifyError::Store(e, Some(after))) => Err(url_conflict(e, &after.url)),
            Err(ModifyError::Store(e, None)) => Err(e.into()),
        }
    }

    /// Changes url, events, description or active.
    pub fn update_endpoint(
        &self,
        caller: &Caller,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        // Validate everything before touching the store: bad input changes nothing.
        let events = patch.events.as_deref().map(validate_events).transpose()?;
        if let Some(d) = &patch.description {
            validate_description(d)?;
        }
        let url = patch
            .url
            .as_deref()
            .map(|u| self.checked_url(u))
            .transpose()?;
        let mut was_active = true;
        let ep = self.modify_endpoint(caller, id, |ep| {
            was_active = ep.active;
            if let Some(u) = &url {
                ep.url = u.clone();
            }
            if let Some(e) = &events {
                ep.events = e.clone();
            }
            if let Some(d) = &patch.description {
                ep.description = d.clone();
            }
            if let Some(a) = patch.active {
                ep.active = a;
                if a {
                    ep.disabled_reason = None;
                }
            }
            Ok(())
        })?;
        log::info!("endpoint {} updated", ep.id);
        if ep.active && !was_active {
            self.release_held(ep.id)?;
        }
        Ok(ep)
    }

    /// Deletes an endpoint.
    pub fn delete_endpoint(&self, caller: &Caller, id: &str) -> Result<()> {
        let scope = self.tenant_scope(caller)?;
        let ep = self.endpoint_of(&scope.tenant_id, id)?;
        self.store.delete_endpoint(&ep)?;
        let n = self.cancel_pending(ep.id, "endpoint deleted")?;
        log::info!(
            "endpoint {} deleted; {n} pending deliveries cancelled",
            ep.id
        );
        Ok(())
    }

    /// Issues a new secret; the old one keeps signing for the overlap.
    pub fn rotate_secret(&self, caller: &Caller, id: &str) -> Result<Endpoint> {
        let overlap = self.settings.secret_overlap_ms;
        let now = self.clock.now();
        let ep = self.modify_endpoint(caller, id, |ep| {
            ep.rotate_secret(now, overlap);
            Ok(())
        })?;
        log::info!("endpoint {} secret rotated", ep.id);
        Ok(ep)
    }
}

fn url_conflict(e: StoreError, url: &str) -> ServiceError {
    match e {
        StoreError::Conflict(Conflict::UrlTaken) => ServiceError::DuplicateUrl(url.to_string()),
        other => other.into(),
    }
}

/// Resolves `host` with the system resolver, giving up after a bound.
fn resolve(host: &str, port: u16) -> Vec<IpAddr> {
    let (tx, rx) = mpsc::channel();
    let target = (host.to_string(), port);
    std::thread::spawn(move || {
        let addrs: Vec<IpAddr> = target
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .unwrap_or_default();
        let _ = tx.send(addrs);
    });
    rx.recv_timeout(SAVE_RESOLVE_TIMEOUT).unwrap_or_default()
}
