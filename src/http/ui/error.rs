//! [`UiError`]: how an admin panel request fails — the login page for a
//! missing session, or an error page (in the session's frame when there
//! is one) chosen from the service error.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;
use askama_web::WebTemplate;

use super::layout::{redirect, Layout};
use crate::service::ServiceError;

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
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No live session: go to the login page, then come back here.
    #[error("login required for {next}")]
    Login {
        /// Where to return after login.
        next: String,
    },
    /// An error page.
    #[error("{status}: {message}")]
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

    /// A portal browser whose session ended (or whose link was used or
    /// expired): it needs a new link from the platform, not a login.
    pub fn portal_ended() -> Self {
        Self::page(
            StatusCode::UNAUTHORIZED,
            "Portal session ended",
            crate::service::PORTAL_LINK_REFUSED,
            None,
        )
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
            ServiceError::ReadOnly => (StatusCode::FORBIDDEN, "Read-only"),
            ServiceError::TenantRequired => (StatusCode::BAD_REQUEST, "Choose a tenant"),
            ServiceError::InvalidTenantId(_) | ServiceError::BadQuery { .. } => {
                (StatusCode::BAD_REQUEST, "Bad request")
            }
            ServiceError::Invalid(_)
            | ServiceError::DuplicateUrl(_)
            | ServiceError::UnknownEventType(_)
            | ServiceError::SchemaMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that")
            }
            ServiceError::TenantExists(_)
            | ServiceError::DuplicateUid(_)
            | ServiceError::Conflict { .. }
            | ServiceError::EventTypeExists { .. } => (StatusCode::CONFLICT, "Already exists"),
            ServiceError::BuiltInEventType(_) => (StatusCode::CONFLICT, "Built in"),
            ServiceError::LastOperator(_) => (StatusCode::CONFLICT, "Keep an operator"),
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
            // API keys only; a session never has a key's budget.
            ServiceError::RateLimited {
                retry_after_secs, ..
            }
            | ServiceError::KeyBusy { retry_after_secs }
            | ServiceError::ServerBusy { retry_after_secs } => {
                return UiError::Page {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    title: "Slow down",
                    message: e.to_string(),
                    layout: layout.map(Box::new),
                    retry_after: Some(*retry_after_secs),
                }
            }
            ServiceError::DiskFull { .. } => (StatusCode::INSUFFICIENT_STORAGE, "Disk full"),
            ServiceError::Store {
                fault: crate::service::StoreFault::Unavailable,
                ..
            } => (StatusCode::SERVICE_UNAVAILABLE, "Cannot write now"),
            ServiceError::Store { .. } => {
                log::error!("admin panel: {e}");
                return Self::internal(layout);
            }
        };
        let message = match &e {
            ServiceError::TenantRequired => {
                "There is no tenant yet. Create one on the Tenants page first.".to_string()
            }
            ServiceError::Forbidden(_) if layout.as_ref().is_some_and(|l| l.portal.is_some()) => {
                "This page is not part of the portal.".to_string()
            }
            ServiceError::Forbidden(_) => "Your user cannot do this; ask an operator.".to_string(),
            ServiceError::ReadOnly => format!("{e} (code {}).", e.code()),
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
