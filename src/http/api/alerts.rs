//! `GET /api/v1/alerts`: the alerts firing now and the recent
//! transitions, for the caller's tenant (or every tenant for a platform
//! key naming none).

use actix_web::HttpResponse;

use crate::domain::alert::Rule;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `GET /api/v1/alerts`: what fires now and the recent transitions.
pub async fn list(api: ApiCaller) -> ApiResult {
    let (firing, history) = api.call(|h, c| h.alerts_view(c, 100)).await?;
    // Alerts about Herald itself (the `storage` rule) name no endpoint.
    let ep_id = |rule: Rule, ep: crate::domain::ids::EndpointId| {
        (!rule.about_herald()).then(|| ep.to_string())
    };
    let alert =
        |rule: &str, ep: Option<String>, tenant: &str, state: &str, at: String, detail: &str| {
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
        "firing": firing.iter().map(|a| alert(a.rule.as_str(), ep_id(a.rule, a.endpoint_id), &a.tenant_id, state(a.state), a.since.to_rfc3339_secs(), &a.detail)).collect::<Vec<_>>(),
        "history": history.iter().map(|t| {
            let mut v = alert(t.rule.as_str(), ep_id(t.rule, t.endpoint_id), &t.tenant_id, state(t.to), t.at.to_rfc3339_secs(), &t.detail);
            v["url"] = serde_json::json!(t.url);
            v
        }).collect::<Vec<_>>(),
    })))
}
