//! Request extraction for the Svix-compatible API: the caller, JSON
//! bodies and queries, each failing with a [`SvixError`] (the native
//! extractors' rules and codes, Svix's shapes).

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::SvixError;
use crate::http::extract::{self, ApiCaller};
use crate::service::{self, Caller, Herald};

/// The caller (`Authorization: Bearer`) and the service, as
/// [`ApiCaller`]; the application comes from the path.
pub struct SvixCaller(pub ApiCaller);

impl SvixCaller {
    /// Runs `f` as this caller on the blocking pool.
    pub async fn call<T, F>(self, f: F) -> Result<T, SvixError>
    where
        T: Send + 'static,
        F: FnOnce(&Herald, &Caller) -> service::Result<T> + Send + 'static,
    {
        let c = self.0.caller;
        let h = self.0.herald;
        web::block(move || f(&h, &c))
            .await
            .map_err(|e| SvixError::from(crate::http::error::ApiError::internal(e)))?
            .map_err(SvixError::from)
    }
}

impl FromRequest for SvixCaller {
    type Error = SvixError;
    type Future = Ready<Result<Self, SvixError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(match ApiCaller::from_request(req, payload).into_inner() {
            Ok(c) => Ok(SvixCaller(c)),
            Err(e) => Err(e.into()),
        })
    }
}

/// The largest body of a management call (applications, endpoints).
pub const BODY_LIMIT: usize = extract::MANAGEMENT_BODY_LIMIT;

/// A JSON body of type `T`, at most `LIMIT` bytes (the native API's
/// 415/413/400/422 rules, Svix's error shapes).
pub struct SvixJson<T, const LIMIT: usize = BODY_LIMIT>(pub T);

impl<T: DeserializeOwned + 'static, const LIMIT: usize> FromRequest for SvixJson<T, LIMIT> {
    type Error = SvixError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, SvixError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = web::Payload::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let payload = payload
                .await
                .map_err(|e| SvixError::from(crate::http::error::ApiError::internal(e)))?;
            let limit = body_limit(&req, LIMIT);
            extract::json_body(&req, payload, limit)
                .await
                .map(SvixJson)
                .map_err(SvixError::from)
        })
    }
}

/// `LIMIT`, or for a message (`LIMIT == 0`) room for the largest event
/// the server accepts and the fields around it.
fn body_limit(req: &HttpRequest, limit: usize) -> usize {
    if limit != 0 {
        return limit;
    }
    let max_event = req
        .app_data::<web::Data<Herald>>()
        .map(|h| h.settings().max_event_size)
        .unwrap_or(0);
    match max_event {
        0 => 16 << 20,
        n => n.saturating_add(BODY_LIMIT),
    }
}

/// A query string of type `T` (422 naming the parameter when malformed).
pub struct SvixQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for SvixQuery<T> {
    type Error = SvixError;
    type Future = Ready<Result<Self, SvixError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<T>::from_query(req.query_string())
                .map(|q| SvixQuery(q.into_inner()))
                .map_err(|e| {
                    let mut err = SvixError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_query",
                        e.to_string(),
                    );
                    err.loc = vec!["query".into()];
                    err
                }),
        )
    }
}
