//! The embeddable tenant portal: a platform key asks for a one-time link
//! for a tenant; the browser that opens it gets a panel session scoped to
//! that tenant (like a tenant-bound user's, without account pages), which
//! ends after the lifetime the link named.
//!
//! The link is a 256-bit random token stored only as
//! [`hash_link`]`(token)` in the session store, as a session record in its
//! [`Stage::Link`] stage; opening it takes that record out of the store in
//! one atomic step ([`crate::store::SessionStore::take_session`]), so a link
//! opens at most one session, however many browsers race for it.

use serde::Deserialize;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::logtext::log_text;
use crate::domain::portal::{
    hash_link, session_secs, validate_return_url, Portal, PortalConfig, Stage, LINK_TTL_MS,
};
use crate::domain::session::{generate_token, hash_session_id, Session};
use crate::domain::time::Timestamp;

/// `POST /api/v1/portal-sessions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalSession {
    /// The tenant whose portal opens (created if it does not exist yet, as
    /// a platform key naming a tenant does).
    pub tenant_id: String,
    /// How long the portal session lasts once opened, in seconds (default
    /// one hour; at most `--portal-max-session`).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Hide and refuse every action: the tenant may only look.
    #[serde(default)]
    pub read_only: bool,
    /// The platform's page the portal links back to (absolute http(s)).
    #[serde(default)]
    pub return_url: Option<String>,
}

/// A one-time portal link, as made.
#[derive(Debug, Clone)]
pub struct PortalLink {
    /// The link token (shown once; only its hash is stored).
    pub token: String,
    /// The tenant.
    pub tenant_id: String,
    /// When the link stops working if unused.
    pub link_expires_at: Timestamp,
    /// The session's lifetime once opened, in seconds.
    pub session_secs: u64,
    /// Whether the session is read-only.
    pub read_only: bool,
}

/// A portal session opened with a link.
#[derive(Debug, Clone)]
pub struct PortalOpened {
    /// The session id, for the cookie.
    pub token: String,
    /// The stored session.
    pub session: Session,
}

/// What a used, expired or unknown link is told (the same for all three,
/// so a guess learns nothing).
pub const LINK_REFUSED: &str =
    "this portal link was already used or has expired; open the portal again from your platform";

impl Herald {
    /// The operator's portal settings (framing origins, theme).
    pub fn portal_config(&self) -> &PortalConfig {
        &self.settings.portal
    }

    /// Makes a one-time portal link for a tenant (platform key only).
    pub fn create_portal_link(
        &self,
        caller: &Caller,
        input: NewPortalSession,
    ) -> Result<PortalLink> {
        self.require_platform(caller)?;
        let secs = session_secs(input.expires_in, self.settings.portal.max_session_secs)?;
        if let Some(u) = &input.return_url {
            validate_return_url(u)?;
        }
        if input.tenant_id.starts_with('_') {
            return Err(ServiceError::InvalidTenantId(input.tenant_id));
        }
        let tenant = self.ensure_tenant(&input.tenant_id)?;
        self.issue_link(&tenant.id, secs, input.read_only, input.return_url)
    }

    /// Stores a new link for `tenant` (which exists) and answers it.
    pub(super) fn issue_link(
        &self,
        tenant: &str,
        secs: u64,
        read_only: bool,
        return_url: Option<String>,
    ) -> Result<PortalLink> {
        let now = self.clock.now();
        let token = generate_token();
        let link_expires_at = Timestamp::from_millis(now.as_millis() + LINK_TTL_MS);
        let record = Session {
            id_hash: hash_link(&token),
            username: String::new(),
            csrf: String::new(),
            tenant: Some(tenant.to_string()),
            created_at: now,
            last_seen_at: now,
            portal: Some(Portal {
                read_only,
                return_url,
                ends_at: link_expires_at,
                stage: Stage::Link {
                    session_ms: (secs as i64).saturating_mul(1_000),
                },
            }),
        };
        self.store.put_session(&record)?;
        log::info!(
            "portal link for tenant {} issued ({}, session {secs} s)",
            log_text(tenant),
            if read_only { "read-only" } else { "read-write" }
        );
        Ok(PortalLink {
            token,
            tenant_id: tenant.to_string(),
            link_expires_at,
            session_secs: secs,
            read_only,
        })
    }

    /// Opens the portal with a link: takes the link out of the store (so
    /// it never works again) and answers a new session. A used, expired or
    /// unknown link is `Unauthorized` with [`LINK_REFUSED`].
    pub fn open_portal(&self, link: &str) -> Result<PortalOpened> {
        const REFUSED: ServiceError = ServiceError::Unauthorized(LINK_REFUSED);
        let now = self.clock.now();
        let taken = self.store.take_session(&hash_link(link))?.ok_or(REFUSED)?;
        let tenant = taken.tenant.clone().ok_or(REFUSED)?;
        let portal = taken
            .portal
            .as_ref()
            .and_then(|p| p.open(now))
            .ok_or(REFUSED)?;
        self.purge_sessions(now, None)?;
        let token = generate_token();
        let session = Session {
            id_hash: hash_session_id(&token),
            username: String::new(),
            csrf: generate_token(),
            tenant: Some(tenant.clone()),
            created_at: now,
            last_seen_at: now,
            portal: Some(portal),
        };
        self.store.put_session(&session)?;
        log::info!("portal session for tenant {} opened", log_text(&tenant));
        Ok(PortalOpened { token, session })
    }

    /// Refuses a write of a read-only portal session (403
    /// `read_only_session`); every other caller passes. The admin panel
    /// calls it for every form before anything else.
    pub fn check_may_write(&self, caller: &Caller) -> Result<()> {
        match self.authenticate(caller)? {
            super::Principal::Portal {
                read_only: true, ..
            } => Err(ServiceError::ReadOnly),
            _ => Ok(()),
        }
    }
}

/// Svix's `AppPortalAccessIn` (`POST /api/v1/auth/app-portal-access/{app_id}`).
/// `featureFlags` and `sessionId` are accepted and have no effect: Herald's
/// portal has no feature flags, and no "expire all" to group tokens for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Creates the application first if the path's does not exist.
    #[serde(default)]
    pub application: Option<super::svix::AppIn>,
    /// What the portal may do; without it, everything. Only read
    /// capabilities make a read-only portal.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// The session's lifetime in seconds (at most `--portal-max-session`).
    #[serde(default)]
    pub expiry: Option<u64>,
    /// Ignored.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// A read-only portal.
    #[serde(default)]
    pub read_only: Option<bool>,
    /// Ignored.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Svix's capabilities that only read.
const READ_CAPABILITIES: &[&str] = &["ViewBase", "ViewEndpointSecret"];
/// Svix's capabilities that change something.
const WRITE_CAPABILITIES: &[&str] = &[
    "ManageEndpointSecret",
    "ManageTransformations",
    "CreateAttempts",
    "ManageEndpoint",
];

/// Whether Svix `capabilities` (absent: all) leave the portal read-only;
/// an unknown capability is a validation error.
fn read_only_by_capabilities(caps: Option<&[String]>) -> Result<bool> {
    let Some(caps) = caps else { return Ok(false) };
    let mut writes = false;
    for c in caps {
        if WRITE_CAPABILITIES.contains(&c.as_str()) {
            writes = true;
        } else if !READ_CAPABILITIES.contains(&c.as_str()) {
            return Err(ServiceError::invalid(
                "capabilities",
                format!("unknown capability {}", crate::domain::logtext::log_text(c)),
            ));
        }
    }
    Ok(!writes)
}

impl Herald {
    /// The Svix-compatible `app-portal-access`: the same one-time portal
    /// link as [`Herald::create_portal_link`], for application `app_id`
    /// (created from `application` first if it does not exist).
    pub fn svix_app_portal_access(
        &self,
        caller: &Caller,
        app_id: &str,
        input: AppPortalAccessIn,
    ) -> Result<PortalLink> {
        self.require_platform(caller)?;
        let secs = session_secs(input.expiry, self.settings.portal.max_session_secs).map_err(
            |mut f| {
                f.field = "expiry";
                ServiceError::Invalid(f)
            },
        )?;
        let read_only = input.read_only.unwrap_or(false)
            || read_only_by_capabilities(input.capabilities.as_deref())?;
        let tenant = match (self.svix_get_app(caller, app_id), input.application) {
            (Ok(t), _) => t,
            (Err(ServiceError::NotFound(_)), Some(app)) => {
                self.svix_put_app(caller, app_id, app)?.0
            }
            (Err(e), _) => return Err(e),
        };
        self.issue_link(&tenant.id, secs, read_only, None)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::apikey::{hash_key, ApiKey, KeyScope};
    use crate::domain::ids::KeyId;
    use crate::service::{Principal, Settings};

    fn herald() -> (Herald, Arc<ManualClock>, Caller) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let settings = Settings {
            portal: PortalConfig {
                max_session_secs: 600,
                ..PortalConfig::default()
            },
            ..Settings::offline()
        };
        let h = Herald::new(crate::store::temporary(), clock.clone(), settings);
        let key = ApiKey {
            id: KeyId::from_bytes([1; 16]),
            name: "platform".into(),
            scope: KeyScope::Platform,
            hash: hash_key("hpk_test"),
            hint: "hpk…".into(),
            created_at: clock.now(),
            revoked_at: None,
        };
        h.store.insert_key(&key).unwrap();
        let caller = Caller::Api {
            bearer: Some("hpk_test".into()),
            tenant: None,
        };
        (h, clock, caller)
    }

    fn ask(tenant: &str, expires_in: Option<u64>, read_only: bool) -> NewPortalSession {
        NewPortalSession {
            tenant_id: tenant.into(),
            expires_in,
            read_only,
            return_url: None,
        }
    }

    #[test]
    fn a_link_opens_one_session_which_ends_on_the_injected_clock() {
        let (h, clock, platform) = herald();
        let link = h
            .create_portal_link(&platform, ask("acme", Some(120), false))
            .unwrap();
        assert_eq!(link.session_secs, 120);
        let opened = h.open_portal(&link.token).unwrap();
        assert!(matches!(
            h.open_portal(&link.token),
            Err(ServiceError::Unauthorized(LINK_REFUSED))
        ));
        let portal = Caller::Session {
            token: opened.token.clone(),
        };
        assert_eq!(
            h.authenticate(&portal).unwrap(),
            Principal::Portal {
                tenant: "acme".into(),
                read_only: false
            }
        );
        assert_eq!(h.tenant_scope(&portal).unwrap().tenant_id, "acme");
        assert!(matches!(
            h.require_platform(&portal),
            Err(ServiceError::Forbidden(_))
        ));
        h.check_may_write(&portal).unwrap();
        assert!(h.session(&opened.token).unwrap().unwrap().user.is_none());
        // The link token is no session, the session token no link.
        assert!(h.session(&link.token).unwrap().is_none());
        assert!(h.open_portal(&opened.token).is_err());
        clock.advance_ms(120_000);
        assert!(h.session(&opened.token).unwrap().is_none());
        assert!(matches!(
            h.authenticate(&portal),
            Err(ServiceError::Unauthorized(_))
        ));
    }

    #[test]
    fn links_expire_unused_and_read_only_sessions_refuse_writes() {
        let (h, clock, platform) = herald();
        let link = h
            .create_portal_link(&platform, ask("acme", None, true))
            .unwrap();
        assert_eq!(link.session_secs, 600, "the default, cut to the maximum");
        let late = h
            .create_portal_link(&platform, ask("acme", None, true))
            .unwrap();
        let opened = h.open_portal(&link.token).unwrap();
        let portal = Caller::Session {
            token: opened.token,
        };
        assert!(matches!(
            h.check_may_write(&portal),
            Err(ServiceError::ReadOnly)
        ));
        clock.advance_ms(LINK_TTL_MS);
        assert!(
            h.open_portal(&late.token).is_err(),
            "an unused link expires"
        );
    }

    #[test]
    fn svix_capabilities_map_to_read_only() {
        let caps = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!read_only_by_capabilities(None).unwrap());
        assert!(read_only_by_capabilities(Some(&caps(&["ViewBase"]))).unwrap());
        assert!(
            read_only_by_capabilities(Some(&caps(&["ViewBase", "ViewEndpointSecret"]))).unwrap()
        );
        assert!(!read_only_by_capabilities(Some(&caps(&["ViewBase", "ManageEndpoint"]))).unwrap());
        assert!(read_only_by_capabilities(Some(&caps(&["Root"]))).is_err());
    }

    #[test]
    fn bad_requests_change_nothing() {
        let (h, _, platform) = herald();
        let before = h.store.list_sessions().unwrap().len();
        for bad in [
            ask("acme", Some(601), false),
            ask("acme", Some(0), false),
            ask("_herald", None, false),
            ask("no spaces", None, false),
            NewPortalSession {
                return_url: Some("javascript:alert(1)".into()),
                ..ask("acme", None, false)
            },
        ] {
            assert!(h.create_portal_link(&platform, bad).is_err());
        }
        assert_eq!(h.store.list_sessions().unwrap().len(), before);
        assert!(h.store.tenant("acme").unwrap().is_none());
        let tenant_key = Caller::Local { tenant: None };
        h.create_portal_link(&tenant_key, ask("acme", None, false))
            .unwrap();
    }
}
