//! Errors in Svix's shapes: `{"code","detail"}`, and for a 422
//! `{"detail":[{"loc","msg","type"}]}` (the SDKs parse every non-2xx body
//! as one of the two). The status and code are the native API's
//! ([`ApiError`], chosen from the service's error alone).

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::http::error::ApiError;
use crate::service::ServiceError;

/// An error answer of the Svix-compatible API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{api}")]
pub struct SvixError {
    /// The native answer: status, code, message, headers.
    pub api: Box<ApiError>,
    /// For a 422: where the fault is (`["body", "url"]`, `["query", "limit"]`).
    pub loc: Vec<String>,
}

impl SvixError {
    /// A new error answer.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(status, code, detail).into()
    }
}

impl From<ApiError> for SvixError {
    fn from(api: ApiError) -> Self {
        let mut loc = vec!["body".to_string()];
        loc.extend(api.field.map(str::to_string));
        Self {
            api: Box::new(api),
            loc,
        }
    }
}

impl From<ServiceError> for SvixError {
    fn from(e: ServiceError) -> Self {
        // Svix answers a malformed query parameter 422, naming it.
        if let ServiceError::BadQuery { param, message } = &e {
            let mut api = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", message);
            api.field = Some(param);
            return Self {
                api: Box::new(api),
                loc: vec!["query".into(), (*param).to_string()],
            };
        }
        ApiError::from(e).into()
    }
}

impl ResponseError for SvixError {
    fn status_code(&self) -> StatusCode {
        self.api.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = if self.api.status == StatusCode::UNPROCESSABLE_ENTITY {
            json!({ "detail": [{
                "loc": self.loc,
                "msg": self.api.message,
                "type": "value_error",
            }]})
        } else {
            json!({ "code": self.api.code, "detail": self.api.message })
        };
        // The native answer's headers (WWW-Authenticate, Retry-After,
        // RateLimit-*), with Svix's body.
        self.api
            .error_response()
            .set_body(BoxBody::new(body.to_string()))
    }
}

/// What a Svix handler answers.
pub type SvixResult = Result<HttpResponse, SvixError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::endpoint::FieldError;
    use actix_web::body::MessageBody;

    fn body(e: SvixError) -> (u16, serde_json::Value) {
        let res = e.error_response();
        let status = res.status().as_u16();
        let bytes = match res.into_body().try_into_bytes() {
            Ok(b) => b,
            Err(_) => panic!("a streamed body"),
        };
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn errors_take_svix_shapes() {
        let (s, b) = body(ServiceError::NotFound("application").into());
        assert_eq!(s, 404);
        assert_eq!(
            b,
            json!({"code": "not_found", "detail": "application not found"})
        );

        let (s, b) = body(ServiceError::Invalid(FieldError::new("url", "bad url")).into());
        assert_eq!(s, 422);
        assert_eq!(
            b,
            json!({"detail": [{"loc": ["body", "url"], "msg": "url: bad url", "type": "value_error"}]})
        );

        let (s, b) = body(ServiceError::bad_query("limit", "too big").into());
        assert_eq!(s, 422);
        assert_eq!(b["detail"][0]["loc"], json!(["query", "limit"]));

        let (s, b) = body(ServiceError::Unauthorized("missing API key").into());
        assert_eq!(s, 401);
        assert_eq!(b["code"], "unauthorized");
        let conflict = ServiceError::Conflict {
            code: "conflict",
            message: "dup".into(),
        };
        assert_eq!(body(conflict.into()).0, 409);
    }
}
