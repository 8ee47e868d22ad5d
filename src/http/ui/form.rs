//! Form bodies: `application/x-www-form-urlencoded` at most
//! [`FORM_LIMIT`] bytes, and [`Ctx::form`], which reads one only after the
//! CSRF checks pass.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};

use super::csrf::check_origin;
use super::error::UiError;
use super::session::Ctx;
use crate::domain::session::constant_time_eq;

/// The largest form body accepted.
pub const FORM_LIMIT: usize = 64 * 1024;

impl Ctx {
    /// Reads a form body after checking the request's origin and the
    /// form's CSRF token; either failing is a 403 and nothing happens.
    pub async fn form(&self, req: &HttpRequest, payload: web::Payload) -> Result<Form, UiError> {
        check_origin(req)?;
        let form = read_form(req, payload).await?;
        let sent = form.get("csrf").unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), self.layout.csrf.as_bytes()) {
            return Err(UiError::csrf());
        }
        Ok(form)
    }
}

/// A decoded `application/x-www-form-urlencoded` body, in order; repeated
/// names (checkboxes) keep every value.
#[derive(Debug, Clone, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a checkbox `name` was checked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Reads a form body (at most [`FORM_LIMIT`] bytes).
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<Form, UiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(UiError::page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Not a form",
            "Send this as an HTML form (application/x-www-form-urlencoded).",
            None,
        ));
    }
    let bytes = match payload.to_bytes_limited(FORM_LIMIT).await {
        Ok(Ok(b)) => b,
        _ => {
            return Err(UiError::page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "The form was larger than this page accepts.",
                None,
            ))
        }
    };
    Ok(Form(
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}
