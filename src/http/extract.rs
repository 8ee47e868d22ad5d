//! Turning requests into service inputs, so an API handler is its service
//! call and its answer:
//!
//! - [`ApiCaller`]: the caller as the headers describe it (verified by the
//!   service), with the service to call as them on the blocking pool;
//! - [`Json`]: a JSON body with the API's 415/413/400/422 rules;
//! - [`Paging`]: `limit` and `cursor`, validated (400 `invalid_query`);
//! - [`call`]: any blocking service call on actix's blocking pool.
//!
//! The ingest path, which does not block a thread, is apart in
//! [`super::ingest`].

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::ApiError;
use crate::service::{self, Caller, Herald, PageRequest};

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

/// The budget an API request counts against: ingest for the two ingest
/// routes, management for every other call.
pub fn budget_of(req: &HttpRequest) -> service::Budget {
    let ingest = req.method() == actix_web::http::Method::POST
        && matches!(
            req.match_pattern().as_deref(),
            Some(
                "/api/v1/events"
                    | "/api/v1/events/batch"
                    | "/api/v1/app/{app_id}/msg"
                    | "/api/v1/app/{app_id}/msg/"
            )
        );
    if ingest {
        service::Budget::Ingest
    } else {
        service::Budget::Management
    }
}

/// An API request's caller (`Authorization: Bearer`, `X-Tenant-ID`) and
/// the service to call as them. Extracting it fails only when the key is
/// over its request budget (429, [`Herald::admit`]); the service decides
/// whether the key is any good, at the call.
pub struct ApiCaller {
    /// Who is calling, as the headers say.
    pub caller: Caller,
    /// The service.
    pub herald: web::Data<Herald>,
}

impl ApiCaller {
    /// Runs `f` as this caller on the blocking pool; a service error
    /// becomes the API's error answer.
    pub async fn call<T, F>(self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Herald, &Caller) -> service::Result<T> + Send + 'static,
    {
        let c = self.caller;
        call(&self.herald, move |h| f(h, &c)).await
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.app_data::<web::Data<Herald>>() {
            Some(h) => {
                let caller = caller(req);
                // Before the body is read: a key over its budget costs no
                // parse. The service decides; the route says which budget.
                h.admit(&caller, budget_of(req))
                    .map_err(ApiError::from)
                    .map(|()| ApiCaller {
                        caller,
                        herald: h.clone(),
                    })
            }
            None => Err(ApiError::internal("the app has no Herald")),
        })
    }
}

/// A JSON body of type `T` (at most `LIMIT` bytes), read by
/// [`json_body`]: 415 `unsupported_encoding` with a `Content-Encoding`
/// other than `identity`, 415 `unsupported_media_type` without a JSON
/// content type, 413 `payload_too_large` over the limit, 400 `invalid_body` or
/// `invalid_json` when unreadable or malformed, 422 `validation_failed`
/// when well-formed but of the wrong shape. (actix's own `web::Json`
/// answers differently, so the API uses this one.)
pub struct Json<T, const LIMIT: usize = MANAGEMENT_BODY_LIMIT>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for Json<T, LIMIT> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = web::Payload::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let payload = payload.await.map_err(ApiError::internal)?;
            json_body(&req, payload, LIMIT).await.map(Json)
        })
    }
}

/// A JSON body that may be left out: no body at all (no `Content-Type`,
/// no length) is `T::default()`; anything else is read as [`Json`] does.
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonOrEmpty<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none()
            && req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|v| v.trim() == "0");
        let payload = web::Payload::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            if empty {
                return Ok(JsonOrEmpty(T::default()));
            }
            let payload = payload.await.map_err(ApiError::internal)?;
            json_body(&req, payload, MANAGEMENT_BODY_LIMIT)
                .await
                .map(JsonOrEmpty)
        })
    }
}

/// Reads a JSON body: no `Content-Encoding` but `identity` (415
/// `unsupported_encoding`), `Content-Type: application/json` (415 otherwise), at
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
    check_content_encoding(req)?;
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

/// Refuses a body sent with any `Content-Encoding` but `identity` (415
/// `unsupported_encoding`), before a byte of it is read: the API never
/// decompresses, so a compressed body would otherwise be judged as
/// malformed JSON and a mislabelled one accepted. No header is fine; so is
/// `identity` in any case, alone or listed more than once.
pub fn check_content_encoding(req: &HttpRequest) -> Result<(), ApiError> {
    let identity_only = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .all(|v| match v.to_str() {
            Ok(v) => v
                .split(',')
                .all(|coding| coding.trim().eq_ignore_ascii_case("identity")),
            Err(_) => false,
        });
    if identity_only {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "send the body uncompressed (no Content-Encoding, or identity)",
        ))
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
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size: 1 to 100 (20 when left out).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
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

/// The page a list request asks for: `?limit=&cursor=`, validated by the
/// service's rules (400 `invalid_query`, as every malformed query is).
pub struct Paging(pub PageRequest);

impl FromRequest for Paging {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<ListQuery>::from_query(req.query_string())
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))
                .and_then(|q| q.page())
                .map(Paging),
        )
    }
}

/// Runs a blocking service call on actix's blocking pool, so store I/O
/// never stalls the async workers; a service error becomes the API's
/// error answer.
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
