//! Cross-site request forgery defences: every POST's `Origin` (or
//! `Referer`) must name this site, and its form must carry the session's
//! token (or, for the login form, the double-submit cookie's).

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

use super::error::UiError;
use super::session::{cookie, is_tls, panel_cookie, LOGIN_CSRF_COOKIE};
use crate::domain::session::{constant_time_eq, generate_token};

/// How long the login form's token cookie lives.
const LOGIN_TOKEN_AGE: Duration = Duration::hours(1);

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

/// The form's token must be the session's (compared in constant time);
/// 403 otherwise.
pub fn check_session_token(sent: &str, expected: &str) -> Result<(), UiError> {
    if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(UiError::csrf())
    }
}

/// The login form's token must be its double-submit cookie's (there is no
/// session yet to hold one), and that cookie must be there; 403 otherwise.
pub fn check_login_token(req: &HttpRequest, sent: &str) -> Result<(), UiError> {
    let expected = cookie(req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() {
        return Err(UiError::csrf());
    }
    check_session_token(sent, &expected)
}

/// The login form's token: the one its cookie holds, or a new one.
pub fn login_token(req: &HttpRequest) -> String {
    cookie(req, LOGIN_CSRF_COOKIE).unwrap_or_else(generate_token)
}

/// The login token's cookie (`SameSite=Strict`, an hour), or with `None`
/// the one that deletes it.
pub fn login_cookie(req: &HttpRequest, token: Option<&str>) -> Cookie<'static> {
    let tls = is_tls(req);
    match token {
        Some(t) => panel_cookie(
            LOGIN_CSRF_COOKIE,
            t,
            tls,
            SameSite::Strict,
            Some(LOGIN_TOKEN_AGE),
        ),
        None => panel_cookie(
            LOGIN_CSRF_COOKIE,
            "",
            tls,
            SameSite::Strict,
            Some(Duration::ZERO),
        ),
    }
}
