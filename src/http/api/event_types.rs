//! `GET /api/v1/event-types`: the catalog.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::event_type::CATALOG;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

#[derive(Serialize)]
struct EventTypeView {
    name: &'static str,
    category: &'static str,
    description: &'static str,
}

/// Lists every event type; any valid key may read it.
pub async fn list(api: ApiCaller) -> ApiResult {
    api.call(|h, c| h.authenticate(c)).await?;
    let data: Vec<_> = CATALOG
        .iter()
        .map(|e| EventTypeView {
            name: e.name,
            category: e.category,
            description: e.description,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}
