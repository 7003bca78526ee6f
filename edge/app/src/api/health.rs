use axum::Json;
use axum::extract::State;

use crate::error::ApiResult;
use crate::model::dto::{Health, ReplicaHealth};
use crate::state::AppState;

/// Liveness and database reachability.
#[utoipa::path(get, path = "/v1/health", tag = "meta",
    responses((status = 200, body = Health), (status = 503, description = "database unavailable")))]
pub(super) async fn health(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let versions = state.store.applied_migrations().await?;
    let replica = state.store.db().replica_status().map(|r| ReplicaHealth { frame_no: r.frame_no, lag_ms: state.now().0 - r.last_sync_ms });
    Ok(Json(Health { status: "ok".into(), database: "ok".into(), schema_version: versions.last().copied().unwrap_or(0), replica }))
}
