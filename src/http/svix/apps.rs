//! `/api/v1/app`: applications (Herald's tenants).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixJson, SvixQuery};
use super::shapes::{AppOut, ListOut};
use super::ListQuery;
use crate::service::svix::{AppIn, AppPatch};

/// `?get_if_exists=`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateQuery {
    /// Answer an existing application with the same uid (200) instead
    /// of 409.
    #[serde(default)]
    pub get_if_exists: bool,
}

/// `POST /api/v1/app` → 201, or 200 with `get_if_exists` and one there.
pub async fn create(
    api: SvixCaller,
    SvixQuery(q): SvixQuery<CreateQuery>,
    SvixJson(input): SvixJson<AppIn>,
) -> SvixResult {
    let (t, created) = api
        .call(move |h, c| h.svix_create_app(c, input, q.get_if_exists))
        .await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(AppOut::new(&t)))
}

/// `GET /api/v1/app`.
pub async fn list(api: SvixCaller, SvixQuery(q): SvixQuery<ListQuery>) -> SvixResult {
    let page = q.page()?;
    let l = api.call(move |h, c| h.svix_list_apps(c, &page)).await?;
    Ok(HttpResponse::Ok().json(ListOut::new(l, |t| AppOut::new(&t))))
}

/// `GET /api/v1/app/{app_id}`.
pub async fn get(api: SvixCaller, app: web::Path<String>) -> SvixResult {
    let t = api.call(move |h, c| h.svix_get_app(c, &app)).await?;
    Ok(HttpResponse::Ok().json(AppOut::new(&t)))
}

/// `PUT /api/v1/app/{app_id}` → 200, or 201 when created.
pub async fn put(
    api: SvixCaller,
    app: web::Path<String>,
    SvixJson(input): SvixJson<AppIn>,
) -> SvixResult {
    let (t, created) = api.call(move |h, c| h.svix_put_app(c, &app, input)).await?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(AppOut::new(&t)))
}

/// `PATCH /api/v1/app/{app_id}`.
pub async fn patch(
    api: SvixCaller,
    app: web::Path<String>,
    SvixJson(p): SvixJson<AppPatch>,
) -> SvixResult {
    let t = api.call(move |h, c| h.svix_patch_app(c, &app, p)).await?;
    Ok(HttpResponse::Ok().json(AppOut::new(&t)))
}

/// `DELETE /api/v1/app/{app_id}` → 204.
pub async fn delete(api: SvixCaller, app: web::Path<String>) -> SvixResult {
    api.call(move |h, c| h.svix_delete_app(c, &app)).await?;
    Ok(HttpResponse::NoContent().finish())
}
