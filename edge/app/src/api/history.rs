use axum::Json;
use axum::extract::{Path, State};
use sync_core::document;

use super::{page_size, visible};
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiQuery, Caller};
use crate::model::dto::{HistoryEntry, HistoryPage, PageQuery};
use crate::service::load;
use crate::state::AppState;

/// A document's change history in causal order, paginated — for time travel via
/// `/snapshot?heads=`.
#[utoipa::path(get, path = "/v1/docs/{id}/history", tag = "documents", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = HistoryPage), (status = 400), (status = 401), (status = 404)), security(("bearer" = [])))]
pub(super) async fn history(State(state): State<AppState>, Caller(me): Caller, Path(id): Path<String>, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<HistoryPage>> {
    visible(&state, &id, me.subject.as_str()).await?;
    let limit = page_size(&state, q.limit)? as usize;
    let start = match q.cursor.as_deref() {
        None => 0,
        Some(c) => c.parse::<usize>().map_err(|_| ApiError::Invalid("cursor: not a cursor from this endpoint".into()))?,
    };
    let loaded = state.store.load_state(&id).await?.ok_or(ApiError::NotFound)?;
    let all = load::with_document(&state, &id, loaded, |doc, _| document::history(&doc)).await?;
    let changes: Vec<HistoryEntry> = all
        .iter()
        .skip(start)
        .take(limit)
        .map(|c| HistoryEntry {
            hash: c.hash.to_string(),
            actor: c.actor.clone(),
            seq: c.seq,
            timestamp_ms: c.timestamp_ms,
            message: c.message.clone(),
            deps: c.deps.iter().map(ToString::to_string).collect(),
            ops: c.ops,
        })
        .collect();
    let next = start + changes.len();
    Ok(Json(HistoryPage { changes, next_cursor: (next < all.len()).then(|| next.to_string()) }))
}
