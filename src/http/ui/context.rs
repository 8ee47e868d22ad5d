//! What every admin panel request needs: the session from its cookie, the
//! page layout (navigation, tenant switcher, CSRF token), form bodies with
//! the CSRF and `Origin` checks, and service errors turned into pages.

use actix_web::body::MessageBody;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, Responder, ResponseError};
use askama::Template;
use askama_web::WebTemplate;

use super::assets;
use crate::domain::session::constant_time_eq;
use crate::domain::user::{Role, User};
use crate::service::{self, Caller, Herald, PageRequest, ServiceError, SessionInfo};

/// The session cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "herald_session";
/// The login form's CSRF cookie over plain HTTP.
pub const LOGIN_CSRF_COOKIE: &str = "herald_login";
/// The largest form body accepted.
pub const FORM_LIMIT: usize = 64 * 1024;
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

/// A local path to return to after login or a switch: it must start with
/// one `/`, so it can never send the browser to another site.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A `303 See Other` to `to`.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Renders a page with a status. Pages are never cached: they show
/// per-user data and sometimes secrets.
pub fn page<T>(req: &HttpRequest, status: StatusCode, t: T) -> HttpResponse
where
    T: Responder,
    T::Body: MessageBody + 'static,
{
    t.customize()
        .with_status(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .respond_to(req)
        .map_into_boxed_body()
}

/// The parts of the page frame that every page shows.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The section highlighted in the navigation.
    pub nav: &'static str,
    /// Who is logged in.
    pub username: String,
    /// Whether the user is an operator (sees every tenant).
    pub operator: bool,
    /// The tenant the pages are about, if any.
    pub tenant: Option<String>,
    /// The tenants in the switcher (operators).
    pub tenants: Vec<String>,
    /// This session's CSRF token, for every form.
    pub csrf: String,
    /// The stylesheet's hashed URL.
    pub css: String,
    /// The script's hashed URL.
    pub js: String,
    /// The favicon's hashed URL.
    pub icon: String,
    /// Alerts firing for what this user sees (the banner on every page).
    pub alerts_firing: usize,
}

impl Layout {
    /// A frame for pages outside a session (login, errors).
    pub fn anonymous() -> Self {
        Self {
            nav: "",
            username: String::new(),
            operator: false,
            tenant: None,
            tenants: Vec::new(),
            csrf: String::new(),
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            icon: assets::url("favicon.svg"),
            alerts_firing: 0,
        }
    }

    /// Whether `nav` is the current section (for `aria-current`).
    pub fn is(&self, nav: &str) -> bool {
        self.nav == nav
    }

    /// Whether a user is logged in (the frame shows navigation).
    pub fn logged_in(&self) -> bool {
        !self.username.is_empty()
    }
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

    /// Reads a form body after checking the request's origin and the
    /// form's CSRF token; either failing is a 403 and nothing happens.
    pub async fn form(&self, req: &HttpRequest, payload: web::Payload) -> Result<Form, UiError> {
        check_origin(req)?;
        let form = read_form(req, payload).await?;
        let sent = form.get("csrf").unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), self.layout.csrf.as_bytes()) {
            return Err(UiError::csrf());
        }
        Ok(form)
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

/// Refuses a cross-site POST: an `Origin` (or, without one, a `Referer`)
/// naming another site than the one the request came to.
pub fn check_origin(req: &HttpRequest) -> Result<(), UiError> {
    let info = req.connection_info();
    let expected = format!("{}://{}", info.scheme(), info.host());
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let ok = match (header_str(header::ORIGIN), header_str(header::REFERER)) {
        (Some(origin), _) => origin.eq_ignore_ascii_case(&expected),
        (None, Some(referer)) => url::Url::parse(referer).ok().is_some_and(|u| {
            u.origin()
                .ascii_serialization()
                .eq_ignore_ascii_case(&expected)
        }),
        // Neither header: an old or privacy-minded client. The CSRF token
        // still has to match.
        (None, None) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(UiError::page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form was sent from another site. Reload the page and try again.",
            None,
        ))
    }
}

/// A decoded `application/x-www-form-urlencoded` body, in order; repeated
/// names (checkboxes) keep every value.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox `name` was checked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Reads a form body (at most [`FORM_LIMIT`] bytes).
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Form, UiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(UiError::page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "Send this as an HTML form (application/x-www-form-urlencoded).",
            None,
        ));
    }
    let bytes = match payload.to_bytes_limited(FORM_LIMIT).await {
        Ok(Ok(b)) => b,
        _ => {
            return Err(UiError::page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form was larger than this page accepts.",
                None,
            ))
        }
    };
    Ok(Form(
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
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

/// The error page.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: &'a Layout,
    title: &'a str,
    message: &'a str,
    status: u16,
}

/// An admin panel request that ends in an error page or the login page.
#[derive(Debug)]
pub enum UiError {
    /// No live session: go to the login page, then come back here.
    Login {
        /// Where to return after login.
        next: String,
    },
    /// An error page.
    Page {
        /// Its status.
        status: StatusCode,
        /// A short title.
        title: &'static str,
        /// What happened and what to do.
        message: String,
        /// The frame, when a session is known.
        layout: Option<Box<Layout>>,
        /// For 429: seconds to wait.
        retry_after: Option<u64>,
    },
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Login { next } => write!(f, "login required for {next}"),
            UiError::Page {
                status, message, ..
            } => write!(f, "{status}: {message}"),
        }
    }
}

impl UiError {
    /// Go to the login page, then back to this request's page (GETs).
    pub fn login(req: &HttpRequest) -> Self {
        let next = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string()
        } else {
            "/".into()
        };
        UiError::Login { next }
    }

    /// An error page.
    pub fn page(
        status: StatusCode,
        title: &'static str,
        message: impl Into<String>,
        layout: Option<Layout>,
    ) -> Self {
        UiError::Page {
            status,
            title,
            message: message.into(),
            layout: layout.map(Box::new),
            retry_after: None,
        }
    }

    /// The CSRF refusal.
    pub fn csrf() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form's security token is missing or out of date (did you log in again in another tab?). Go back, reload the page and try again.",
            None,
        )
    }

    /// 404 in a session's frame.
    pub fn not_found(layout: Option<Layout>) -> Self {
        Self::page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here. It may have been deleted, or it belongs to another tenant.",
            layout,
        )
    }

    /// 500; the detail went to the log.
    pub fn internal(layout: Option<Layout>) -> Self {
        Self::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Herald could not complete this request; the server log has the details.",
            layout,
        )
    }

    /// A service error as a page (or the login page).
    pub fn from_service(req: &HttpRequest, e: ServiceError, layout: Option<Layout>) -> Self {
        let (status, title) = match &e {
            ServiceError::Unauthorized(_) => return Self::login(req),
            ServiceError::NotFound(_) => return Self::not_found(layout),
            ServiceError::Forbidden(_) | ServiceError::TenantMismatch { .. } => {
                (StatusCode::FORBIDDEN, "Not allowed")
            }
            ServiceError::TenantRequired => (StatusCode::BAD_REQUEST, "Choose a tenant"),
            ServiceError::InvalidTenantId(_) | ServiceError::BadQuery(_) => {
                (StatusCode::BAD_REQUEST, "Bad request")
            }
            ServiceError::Invalid(_)
            | ServiceError::DuplicateUrl(_)
            | ServiceError::UnknownEventType(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that")
            }
            ServiceError::TenantExists(_) => (StatusCode::CONFLICT, "Already exists"),
            ServiceError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
            ServiceError::Throttled {
                message,
                retry_after_secs,
            } => {
                return UiError::Page {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    title: "Slow down",
                    message: message.clone(),
                    layout: layout.map(Box::new),
                    retry_after: Some(*retry_after_secs),
                }
            }
            ServiceError::Store(_) => {
                log::error!("admin panel: {e}");
                return Self::internal(layout);
            }
        };
        let message = match &e {
            ServiceError::TenantRequired => {
                "There is no tenant yet. Create one on the Tenants page first.".to_string()
            }
            ServiceError::Forbidden(_) => "Your user cannot do this; ask an operator.".to_string(),
            other => other.to_string(),
        };
        Self::page(status, title, message, layout)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Login { .. } => StatusCode::SEE_OTHER,
            UiError::Page { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::Login { next } => {
                let to = if next == "/" {
                    "/login".to_string()
                } else {
                    format!(
                        "/login?next={}",
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    )
                };
                redirect(&to)
            }
            UiError::Page {
                status,
                title,
                message,
                layout,
                retry_after,
            } => {
                let anon = Layout::anonymous();
                let page = ErrorPage {
                    layout: layout.as_deref().unwrap_or(&anon),
                    title,
                    message,
                    status: status.as_u16(),
                };
                let body = page.render().unwrap_or_else(|e| {
                    log::error!("error page: {e}");
                    message.clone()
                });
                let mut res = HttpResponse::build(*status);
                res.content_type("text/html; charset=utf-8")
                    .insert_header((header::CACHE_CONTROL, "no-store"));
                if let Some(s) = retry_after {
                    res.insert_header((header::RETRY_AFTER, s.to_string()));
                }
                res.body(body)
            }
        }
    }
}
