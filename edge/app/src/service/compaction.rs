//! Compaction: fold a document's change log into a new snapshot. Syncs may land meanwhile:
//! their rows have a higher `seq` than the snapshot covers, so they stay (see
//! [`crate::store::Store::commit_compaction`]).

use sync_core::document::{self, StoredDoc};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CompactionReport {
    pub compacted: u32,
}

/// Compacts up to `limit` documents whose change logs reached the configured threshold, and
/// expires old idempotency records and rate-limit windows.
pub async fn run_pass(state: &AppState, limit: i64) -> ApiResult<CompactionReport> {
    let mut report = CompactionReport::default();
    let ids = state.store.compaction_candidates(state.config.compaction_threshold, limit).await?;
    for id in ids {
        compact_document(state, &id).await?;
        report.compacted += 1;
    }
    let now = state.now();
    state.store.expire_idempotency(crate::ports::UnixMillis(now.0 - state.config.idempotency_ttl_secs * 1000)).await?;
    let window = now.as_secs() / i64::from(state.config.rate_limit.window_secs.max(1));
    state.store.expire_rate_limits(window - 1).await?;
    Ok(report)
}

/// Compacts one document (a no-op for a missing document or an empty change log).
pub async fn compact_document(state: &AppState, id: &str) -> ApiResult<()> {
    let Some(loaded) = state.store.load_state(id).await? else { return Ok(()) };
    if loaded.changes.is_empty() {
        return Ok(());
    }
    let stored = StoredDoc { snapshot: loaded.snapshot.as_deref(), changes: &loaded.changes };
    let compacted = document::compact(stored).map_err(|e| ApiError::Internal(format!("compacting {id}: {e}")))?;
    state.store.commit_compaction(id, compacted.snapshot, &compacted.heads.to_string(), loaded.max_seq, state.now()).await?;
    tracing::info!(doc = %id, folded = compacted.folded.len(), "compacted");
    Ok(())
}
