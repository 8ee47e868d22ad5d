//! `GET /api/v1/metrics` (the seed's figures) and `GET /metrics`
//! (Prometheus).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::extract::{call, caller};
use crate::service::{parse_window, Herald};
use crate::views::MetricsView;

/// `?window=24h`.
#[derive(Debug, Deserialize)]
pub struct WindowQuery {
    window: Option<String>,
}

/// `GET /api/v1/metrics?window=24h`: tenant-scoped; a platform key
/// without `X-Tenant-ID` gets every tenant.
pub async fn get(
    req: HttpRequest,
    q: web::Query<WindowQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let window = q.window.clone().unwrap_or_else(|| "24h".into());
    let ms = parse_window(&window)?;
    let report = call(&h, move |h| h.metrics(&c, ms)).await?;
    Ok(HttpResponse::Ok().json(MetricsView::new(&window, &report)))
}

/// `GET /metrics` on the API listener: needs the platform key.
pub async fn prometheus(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let text = call(&h, move |h| {
        h.require_platform(&c)?;
        h.telemetry_gauges()
    })
    .await?;
    Ok(exposition(crate::telemetry::render(&text)))
}

/// `GET /metrics` on `--metrics-listen`: open, for a scraper on a private
/// network.
pub async fn prometheus_open(h: web::Data<Herald>) -> Result<HttpResponse, ApiError> {
    let g = call(&h, |h| h.telemetry_gauges()).await?;
    Ok(exposition(crate::telemetry::render(&g)))
}

fn exposition(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// `GET /api/v1/alerts`: what fires now and the recent transitions.
pub async fn alerts(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let (firing, history) = call(&h, move |h| h.alerts_view(&c, 100)).await?;
    let alert = |rule: &str, ep: String, tenant: &str, state: &str, at: String, detail: &str| {
        serde_json::json!({
            "rule": rule, "webhook_id": ep, "tenant_id": tenant,
            "state": state, "at": at, "detail": detail,
        })
    };
    let state = |s: crate::domain::alert::State| match s {
        crate::domain::alert::State::Firing => "firing",
        crate::domain::alert::State::Ok => "resolved",
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "firing": firing.iter().map(|a| alert(a.rule.as_str(), a.endpoint_id.to_string(), &a.tenant_id, state(a.state), a.since.to_rfc3339_secs(), &a.detail)).collect::<Vec<_>>(),
        "history": history.iter().map(|t| {
            let mut v = alert(t.rule.as_str(), t.endpoint_id.to_string(), &t.tenant_id, state(t.to), t.at.to_rfc3339_secs(), &t.detail);
            v["url"] = serde_json::json!(t.url);
            v
        }).collect::<Vec<_>>(),
    })))
}
