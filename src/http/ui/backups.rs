//! `GET /backups` (operators): scheduled backups — the schedule, the last
//! result and the dumps kept — and `POST /backups/run`, "Back up now".

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;

use super::error::UiError;
use super::form::Query;
use super::layout::{page, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{blocking, Ctx};
use super::view::{Badge, When};
use crate::service::{BackupRun, Herald};

/// A run, as shown.
pub struct RunRow {
    badge: Badge,
    started: When,
    seconds: String,
    file: String,
    size: String,
    error: Option<String>,
}

impl RunRow {
    fn of(r: &BackupRun) -> Self {
        Self {
            badge: match r.error {
                None => Badge::OK,
                Some(_) => Badge {
                    tone: "bad",
                    icon: "✕",
                    label: "Failed",
                },
            },
            started: When::new(r.started),
            seconds: format!("{:.1} s", r.duration_ms() as f64 / 1000.0),
            file: r.file.clone().unwrap_or_default(),
            size: size(r.bytes),
            error: r.error.clone(),
        }
    }
}

/// A dump kept.
pub struct FileRow {
    name: String,
    at: When,
    size: String,
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The page.
#[derive(Template, WebTemplate)]
#[template(path = "backups.html")]
struct BackupsPage {
    layout: Layout,
    on: bool,
    dir: String,
    every: String,
    keep: usize,
    last: Option<RunRow>,
    last_success: Option<RunRow>,
    failures: u64,
    files: Vec<FileRow>,
    files_error: Option<String>,
    notice: Option<Notice>,
}

/// `GET /backups`.
pub async fn show(
    req: HttpRequest,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "backups").await?;
    let caller = ctx.caller.clone();
    let v = blocking(&h, move |h| h.backups_view(&caller))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let (dir, every, keep) = match &v.plan {
        Some(p) => (
            p.dir.display().to_string(),
            humantime::format_duration(p.every).to_string(),
            p.keep,
        ),
        None => (String::new(), String::new(), 0),
    };
    Ok(page(
        &req,
        StatusCode::OK,
        BackupsPage {
            layout: ctx.layout,
            on: v.plan.is_some(),
            dir,
            every,
            keep,
            last: v.last.as_ref().map(RunRow::of),
            last_success: v.last_success.as_ref().map(RunRow::of),
            failures: v.failures,
            files: v
                .files
                .iter()
                .map(|f| FileRow {
                    name: f.name.clone(),
                    at: When::new(f.at),
                    size: size(f.bytes),
                })
                .collect(),
            files_error: v.files_error,
            notice: notice.on(NoticePage::Backups),
        },
    ))
}

/// `POST /backups/run`: one backup now.
pub async fn run(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "backups").await?;
    ctx.post(&req, payload).await?;
    let caller = ctx.caller.clone();
    let run = blocking(&h, move |h| h.backup_now(&caller))
        .await?
        .map_err(|e| ctx.fail(&req, e))?;
    let notice = match run {
        Some(r) if r.error.is_none() => Notice::BackupWritten,
        Some(_) => Notice::BackupFailed,
        None => Notice::BackupsOff,
    };
    Ok(notice.redirect("/backups"))
}
