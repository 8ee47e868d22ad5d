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
    /// Failed attempts / attempts over the window: `12.5 %`.
    pub attempt_failures: String,
    /// Whether that is above the alert threshold (5 %).
    pub attempt_failures_high: bool,
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
            attempt_failures: if s.attempts == 0 {
                "—".to_string()
            } else {
                format!("{:.1} %", s.failure_rate() * 100.0)
            },
            attempt_failures_high: s.failure_rate() > 0.05,
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

/// What is wrong now, for the headline.
pub struct Now {
    /// Deliveries waiting for a retry (`1,234` or `10000+`).
    retrying: String,
    /// Whether any is.
    any_retrying: bool,
    /// Alerts firing.
    alerts: usize,
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    now: Option<Now>,
    figures: Option<Figures>,
    per_endpoint: Vec<EndpointFigures>,
    endpoints: usize,
    active: usize,
    failing: Vec<FailingEndpoint>,
    failures: Vec<DeliveryRow>,
    retrying: Vec<DeliveryRow>,
    recent: Vec<DeliveryRow>,
    show_endpoint: bool,
    charts: Option<ChartTables>,
}

/// `GET /`.
pub async fn show(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    let mut p = DashboardPage {
        layout: ctx.layout.clone(),
        now: None,
        figures: None,
        per_endpoint: Vec::new(),
        endpoints: 0,
        active: 0,
        failing: Vec::new(),
        failures: Vec::new(),
        retrying: Vec::new(),
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
        let now = h.failing_now(&caller)?;
        let failing: Vec<FailingEndpoint> = now
            .failing
            .iter()
            .map(|(ep, health)| FailingEndpoint {
                id: ep.id.to_string(),
                badge: Badge::endpoint(
                    ep.active,
                    ep.disabled_reason.is_some(),
                    health.consecutive_failures > 0,
                ),
                url: ep.url.clone(),
                failures: health.consecutive_failures,
                since: When::opt(health.failing_since),
                reason: ep.disabled_reason.clone(),
            })
            .collect();
        let retrying = h.list_deliveries(
            &caller,
            &LogQuery {
                status: Some("retrying".into()),
                limit: Some("10".into()),
                ..Default::default()
            },
        )?;
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
        let headline = Now {
            retrying: if now.retrying_capped {
                format!("{}+", now.retrying)
            } else {
                now.retrying.to_string()
            },
            any_retrying: now.retrying > 0,
            alerts: now.alerts_firing,
        };
        Ok::<_, ServiceError>((
            report,
            charts,
            (eps.len(), eps.iter().filter(|e| e.active).count()),
            (headline, failing),
            rows_of(&failed.items, &eps),
            rows_of(&retrying.items, &eps),
            rows_of(&recent.items, &eps),
        ))
    })
    .await?;
    let (report, charts, (endpoints, active), (now, failing), failures, retrying, recent) =
        loaded.map_err(|e| ctx.fail(&req, e))?;
    p.now = Some(now);
    p.retrying = retrying;
    p.charts = Some(charts);
    p.figures = Some(Figures::of(&report.totals));
    p.per_endpoint = endpoint_figures(&report);
    // An endpoint failing now is not shown as fine, whatever its ended
    // deliveries say.
    for e in &mut p.per_endpoint {
        if failing.iter().any(|f| f.id == e.id && f.failures > 0) {
            e.figures.success_low = true;
        }
    }
    p.endpoints = endpoints;
    p.active = active;
    p.failing = failing;
    p.failures = failures;
    p.recent = recent;
    Ok(page(&req, StatusCode::OK, p))
}
