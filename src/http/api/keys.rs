//! `/api/v1/keys`: platform key only. The key text is in the create answer only.

use actix_web::{web, HttpResponse};

use crate::http::api::json::{KeyView, PageView};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json, Paging};
use crate::service::NewKey;

/// `POST /api/v1/keys` → 201 with `key`.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys",
    summary = "Create an API key (its text is in this answer only)",
    request_body = NewKey,
    responses((status = 201, description = "Created; `key` holds the key text.", body = KeyView)))]
pub async fn create(api: ApiCaller, Json(input): Json<NewKey>) -> ApiResult {
    let k = api.call(move |h, c| h.create_key(c, input)).await?;
    Ok(HttpResponse::Created().json(KeyView::new(&k.key, Some(&k.text))))
}

/// `GET /api/v1/keys`.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", summary = "List API keys",
    params(crate::http::extract::ListQuery),
    responses((status = 200, description = "A page of keys.", body = PageView<KeyView>)))]
pub async fn list(api: ApiCaller, Paging(page): Paging) -> ApiResult {
    let p = api.call(move |h, c| h.list_keys(c, &page)).await?;
    Ok(HttpResponse::Ok().json(PageView::map(&p, KeyView::listed)))
}

/// `DELETE /api/v1/keys/{id}` → 204.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", summary = "Revoke an API key",
    params(("id" = String, Path, description = "The key id, `key_…`.")),
    responses((status = 204, description = "Revoked.")))]
pub async fn revoke(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.revoke_key(c, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
