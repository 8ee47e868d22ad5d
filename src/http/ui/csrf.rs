//! Cross-site request forgery defences: every POST's `Origin` (or
//! `Referer`) must name this site, and its form must carry the session's
//! token (or, for the login form, the double-submit cookie's).

use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

use super::error::UiError;

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
