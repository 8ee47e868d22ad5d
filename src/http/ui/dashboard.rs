//! `GET /`: the dashboard of the current tenant — deliveries, success
//! rate and latency over the last 24 hours (from the metrics service,
//! with charts), per-endpoint figures, failing endpoints and recent
//! failures.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::charts::{tables, ChartTables, WINDOW_MS};
use super::deliveries::{rows_of, DeliveryRow};
use super::error::UiError;
use super::layout::{page, Layout};
use super::session::{blocking, Ctx};
use super::view::{Badge, When};
use crate::domain::stats::Stats;
use crate::service::{Herald, LogQuery, MetricsReport, PageRequest, ServiceError};

/// The headline figures of a window.
pub struct Figures {
    /// Deliveries that ended (succeeded or given up).
    pub deliveries: u64,
    /// Of which succeeded.
    pub delivered: u64,
    /// Given up.
    pub failed: u64,
    /// `98.5 %` or a dash.
    pub success: String,
    /// Whether the success rate is under the alert threshold (95 %).
    pub success_low: bool,
    /// `120 ms` or a dash.
    pub average: String,
    /// `250 ms` or a dash.
    pub p95: String,
    /// `3.1 %`.
    pub retry_rate: String,
}

impl Figures {
    /// The figures of `s`.
    pub fn of(s: &Stats) -> Self {
        let ms = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format!("{v:.0} ms"));
        Self {
            deliveries: s.total_deliveries(),
            delivered: s.delivered,
            failed: s.given_up,
            success: s
                .success_rate()
                .map_or_else(|| "—".to_string(), |r| format!("{:.1} %", r * 100.0)),
            success_low: s.success_rate().is_some_and(|r| r < 0.95),
            average: ms(s.average_response_ms()),
            p95: ms(s.quantile_ms(0.95).map(|v| v as f64)),
            retry_rate: format!("{:.1} %", s.retry_rate() * 100.0),
        }
    }
}

/// One endpoint's figures.
pub struct EndpointFigures {
    id: String,
    url: String,
    figures: Figures,
}

fn endpoint_figures(report: &MetricsReport) -> Vec<EndpointFigures> {
    report
        .endpoints
        .iter()
        .map(|e| EndpointFigures {
            id: e.endpoint_id.to_string(),
            url: e
                .url
                .clone()
                .unwrap_or_else(|| "(deleted endpoint)".to_string()),
            figures: Figures::of(&e.stats),
        })
        .collect()
}

/// An endpoint that is failing or was disabled.
pub struct FailingEndpoint {
    id: String,
    url: String,
    badge: Badge,
    failures: u32,
    since: Option<When>,
    reason: Option<String>,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    figures: Option<Figures>,
    per_endpoint: Vec<EndpointFigures>,
    endpoints: usize,
    active: usize,
    failing: Vec<FailingEndpoint>,
    failures: Vec<DeliveryRow>,
    recent: Vec<DeliveryRow>,
    show_endpoint: bool,
    charts: Option<ChartTables>,
}

/// `GET /`.
pub async fn show(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    let mut p = DashboardPage {
        layout: ctx.layout.clone(),
        figures: None,
        per_endpoint: Vec::new(),
        endpoints: 0,
        active: 0,
        failing: Vec::new(),
        failures: Vec::new(),
        recent: Vec::new(),
        show_endpoint: true,
        charts: None,
    };
    if ctx.layout.tenant.is_none() {
        return Ok(page(&req, StatusCode::OK, p));
    }
    let caller = ctx.caller.clone();
    let loaded = blocking(&h, move |h| {
        let eps = h
            .list_endpoints(&caller, &PageRequest::parse(Some("100"), None)?)?
            .items;
        let mut failing = Vec::new();
        for ep in &eps {
            let (ep, health) = h.get_endpoint_with_health(&caller, &ep.id.to_string())?;
            if health.consecutive_failures > 0 || ep.disabled_reason.is_some() {
                failing.push(FailingEndpoint {
                    id: ep.id.to_string(),
                    badge: Badge::endpoint(ep.active, ep.disabled_reason.is_some()),
                    url: ep.url,
                    failures: health.consecutive_failures,
                    since: When::opt(health.failing_since),
                    reason: ep.disabled_reason,
                });
            }
        }
        let failed = h.list_deliveries(
            &caller,
            &LogQuery {
                status: Some("failed".into()),
                limit: Some("10".into()),
                ..Default::default()
            },
        )?;
        let recent = h.list_deliveries(
            &caller,
            &LogQuery {
                limit: Some("10".into()),
                ..Default::default()
            },
        )?;
        let report = h.metrics(&caller, WINDOW_MS)?;
        let charts = tables(h, &caller, None)?;
        Ok::<_, ServiceError>((
            report,
            charts,
            eps.len(),
            eps.iter().filter(|e| e.active).count(),
            failing,
            rows_of(&failed.items, &eps),
            rows_of(&recent.items, &eps),
        ))
    })
    .await?;
    let (report, charts, endpoints, active, failing, failures, recent) =
        loaded.map_err(|e| ctx.fail(&req, e))?;
    p.charts = Some(charts);
    p.figures = Some(Figures::of(&report.totals));
    p.per_endpoint = endpoint_figures(&report);
    p.endpoints = endpoints;
    p.active = active;
    p.failing = failing;
    p.failures = failures;
    p.recent = recent;
    Ok(page(&req, StatusCode::OK, p))
}
