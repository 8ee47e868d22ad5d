//! The tenant portal's own routes: `GET /portal/{token}` opens a portal
//! session with a one-time link (the link is spent whatever happens next)
//! and `GET /portal/theme.css` is the operator's accent colour as a
//! stylesheet (the CSP allows no inline style).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::UiError;
use super::layout::redirect;
use super::session::{blocking, mark_portal, portal_cookies, with_cookies};
use crate::service::{Herald, ServiceError};

/// Where an opened portal lands.
const LANDING: &str = "/webhooks";
/// The longest token looked at (a link token is 43 characters).
const MAX_TOKEN: usize = 128;

/// `GET /portal/{token}`: spend the link, set the portal cookies, go to
/// the tenant's endpoints. A used, expired or unknown link is a 401 page
/// asking for a new one.
pub async fn open(
    req: HttpRequest,
    token: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    mark_portal(&req);
    let token = token.into_inner();
    if token.len() > MAX_TOKEN {
        return Err(UiError::portal_ended());
    }
    let opened = blocking(&h, move |h| h.open_portal(&token)).await?;
    match opened {
        Ok(o) => {
            let embeddable = h.portal_config().embeddable();
            Ok(with_cookies(
                redirect(LANDING),
                portal_cookies(&req, embeddable, Some(&o.token)),
            ))
        }
        Err(ServiceError::Unauthorized(_)) => Err(UiError::portal_ended()),
        Err(e) => Err(UiError::from_service(&req, e, None)),
    }
}

/// `GET /portal/theme.css`: the accent colour (validated `#rrggbb`, so
/// nothing else can reach the stylesheet) over the panel's brand colours.
pub async fn theme(h: web::Data<Herald>) -> HttpResponse {
    let css = match &h.portal_config().accent {
        Some(c) => format!(
            ":root {{ --brand: {c}; --brand-dark: color-mix(in srgb, {c} 80%, black); --brand-tint: color-mix(in srgb, {c} 10%, white); }}\n.topbar {{ background: color-mix(in srgb, {c} 35%, #101828); }}\n"
        ),
        None => String::new(),
    };
    HttpResponse::build(StatusCode::OK)
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(css)
}
