//! `/api/v1/deliveries`: the delivery log, one delivery with its attempts,
//! and resend.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::http::api::json::{AttemptView, DeliveryDetailView, DeliveryView, PageView};
use crate::http::error::ApiError;
use crate::http::extract::{call, caller};
use crate::service::{Herald, LogQuery};

/// `GET /api/v1/deliveries?webhook_id&event&status&since&until&limit&cursor`.
pub async fn list(
    req: HttpRequest,
    q: web::Query<LogQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let q = q.into_inner();
    let page = call(&h, move |h| h.list_deliveries(&c, &q)).await?;
    Ok(HttpResponse::Ok().json(PageView {
        data: page.items.iter().map(DeliveryView::new).collect(),
        next_cursor: page.next.map(|id| URL_SAFE_NO_PAD.encode(id.to_bytes())),
    }))
}

/// `GET /api/v1/deliveries/{id}` with every attempt.
pub async fn get(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let (d, attempts) = call(&h, move |h| h.get_delivery(&c, &id)).await?;
    Ok(HttpResponse::Ok().json(DeliveryDetailView {
        delivery: DeliveryView::new(&d),
        attempts: attempts.iter().map(AttemptView::new).collect(),
    }))
}

/// `POST /api/v1/deliveries/{id}/resend` → 202 with the delivery.
pub async fn resend(
    req: HttpRequest,
    id: web::Path<String>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, ApiError> {
    let c = caller(&req);
    let d = call(&h, move |h| h.resend(&c, &id)).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::new(&d)))
}
