//! `GET /`: the dashboard of the current tenant — its endpoints' health,
//! failing endpoints and recent failures.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::context::{blocking, page, Ctx, Layout, UiError};
use super::deliveries::{rows_of, DeliveryRow};
use super::view::{Badge, When};
use crate::service::{Herald, LogQuery, PageRequest, ServiceError};

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
    endpoints: usize,
    active: usize,
    failing: Vec<FailingEndpoint>,
    failures: Vec<DeliveryRow>,
    recent: Vec<DeliveryRow>,
    show_endpoint: bool,
}

/// `GET /`.
pub async fn show(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "dashboard").await?;
    let mut p = DashboardPage {
        layout: ctx.layout.clone(),
        endpoints: 0,
        active: 0,
        failing: Vec::new(),
        failures: Vec::new(),
        recent: Vec::new(),
        show_endpoint: true,
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
        Ok::<_, ServiceError>((
            eps.len(),
            eps.iter().filter(|e| e.active).count(),
            failing,
            rows_of(&failed.items, &eps),
            rows_of(&recent.items, &eps),
        ))
    })
    .await?;
    let (endpoints, active, failing, failures, recent) = loaded.map_err(|e| ctx.fail(&req, e))?;
    p.endpoints = endpoints;
    p.active = active;
    p.failing = failing;
    p.failures = failures;
    p.recent = recent;
    Ok(page(&req, StatusCode::OK, p))
}
