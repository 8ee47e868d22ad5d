//! `GET /charts/{name}.svg`: the dashboard's and endpoint page's charts
//! (deliveries per hour, success rate, p95 and average latency over the
//! last 24 hours or 7 days), drawn by [`super::chart`] and served as images,
//! so the pages embed them with `<img>` and never insert markup unescaped.
//! [`tables`] gives the same numbers for the table next to the charts.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::chart::{self, Point, Spec};
use super::error::UiError;
use super::form::Query;
use super::session::{blocking, Ctx};
use crate::domain::stats::Grain;
use crate::domain::stats::Stats;
use crate::service::Herald;

/// The window the charts cover.
pub const WINDOW_MS: i64 = 24 * 3_600_000;

/// The longer window.
pub const WEEK_MS: i64 = 7 * 24 * 3_600_000;

/// `?endpoint=ep_…` narrows a chart to one endpoint; `?window=7d` shows
/// the last 7 days instead of 24 hours.
#[derive(Debug, Deserialize)]
pub struct ChartQuery {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    window: Option<String>,
}

/// One row of the numbers behind the charts.
pub struct ChartRow {
    /// `10:00 UTC` or `Mon 15 Jan`.
    pub label: String,
    /// Deliveries that ended.
    pub deliveries: u64,
    /// `98.5 %` or a dash.
    pub success: String,
    /// `250 ms` or a dash.
    pub p95: String,
}

/// The numbers behind the charts: per hour over 24 h, per day over 7 days.
pub struct ChartTables {
    /// Hourly, oldest first.
    pub day: Vec<ChartRow>,
    /// Daily, oldest first.
    pub week: Vec<ChartRow>,
    /// `endpoint=ep_…&` for the chart URLs, or empty.
    pub query: String,
}

fn row(label: String, s: &Stats) -> ChartRow {
    ChartRow {
        label,
        deliveries: s.total_deliveries(),
        success: s
            .success_rate()
            .map_or_else(|| "—".into(), |r| format!("{:.1} %", r * 100.0)),
        p95: s
            .quantile_ms(0.95)
            .map_or_else(|| "—".into(), |v| format!("{v} ms")),
    }
}

/// Computes the chart tables (blocking: call on the blocking pool).
pub fn tables(
    h: &Herald,
    caller: &crate::service::Caller,
    endpoint: Option<&str>,
) -> crate::service::Result<ChartTables> {
    let day = h.metrics_series(caller, endpoint, WINDOW_MS, Grain::Hour)?;
    let week = h.metrics_series(caller, endpoint, WEEK_MS, Grain::Day)?;
    Ok(ChartTables {
        day: day
            .iter()
            .map(|(t, s)| row(format!("{} UTC", &t.to_rfc3339_secs()[11..16]), s))
            .collect(),
        week: week
            .iter()
            .map(|(t, s)| row(t.to_rfc3339_secs()[..10].to_string(), s))
            .collect(),
        query: endpoint
            .map(|e| format!("endpoint={e}&"))
            .unwrap_or_default(),
    })
}

/// What a chart plots.
struct Kind {
    title: &'static str,
    title_week: &'static str,
    unit: &'static str,
    bars: bool,
    max: Option<f64>,
    integer: bool,
    value: fn(&Stats) -> Option<f64>,
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "deliveries.svg" => Kind {
            title: "Deliveries per hour, last 24 hours",
            title_week: "Deliveries per hour, last 7 days",
            unit: "",
            bars: true,
            integer: true,
            max: None,
            value: |s| Some(s.total_deliveries() as f64),
        },
        "success.svg" => Kind {
            title: "Success rate per hour, last 24 hours",
            title_week: "Success rate per hour, last 7 days",
            unit: "%",
            bars: false,
            integer: false,
            max: Some(100.0),
            value: |s| s.success_rate().map(|r| r * 100.0),
        },
        "latency.svg" => Kind {
            title: "Average response time per hour, last 24 hours",
            title_week: "Average response time per hour, last 7 days",
            unit: "ms",
            bars: false,
            integer: true,
            max: None,
            value: |s| s.average_response_ms(),
        },
        "p95.svg" => Kind {
            title: "p95 response time per hour, last 24 hours",
            title_week: "p95 response time per hour, last 7 days",
            unit: "ms",
            bars: false,
            integer: true,
            max: None,
            value: |s| s.quantile_ms(0.95).map(|v| v as f64),
        },
        _ => return None,
    })
}

/// `GET /charts/{name}.svg`.
pub async fn show(
    req: HttpRequest,
    name: web::Path<String>,
    Query(q): Query<ChartQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    let Some(k) = kind(&name) else {
        return Err(UiError::not_found(Some(ctx.layout)));
    };
    let caller = ctx.caller.clone();
    let endpoint = q.endpoint.filter(|e| !e.is_empty());
    let week = q.window.as_deref() == Some("7d");
    let window = if week { WEEK_MS } else { WINDOW_MS };
    let series = blocking(&h, move |h| {
        h.metrics_series(&caller, endpoint.as_deref(), window, Grain::Hour)
    })
    .await?
    .map_err(|e| ctx.fail(&req, e))?;
    let points: Vec<Point> = series
        .iter()
        .map(|(t, s)| Point {
            label: chart::time_label(*t),
            value: (k.value)(s),
        })
        .collect();
    let svg = chart::render(
        &Spec {
            title: if week { k.title_week } else { k.title },
            unit: k.unit,
            bars: k.bars,
            max: k.max,
            integer: k.integer,
        },
        &points,
    );
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(svg))
}
