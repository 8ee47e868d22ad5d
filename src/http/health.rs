//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::service::Herald;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: store open, workers alive, scheduler on time, disk free.
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
