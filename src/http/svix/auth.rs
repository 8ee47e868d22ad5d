//! `/api/v1/auth/app-portal-access/{app_id}`: Svix's app portal link,
//! answered with Herald's one-time tenant portal link.

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::SvixResult;
use super::extract::{SvixCaller, SvixJson};
use super::shapes::AppPortalAccessOut;
use crate::service::AppPortalAccessIn;

/// `POST /api/v1/auth/app-portal-access/{app_id}` → 200 `{url, token}`.
pub async fn app_portal_access(
    req: HttpRequest,
    api: SvixCaller,
    app: web::Path<String>,
    SvixJson(input): SvixJson<AppPortalAccessIn>,
) -> SvixResult {
    let link = api
        .call(move |h, c| h.svix_app_portal_access(c, &app, input))
        .await?;
    Ok(HttpResponse::Ok().json(AppPortalAccessOut::new(&req, &link)))
}
