//! The page frame and the answers every page gives: [`Layout`] (navigation,
//! tenant switcher, CSRF token, asset URLs, alert and paused banners), rendering a
//! page uncached, `303` redirects and safe local return paths.

use actix_web::body::MessageBody;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, Responder};

use super::assets;

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
    /// Deliveries and alerts are paused (a banner on every page, with the
    /// resume button for operators).
    pub paused: bool,
    /// Set on the tenant portal's pages: its theme and scope.
    pub portal: Option<PortalView>,
}

/// What the page frame shows of a portal session.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// No action is shown (and the server refuses every form).
    pub read_only: bool,
    /// The platform's page the portal links back to.
    pub return_url: Option<String>,
    /// The product name in the header.
    pub name: String,
    /// The platform's logo.
    pub logo_url: Option<String>,
    /// Whether an accent colour is set (then `/portal/theme.css` is linked).
    pub themed: bool,
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
            paused: false,
            portal: None,
        }
    }

    /// Whether the page may show forms and action buttons: always, except
    /// in a read-only portal session.
    pub fn can_write(&self) -> bool {
        self.portal.as_ref().is_none_or(|p| !p.read_only)
    }

    /// Whether this is a portal page (no operator or account parts).
    pub fn in_portal(&self) -> bool {
        self.portal.is_some()
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
