//! `/api/v1/tenants`: platform key only.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::api::json::{PageView, TenantView};
use crate::http::error::ApiError;
use crate::http::extract::{call, caller, json_body, ListQuery, MANAGEMENT_BODY_LIMIT};
use crate::service::{Herald, NewTenant, TenantPatch};

/// `POST /api/v1/tenants` → 201.
pub async fn create(
    req: HttpRequest,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let input: NewTenant = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let t = call(&h, move |h| h.create_tenant(&c, input)).await?;
    Ok(HttpResponse::Created().json(TenantView::new(&t)))
}

/// `GET /api/v1/tenants`.
pub async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let page = q.page()?;
    let p = call(&h, move |h| h.list_tenants(&c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, TenantView::new)))
}

/// `GET /api/v1/tenants/{id}`.
pub async fn get(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let t = call(&h, move |h| h.get_tenant(&c, &id)).await?;
    Ok(HttpResponse::Ok().json(TenantView::new(&t)))
}

/// `PATCH /api/v1/tenants/{id}`.
pub async fn update(
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let patch: TenantPatch = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let t = call(&h, move |h| h.update_tenant(&c, &id, patch)).await?;
    Ok(HttpResponse::Ok().json(TenantView::new(&t)))
}
