//! `/api/v1/users/{name}/reset-password` (platform key only): a new random
//! password for an admin panel user, in the answer only.

use actix_web::{web, HttpResponse};

use crate::http::api::json::PasswordResetView;
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `POST /api/v1/users/{name}/reset-password` → 200 with `password`.
pub async fn reset_password(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let username = name.into_inner();
    let u = username.clone();
    let password = api.call(move |h, c| h.reset_password(c, &u)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(PasswordResetView { username, password }))
}
