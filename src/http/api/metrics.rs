//! `GET /api/v1/metrics` (the seed's figures) and `GET /metrics`
//! (Prometheus).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::http::api::json::MetricsView;
use crate::http::error::ApiResult;
use crate::http::extract::{call, ApiCaller};
use crate::service::{parse_window, Herald};

/// `?window=24h`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The window: a duration from `1m` to `90d` (`1h`, `24h`, `7d`);
    /// `24h` when left out.
    #[param(example = "24h")]
    window: Option<String>,
}

/// `GET /api/v1/metrics?window=24h`: tenant-scoped; a platform key
/// without `X-Tenant-ID` gets every tenant.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "metrics",
    summary = "Delivery figures over a window (the seed's shape)",
    params(WindowQuery),
    responses((status = 200, description = "The figures.", body = MetricsView)))]
pub async fn get(api: ApiCaller, q: web::Query<WindowQuery>) -> ApiResult {
    let window = q.window.clone().unwrap_or_else(|| "24h".into());
    let ms = parse_window(&window)?;
    let (report, now) = api
        .call(move |h, c| Ok((h.metrics(c, ms)?, h.failing_now(c)?)))
        .await?;
    Ok(HttpResponse::Ok().json(MetricsView::new(&window, &report, &now)))
}

/// `GET /metrics` on the API listener: needs the platform key.
#[utoipa::path(get, path = "/metrics", tag = "health",
    summary = "Prometheus metrics (platform key; open on --metrics-listen)",
    responses((status = 200, description = "The Prometheus text exposition.",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn prometheus(api: ApiCaller) -> ApiResult {
    let text = api
        .call(|h, c| {
            h.require_platform(c)?;
            h.telemetry_gauges()
        })
        .await?;
    Ok(exposition(crate::telemetry::render(&text)))
}

/// `GET /metrics` on `--metrics-listen`: open, for a scraper on a private
/// network.
pub async fn prometheus_open(h: web::Data<Herald>) -> ApiResult {
    let g = call(&h, |h| h.telemetry_gauges()).await?;
    Ok(exposition(crate::telemetry::render(&g)))
}

fn exposition(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
