//! `GET /webhooks/{id}`: one endpoint — edit, enable/disable, secret and
//! rotation, test event, replay, delete, health and recent deliveries.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::charts::{tables, ChartTables};
use super::deliveries::{rows_of, DeliveryRow};
use super::error::UiError;
use super::form::Query;
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
use super::view::{
    catalog_of, datetime_local, event_groups, event_names, http_href, Badge, Errors, EventGroup,
    When,
};
use super::webhook_new::EndpointForm;
use crate::domain::endpoint::{header_lines, Endpoint};
use crate::domain::health::Health;
use crate::service::{Herald, LogQuery, ServiceError};

/// What an action left for the page to show.
pub struct PageState {
    /// The status to answer with.
    pub status: StatusCode,
    /// A confirmation at the top.
    pub notice: Option<Notice>,
    /// Field messages.
    pub errors: Errors,
    /// The edit form as submitted (after a validation error).
    pub form: Option<EndpointForm>,
}

impl PageState {
    /// A plain view, with the notice the query carried, if any.
    pub fn view(notice: Option<Notice>) -> Self {
        Self {
            status: StatusCode::OK,
            notice,
            errors: Errors::default(),
            form: None,
        }
    }
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "webhook.html")]
struct EndpointPage {
    layout: Layout,
    id: String,
    url: String,
    href: Option<String>,
    description: String,
    badge: Badge,
    active: bool,
    disabled_reason: Option<String>,
    secret: String,
    previous_until: Option<When>,
    overlap: String,
    created: When,
    health: Health,
    charts: ChartTables,
    last_attempt: Option<When>,
    last_success: Option<When>,
    failing_since: Option<When>,
    deliveries: Vec<DeliveryRow>,
    form: EndpointForm,
    groups: Vec<EventGroup>,
    errors: Errors,
    notice: Option<Notice>,
    reveal: bool,
    event_names: Vec<String>,
    replay_since: String,
    allow_http: bool,
    /// For a stream endpoint: whether its client is connected, and its
    /// last poll.
    stream: Option<(bool, Option<When>)>,
}

/// `GET /webhooks/{id}`.
pub async fn show(
    req: HttpRequest,
    id: web::Path<String>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "webhooks").await?;
    let notice = notice.on(NoticePage::Endpoint);
    render(&req, &h, ctx, id.into_inner(), PageState::view(notice)).await
}

fn hours(ms: i64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms => format!("{} s", ms / 1000),
    }
}

/// Renders the endpoint page for `id` with what an action left.
pub async fn render(
    req: &HttpRequest,
    h: &web::Data<Herald>,
    ctx: Ctx,
    id: String,
    state: PageState,
) -> Result<HttpResponse, UiError> {
    let caller = ctx.caller.clone();
    type Loaded = (Endpoint, Health, Vec<DeliveryRow>, ChartTables);
    let loaded = blocking(h, move |h| -> Result<Loaded, ServiceError> {
        let (ep, health) = h.get_endpoint_with_health(&caller, &id)?;
        let q = LogQuery {
            webhook_id: Some(ep.id.to_string()),
            limit: Some("10".into()),
            ..Default::default()
        };
        let page = h.list_deliveries(&caller, &q)?;
        let rows = rows_of(&page.items, std::slice::from_ref(&ep));
        let charts = tables(h, &caller, Some(&ep.id.to_string()))?;
        Ok((ep, health, rows, charts))
    })
    .await?;
    let (ep, health, deliveries, charts) = loaded.map_err(|e| ctx.fail(req, e))?;
    let now = h.clock().now();
    let types = catalog_of(h);
    let form = state.form.unwrap_or_else(|| EndpointForm {
        url: ep.url.clone(),
        all_events: ep.events.iter().any(|e| e == "*"),
        events: ep.events.clone(),
        description: ep.description.clone(),
        active: ep.active,
        headers: header_lines(&ep.headers),
    });
    let p = EndpointPage {
        layout: ctx.layout,
        id: ep.id.to_string(),
        href: http_href(&ep.url),
        url: ep.url.clone(),
        description: ep.description.clone(),
        badge: Badge::endpoint(
            ep.active,
            ep.disabled_reason.is_some(),
            health.consecutive_failures > 0,
        ),
        active: ep.active,
        disabled_reason: ep.disabled_reason.clone(),
        secret: ep.secret.clone(),
        previous_until: When::opt(
            ep.previous_secrets
                .iter()
                .map(|r| r.expires_at)
                .filter(|t| *t > now)
                .max(),
        ),
        overlap: hours(h.settings().secret_overlap_ms),
        created: When::new(ep.created_at),
        last_attempt: When::opt(health.last_attempt_at),
        last_success: When::opt(health.last_success_at),
        failing_since: When::opt(health.failing_since),
        health,
        charts,
        deliveries,
        groups: event_groups(&form.events, types.catalog()),
        form,
        errors: state.errors,
        reveal: state.notice.is_some_and(Notice::reveals_secret),
        notice: state.notice,
        event_names: event_names(types.catalog()),
        replay_since: datetime_local(now.plus_millis(-24 * 3_600_000)),
        allow_http: h.settings().allow_http,
        stream: h
            .stream_connected(&ep)
            .map(|c| (c, When::opt(ep.stream_seen_at))),
    };
    Ok(page(req, state.status, p))
}
