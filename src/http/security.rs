//! Security headers on every answer: a strict Content-Security-Policy (no
//! inline scripts or styles, no framing, forms post only to us), no MIME
//! sniffing, same-origin referrers, and HSTS when served over TLS.
//!
//! The tenant portal's answers (a request the panel marked with
//! [`PortalFrame`]) may be framed by exactly the origins of
//! `--portal-frame-ancestors` (none unless set), and may show the
//! operator's logo from its origin; nothing else is ever frameable.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use crate::http::ui::session::PortalFrame;
use crate::service::Herald;

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
    let herald = req.app_data::<web::Data<Herald>>().cloned();
    let mut res = next.call(req).await?;
    let portal = res.request().extensions().get::<PortalFrame>().is_some();
    let mut framed = false;
    if let (true, Some(h)) = (portal, herald) {
        let cfg = h.portal_config();
        let csp = portal_csp(&cfg.frame_ancestors, cfg.logo_origin().as_deref());
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            // `frame-ancestors` supersedes X-Frame-Options; DENY would
            // forbid the frame in browsers that read both.
            framed = !cfg.frame_ancestors.is_empty();
        }
    }
    let h = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    if !framed {
        set(header::X_FRAME_OPTIONS, "DENY");
    }
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "same-origin");
    if tls {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    Ok(res)
}

/// The portal pages' Content-Security-Policy: the panel's, with the
/// framing origins (`'none'` without any) and the logo's origin for images.
/// The origins were validated as bare `scheme://host[:port]` at start.
pub fn portal_csp(frame_ancestors: &[String], logo_origin: Option<&str>) -> String {
    let ancestors = if frame_ancestors.is_empty() {
        "'none'".to_string()
    } else {
        frame_ancestors.join(" ")
    };
    let img = match logo_origin {
        Some(o) => format!("; img-src 'self' {o}"),
        None => String::new(),
    };
    format!("default-src 'self'; frame-ancestors {ancestors}; form-action 'self'; object-src 'none'{img}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_csp_names_only_the_configured_origins() {
        assert_eq!(
            portal_csp(&[], None),
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; object-src 'none'"
        );
        assert_eq!(
            portal_csp(
                &["https://store.example".into(), "http://127.0.0.1:9000".into()],
                Some("https://cdn.example")
            ),
            "default-src 'self'; frame-ancestors https://store.example http://127.0.0.1:9000; form-action 'self'; object-src 'none'; img-src 'self' https://cdn.example"
        );
    }
}
