//! `GET /webhooks`: Settings → Webhooks, the tenant's endpoints.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::charts::WINDOW_MS;
use super::dashboard::Figures;
use super::error::UiError;
use super::form::Query;
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
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
    success: String,
    success_low: bool,
}

/// The list page.
#[derive(Template, WebTemplate)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    rows: Vec<Row>,
    next_cursor: Option<String>,
    notice: Option<Notice>,
}

/// `GET /webhooks` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /webhooks`.
pub async fn list(
    req: HttpRequest,
    Query(q): Query<ListQuery>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let notice = notice.on(NoticePage::Endpoints);
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
    let cursor = q.cursor;
    let result = blocking(&h, move |h| {
        let page =
            h.list_endpoints(&caller, &PageRequest::parse(Some("50"), cursor.as_deref())?)?;
        let report = h.metrics(&caller, WINDOW_MS)?;
        let mut rows = Vec::new();
        for ep in &page.items {
            let figures = report
                .endpoints
                .iter()
                .find(|m| m.endpoint_id == ep.id)
                .map(|m| Figures::of(&m.stats));
            let (ep, health) = h.get_endpoint_with_health(&caller, &ep.id.to_string())?;
            rows.push(Row {
                id: ep.id.to_string(),
                url: ep.url,
                description: ep.description,
                events: ep.events.join(", "),
                badge: Badge::endpoint(
                    ep.active,
                    ep.disabled_reason.is_some(),
                    health.consecutive_failures > 0,
                ),
                last: When::opt(health.last_attempt_at),
                last_success: When::opt(health.last_success_at),
                failures: health.consecutive_failures,
                success: figures
                    .as_ref()
                    .map_or_else(|| "—".to_string(), |f| f.success.clone()),
                // Ended deliveries may all have succeeded while the
                // endpoint fails now: the figure is not shown as fine then.
                success_low: figures.is_some_and(|f| f.success_low)
                    || health.consecutive_failures > 0,
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
