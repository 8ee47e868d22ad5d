//! Endpoint management: create, list, read, update, delete, rotate.

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use url::{Host, Url};

use super::{Caller, Herald, Page, PageRequest, Result, ServiceError};
use crate::domain::endpoint::{
    generate_secret, validate_channels, validate_description, validate_events, validate_headers,
    validate_metadata, validate_secret, validate_uid, validate_url, Endpoint, EndpointKind,
};
use crate::domain::ids::EndpointId;
use crate::domain::stream;
use crate::store::{modify_endpoint, Conflict, ModifyError, StoreError};

/// How long a save waits for DNS before accepting the URL unchecked (the
/// delivery client checks every address again at connect time anyway).
const SAVE_RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where to deliver (required for `kind` `url`; none for a stream).
    #[serde(default)]
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to true.
    #[serde(default)]
    pub active: Option<bool>,
    /// The tenant's own unique name for it.
    #[serde(default)]
    pub uid: Option<String>,
    /// Headers sent with every attempt.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Channels it listens to (none: every event).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Free key/value pairs.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Also send Svix's header names.
    #[serde(default)]
    pub svix_headers: bool,
    /// A signing secret to use instead of a generated one (`whsec_` and
    /// base64 of 24–64 bytes), e.g. one moved from another sender.
    #[serde(default)]
    pub secret: Option<String>,
    /// `url` (the default): Herald POSTs to `url`; `stream`: a client
    /// holding the endpoint's stream (`herald listen`) takes its
    /// deliveries, and `url` must be absent.
    #[serde(default)]
    pub kind: Option<String>,
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
    /// A new uid; `null` removes it.
    #[serde(default, deserialize_with = "super::nullable")]
    pub uid: Option<Option<String>>,
    /// New custom headers (the whole set).
    pub headers: Option<BTreeMap<String, String>>,
    /// New channels (the whole set; empty: every event).
    pub channels: Option<Vec<String>>,
    /// New metadata (the whole set).
    pub metadata: Option<BTreeMap<String, String>>,
    /// Whether to also send Svix's header names.
    pub svix_headers: Option<bool>,
}

impl EndpointPatch {
    /// Checks and normalises every field present, so a patch that will be
    /// refused is refused before anything is read or written.
    fn validated(
        mut self,
        catalog_check: impl Fn(&[String]) -> Result<Vec<String>>,
    ) -> Result<Self> {
        self.events = self.events.as_deref().map(catalog_check).transpose()?;
        if let Some(d) = &self.description {
            validate_description(d)?;
        }
        if let Some(Some(u)) = &self.uid {
            validate_uid(u)?;
        }
        if let Some(h) = &self.headers {
            validate_headers(h)?;
        }
        self.channels = self
            .channels
            .as_deref()
            .map(validate_channels)
            .transpose()?;
        if let Some(m) = &self.metadata {
            validate_metadata(m)?;
        }
        Ok(self)
    }
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
        let events = validate_events(&input.events, self.event_types()?.catalog())?;
        let description = input.description.unwrap_or_default();
        validate_description(&description)?;
        if let Some(u) = &input.uid {
            validate_uid(u)?;
        }
        validate_headers(&input.headers)?;
        let channels = validate_channels(&input.channels)?;
        validate_metadata(&input.metadata)?;
        if let Some(s) = &input.secret {
            validate_secret(s)?;
        }
        let kind = match input.kind.as_deref() {
            None => EndpointKind::Url,
            Some(k) => EndpointKind::parse(k).ok_or_else(|| {
                ServiceError::invalid("kind", format!("kind {k:?} is neither url nor stream"))
            })?,
        };
        let now = self.clock.now();
        let id = EndpointId::new(now);
        let url = match kind {
            EndpointKind::Url => self.checked_url(&input.url)?,
            EndpointKind::Stream if input.url.is_empty() => stream::placeholder_url(id),
            EndpointKind::Stream => {
                return Err(ServiceError::invalid(
                    "url",
                    "a stream endpoint has no URL: its client receives the deliveries",
                ))
            }
        };
        self.ensure_tenant(&scope.tenant_id)?;
        let ep = Endpoint {
            id,
            tenant_id: scope.tenant_id,
            url,
            events,
            description,
            active: input.active.unwrap_or(true),
            secret: input.secret.unwrap_or_else(generate_secret),
            previous_secrets: Vec::new(),
            disabled_reason: None,
            revision: 0,
            created_at: now,
            updated_at: now,
            uid: input.uid,
            headers: input.headers,
            channels,
            metadata: input.metadata,
            svix_headers: input.svix_headers,
            kind,
            stream_seen_at: None,
        };
        self.store
            .insert_endpoint(&ep)
            .map_err(|e| url_conflict(e, &ep))?;
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

    /// One endpoint of the caller's tenant named by its id (`ep_…`) or,
    /// failing that, by its `uid`.
    pub fn get_endpoint_by_id_or_uid(&self, caller: &Caller, id_or_uid: &str) -> Result<Endpoint> {
        let scope = self.tenant_scope(caller)?;
        if let Ok(ep) = self.endpoint_of(&scope.tenant_id, id_or_uid) {
            return Ok(ep);
        }
        self.store
            .endpoint_by_uid(&scope.tenant_id, id_or_uid)?
            .ok_or(ServiceError::NotFound("endpoint"))
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
            Err(ModifyError::Store(e, Some(after))) => Err(url_conflict(e, &after)),
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
        let types = self.event_types()?;
        let mut patch = patch.validated(|e| Ok(validate_events(e, types.catalog())?))?;
        if let Some(u) = &patch.url {
            // A kind never changes, so this read cannot go stale: a stream
            // keeps its placeholder (sent back unchanged by a form), and
            // any other URL is refused.
            let current = self.get_endpoint(caller, id)?;
            if current.is_stream() {
                if *u != current.url {
                    return Err(ServiceError::invalid(
                        "url",
                        "a stream endpoint has no URL: its client receives the deliveries",
                    ));
                }
                patch.url = None;
            }
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
            if let Some(e) = &patch.events {
                ep.events = e.clone();
            }
            if let Some(u) = &patch.uid {
                ep.uid = u.clone();
            }
            if let Some(h) = &patch.headers {
                ep.headers = h.clone();
            }
            if let Some(c) = &patch.channels {
                ep.channels = c.clone();
            }
            if let Some(m) = &patch.metadata {
                ep.metadata = m.clone();
            }
            if let Some(s) = patch.svix_headers {
                ep.svix_headers = s;
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
        self.rotate_secret_to(caller, id, None)
    }

    /// Issues a new secret, `given` (checked like a created endpoint's)
    /// or a generated one; the old one keeps signing for the overlap.
    pub fn rotate_secret_to(
        &self,
        caller: &Caller,
        id: &str,
        given: Option<String>,
    ) -> Result<Endpoint> {
        if let Some(s) = &given {
            validate_secret(s)?;
        }
        let overlap = self.settings.secret_overlap_ms;
        let now = self.clock.now();
        let ep = self.modify_endpoint(caller, id, |ep| {
            ep.rotate_secret(now, overlap);
            if let Some(s) = &given {
                ep.secret = s.clone();
            }
            Ok(())
        })?;
        log::info!("endpoint {} secret rotated", ep.id);
        Ok(ep)
    }
}

/// A uniqueness conflict of the store as the error that names it.
fn url_conflict(e: StoreError, ep: &Endpoint) -> ServiceError {
    match e {
        StoreError::Conflict(Conflict::UrlTaken) => ServiceError::DuplicateUrl(ep.url.clone()),
        StoreError::Conflict(Conflict::UidTaken) => {
            ServiceError::DuplicateUid(ep.uid.clone().unwrap_or_default())
        }
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
