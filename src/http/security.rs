//! Security headers on every answer: a strict Content-Security-Policy (no
//! inline scripts or styles, no framing, forms post only to us), no MIME
//! sniffing, same-origin referrers, and HSTS when served over TLS.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The Content-Security-Policy of every page.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; object-src 'none'";

/// Adds the security headers to a response (without overriding any a
/// handler set).
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let tls = req.connection_info().scheme() == "https";
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "same-origin");
    if tls {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    Ok(res)
}
