//! `GET /api/v1/event-types`: the catalog.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::domain::event_type::CATALOG;
use crate::http::error::ApiError;
use crate::http::extract::{call, caller};
use crate::service::Herald;

#[derive(Serialize)]
struct EventTypeView {
    name: &'static str,
    category: &'static str,
    description: &'static str,
}

/// Lists every event type; any valid key may read it.
pub async fn list(req: HttpRequest, h: web::Data<Herald>) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    call(&h, move |h| h.authenticate(&c)).await?;
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
