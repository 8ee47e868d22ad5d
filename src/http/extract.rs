//! Turning requests into service inputs: the caller, JSON bodies, queries.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;
use crate::service::{self, Caller, Herald, IngestOutcome, PageRequest};

/// The largest body the management routes accept (tenants, keys, webhooks).
pub const MANAGEMENT_BODY_LIMIT: usize = 64 * 1024;

/// The caller as the headers describe it; verified by the service.
pub fn caller(req: &HttpRequest) -> Caller {
    let header_str = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let bearer = header_str(header::AUTHORIZATION.as_str()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let tenant = header_str("x-tenant-id").map(str::to_string);
    Caller::Api { bearer, tenant }
}

/// Reads a JSON body: `Content-Type: application/json` (415 otherwise), at
/// most `limit` bytes (413), well-formed (400), and of the expected shape
/// (422, naming what is wrong).
pub async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = raw_json_body(req, payload, limit).await?;
    parse_json(&bytes)
}

/// Reads a JSON body's bytes with the same checks, without parsing.
pub async fn raw_json_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !(mime.starts_with("application/") && mime.ends_with("+json"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(limit).await {
        Err(_) => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("could not read the body: {e}"),
        )),
        Ok(Ok(b)) => Ok(b),
    }
}

/// Parses JSON, telling malformed (400) from ill-shaped (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                e.to_string(),
            ),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            ),
        }
    })
}

/// `limit` and `cursor` query parameters, kept raw for the service.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Page size.
    pub limit: Option<String>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// Validates into a page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(
            self.limit.as_deref(),
            self.cursor.as_deref(),
        )?)
    }
}

/// Runs an ingest. Single events are prepared right here (a few reads
/// from sled's cache); a batch is prepared on the blocking pool (it may
/// be a thousand events to validate). Either way the wait for the group
/// commit holds no thread: the committer answers through a oneshot.
pub async fn ingest(
    herald: &web::Data<Herald>,
    caller: Caller,
    events: Vec<serde_json::Value>,
    idempotency_key: Option<String>,
) -> Result<IngestOutcome, ApiError> {
    let ingesting = if events.len() == 1 {
        herald.ingest_start(&caller, events, idempotency_key.as_deref())
    } else {
        let h = herald.clone();
        web::block(move || h.ingest_start(&caller, events, idempotency_key.as_deref()))
            .await
            .map_err(ApiError::internal)?
    };
    ingesting.outcome().await.map_err(ApiError::from)
}

/// Runs a blocking service call on actix's blocking pool, so store I/O
/// never stalls the async workers.
pub async fn call<T, F>(herald: &web::Data<Herald>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Herald) -> service::Result<T> + Send + 'static,
{
    let h = herald.clone();
    web::block(move || f(&h))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}
