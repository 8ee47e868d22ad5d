//! `GET/POST /login` and `POST /logout`.
//!
//! The login form is protected like every other form: its CSRF token is a
//! random value in the form and in a short-lived `SameSite=Strict` cookie,
//! which must match (there is no session yet to hold it). A successful
//! login sets a new session cookie and drops the old session, if any.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::csrf::check_origin;
use super::error::UiError;
use super::form::read_form;
use super::layout::{local_path, page, redirect, Layout};
use super::session::{blocking, cookie, set_cookie, Ctx, LOGIN_CSRF_COOKIE, SESSION_COOKIE};
use crate::domain::session::{constant_time_eq, generate_token};
use crate::service::{Herald, ServiceError};

/// The login page.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// `GET /login` query.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

fn login_page(
    req: &HttpRequest,
    status: StatusCode,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> HttpResponse {
    let tls = super::session::is_tls(req);
    let token = cookie(req, LOGIN_CSRF_COOKIE).unwrap_or_else(generate_token);
    let mut layout = Layout::anonymous();
    layout.csrf = token.clone();
    let mut res = page(
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
    if let Ok(v) = header::HeaderValue::from_str(&set_cookie(
        LOGIN_CSRF_COOKIE,
        &token,
        tls,
        "Strict",
        Some(3600),
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /login`: the form (or home, if already logged in).
pub async fn form(
    req: HttpRequest,
    q: web::Query<LoginQuery>,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        if let Ok(Some(_)) = blocking(&h, move |h| h.session(&token)).await? {
            return Ok(redirect(&local_path(q.next.as_deref())));
        }
    }
    let notice = match q.notice.as_deref() {
        Some("logged_out") => Some("You are logged out."),
        _ => None,
    };
    Ok(login_page(
        &req,
        StatusCode::OK,
        local_path(q.next.as_deref()),
        String::new(),
        None,
        notice,
    ))
}

/// `POST /login`: check, open a session, go on to `next`.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    h: web::Data<Herald>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req)?;
    let form = read_form(&req, payload).await?;
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let sent = form.get("csrf").unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(UiError::csrf());
    }
    let username = form.text("username");
    let password = form.get("password").unwrap_or_default().to_string();
    let next = local_path(form.get("next"));
    let client = req
        .peer_addr()
        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
    let old = cookie(&req, SESSION_COOKIE);
    let user = username.clone();
    let result = blocking(&h, move |h| {
        h.login(&user, &password, &client, old.as_deref())
    })
    .await?;
    match result {
        Ok(login) => {
            let tls = super::session::is_tls(&req);
            let mut res = redirect(&next);
            for c in [
                set_cookie(SESSION_COOKIE, &login.token, tls, "Lax", None),
                set_cookie(LOGIN_CSRF_COOKIE, "", tls, "Strict", Some(0)),
            ] {
                if let Ok(v) = header::HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            Ok(res)
        }
        Err(ServiceError::Unauthorized(msg)) => Ok(login_page(
            &req,
            StatusCode::UNAUTHORIZED,
            next,
            username,
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
                username,
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
    ctx.form(&req, payload).await?;
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        blocking(&h, move |h| h.logout(&token))
            .await?
            .map_err(|e| ctx.fail(&req, e))?;
    }
    let tls = super::session::is_tls(&req);
    let mut res = redirect("/login?notice=logged_out");
    if let Ok(v) =
        header::HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", tls, "Lax", Some(0)))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}
