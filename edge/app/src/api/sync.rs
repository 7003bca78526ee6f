use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sync_core::{DocStatus, MEDIA_TYPE, SyncResponse};

use crate::error::{ApiError, ApiResult};
use crate::http::middleware::SERVER_TIMING;
use crate::http::{ApiQuery, Caller, SyncBody};
use crate::model::dto::WaitQuery;
use crate::service::sync::SyncStats;
use crate::service::wait::sync_or_wait;
use crate::state::AppState;

fn binary(response: &SyncResponse, stats: SyncStats) -> Response {
    let mut r = response.encode().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let ms = |micros: i64| micros as f64 / 1000.0;
    let mut timing = format!("db;dur={:.3}, crdt;dur={:.3}", ms(stats.db_micros), ms(stats.crdt_micros));
    // How each document was merged: without a load (on the heads, or behind them), or loaded.
    timing.push_str(&format!(", merge;desc=\"fast={} behind={} loaded={} tail={}\"", stats.fast_path, stats.behind_heads, stats.loaded, stats.tail_hits));
    if stats.waited_micros > 0 {
        timing.push_str(&format!(", wait;dur={:.3}", ms(stats.waited_micros)));
    }
    if let Ok(v) = HeaderValue::from_str(&timing) {
        h.insert(SERVER_TIMING.clone(), v);
    }
    // Hosts' metrics layers read what the sync did from the response.
    r.extensions_mut().insert(stats);
    r
}

/// Sync one document (binary protocol, see docs/protocol.md). A read-only caller pushing
/// changes gets 403 and nothing is stored. With `?wait_ms=`, a sync that would tell the
/// caller nothing new waits for a change first.
#[utoipa::path(post, path = "/v1/docs/{id}/sync", tag = "sync", params(("id" = String, Path), WaitQuery),
    request_body(content = crate::model::dto::SyncMessage, content_type = "application/vnd.edgesync.sync.v1"),
    responses(
        (status = 200, content_type = "application/vnd.edgesync.sync.v1", body = crate::model::dto::SyncMessage, description = "changes the caller lacks, new server heads"),
        (status = 400), (status = 401), (status = 403), (status = 404), (status = 409), (status = 413), (status = 415), (status = 429), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn sync_one(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(wait): ApiQuery<WaitQuery>,
    SyncBody(request): SyncBody,
) -> ApiResult<Response> {
    if request.docs.len() != 1 || request.docs[0].doc_id.to_string() != id {
        return Err(ApiError::Invalid("the request must carry exactly the document named in the path".into()));
    }
    let (response, stats) = sync_or_wait(&state, me.subject.as_str(), &request, wait.wait_ms.unwrap_or(0)).await?;
    match response.docs[0].status {
        DocStatus::Ok => Ok(binary(&response, stats)),
        DocStatus::NotFound => Err(ApiError::NotFound),
        DocStatus::Forbidden => Err(ApiError::Forbidden("viewers may pull but not push changes; nothing was stored")),
        DocStatus::InvalidChanges => Err(ApiError::InvalidChanges(
            "a pushed chunk is not a valid automerge change, or refers to what the document lacks; nothing was stored".into(),
        )),
        DocStatus::TooLarge if stats.refused_heads > 0 => Err(ApiError::TooManyHeads { limit: state.config.sync_limits.max_doc_heads }),
        DocStatus::TooLarge if stats.over_quota > 0 => Err(ApiError::QuotaExceeded(format!(
            "a document's stored state may hold at most {} bytes",
            state.config.quotas.bytes_per_document
        ))),
        DocStatus::TooLarge => Err(ApiError::PushTooLarge),
        DocStatus::Unavailable => Err(ApiError::DocumentUnavailable(id)),
    }
}

/// Sync many documents in one request; each gets its own status in the response. With
/// `?wait_ms=`, a sync that would tell the caller nothing new waits for a change first.
#[utoipa::path(post, path = "/v1/sync", tag = "sync", params(WaitQuery),
    request_body(content = crate::model::dto::SyncMessage, content_type = "application/vnd.edgesync.sync.v1"),
    responses(
        (status = 200, content_type = "application/vnd.edgesync.sync.v1", body = crate::model::dto::SyncMessage, description = "one entry per requested document"),
        (status = 400), (status = 401), (status = 413), (status = 415), (status = 429), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn sync_many(State(state): State<AppState>, Caller(me): Caller, ApiQuery(wait): ApiQuery<WaitQuery>, SyncBody(request): SyncBody) -> ApiResult<Response> {
    let (response, stats) = sync_or_wait(&state, me.subject.as_str(), &request, wait.wait_ms.unwrap_or(0)).await?;
    Ok(binary(&response, stats))
}
