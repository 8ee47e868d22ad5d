//! The admin panel session: the cookies that carry it (and the login
//! form's CSRF cookie), [`Ctx`] — a logged-in request loaded from its
//! session cookie — and running service calls on the blocking pool.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::error::UiError;
use super::layout::{Layout, PortalView};
use crate::domain::portal::section_in_portal;
use crate::domain::user::{Role, User};
use crate::service::{self, Caller, Herald, PageRequest, ServiceError, SessionInfo};

/// The session cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "herald_session";
/// The login form's CSRF cookie over plain HTTP.
pub const LOGIN_CSRF_COOKIE: &str = "herald_login";
/// The device cookie over plain HTTP: set at each login, it makes the
/// browser's later logins as that user count only their own failures.
pub const DEVICE_COOKIE: &str = "herald_device";
/// Set beside a portal session's cookie: this browser came through the
/// portal, so an ended session asks for a new link instead of a login.
pub const PORTAL_COOKIE: &str = "herald_portal";
/// How long the browser keeps the device cookie (the server trusts it as
/// long, `domain::throttle::DEVICE_TTL_MS`, while it runs).
const DEVICE_COOKIE_DAYS: i64 = 30;
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

/// The value of cookie `base`: the first non-empty `__Host-` one, else the
/// last non-empty plain one.
pub fn cookie(req: &HttpRequest, base: &str) -> Option<String> {
    let prefixed = format!("__Host-{base}");
    let pick = |cookies: &[Cookie<'_>]| {
        let values = |name: &str| {
            cookies
                .iter()
                .filter(|c| c.name() == name && !c.value().is_empty())
                .map(|c| c.value().to_string())
                .collect::<Vec<_>>()
        };
        values(&prefixed)
            .into_iter()
            .next()
            .or_else(|| values(base).pop())
    };
    match req.cookies() {
        Ok(cookies) => pick(&cookies),
        // actix refuses every cookie of a request for one malformed pair
        // (a name-only cookie another app on this host set, say); read
        // the pairs one by one and skip what does not parse.
        Err(_) => pick(&tolerant_cookies(req)),
    }
}

/// The request's cookies, skipping the pairs that do not parse.
fn tolerant_cookies(req: &HttpRequest) -> Vec<Cookie<'static>> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|text| text.split(';'))
        .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_string()).ok())
        .collect()
}

/// A cookie as the panel sets them: `HttpOnly`, `Path=/`, `SameSite` as
/// given, `Secure` and the `__Host-` name over TLS; `max_age` of zero
/// deletes it, none makes it last the browser session.
pub fn panel_cookie(
    base: &str,
    value: &str,
    tls: bool,
    same_site: SameSite,
    max_age: Option<Duration>,
) -> Cookie<'static> {
    let mut c = Cookie::build(cookie_name(base, tls), value.to_string())
        .path("/")
        .http_only(true)
        .same_site(same_site);
    if tls {
        c = c.secure(true);
    }
    if let Some(age) = max_age {
        c = c.max_age(age);
    }
    c.finish()
}

/// The session cookie for `token` (`SameSite=Lax`, for the browser
/// session), or with `None` the one that deletes it.
pub fn session_cookie(req: &HttpRequest, token: Option<&str>) -> Cookie<'static> {
    let tls = is_tls(req);
    match token {
        Some(t) => panel_cookie(SESSION_COOKIE, t, tls, SameSite::Lax, None),
        None => panel_cookie(SESSION_COOKIE, "", tls, SameSite::Lax, Some(Duration::ZERO)),
    }
}

/// The cookies of a portal session `token` (the session's and the portal
/// marker), or with `None` the ones that delete them. When some origin may
/// frame the portal and the request came over TLS they are
/// `SameSite=None; Secure`, so the browser sends them inside the frame;
/// otherwise `SameSite=Lax` like the panel's own.
pub fn portal_cookies(
    req: &HttpRequest,
    embeddable: bool,
    token: Option<&str>,
) -> [Cookie<'static>; 2] {
    let tls = is_tls(req);
    let same_site = if embeddable && tls {
        SameSite::None
    } else {
        SameSite::Lax
    };
    let age = token.is_none().then_some(Duration::ZERO);
    [
        panel_cookie(SESSION_COOKIE, token.unwrap_or(""), tls, same_site, age),
        panel_cookie(
            PORTAL_COOKIE,
            if token.is_some() { "1" } else { "" },
            tls,
            same_site,
            age,
        ),
    ]
}

/// The device cookie for `token`: `SameSite=Strict` (only the panel's own
/// login form sends it), `HttpOnly`, `Secure` and `__Host-` over TLS.
pub fn device_cookie(req: &HttpRequest, token: &str) -> Cookie<'static> {
    panel_cookie(
        DEVICE_COOKIE,
        token,
        is_tls(req),
        SameSite::Strict,
        Some(Duration::days(DEVICE_COOKIE_DAYS)),
    )
}

/// Adds `cookies` to `res` (a cookie that cannot be a header is logged and
/// left out, as a browser would ignore it).
pub fn with_cookies(
    mut res: HttpResponse,
    cookies: impl IntoIterator<Item = Cookie<'static>>,
) -> HttpResponse {
    for c in cookies {
        if let Err(e) = res.add_cookie(&c) {
            log::error!("cookie {}: {e}", c.name());
        }
    }
    res
}

/// A logged-in admin panel request.
pub struct Ctx {
    /// The caller every service call is made as.
    pub caller: Caller,
    /// The user; `None` in a portal session.
    pub user: Option<User>,
    /// The frame of the page.
    pub layout: Layout,
}

/// Marks a request answered for the tenant portal: the security headers
/// then let the operator's `--portal-frame-ancestors` frame the answer.
#[derive(Debug, Clone, Copy)]
pub struct PortalFrame;

/// Marks `req` as a portal request (see [`PortalFrame`]).
pub fn mark_portal(req: &HttpRequest) {
    req.extensions_mut().insert(PortalFrame);
}

impl Ctx {
    /// Loads the session from the cookie; without a live one, the answer
    /// is a redirect to the login page (or, in a browser the portal
    /// opened, the page that asks for a new link).
    pub async fn load(
        req: &HttpRequest,
        h: &web::Data<Herald>,
        nav: &'static str,
    ) -> Result<Ctx, UiError> {
        let portal_browser = cookie(req, PORTAL_COOKIE).is_some();
        let gone = || {
            if portal_browser {
                mark_portal(req);
                UiError::portal_ended()
            } else {
                UiError::login(req)
            }
        };
        let Some(token) = cookie(req, SESSION_COOKIE) else {
            return Err(gone());
        };
        let t = token.clone();
        let found = blocking(h, move |h| load_session(h, &t)).await?;
        let found = found.map_err(|e| UiError::from_service(req, e, None))?;
        let Some((info, tenants, tenant, alerts_firing)) = found else {
            return Err(gone());
        };
        let portal = info.session.portal.as_ref().map(|p| {
            let cfg = h.portal_config();
            PortalView {
                read_only: p.read_only,
                return_url: p.return_url.clone(),
                name: cfg.name.clone(),
                logo_url: cfg.logo_url.clone(),
                themed: cfg.accent.is_some(),
            }
        });
        let operator = info.user.as_ref().is_some_and(|u| u.role == Role::Operator);
        let username = match &info.user {
            Some(u) => u.username.clone(),
            None => tenant.clone().unwrap_or_default(),
        };
        let layout = Layout {
            nav,
            username,
            operator,
            tenant,
            tenants,
            csrf: info.session.csrf.clone(),
            alerts_firing,
            paused: h.paused(),
            portal,
            ..Layout::anonymous()
        };
        if layout.in_portal() {
            mark_portal(req);
            if !section_in_portal(nav) {
                return Err(UiError::page(
                    StatusCode::FORBIDDEN,
                    "Not in the portal",
                    "This page is not part of the portal.",
                    Some(layout),
                ));
            }
        }
        Ok(Ctx {
            caller: Caller::Session { token },
            user: info.user,
            layout,
        })
    }

    /// Refuses a page that exists only to change something (a form page)
    /// in a read-only portal session: 403 `read_only_session`.
    pub fn require_write(&self, req: &HttpRequest) -> Result<(), UiError> {
        if self.layout.can_write() {
            Ok(())
        } else {
            Err(self.fail(req, ServiceError::ReadOnly))
        }
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
    let role = info.user.as_ref().map(|u| &u.role);
    let (tenants, current) = match role {
        // A portal session is scoped to its tenant, like a bound user.
        None => (Vec::new(), info.session.tenant.clone()),
        Some(Role::Tenant(t)) => (Vec::new(), Some(t.clone())),
        Some(Role::Operator) => {
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn cookies_carry_every_attribute_and_the_host_prefix_over_tls() {
        let c = panel_cookie(
            "herald_login",
            "t",
            true,
            SameSite::Strict,
            Some(Duration::hours(1)),
        );
        assert_eq!(
            c.to_string(),
            "__Host-herald_login=t; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=3600"
        );
        let c = panel_cookie(
            "herald_session",
            "",
            false,
            SameSite::Lax,
            Some(Duration::ZERO),
        );
        assert_eq!(
            c.to_string(),
            "herald_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
        );
        let c = panel_cookie("herald_session", "s", false, SameSite::Lax, None);
        assert_eq!(
            c.to_string(),
            "herald_session=s; HttpOnly; SameSite=Lax; Path=/"
        );
    }

    #[test]
    fn the_device_cookie_is_strict_and_host_prefixed_over_tls() {
        let plain = TestRequest::default().to_http_request();
        assert_eq!(
            device_cookie(&plain, "d").to_string(),
            "herald_device=d; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000"
        );
        let tls = TestRequest::default()
            .insert_header(("X-Forwarded-Proto", "https"))
            .to_http_request();
        assert_eq!(
            device_cookie(&tls, "d").to_string(),
            "__Host-herald_device=d; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=2592000"
        );
    }

    #[test]
    fn the_prefixed_cookie_wins_and_a_malformed_pair_spoils_nothing() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "herald_session=a; __Host-herald_session=b"))
            .to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE).as_deref(), Some("b"));
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "flag; herald_session=; herald_session=c"))
            .to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE).as_deref(), Some("c"));
        let req = TestRequest::default().to_http_request();
        assert_eq!(cookie(&req, SESSION_COOKIE), None);
    }
}
