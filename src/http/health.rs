//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::service::Herald;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers; the engine's gauges as detail.
pub async fn readyz(h: web::Data<Herald>) -> HttpResponse {
    let e = h.engine_stats();
    let store = web::block(move || h.store().schema_version()).await;
    let delivery = json!({
        "queued": e.queued,
        "in_flight": e.in_flight,
        "in_wheel": e.in_wheel,
        "scheduler_lag_ms": e.scheduler_lag_ms,
    });
    match store {
        Ok(Ok(v)) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": { "store": { "ok": true, "schema_version": v } },
            "delivery": delivery,
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
