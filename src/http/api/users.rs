//! `/api/v1/users` (platform key only): admin panel users — list, disable,
//! enable, remove, and a new random password (in the answer only).

use actix_web::{web, HttpResponse};

use crate::http::api::json::{PasswordResetView, UserView};
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `GET /api/v1/users` → `{data: [user…]}`, in name order, each with its
/// last login.
pub async fn list(api: ApiCaller) -> ApiResult {
    let users = api.call(|h, c| h.list_users(c)).await?;
    let data: Vec<UserView> = users.iter().map(UserView::listed).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

/// `POST /api/v1/users/{name}/reset-password` → 200 with `password`.
pub async fn reset_password(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let username = name.into_inner();
    let u = username.clone();
    let password = api.call(move |h, c| h.reset_password(c, &u)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(PasswordResetView { username, password }))
}

/// `POST /api/v1/users/{name}/disable` → 200 with the user; 409
/// `last_operator` for the last enabled operator.
pub async fn disable(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let u = api.call(move |h, c| h.disable_user(c, &name)).await?;
    Ok(HttpResponse::Ok().json(UserView::new(&u)))
}

/// `POST /api/v1/users/{name}/enable` → 200 with the user.
pub async fn enable(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let u = api.call(move |h, c| h.enable_user(c, &name)).await?;
    Ok(HttpResponse::Ok().json(UserView::new(&u)))
}

/// `DELETE /api/v1/users/{name}` → 204; 409 `last_operator` for the last
/// enabled operator.
pub async fn remove(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.remove_user(c, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
