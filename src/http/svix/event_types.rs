//! `/api/v1/event-type`: Svix's event types over Herald's catalog (the
//! rules are `service::svix_event_types`').

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixJson, SvixQuery};
use super::shapes::{EventTypeOut, ListOut};
use crate::service::svix::ListPage;
use crate::service::svix_event_types::{EventTypeListing, SvixEventTypeIn, SvixEventTypePatch};

/// Room for a 64 KiB schema written out with indentation, as the native
/// API allows.
const BODY_LIMIT: usize = 3 * crate::domain::schema::MAX_SCHEMA_BYTES;

/// `?limit&iterator&order&include_archived&with_content`.
#[derive(Debug, Default, Deserialize)]
pub struct ListEventTypes {
    /// Page size.
    pub limit: Option<String>,
    /// Where to resume.
    pub iterator: Option<String>,
    /// `ascending` or `descending`.
    pub order: Option<String>,
    /// Archived types too (default false).
    #[serde(default)]
    pub include_archived: bool,
    /// Whether items carry their schemas (default false, as Svix).
    #[serde(default)]
    pub with_content: bool,
}

/// `GET /api/v1/event-type`.
pub async fn list(api: SvixCaller, SvixQuery(q): SvixQuery<ListEventTypes>) -> SvixResult {
    let page = ListPage::parse(
        q.limit.as_deref(),
        q.iterator.as_deref(),
        q.order.as_deref(),
    )?;
    let listing = EventTypeListing {
        include_archived: q.include_archived,
    };
    let l = api
        .call(move |h, c| h.svix_list_event_types(c, &page, listing))
        .await?;
    let content = q.with_content;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |t| EventTypeOut::new(&t, content))))
}

/// `POST /api/v1/event-type` → 201.
pub async fn create(
    api: SvixCaller,
    SvixJson(input): SvixJson<SvixEventTypeIn, BODY_LIMIT>,
) -> SvixResult {
    let t = api
        .call(move |h, c| h.svix_create_event_type(c, input))
        .await?;
    Ok(HttpResponse::Created().json(EventTypeOut::new(&t, true)))
}

/// `GET /api/v1/event-type/{event_type_name}`.
pub async fn get(api: SvixCaller, name: web::Path<String>) -> SvixResult {
    let t = api.call(move |h, c| h.get_event_type(c, &name)).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::new(&t, true)))
}

/// `PUT /api/v1/event-type/{event_type_name}` → 200, or 201 when created.
pub async fn put(
    api: SvixCaller,
    name: web::Path<String>,
    SvixJson(input): SvixJson<SvixEventTypeIn, BODY_LIMIT>,
) -> SvixResult {
    let (t, created) = api
        .call(move |h, c| h.svix_put_event_type(c, &name, input))
        .await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(EventTypeOut::new(&t, true)))
}

/// `PATCH /api/v1/event-type/{event_type_name}`.
pub async fn patch(
    api: SvixCaller,
    name: web::Path<String>,
    SvixJson(p): SvixJson<SvixEventTypePatch, BODY_LIMIT>,
) -> SvixResult {
    let t = api
        .call(move |h, c| h.svix_patch_event_type(c, &name, p))
        .await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::new(&t, true)))
}

/// `?expunge=`.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteQuery {
    /// Remove the type instead of archiving it.
    #[serde(default)]
    pub expunge: bool,
}

/// `DELETE /api/v1/event-type/{event_type_name}` → 204: archived, or
/// removed with `expunge=true`.
pub async fn delete(
    api: SvixCaller,
    name: web::Path<String>,
    SvixQuery(q): SvixQuery<DeleteQuery>,
) -> SvixResult {
    api.call(move |h, c| h.svix_delete_event_type(c, &name, q.expunge))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
