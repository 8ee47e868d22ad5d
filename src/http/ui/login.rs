//! `GET/POST /login` and `POST /logout`.
//!
//! The login form is protected like every other form: its CSRF token is a
//! random value in the form and in a short-lived `SameSite=Strict` cookie,
//! which must match (there is no session yet to hold it). A successful
//! login sets a new session cookie and drops the old session, if any, and
//! sets a new device cookie (`SameSite=Strict`, 30 days), the browser's
//! proof that it logged in as that user before: its next logins as that
//! user count only their own failures (`domain::throttle`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::csrf::{check_login_token, check_origin, login_cookie, login_token};
use super::error::UiError;
use super::form::{trimmed, Query, RawForm};
use super::layout::{local_path, page, redirect, Layout};
use super::notice::{Notice, NoticePage, NoticeQuery};
use super::session::{
    blocking, cookie, device_cookie, session_cookie, with_cookies, Ctx, DEVICE_COOKIE,
    SESSION_COOKIE,
};
use crate::domain::user::MAX_USERNAME_LEN;
use crate::service::{Herald, ServiceError};

/// The longest `next` path kept; a longer one goes home.
const MAX_NEXT_LEN: usize = 2048;

/// The login page.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<Notice>,
}

/// `GET /login` query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login` form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default, deserialize_with = "trimmed")]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

fn login_page(
    req: &HttpRequest,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<Notice>,
) -> HttpResponse {
    let token = login_token(req);
    let mut layout = Layout::anonymous();
    layout.csrf = token.clone();
    // An atomic read: the banner is on this page too.
    layout.paused = req
        .app_data::<actix_web::web::Data<crate::service::Herald>>()
        .is_some_and(|h| h.paused());
    let res = page(
        req,
        status,
        LoginPage {
            layout,
            next,
            username,
            error,
            notice,
        },
    );
    with_cookies(res, [login_cookie(req, Some(&token))])
}

/// `GET /login`: the form (or home, if already logged in).
pub async fn form(
    req: HttpRequest,
    Query(q): Query<LoginQuery>,
    Query(notice): Query<NoticeQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        if let Ok(Some(_)) = blocking(&h, move |h| h.session(&token)).await? {
            return Ok(redirect(&local_path(q.next.as_deref())));
        }
    }
    Ok(login_page(
        &req,
        StatusCode::OK,
        local_path(q.next.as_deref()),
        String::new(),
        None,
        notice.on(NoticePage::Login),
    ))
}

/// `POST /login`: check, open a session, go on to `next`.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req)?;
    let raw = RawForm::read(&req, payload).await?;
    check_login_token(&req, raw.token())?;
    let form: LoginForm = raw.decode()?;
    let next = local_path(form.next.as_deref().filter(|n| n.len() <= MAX_NEXT_LEN));
    let client = req
        .peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    let old = cookie(&req, SESSION_COOKIE);
    let device = cookie(&req, DEVICE_COOKIE);
    let (user, password) = (form.username.clone(), form.password);
    let result = blocking(&h, move |h| {
        h.login(&user, &password, &client, device.as_deref(), old.as_deref())
    })
    .await?;
    // The form is shown again with what was typed, but never more than a
    // username can be.
    let typed: String = form.username.chars().take(MAX_USERNAME_LEN).collect();
    match result {
        Ok(login) => Ok(with_cookies(
            redirect(&next),
            [
                session_cookie(&req, Some(&login.token)),
                device_cookie(&req, &login.device),
                login_cookie(&req, None),
            ],
        )),
        Err(ServiceError::Unauthorized(msg)) => Ok(login_page(
            &req,
            StatusCode::UNAUTHORIZED,
            next,
            typed,
            Some(capitalise(msg)),
            None,
        )),
        Err(ServiceError::Throttled {
            message,
            retry_after_secs,
        }) => {
            let mut res = login_page(
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                next,
                typed,
                Some(capitalise(&message)),
                None,
            );
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(res)
        }
        Err(e) => Err(UiError::from_service(&req, e, None)),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `POST /logout`: end the session and clear the cookie.
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    let ctx = Ctx::load(&req, &h, "").await?;
    ctx.post(&req, payload).await?;
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        blocking(&h, move |h| h.logout(&token))
            .await?
            .map_err(|e| ctx.fail(&req, e))?;
    }
    Ok(with_cookies(
        Notice::LoggedOut.redirect("/login"),
        [session_cookie(&req, None)],
    ))
}
