//! `/api/v1/event-types`: the catalog (built-in and custom types). Any
//! valid key may read it; platform keys create, change and delete custom
//! types.

use actix_web::{web, HttpResponse};

use crate::http::api::json::EventTypeView;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json};
use crate::service::{EventTypePatch, NewEventType};

/// A body may carry a schema of up to `MAX_SCHEMA_BYTES` as compact JSON;
/// indented, the same schema is larger, so the body limit leaves room.
const BODY_LIMIT: usize = 3 * crate::domain::schema::MAX_SCHEMA_BYTES;

/// `GET /api/v1/event-types`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct EventTypeList {
    /// Every type, built-in ones first.
    pub data: Vec<EventTypeView>,
}

/// `GET /api/v1/event-types`: every type, built-in ones first.
#[utoipa::path(get, path = "/api/v1/event-types", tag = "event-types",
    summary = "The event type catalog: built-in and custom types",
    responses((status = 200, description = "Every event type, built-in ones first.", body = EventTypeList)))]
pub async fn list(api: ApiCaller) -> ApiResult {
    let types = api.call(|h, c| h.list_event_types(c)).await?;
    let data: Vec<_> = types.iter().map(EventTypeView::new).collect();
    Ok(HttpResponse::Ok().json(EventTypeList { data }))
}

/// `POST /api/v1/event-types` → 201.
#[utoipa::path(post, path = "/api/v1/event-types", tag = "event-types",
    summary = "Add a custom event type, with an optional JSON Schema for its data",
    request_body = NewEventType,
    responses((status = 201, description = "Created.", body = EventTypeView)))]
pub async fn create(api: ApiCaller, Json(input): Json<NewEventType, BODY_LIMIT>) -> ApiResult {
    let t = api.call(move |h, c| h.create_event_type(c, input)).await?;
    Ok(HttpResponse::Created().json(EventTypeView::new(&t)))
}

/// `GET /api/v1/event-types/{name}`.
#[utoipa::path(get, path = "/api/v1/event-types/{name}", tag = "event-types",
    summary = "Read an event type",
    params(("name" = String, Path, description = "The event type, e.g. `invoice.paid`.")),
    responses((status = 200, description = "The type.", body = EventTypeView)))]
pub async fn get(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let t = api.call(move |h, c| h.get_event_type(c, &name)).await?;
    Ok(HttpResponse::Ok().json(EventTypeView::new(&t)))
}

/// `PATCH /api/v1/event-types/{name}`.
#[utoipa::path(patch, path = "/api/v1/event-types/{name}", tag = "event-types",
    summary = "Change a custom event type: description, schema, archived",
    params(("name" = String, Path, description = "The event type, e.g. `invoice.paid`.")),
    request_body = EventTypePatch,
    responses((status = 200, description = "The type as changed.", body = EventTypeView)))]
pub async fn update(
    api: ApiCaller,
    name: web::Path<String>,
    Json(patch): Json<EventTypePatch, BODY_LIMIT>,
) -> ApiResult {
    let t = api
        .call(move |h, c| h.update_event_type(c, &name, patch))
        .await?;
    Ok(HttpResponse::Ok().json(EventTypeView::new(&t)))
}

/// `DELETE /api/v1/event-types/{name}` → 204.
#[utoipa::path(delete, path = "/api/v1/event-types/{name}", tag = "event-types",
    summary = "Delete a custom event type",
    params(("name" = String, Path, description = "The event type, e.g. `invoice.paid`.")),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.delete_event_type(c, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
