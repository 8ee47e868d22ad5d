//! The admin panel session: the cookies that carry it (and the login
//! form's CSRF cookie), [`Ctx`] — a logged-in request loaded from its
//! session cookie — and running service calls on the blocking pool.

use actix_web::http::header;
use actix_web::{web, HttpRequest};

use super::error::UiError;
use super::layout::Layout;
use crate::domain::user::{Role, User};
use crate::service::{self, Caller, Herald, PageRequest, ServiceError, SessionInfo};

/// The session cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "herald_session";
/// The login form's CSRF cookie over plain HTTP.
pub const LOGIN_CSRF_COOKIE: &str = "herald_login";
/// How many tenants the switcher lists.
const SWITCHER_TENANTS: usize = 100;

/// Whether the request reached us over TLS (directly or, as the
/// `Forwarded`/`X-Forwarded-Proto` headers say, through a proxy). Only
/// hardening depends on it (`Secure`, `__Host-`, HSTS), never access.
pub fn is_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// A cookie's name as sent: `__Host-` prefixed over TLS (the browser then
/// insists on `Secure`, `Path=/` and no `Domain`).
pub fn cookie_name(base: &str, tls: bool) -> String {
    if tls {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// The value of cookie `base` (either form of its name).
pub fn cookie(req: &HttpRequest, base: &str) -> Option<String> {
    let prefixed = format!("__Host-{base}");
    let mut plain = None;
    for value in req.headers().get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == prefixed && !v.is_empty() {
                return Some(v.to_string());
            }
            if k == base && !v.is_empty() {
                plain = Some(v.to_string());
            }
        }
    }
    plain
}

/// A `Set-Cookie` value: `HttpOnly`, `Path=/`, `Secure` over TLS;
/// `max_age` of `Some(0)` deletes it.
pub fn set_cookie(
    base: &str,
    value: &str,
    tls: bool,
    same_site: &str,
    max_age: Option<u64>,
) -> String {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={same_site}",
        cookie_name(base, tls)
    );
    if tls {
        c.push_str("; Secure");
    }
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    c
}

/// A logged-in admin panel request.
pub struct Ctx {
    /// The caller every service call is made as.
    pub caller: Caller,
    /// The user.
    pub user: User,
    /// The frame of the page.
    pub layout: Layout,
}

impl Ctx {
    /// Loads the session from the cookie; without a live one, the answer
    /// is a redirect to the login page.
    pub async fn load(
        req: &HttpRequest,
        h: &web::Data<Herald>,
        nav: &'static str,
    ) -> Result<Ctx, UiError> {
        let Some(token) = cookie(req, SESSION_COOKIE) else {
            return Err(UiError::login(req));
        };
        let t = token.clone();
        let found = blocking(h, move |h| load_session(h, &t)).await?;
        let found = found.map_err(|e| UiError::from_service(req, e, None))?;
        let Some((info, tenants, tenant, alerts_firing)) = found else {
            return Err(UiError::login(req));
        };
        let operator = info.user.role == Role::Operator;
        let layout = Layout {
            nav,
            username: info.user.username.clone(),
            operator,
            tenant,
            tenants,
            csrf: info.session.csrf.clone(),
            alerts_firing,
            ..Layout::anonymous()
        };
        Ok(Ctx {
            caller: Caller::Session { token },
            user: info.user,
            layout,
        })
    }

    /// A service error as a page in this session's frame.
    pub fn fail(&self, req: &HttpRequest, e: ServiceError) -> UiError {
        UiError::from_service(req, e, Some(self.layout.clone()))
    }
}

type Loaded = Option<(SessionInfo, Vec<String>, Option<String>, usize)>;

/// The session, the switcher's tenants and the current tenant. An operator
/// without a choice yet gets the first tenant chosen.
fn load_session(h: &Herald, token: &str) -> service::Result<Loaded> {
    let Some(info) = h.session(token)? else {
        return Ok(None);
    };
    let caller = Caller::Session {
        token: token.to_string(),
    };
    let (tenants, current) = match &info.user.role {
        Role::Tenant(t) => (Vec::new(), Some(t.clone())),
        Role::Operator => {
            let page = h.list_tenants(
                &caller,
                &PageRequest {
                    limit: SWITCHER_TENANTS,
                    after: None,
                },
            )?;
            let mut ids: Vec<String> = page.items.into_iter().map(|t| t.id).collect();
            let mut current = info.session.tenant.clone();
            if let Some(c) = &current {
                if !ids.contains(c) {
                    if h.get_tenant(&caller, c).is_ok() {
                        ids.push(c.clone());
                    } else {
                        current = None;
                    }
                }
            }
            if current.is_none() {
                if let Some(first) = ids.first() {
                    h.select_tenant(&caller, first)?;
                    current = Some(first.clone());
                }
            }
            (ids, current)
        }
    };
    // The banner counts what this user would see on the Alerts page. The
    // session caller resolves to its tenant like every other call; an
    // operator without a tenant chosen sees every tenant's alerts.
    let firing = h
        .alerts_view(&caller, 0)
        .map(|(firing, _)| firing.len())
        .unwrap_or(0);
    Ok(Some((info, tenants, current, firing)))
}

/// Runs a blocking service call on actix's blocking pool.
pub async fn blocking<T, F>(h: &web::Data<Herald>, f: F) -> Result<T, UiError>
where
    T: Send + 'static,
    F: FnOnce(&Herald) -> T + Send + 'static,
{
    let h = h.clone();
    web::block(move || f(&h)).await.map_err(|e| {
        log::error!("blocking call failed: {e}");
        UiError::internal(None)
    })
}
