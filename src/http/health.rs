//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::service::Herald;

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", summary = "Liveness: the process answers",
    responses((status = 200, description = "Alive.", body = crate::http::openapi::LiveView)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: store open, workers alive, scheduler on time, disk free.
#[utoipa::path(get, path = "/readyz", tag = "health",
    summary = "Readiness: store open, workers alive, scheduler on time, disk free",
    responses(
        (status = 200, description = "Ready (also while paused).", body = crate::http::openapi::ReadyView),
        (status = 503, description = "Not ready: a check failed.", body = crate::http::openapi::ReadyView),
    ))]
pub async fn readyz(h: web::Data<Herald>) -> HttpResponse {
    match web::block(move || h.readiness()).await {
        Ok((true, body)) => HttpResponse::Ok().json(body),
        Ok((false, body)) => HttpResponse::ServiceUnavailable().json(body),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "error": e.to_string(),
        })),
    }
}
