//! The ingest path: an ingest holds no thread while the store's group
//! commit makes it durable (the service answers an `Ingesting`, which
//! awaits the store's ticket).

use actix_web::web;

use super::error::ApiError;
use crate::service::{Caller, Herald, IngestOutcome};

/// Runs an ingest. Single events are prepared right here (a few reads
/// from sled's cache); a batch is prepared on the blocking pool (it may
/// be a thousand events to validate). Either way the wait for the group
/// commit holds no thread: the store's ticket is awaited.
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
