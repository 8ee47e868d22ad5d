//! `/api/v1/deliveries`: the delivery log, one delivery with its attempts,
//! and resend.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::http::api::json::{DeliveryDetailView, DeliveryView, PageView};
use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;
use crate::service::LogQuery;

/// `GET /api/v1/deliveries?webhook_id&event&status&since&until&limit&cursor`.
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries",
    summary = "The delivery log, newest first, filtered",
    params(LogQuery),
    responses((status = 200, description = "A page of deliveries.", body = PageView<DeliveryView>)))]
pub async fn list(api: ApiCaller, q: web::Query<LogQuery>) -> ApiResult {
    let page = api.call(move |h, c| h.list_deliveries(c, &q)).await?;
    Ok(HttpResponse::Ok().json(PageView {
        data: page.items.iter().map(DeliveryView::new).collect(),
        next_cursor: page.next.map(|id| URL_SAFE_NO_PAD.encode(id.to_bytes())),
    }))
}

/// `GET /api/v1/deliveries/{id}` with every attempt.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "deliveries",
    summary = "One delivery with every attempt (the retry history)",
    params(("id" = String, Path, description = "The delivery id, `dlv_…`.")),
    responses((status = 200, description = "The delivery and its attempts.", body = DeliveryDetailView)))]
pub async fn get(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let (d, attempts) = api.call(move |h, c| h.get_delivery(c, &id)).await?;
    Ok(HttpResponse::Ok().json(DeliveryDetailView::new(&d, &attempts)))
}

/// `POST /api/v1/deliveries/{id}/resend` → 202 with the delivery.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/resend", tag = "deliveries",
    summary = "One more attempt now, with the same event id",
    params(("id" = String, Path, description = "The delivery id, `dlv_…`.")),
    responses((status = 202, description = "Queued; the delivery as it is now.", body = DeliveryView)))]
pub async fn resend(api: ApiCaller, id: web::Path<String>) -> ApiResult {
    let d = api.call(move |h, c| h.resend(c, &id)).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::new(&d)))
}
