//! The `idempotency-key` of the Svix-compatible API's POSTs, as a
//! middleware around its routes: the service claims the request's scope
//! ([`Herald::idempotent_begin`]); a repeat is answered with the first
//! answer, status and body, without running; a first request runs and its
//! answer is handed back to the service to remember (or, for a 5xx, to
//! forget, so the SDK's retry runs again).

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use super::error::SvixError;
use crate::http::error::ApiError;
use crate::http::extract;
use crate::service::{Herald, Idempotent};

/// The header the SDKs send.
pub const HEADER: &str = "idempotency-key";
/// The largest answer read back to be remembered (larger ones are passed
/// on, not remembered: `domain::idempotent::MAX_BODY` is smaller still).
const READ_LIMIT: usize = 16 << 20;

/// Runs a POST with an `idempotency-key` at most once per scope.
pub async fn idempotent(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => v.to_str().map(|s| s.trim().to_string()),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
    };
    let Ok(key) = key else {
        let mut e = SvixError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "idempotency-key must be visible ASCII",
        );
        e.loc = vec!["header".into(), HEADER.into()];
        return Ok(req.error_response(e));
    };
    let Some(herald) = req.app_data::<web::Data<Herald>>().cloned() else {
        return Ok(req.error_response(SvixError::from(ApiError::internal("the app has no Herald"))));
    };
    let caller = extract::caller(req.request());
    // The path as Svix reads it: without a trailing slash.
    let path = req.path().trim_end_matches('/');
    let url = match req.query_string() {
        "" => path.to_string(),
        q => format!("{path}?{q}"),
    };
    let method = req.method().to_string();
    let h = herald.clone();
    let begun = web::block(move || h.idempotent_begin(&caller, &method, &url, &key)).await;
    let claimed = match begun {
        Err(e) => return Ok(req.error_response(SvixError::from(ApiError::internal(e)))),
        Ok(Err(e)) => {
            let mut e = SvixError::from(e);
            if e.api.field == Some(HEADER) {
                e.loc = vec!["header".into(), HEADER.into()];
            }
            return Ok(req.error_response(e));
        }
        Ok(Ok(Idempotent::Repeat(a))) => {
            let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
            let mut res = HttpResponse::build(status);
            if !a.body.is_empty() {
                res.content_type("application/json");
            }
            return Ok(req.into_response(res.body(a.body)));
        }
        Ok(Ok(Idempotent::Run(c))) => c,
    };
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(e) => {
            let h = herald.clone();
            let _ = web::block(move || h.idempotent_finish(claimed, 500, b"")).await;
            return Err(e);
        }
    };
    let status = res.status().as_u16();
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match body::to_bytes_limited(body, READ_LIMIT).await {
        Ok(Ok(b)) => b,
        _ => {
            let h = herald.clone();
            let _ = web::block(move || h.idempotent_finish(claimed, 500, b"")).await;
            return Ok(ServiceResponse::new(
                req,
                HttpResponse::InternalServerError().finish(),
            ));
        }
    };
    let remembered = bytes.clone();
    match web::block(move || herald.idempotent_finish(claimed, status, &remembered)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("could not remember an idempotent answer: {e}"),
        Err(e) => log::warn!("could not remember an idempotent answer: {e}"),
    }
    Ok(ServiceResponse::new(
        req,
        head.set_body(BoxBody::new(bytes)),
    ))
}
