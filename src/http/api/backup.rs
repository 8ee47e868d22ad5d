//! `GET /api/v1/backup`: a dump of the whole store, streamed as it is
//! written (`application/octet-stream`), platform key only.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use actix_web::HttpResponse;

use crate::http::error::ApiResult;
use crate::http::extract::ApiCaller;
use crate::service::BackupStream;

/// The response body: the chunks the backup thread produces. An error
/// after the first byte can only cut the stream short; the client's copy
/// then lacks its trailer, which every reader refuses.
struct DumpBody(BackupStream);

impl MessageBody for DumpBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.get_mut()
            .0
            .poll_chunk(cx)
            .map(|chunk| chunk.map(|c| c.map(Bytes::from).map_err(std::io::Error::other)))
    }
}

/// `GET /api/v1/backup`.
#[utoipa::path(get, path = "/api/v1/backup", tag = "backup",
    summary = "Download a consistent dump of the whole store",
    responses((status = 200, description = "The dump (`herald restore` reads it), streamed.",
        content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn get(api: ApiCaller) -> ApiResult {
    let stream = api.call(|h, c| h.start_backup(c)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"herald.dump\"",
        ))
        .body(DumpBody(stream)))
}
