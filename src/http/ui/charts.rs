//! `GET /charts/{name}.svg`: the dashboard's and endpoint page's charts
//! (deliveries, success rate, latency over the last 24 hours, per hour),
//! drawn by `crate::chart` and served as images, so the pages embed them
//! with `<img>` and never insert markup unescaped.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::context::{blocking, Ctx, UiError};
use crate::chart::{self, Point, Spec};
use crate::domain::stats::Stats;
use crate::service::Herald;
use crate::store::Grain;

/// The window the charts cover.
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// `?endpoint=ep_…` narrows a chart to one endpoint.
#[derive(Debug, Deserialize)]
pub struct ChartQuery {
    endpoint: Option<String>,
}

/// What a chart plots.
struct Kind {
    title: &'static str,
    unit: &'static str,
    bars: bool,
    max: Option<f64>,
    value: fn(&Stats) -> Option<f64>,
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "deliveries.svg" => Kind {
            title: "Deliveries per hour, last 24 hours",
            unit: "",
            bars: true,
            max: None,
            value: |s| Some(s.total_deliveries() as f64),
        },
        "success.svg" => Kind {
            title: "Success rate per hour, last 24 hours",
            unit: "%",
            bars: false,
            max: Some(100.0),
            value: |s| s.success_rate().map(|r| r * 100.0),
        },
        "latency.svg" => Kind {
            title: "Average response time per hour, last 24 hours",
            unit: "ms",
            bars: false,
            max: None,
            value: |s| s.average_response_ms(),
        },
        _ => return None,
    })
}

/// `GET /charts/{name}.svg`.
pub async fn show(
    req: HttpRequest,
    name: web::Path<String>,
    q: web::Query<ChartQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    let Some(k) = kind(&name) else {
        return Err(UiError::not_found(Some(ctx.layout)));
    };
    let caller = ctx.caller.clone();
    let endpoint = q.endpoint.clone().filter(|e| !e.is_empty());
    let series = blocking(&h, move |h| {
        h.metrics_series(&caller, endpoint.as_deref(), WINDOW_MS, Grain::Hour)
    })
    .await?
    .map_err(|e| ctx.fail(&req, e))?;
    let points: Vec<Point> = series
        .iter()
        .map(|(t, s)| Point {
            label: format!("{} UTC", &t.to_rfc3339_secs()[11..16]),
            value: (k.value)(s),
        })
        .collect();
    let svg = chart::render(
        &Spec {
            title: k.title,
            unit: k.unit,
            bars: k.bars,
            max: k.max,
        },
        &points,
    );
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(svg))
}
