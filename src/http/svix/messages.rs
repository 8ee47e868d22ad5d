//! `/api/v1/app/{app_id}/msg…`: messages (Herald's events with their body
//! as given) and resending one to an endpoint.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixJson, SvixQuery};
use super::shapes::{ListOut, MessageOut};
use super::{list_param, time};
use crate::service::svix::{ListPage, MessageFilter, MessageIn};

/// `?with_content=` (default true).
#[derive(Debug, Deserialize)]
pub struct ContentQuery {
    /// Whether answers carry the payload.
    #[serde(default = "yes")]
    pub with_content: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/app/{app_id}/msg` → 202 with the message.
pub async fn create(
    api: SvixCaller,
    app: web::Path<String>,
    SvixQuery(q): SvixQuery<ContentQuery>,
    // 0: as large as the server's largest event allows.
    SvixJson(input): SvixJson<MessageIn, 0>,
) -> SvixResult {
    let e = api
        .call(move |h, c| h.svix_create_message(c, &app, input))
        .await?;
    Ok(HttpResponse::Accepted().json(MessageOut::new(&e, q.with_content)))
}

/// The query of `GET /api/v1/app/{app_id}/msg`.
#[derive(Debug, Deserialize)]
pub struct ListMessages {
    /// Page size.
    pub limit: Option<String>,
    /// Where to resume.
    pub iterator: Option<String>,
    /// Only this channel's.
    pub channel: Option<String>,
    /// Only messages with this tag.
    pub tag: Option<String>,
    /// RFC 3339.
    pub before: Option<String>,
    /// RFC 3339.
    pub after: Option<String>,
    /// Comma-separated types (the SDKs join a list with commas).
    pub event_types: Option<String>,
    /// Whether items carry their payload.
    #[serde(default = "yes")]
    pub with_content: bool,
}

/// `GET /api/v1/app/{app_id}/msg`: newest first.
pub async fn list(
    api: SvixCaller,
    app: web::Path<String>,
    SvixQuery(q): SvixQuery<ListMessages>,
) -> SvixResult {
    let page = ListPage::parse(q.limit.as_deref(), q.iterator.as_deref(), None)?;
    let filter = MessageFilter {
        event_types: list_param(q.event_types.as_deref()),
        channel: q.channel.filter(|c| !c.is_empty()),
        tag: q.tag.filter(|t| !t.is_empty()),
        before: time("before", q.before.as_deref())?,
        after: time("after", q.after.as_deref())?,
    };
    let with_content = q.with_content;
    let l = api
        .call(move |h, c| h.svix_list_messages(c, &app, &page, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |e| MessageOut::new(&e, with_content))))
}

/// `GET /api/v1/app/{app_id}/msg/{msg_id}` (id or `eventId`).
pub async fn get(
    api: SvixCaller,
    path: web::Path<(String, String)>,
    SvixQuery(q): SvixQuery<ContentQuery>,
) -> SvixResult {
    let (app, msg) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_get_message(c, &app, &msg))
        .await?;
    Ok(HttpResponse::Ok().json(MessageOut::new(&e, q.with_content)))
}

/// `POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend`
/// → 202 `{}`.
pub async fn resend(api: SvixCaller, path: web::Path<(String, String, String)>) -> SvixResult {
    let (app, msg, ep) = path.into_inner();
    api.call(move |h, c| h.svix_resend(c, &app, &msg, &ep))
        .await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}
