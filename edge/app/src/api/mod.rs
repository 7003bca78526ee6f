//! The v1 HTTP API: one router, served unchanged by every runtime.

mod admin;
mod documents;
mod health;
mod history;
mod members;
pub mod openapi;
mod presence;
mod snapshot;
mod sync;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::state::AppState;
use crate::store::DocumentRow;

pub use crate::service::sync::SyncStats;

/// Routes under `/v1`, without middleware (see [`crate::app`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/health", get(health::health))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/docs", post(documents::create).get(documents::list))
        .route("/v1/docs/{id}", get(documents::get).delete(documents::delete))
        .route("/v1/docs/{id}/members", get(members::list))
        .route("/v1/docs/{id}/members/{user_id}", put(members::set).delete(members::remove))
        .route("/v1/docs/{id}/sync", post(sync::sync_one))
        .route("/v1/sync", post(sync::sync_many))
        .route("/v1/docs/{id}/presence", post(presence::send))
        .route("/v1/presence", get(presence::read))
        .route("/v1/docs/{id}/snapshot", get(snapshot::snapshot))
        .route("/v1/docs/{id}/history", get(history::history))
        .route("/v1/admin/compact", post(admin::compact))
        .route("/v1/admin/damaged", get(admin::damaged))
        .route("/v1/admin/damaged/{id}", delete(admin::forget_damaged))
}

/// The document as the caller sees it, or 404 — also when it exists but the caller is no
/// member, so existence never leaks.
async fn visible(state: &AppState, id: &str, user: &str) -> ApiResult<DocumentRow> {
    if id.parse::<sync_core::DocumentId>().is_err() {
        return Err(ApiError::NotFound);
    }
    state.store.document_for(id, user).await?.ok_or(ApiError::NotFound)
}

fn require(row: &DocumentRow, role: Role) -> ApiResult<()> {
    if row.role >= role { Ok(()) } else { Err(ApiError::Forbidden("your role on this document does not allow this")) }
}

/// Clamps a requested page size.
fn page_size(state: &AppState, limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(50.min(state.config.max_page_size)),
        Some(n) if (1..=state.config.max_page_size).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::Invalid(format!("limit must be between 1 and {}", state.config.max_page_size))),
    }
}
