//! `GET /api/v1/alerts`: the alerts firing now and the recent
//! transitions, for the caller's tenant (or every tenant for a platform
//! key naming none).

use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::alert::{Rule, State};
use crate::domain::ids::EndpointId;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// An alert firing now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// `failure_rate`, `slow_responses`, `endpoint_down`,
    /// `endpoint_disabled`, `storage` or `backup`.
    pub rule: &'static str,
    /// The endpoint (`ep_…`); null for alerts about Herald itself
    /// (`storage`, `backup`).
    pub webhook_id: Option<String>,
    /// The tenant.
    pub tenant_id: String,
    /// `firing` or `resolved`.
    pub state: &'static str,
    /// RFC 3339: since when (firing) or when it changed (history).
    pub at: String,
    /// What was seen.
    pub detail: String,
}

/// A transition of an alert.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertTransitionView {
    /// The alert.
    #[serde(flatten)]
    pub alert: AlertView,
    /// The endpoint's URL at the time.
    pub url: String,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertsView {
    /// What fires now.
    pub firing: Vec<AlertView>,
    /// The recent transitions, newest first (at most 100).
    pub history: Vec<AlertTransitionView>,
}

fn state(s: State) -> &'static str {
    match s {
        State::Firing => "firing",
        State::Ok => "resolved",
    }
}

/// Alerts about Herald itself (the `storage` rule) name no endpoint.
fn webhook_id(rule: Rule, ep: EndpointId) -> Option<String> {
    (!rule.about_herald()).then(|| ep.to_string())
}

/// `GET /api/v1/alerts`: what fires now and the recent transitions.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    summary = "Alerts firing now and the recent transitions",
    responses((status = 200, description = "The alerts.", body = AlertsView)))]
pub async fn list(api: ApiCaller) -> ApiResult {
    let (firing, history) = api.call(|h, c| h.alerts_view(c, 100)).await?;
    Ok(HttpResponse::Ok().json(AlertsView {
        firing: firing
            .iter()
            .map(|a| AlertView {
                rule: a.rule.as_str(),
                webhook_id: webhook_id(a.rule, a.endpoint_id),
                tenant_id: a.tenant_id.clone(),
                state: state(a.state),
                at: a.since.to_rfc3339_secs(),
                detail: a.detail.clone(),
            })
            .collect(),
        history: history
            .iter()
            .map(|t| AlertTransitionView {
                alert: AlertView {
                    rule: t.rule.as_str(),
                    webhook_id: webhook_id(t.rule, t.endpoint_id),
                    tenant_id: t.tenant_id.clone(),
                    state: state(t.to),
                    at: t.at.to_rfc3339_secs(),
                    detail: t.detail.clone(),
                },
                url: t.url.clone(),
            })
            .collect(),
    }))
}
