//! `/api/v1/tenants`: platform key only.

use actix_web::{web, HttpResponse};

use crate::http::api::json::{PageView, TenantView};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json, Paging};
use crate::service::{NewTenant, TenantPatch};

/// `POST /api/v1/tenants` → 201.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", summary = "Create a tenant",
    request_body = NewTenant,
    responses((status = 201, description = "Created.", body = TenantView)))]
pub async fn create(api: ApiCaller, Json(input): Json<NewTenant>) -> ApiResult {
    let t = api.call(move |h, c| h.create_tenant(c, input)).await?;
    Ok(HttpResponse::Created().json(TenantView::new(&t)))
}

/// `GET /api/v1/tenants`.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", summary = "List tenants",
    params(crate::http::extract::ListQuery),
    responses((status = 200, description = "A page of tenants.", body = PageView<TenantView>)))]
pub async fn list(api: ApiCaller, Paging(page): Paging) -> ApiResult {
    let p = api.call(move |h, c| h.list_tenants(c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, TenantView::new)))
}

/// `GET /api/v1/tenants/{id}`.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", summary = "Read a tenant",
    params(("id" = String, Path, description = "The tenant id.")),
    responses((status = 200, description = "The tenant.", body = TenantView)))]
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let t = api.call(move |h, c| h.get_tenant(c, &id)).await?;
    Ok(HttpResponse::Ok().json(TenantView::new(&t)))
}

/// `PATCH /api/v1/tenants/{id}`.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants",
    summary = "Rename, suspend or resume a tenant",
    params(("id" = String, Path, description = "The tenant id.")),
    request_body = TenantPatch,
    responses((status = 200, description = "The tenant as changed.", body = TenantView)))]
pub async fn update(
    api: ApiCaller,
    id: web::Path<String>,
    Json(patch): Json<TenantPatch>,
) -> ApiResult {
    let t = api.call(move |h, c| h.update_tenant(c, &id, patch)).await?;
    Ok(HttpResponse::Ok().json(TenantView::new(&t)))
}
