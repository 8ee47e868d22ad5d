//! `/api/v1/app/{app_id}/endpoint…`: endpoints, their secret, headers,
//! recovery, examples and statistics.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixJson, SvixQuery};
use super::shapes::{
    EndpointOut, HeadersOut, ListOut, MessageOut, RecoverOut, SecretOut, StatsOut,
};
use super::{body_time, time, ListQuery};
use crate::service::svix::{EndpointIn, EndpointPatchIn};

type AppEp = web::Path<(String, String)>;

/// `POST /api/v1/app/{app_id}/endpoint` → 201.
pub async fn create(
    api: SvixCaller,
    app: web::Path<String>,
    SvixJson(input): SvixJson<EndpointIn>,
) -> SvixResult {
    let ep = api
        .call(move |h, c| h.svix_create_endpoint(c, &app, input))
        .await?;
    Ok(HttpResponse::Created().json(EndpointOut::new(&ep)))
}

/// `GET /api/v1/app/{app_id}/endpoint`.
pub async fn list(
    api: SvixCaller,
    app: web::Path<String>,
    SvixQuery(q): SvixQuery<ListQuery>,
) -> SvixResult {
    let page = q.page()?;
    let l = api
        .call(move |h, c| h.svix_list_endpoints(c, &app, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |e| EndpointOut::new(&e))))
}

/// `GET /api/v1/app/{app_id}/endpoint/{endpoint_id}`.
pub async fn get(api: SvixCaller, path: AppEp) -> SvixResult {
    let (app, ep) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_get_endpoint(c, &app, &ep))
        .await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(&e)))
}

/// `PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}` → 200, or 201 when
/// created.
pub async fn put(
    api: SvixCaller,
    path: AppEp,
    SvixJson(input): SvixJson<EndpointIn>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    let (e, created) = api
        .call(move |h, c| h.svix_put_endpoint(c, &app, &ep, input))
        .await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(EndpointOut::new(&e)))
}

/// `PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}`.
pub async fn patch(
    api: SvixCaller,
    path: AppEp,
    SvixJson(p): SvixJson<EndpointPatchIn>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_patch_endpoint(c, &app, &ep, p))
        .await?;
    Ok(HttpResponse::Ok().json(EndpointOut::new(&e)))
}

/// `DELETE /api/v1/app/{app_id}/endpoint/{endpoint_id}` → 204.
pub async fn delete(api: SvixCaller, path: AppEp) -> SvixResult {
    let (app, ep) = path.into_inner();
    api.call(move |h, c| h.svix_delete_endpoint(c, &app, &ep))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET …/secret`.
pub async fn secret(api: SvixCaller, path: AppEp) -> SvixResult {
    let (app, ep) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_get_endpoint(c, &app, &ep))
        .await?;
    Ok(HttpResponse::Ok().json(SecretOut { key: e.secret }))
}

/// `EndpointSecretRotateIn`.
#[derive(Debug, Default, Deserialize)]
pub struct RotateIn {
    /// The new secret (generated when left out).
    #[serde(default)]
    pub key: Option<String>,
}

/// `POST …/secret/rotate` → 204.
pub async fn rotate(api: SvixCaller, path: AppEp, SvixJson(b): SvixJson<RotateIn>) -> SvixResult {
    let (app, ep) = path.into_inner();
    api.call(move |h, c| h.svix_rotate_secret(c, &app, &ep, b.key))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET …/headers`.
pub async fn headers(api: SvixCaller, path: AppEp) -> SvixResult {
    let (app, ep) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_get_endpoint(c, &app, &ep))
        .await?;
    Ok(HttpResponse::Ok().json(HeadersOut {
        headers: e.headers,
        sensitive: Vec::new(),
    }))
}

/// `EndpointHeadersIn` / `EndpointHeadersPatchIn`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadersIn {
    /// Headers to set.
    pub headers: BTreeMap<String, String>,
    /// Headers to remove (patch only).
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

/// `PUT …/headers` → 204: the whole set.
pub async fn put_headers(
    api: SvixCaller,
    path: AppEp,
    SvixJson(b): SvixJson<HeadersIn>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    api.call(move |h, c| h.svix_set_headers(c, &app, &ep, b.headers, Vec::new(), true))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH …/headers` → 204: merged, `deleteHeaders` removed.
pub async fn patch_headers(
    api: SvixCaller,
    path: AppEp,
    SvixJson(b): SvixJson<HeadersIn>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    api.call(move |h, c| h.svix_set_headers(c, &app, &ep, b.headers, b.delete_headers, false))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `RecoverIn`.
#[derive(Debug, Deserialize)]
pub struct RecoverIn {
    /// RFC 3339.
    pub since: String,
    /// RFC 3339.
    #[serde(default)]
    pub until: Option<String>,
}

/// `POST …/recover` → 202.
pub async fn recover(api: SvixCaller, path: AppEp, SvixJson(b): SvixJson<RecoverIn>) -> SvixResult {
    let (app, ep) = path.into_inner();
    let since = body_time("since", &b.since)?;
    let until = b
        .until
        .as_deref()
        .map(|u| body_time("until", u))
        .transpose()?;
    let t = api
        .call(move |h, c| h.svix_recover(c, &app, &ep, since, until))
        .await?;
    Ok(HttpResponse::Accepted().json(RecoverOut::new(&t)))
}

/// `EventExampleIn`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleIn {
    /// The event type to sample.
    pub event_type: String,
}

/// `POST …/send-example` → 200 with the message.
pub async fn send_example(
    api: SvixCaller,
    path: AppEp,
    SvixJson(b): SvixJson<ExampleIn>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    let e = api
        .call(move |h, c| h.svix_send_example(c, &app, &ep, &b.event_type))
        .await?;
    Ok(HttpResponse::Ok().json(MessageOut::new(&e, true)))
}

/// `?since&until` of the statistics.
#[derive(Debug, Default, Deserialize)]
pub struct StatsQuery {
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
}

/// `GET …/stats`.
pub async fn stats(
    api: SvixCaller,
    path: AppEp,
    SvixQuery(q): SvixQuery<StatsQuery>,
) -> SvixResult {
    let (app, ep) = path.into_inner();
    let since = time("since", q.since.as_deref())?;
    let until = time("until", q.until.as_deref())?;
    let s = api
        .call(move |h, c| h.svix_endpoint_stats(c, &app, &ep, since, until))
        .await?;
    Ok(HttpResponse::Ok().json(StatsOut::new(&s)))
}
