//! `GET /alerts`: what fires now and the history of transitions, for the
//! current tenant (or every tenant for an operator without one chosen).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::error::UiError;
use super::layout::{page, Layout};
use super::session::{blocking, Ctx};
use super::view::{Badge, When};
use crate::domain::alert::{Rule, State};
use crate::service::Herald;

/// One alert or transition.
pub struct AlertRow {
    rule: &'static str,
    webhook_id: String,
    tenant: String,
    url: String,
    badge: Badge,
    at: When,
    detail: String,
}

fn badge(s: State) -> Badge {
    match s {
        State::Firing => Badge {
            tone: "bad",
            icon: "●",
            label: "Firing",
        },
        State::Ok => Badge {
            tone: "ok",
            icon: "✓",
            label: "Resolved",
        },
    }
}

fn rule_name(r: crate::domain::alert::Rule) -> &'static str {
    use crate::domain::alert::Rule::*;
    match r {
        FailureRate => "Failure rate above threshold",
        SlowResponses => "Slow responses",
        EndpointDown => "Endpoint down",
        EndpointDisabled => "Endpoint disabled",
        Storage => "Disk space",
        Backup => "Scheduled backup failed",
    }
}

/// The endpoint an alert links to: none for alerts about Herald itself.
fn webhook_link(rule: Rule, endpoint: crate::domain::ids::EndpointId) -> String {
    if rule.about_herald() {
        String::new()
    } else {
        endpoint.to_string()
    }
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    firing: Vec<AlertRow>,
    history: Vec<AlertRow>,
}

/// `GET /alerts`.
pub async fn show(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "alerts").await?;
    let caller = ctx.caller.clone();
    let loaded = blocking(&h, move |h| {
        let (firing, history) = h.alerts_with_urls(&caller, 100)?;
        let firing: Vec<AlertRow> = firing
            .into_iter()
            .map(|(a, url)| AlertRow {
                rule: rule_name(a.rule),
                webhook_id: webhook_link(a.rule, a.endpoint_id),
                url: if a.rule == Rule::Storage {
                    "Herald's data directory".into()
                } else if a.rule == Rule::Backup {
                    "Herald's scheduled backups".into()
                } else {
                    url
                },
                tenant: a.tenant_id,
                badge: badge(a.state),
                at: When::new(a.since),
                detail: a.detail,
            })
            .collect();
        let history = history
            .into_iter()
            .map(|t| AlertRow {
                rule: rule_name(t.rule),
                webhook_id: webhook_link(t.rule, t.endpoint_id),
                tenant: t.tenant_id,
                url: t.url,
                badge: badge(t.to),
                at: When::new(t.at),
                detail: t.detail,
            })
            .collect();
        Ok::<_, crate::service::ServiceError>((firing, history))
    })
    .await?;
    let (firing, history) = loaded.map_err(|e| ctx.fail(&req, e))?;
    Ok(page(
        &req,
        StatusCode::OK,
        AlertsPage {
            layout: ctx.layout,
            firing,
            history,
        },
    ))
}
