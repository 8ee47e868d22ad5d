//! Errors at the HTTP edge: `{"error":{"code","message"}}` with a status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::service::{ServiceError, StoreFault};

/// What an API handler answers: a response, or an error answer.
pub type ApiResult = Result<HttpResponse, ApiError>;

/// An error answer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {code}: {message}", status.as_u16())]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// A message for people.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<&'static str>,
    /// For a 429 over a key's budget: what the `Retry-After` and
    /// `RateLimit-*` headers say.
    pub rate_limit: Option<RateLimitHeaders>,
    /// `Retry-After` (seconds) of a refusal without `RateLimit-*` headers.
    pub retry_after: Option<u64>,
}

/// The headers of a 429 over a key's request budget (the IETF
/// `RateLimit-*` fields, as most clients and proxies read them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `Retry-After`, seconds.
    pub retry_after: u64,
    /// `RateLimit-Limit`: requests the bucket holds.
    pub limit: u32,
    /// `RateLimit-Remaining`.
    pub remaining: u32,
    /// `RateLimit-Reset`: seconds until the bucket is full again.
    pub reset: u64,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// A new error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            rate_limit: None,
            retry_after: None,
        }
    }

    /// 500, with the detail logged rather than shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        log::error!("internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(r) = self.rate_limit {
            res.insert_header((header::RETRY_AFTER, r.retry_after))
                .insert_header(("RateLimit-Limit", r.limit))
                .insert_header(("RateLimit-Remaining", r.remaining))
                .insert_header(("RateLimit-Reset", r.reset));
        } else if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.json(Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field,
            },
        })
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden(_)
            | ServiceError::ReadOnly
            | ServiceError::TenantMismatch { .. } => StatusCode::FORBIDDEN,
            ServiceError::TenantRequired
            | ServiceError::InvalidTenantId(_)
            | ServiceError::BadQuery { .. } => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::Throttled { .. }
            | ServiceError::RateLimited { .. }
            | ServiceError::KeyBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::ServerBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ServiceError::Invalid(_)
            | ServiceError::DuplicateUrl(_)
            | ServiceError::UnknownEventType(_)
            | ServiceError::SchemaMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::TenantExists(_)
            | ServiceError::Conflict { .. }
            | ServiceError::LastOperator(_)
            | ServiceError::DuplicateUid(_)
            | ServiceError::EventTypeExists { .. }
            | ServiceError::BuiltInEventType(_) => StatusCode::CONFLICT,
            ServiceError::Store { fault, .. } => match fault {
                StoreFault::Changed => StatusCode::CONFLICT,
                StoreFault::UrlTaken => StatusCode::UNPROCESSABLE_ENTITY,
                StoreFault::UidTaken => StatusCode::CONFLICT,
                StoreFault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                StoreFault::Locked | StoreFault::Failed => return ApiError::internal(&e),
            },
        };
        let rate_limit = match &e {
            ServiceError::RateLimited {
                limit,
                remaining,
                reset_secs,
                retry_after_secs,
                ..
            } => Some(RateLimitHeaders {
                retry_after: *retry_after_secs,
                limit: *limit,
                remaining: *remaining,
                reset: *reset_secs,
            }),
            _ => None,
        };
        let retry_after = match &e {
            ServiceError::KeyBusy { retry_after_secs }
            | ServiceError::ServerBusy { retry_after_secs } => Some(*retry_after_secs),
            // Freeing space takes a person: a minute is soon enough.
            ServiceError::DiskFull { .. } => Some(60),
            ServiceError::Store {
                fault: StoreFault::Unavailable,
                ..
            } => Some(crate::service::RECOVER_EVERY_SECS),
            _ => None,
        };
        Self {
            status,
            code: e.code(),
            field: e.field(),
            message: e.to_string(),
            rate_limit,
            retry_after,
        }
    }
}
