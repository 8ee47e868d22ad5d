//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::service::Herald;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers.
pub async fn readyz(h: web::Data<Herald>) -> HttpResponse {
    let store = web::block(move || h.store().schema_version()).await;
    match store {
        Ok(Ok(v)) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "store": { "ok": true, "schema_version": v } }
        })),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "checks": { "store": { "ok": false, "error": e.to_string() } }
        })),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "checks": { "store": { "ok": false, "error": e.to_string() } }
        })),
    }
}
