//! `/api/v1/users` (platform key only): admin panel users — list, disable,
//! enable, remove, and a new random password (in the answer only).

use actix_web::{web, HttpResponse};

use crate::http::api::json::{PasswordResetView, UserView};
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;

/// `GET /api/v1/users`: every user.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// The users, in name order.
    pub data: Vec<UserView>,
}

/// `GET /api/v1/users` → `{data: [user…]}`, in name order, each with its
/// last login.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", summary = "List admin panel users",
    responses((status = 200, description = "Every user, in name order.", body = UserList)))]
pub async fn list(api: ApiCaller) -> ApiResult {
    let users = api.call(|h, c| h.list_users(c)).await?;
    let data: Vec<UserView> = users.iter().map(UserView::listed).collect();
    Ok(HttpResponse::Ok().json(UserList { data }))
}

/// `POST /api/v1/users/{name}/reset-password` → 200 with `password`.
#[utoipa::path(post, path = "/api/v1/users/{name}/reset-password", tag = "users",
    summary = "Give a user a new random password (in this answer only)",
    params(("name" = String, Path, description = "The username.")),
    responses((status = 200, description = "The new password.", body = PasswordResetView)))]
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
#[utoipa::path(post, path = "/api/v1/users/{name}/disable", tag = "users",
    summary = "Disable a user (its sessions end)",
    params(("name" = String, Path, description = "The username.")),
    responses((status = 200, description = "The user.", body = UserView)))]
pub async fn disable(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let u = api.call(move |h, c| h.disable_user(c, &name)).await?;
    Ok(HttpResponse::Ok().json(UserView::new(&u)))
}

/// `POST /api/v1/users/{name}/enable` → 200 with the user.
#[utoipa::path(post, path = "/api/v1/users/{name}/enable", tag = "users",
    summary = "Enable a user",
    params(("name" = String, Path, description = "The username.")),
    responses((status = 200, description = "The user.", body = UserView)))]
pub async fn enable(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    let u = api.call(move |h, c| h.enable_user(c, &name)).await?;
    Ok(HttpResponse::Ok().json(UserView::new(&u)))
}

/// `DELETE /api/v1/users/{name}` → 204; 409 `last_operator` for the last
/// enabled operator.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    summary = "Remove a user (its sessions end)",
    params(("name" = String, Path, description = "The username.")),
    responses((status = 204, description = "Removed.")))]
pub async fn remove(api: ApiCaller, name: web::Path<String>) -> ApiResult {
    api.call(move |h, c| h.remove_user(c, &name)).await?;
    Ok(HttpResponse::NoContent().finish())
}
