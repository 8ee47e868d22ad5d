//! Typed forms and query strings, decoded with `serde_html_form` (repeated
//! names fill `Vec`s, as checkboxes send them): [`Ctx::form`] reads a POST
//! body into a form type only after the `Origin` and CSRF checks pass;
//! [`RawForm`] is the body before decoding; [`Query`] is a page's query
//! string; [`trimmed`] and [`checkbox`] are the field rules the forms share.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::csrf::{check_origin, check_session_token};
use super::error::UiError;
use super::session::Ctx;
use crate::service::ServiceError;

/// The largest form body accepted.
pub const FORM_LIMIT: usize = 64 * 1024;

impl Ctx {
    /// Reads a form body as `T` after checking the request's origin and
    /// the form's CSRF token against the session's (and refusing every form
    /// of a read-only portal session: 403 `read_only_session`); either failing is a
    /// 403 and nothing happens.
    pub async fn form<T: DeserializeOwned>(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<T, UiError> {
        check_origin(req)?;
        // A read-only portal session changes nothing, whatever it posts
        // (its pages carry no form, so it has no token to send either).
        if !self.layout.can_write() {
            return Err(self.fail(req, ServiceError::ReadOnly));
        }
        let raw = RawForm::read(req, payload).await?;
        check_session_token(raw.token(), &self.layout.csrf)?;
        raw.decode()
    }

    /// [`Ctx::form`] for a form that carries nothing but its CSRF token (a
    /// button: rotate, delete, resend, log out…).
    pub async fn post(&self, req: &HttpRequest, payload: web::Payload) -> Result<(), UiError> {
        self.form::<NoFields>(req, payload).await.map(|_| ())
    }
}

/// A form without fields of its own.
#[derive(Debug, Deserialize)]
struct NoFields {}

/// The CSRF token every form carries.
#[derive(Debug, Default, Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

/// A form body as read, before it is decoded: its CSRF token is checked
/// first, so a forged form is refused before anything else looks at it.
#[derive(Debug)]
pub struct RawForm {
    token: String,
    bytes: web::Bytes,
}

impl RawForm {
    /// Reads a form body: `application/x-www-form-urlencoded` (415
    /// otherwise), at most [`FORM_LIMIT`] bytes (413).
    pub async fn read(req: &HttpRequest, payload: web::Payload) -> Result<Self, UiError> {
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
        // A form without one token (none, or several) carries an empty
        // one, which never matches.
        let token = serde_html_form::from_bytes::<Token>(&bytes)
            .unwrap_or_default()
            .csrf;
        Ok(Self { token, bytes })
    }

    /// The CSRF token the form carries (empty without one).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The form as `T`; a body that does not fit is a 400 page.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, UiError> {
        serde_html_form::from_bytes(&self.bytes).map_err(|e| {
            UiError::page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                format!("The form could not be read: {e}."),
                None,
            )
        })
    }
}

/// A page's query string as `T`; a malformed one is a 400 page.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = UiError;
    type Future = Ready<Result<Self, UiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            serde_html_form::from_str(req.query_string())
                .map(Query)
                .map_err(|e| {
                    UiError::page(
                        StatusCode::BAD_REQUEST,
                        "Bad request",
                        format!("This address's query could not be read: {e}."),
                        None,
                    )
                }),
        )
    }
}

/// A text field as typed, without surrounding whitespace (use with
/// `#[serde(default, deserialize_with = "trimmed")]`).
pub fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|s| s.trim().to_string())
}

/// A checkbox: checked when sent at all, whatever its value (use with
/// `#[serde(default, deserialize_with = "checkbox")]`).
pub fn checkbox<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    String::deserialize(d).map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "trimmed")]
        url: String,
        #[serde(default)]
        events: Vec<String>,
        #[serde(default, deserialize_with = "checkbox")]
        active: bool,
        #[serde(default)]
        next: Option<String>,
    }

    #[test]
    fn repeated_names_fill_lists_and_missing_fields_take_their_defaults() {
        let s: Sample = serde_html_form::from_str(
            "url=+https%3A%2F%2Fa.example+&events=a.b&events=c.*&active=true",
        )
        .unwrap();
        assert_eq!(s.url, "https://a.example");
        assert_eq!(s.events, ["a.b", "c.*"]);
        assert!(s.active);
        assert_eq!(s.next, None);
        let s: Sample = serde_html_form::from_str("events=x&csrf=t").unwrap();
        assert_eq!((s.url.as_str(), s.events.len(), s.active), ("", 1, false));
        let t: Token = serde_html_form::from_str("csrf=t&csrf=u").unwrap_or_default();
        assert_eq!(t.csrf, "");
    }
}
