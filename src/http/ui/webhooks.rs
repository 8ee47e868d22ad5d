//! `GET /webhooks`: Settings → Webhooks, the tenant's endpoints.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::context::{blocking, page, Ctx, Layout, UiError};
use super::view::{Badge, When};
use crate::service::{Herald, PageRequest};

/// One endpoint in the list.
pub struct Row {
    id: String,
    url: String,
    description: String,
    events: String,
    badge: Badge,
    last: Option<When>,
    last_success: Option<When>,
    failures: u32,
}

/// The list page.
#[derive(Template, WebTemplate)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    notice: Option<&'static str>,
}

/// `GET /webhooks` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
    notice: Option<String>,
}

/// `GET /webhooks`.
pub async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let notice = match q.notice.as_deref() {
        Some("deleted") => Some("The endpoint was deleted; its pending deliveries were cancelled."),
        _ => None,
    };
    if ctx.layout.tenant.is_none() {
        return Ok(page(
            &req,
            StatusCode::OK,
            WebhooksPage {
                layout: ctx.layout,
                rows: Vec::new(),
                next_cursor: None,
                notice,
            },
        ));
    }
    let caller = ctx.caller.clone();
    let cursor = q.cursor.clone();
    let result = blocking(&h, move |h| {
        let page =
            h.list_endpoints(&caller, &PageRequest::parse(Some("50"), cursor.as_deref())?)?;
        let mut rows = Vec::new();
        for ep in &page.items {
            let (ep, health) = h.get_endpoint_with_health(&caller, &ep.id.to_string())?;
            rows.push(Row {
                id: ep.id.to_string(),
                url: ep.url,
                description: ep.description,
                events: ep.events.join(", "),
                badge: Badge::endpoint(ep.active, ep.disabled_reason.is_some()),
                last: When::opt(health.last_attempt_at),
                last_success: When::opt(health.last_success_at),
                failures: health.consecutive_failures,
            });
        }
        Ok((rows, page.next_cursor))
    })
    .await?;
    let (rows, next_cursor) = result.map_err(|e| ctx.fail(&req, e))?;
    Ok(page(
        &req,
        StatusCode::OK,
        WebhooksPage {
            layout: ctx.layout,
            rows,
            next_cursor,
            notice,
        },
    ))
}
