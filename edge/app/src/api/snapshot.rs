use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sync_core::Heads;
use sync_core::automerge::Automerge;
use sync_core::document::{self, StoredDoc};

use super::visible;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiQuery, Caller};
use crate::service::load;
use crate::model::dto::{self, HeadsQuery};
use crate::state::AppState;

/// The document as a saved automerge document, now or at `?heads=`. Conditional requests
/// with `If-None-Match` get 304; responses addressed by heads never change (`immutable`).
#[utoipa::path(get, path = "/v1/docs/{id}/snapshot", tag = "documents", params(("id" = String, Path), HeadsQuery),
    responses((status = 200, content_type = "application/octet-stream", body = dto::AutomergeDocument), (status = 304), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn snapshot(
    State(state): State<AppState>,
    Caller(me): Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HeadsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let row = visible(&state, &id, me.subject.as_str()).await?;
    let at = match q.heads.as_deref() {
        Some(s) => Some(Heads::parse_list(s, state.config.sync_limits.max_heads).map_err(|e| ApiError::Invalid(format!("heads: {e}")))?),
        None => None,
    };
    let heads_text = at.as_ref().map(ToString::to_string).unwrap_or_else(|| row.heads.clone());
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(format!("{id}@{heads_text}"))[..16]));
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok(with_cache_headers(StatusCode::NOT_MODIFIED.into_response(), &etag, at.is_some()));
    }
    let immutable = at.is_some();
    let mut state_row = state.store.load_state(&id).await?.ok_or(ApiError::NotFound)?;
    let bytes = match (&at, state_row.changes.is_empty(), state_row.snapshot.take()) {
        (None, true, Some(snapshot)) => snapshot,
        (_, _, snapshot) => {
            state_row.snapshot = snapshot;
            let view = move |doc: Automerge, _: StoredDoc<'_>| match &at {
                Some(heads) => document::snapshot_at(&doc, heads).map_err(|e| e.to_string()),
                None => Ok(doc.save()),
            };
            load::with_document(&state, &id, state_row, view).await?.map_err(ApiError::Invalid)?
        }
    };
    let mut response = bytes.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(with_cache_headers(response, &etag, immutable))
}

fn with_cache_headers(mut response: Response, etag: &str, immutable: bool) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // `private`: the bytes are only for members, so shared caches must not reuse them across
    // callers; hosts may cache per document+heads after authorising (see docs).
    let cc = if immutable { "private, max-age=31536000, immutable" } else { "private, no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    h.insert(header::VARY, HeaderValue::from_static("authorization"));
    response
}
