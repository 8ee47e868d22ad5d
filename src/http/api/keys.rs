//! `/api/v1/keys`: platform key only. The key text is in the create answer only.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::api::json::{KeyView, PageView};
use crate::http::error::ApiError;
use crate::http::extract::{call, caller, json_body, ListQuery, MANAGEMENT_BODY_LIMIT};
use crate::service::{Herald, NewKey};

/// `POST /api/v1/keys` → 201 with `key`.
pub async fn create(
    req: HttpRequest,
    body: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let input: NewKey = json_body(&req, body, MANAGEMENT_BODY_LIMIT).await?;
    let k = call(&h, move |h| h.create_key(&c, input)).await?;
    Ok(HttpResponse::Created().json(KeyView::new(&k.key, Some(&k.text))))
}

/// `GET /api/v1/keys`.
pub async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let page = q.page()?;
    let p = call(&h, move |h| h.list_keys(&c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, |k| KeyView::new(k, None))))
}

/// `DELETE /api/v1/keys/{id}` → 204.
pub async fn revoke(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    call(&h, move |h| h.revoke_key(&c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
