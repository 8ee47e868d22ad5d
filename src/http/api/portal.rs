//! `/api/v1/portal-sessions`: one-time links into the tenant portal
//! (platform key only).

use actix_web::{HttpRequest, HttpResponse};

use crate::http::api::json::PortalLinkView;
use crate::http::error::ApiResult;
use crate::http::extract::{ApiCaller, Json};
use crate::service::NewPortalSession;

/// `POST /api/v1/portal-sessions` → 201.
#[utoipa::path(post, path = "/api/v1/portal-sessions", tag = "portal",
    summary = "Create a one-time tenant portal link",
    description = "Answers a URL that logs a browser into the admin panel scoped to the tenant: its endpoints, delivery logs and metrics, nothing else. The link works once, within 5 minutes; the session it opens lasts `expires_in` seconds (default one hour, at most `--portal-max-session`). With `read_only` every action is hidden and refused.",
    request_body = NewPortalSession,
    responses((status = 201, description = "The link.", body = PortalLinkView)))]
pub async fn create(
    req: HttpRequest,
    api: ApiCaller,
    Json(input): Json<NewPortalSession>,
) -> ApiResult {
    let link = api.call(move |h, c| h.create_portal_link(c, input)).await?;
    Ok(HttpResponse::Created().json(PortalLinkView::new(&req, &link)))
}
