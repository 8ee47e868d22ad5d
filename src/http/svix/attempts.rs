//! Attempts: `/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}`,
//! `/api/v1/app/{app_id}/attempt/msg/{msg_id}` and one attempt under its
//! message.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixQuery};
use super::shapes::{AttemptOut, ListOut};
use crate::service::svix::ListPage;

/// The query of the attempt lists.
#[derive(Debug, Deserialize)]
pub struct ListAttempts {
    /// Page size.
    pub limit: Option<String>,
    /// Where to resume.
    pub iterator: Option<String>,
    /// 0 success, 1 pending, 2 fail, 3 sending.
    pub status: Option<String>,
    /// Only this endpoint's (by message).
    pub endpoint_id: Option<String>,
}

/// `GET /api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}`: newest first.
pub async fn by_endpoint(
    api: SvixCaller,
    path: web::Path<(String, String)>,
    SvixQuery(q): SvixQuery<ListAttempts>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    let page = ListPage::parse(q.limit.as_deref(), q.iterator.as_deref(), None)?;
    let l = api
        .call(move |h, c| h.svix_attempts_by_endpoint(c, &app, &ep, &page, q.status.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |a| AttemptOut::new(&a))))
}

/// `GET /api/v1/app/{app_id}/attempt/msg/{msg_id}`: newest first.
pub async fn by_message(
    api: SvixCaller,
    path: web::Path<(String, String)>,
    SvixQuery(q): SvixQuery<ListAttempts>,
) -> SvixResult {
    let (app, msg) = path.into_inner();
    let page = ListPage::parse(q.limit.as_deref(), q.iterator.as_deref(), None)?;
    let l = api
        .call(move |h, c| {
            h.svix_attempts_by_message(
                c,
                &app,
                &msg,
                &page,
                q.endpoint_id.as_deref(),
                q.status.as_deref(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |a| AttemptOut::new(&a))))
}

/// `GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}`.
pub async fn get(api: SvixCaller, path: web::Path<(String, String, String)>) -> SvixResult {
    let (app, msg, att) = path.into_inner();
    let a = api
        .call(move |h, c| h.svix_get_attempt(c, &app, &msg, &att))
        .await?;
    Ok(HttpResponse::Ok().json(AttemptOut::new(&a)))
}
