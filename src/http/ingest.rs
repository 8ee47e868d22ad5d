//! **The ingest path's async commit**, kept in this one place while its
//! service API (`Herald::ingest_then`, `service/events.rs`) changes: an
//! ingest holds no thread while the store's group commit makes it
//! durable; the committer answers through a oneshot channel.

use actix_web::web;

use super::error::ApiError;
use crate::service::{Caller, Herald, IngestDone, IngestOutcome};

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
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: IngestDone = Box::new(move |r| {
        let _ = tx.send(r);
    });
    if events.len() == 1 {
        herald.ingest_then(&caller, events, idempotency_key.as_deref(), done);
    } else {
        let h = herald.clone();
        web::block(move || h.ingest_then(&caller, events, idempotency_key.as_deref(), done))
            .await
            .map_err(ApiError::internal)?;
    }
    rx.await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}
