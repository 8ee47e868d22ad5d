//! `GET /api/v1/event-types`: the catalog.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::event_type::CATALOG;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// A catalog entry.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    /// `payment.completed`, …
    name: &'static str,
    /// `payment`, `order`, `user` or `tenant`.
    category: &'static str,
    /// What it announces.
    description: &'static str,
}

/// `GET /api/v1/event-types`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeList {
    /// The catalog.
    data: Vec<EventTypeView>,
}

/// Lists every event type; any valid key may read it.
#[utoipa::path(get, path = "/api/v1/event-types", tag = "event-types",
    summary = "The event type catalog",
    responses((status = 200, description = "Every event type.", body = EventTypeList)))]
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
    Ok(HttpResponse::Ok().json(EventTypeList { data }))
}
