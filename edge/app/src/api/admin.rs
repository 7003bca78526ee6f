use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::error::{ApiError, ApiResult};
use crate::http::Caller;
use crate::service::compaction::{self, CompactionReport};
use crate::state::AppState;
use crate::store::DamagedDocument;

/// Run one compaction pass (tokens with the `edgesync:admin` scope). Hosts without timers
/// (Spin) call this from a scheduler; Workers use a Cron Trigger; the native server a task.
#[utoipa::path(post, path = "/v1/admin/compact", tag = "admin",
    responses((status = 200, body = CompactionReport), (status = 401), (status = 403)), security(("bearer" = [])))]
pub(super) async fn compact(State(state): State<AppState>, Caller(me): Caller) -> ApiResult<Json<CompactionReport>> {
    if !me.admin {
        return Err(ApiError::Forbidden("requires the edgesync:admin scope"));
    }
    Ok(Json(compaction::run_pass(&state, 100).await?))
}

/// Documents whose stored state does not load, most recently seen first (tokens with the
/// `edgesync:admin` scope). They answer `document-unavailable` and compaction skips them.
#[utoipa::path(get, path = "/v1/admin/damaged", tag = "admin",
    responses((status = 200, body = Vec<DamagedDocument>), (status = 401), (status = 403)), security(("bearer" = [])))]
pub(super) async fn damaged(State(state): State<AppState>, Caller(me): Caller) -> ApiResult<Json<Vec<DamagedDocument>>> {
    if !me.admin {
        return Err(ApiError::Forbidden("requires the edgesync:admin scope"));
    }
    Ok(Json(state.store.damaged_documents(1_000).await?))
}

/// Forgets a damaged document (tokens with the `edgesync:admin` scope), once repaired or when
/// its compaction was only cut short by a runtime limit: the next compaction pass tries it
/// again. 404 if it was not recorded.
#[utoipa::path(delete, path = "/v1/admin/damaged/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(super) async fn forget_damaged(State(state): State<AppState>, Caller(me): Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    if !me.admin {
        return Err(ApiError::Forbidden("requires the edgesync:admin scope"));
    }
    if state.store.clear_damaged(&id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound) }
}
