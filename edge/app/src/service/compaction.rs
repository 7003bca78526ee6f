//! Compaction: fold a document's change log into a new snapshot. Syncs may land meanwhile:
//! their rows have a higher `seq` than the snapshot covers, so they stay (see
//! [`crate::store::Store::commit_compaction`]).

use sync_core::document;
use sync_core::server::NewChange;

use crate::error::{ApiError, ApiResult};
use crate::service::load;
use crate::state::AppState;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CompactionReport {
    pub compacted: u32,
    /// Documents that do not load: recorded as damaged and left alone.
    pub skipped: u32,
}

/// Compacts up to `limit` documents whose change logs reached the configured threshold, and
/// expires old idempotency records, rate-limit windows and presence. A document that does not
/// load is recorded as damaged and skipped (now and in later passes); the pass goes on with the
/// rest.
pub async fn run_pass(state: &AppState, limit: i64) -> ApiResult<CompactionReport> {
    let mut report = CompactionReport::default();
    let ids = state.store.compaction_candidates(state.config.compaction_threshold, limit).await?;
    for id in ids {
        match compact_document(state, &id).await {
            Ok(()) => report.compacted += 1,
            Err(ApiError::DocumentUnavailable(_)) => report.skipped += 1,
            Err(e) => return Err(e),
        }
    }
    let now = state.now();
    state.store.expire_idempotency(crate::ports::UnixMillis(now.0 - state.config.idempotency_ttl_secs * 1000)).await?;
    let window = now.as_secs() / i64::from(state.config.rate_limit.window_secs.max(1));
    state.store.expire_rate_limits(window - 1).await?;
    state.store.expire_presence(crate::ports::UnixMillis(now.0 - crate::service::presence::TTL_MS)).await?;
    Ok(report)
}

/// Compactions of one document that may start and never finish (the runtime crashed while
/// loading it) before it is recorded as damaged.
const MAX_UNFINISHED_COMPACTIONS: i64 = 3;

/// Compacts one document (a no-op for a missing document or an empty change log).
pub async fn compact_document(state: &AppState, id: &str) -> ApiResult<()> {
    let Some(loaded) = state.store.load_state(id).await? else { return Ok(()) };
    if loaded.changes.is_empty() {
        return Ok(());
    }
    // Counted before the load, cleared by the commit: a crash in between (a wasm instance
    // aborts on a panic, so nothing else can be recorded) shows up here on the next passes.
    let attempts = state.store.begin_compaction(id, state.now()).await?;
    if attempts > MAX_UNFINISHED_COMPACTIONS {
        let why = format!("{} compactions started and never finished (the runtime crashed loading it)", attempts - 1);
        return Err(load::damaged(state, id, &why).await);
    }
    let covers_seq = loaded.max_seq;
    let indexed = state.store.is_indexed(id).await?;
    let (compacted, unindexed) = load::with_document(state, id, loaded, move |doc, stored| {
        // A document stored before the change index existed is indexed here, once.
        let unindexed: Vec<NewChange> = if indexed { Vec::new() } else { doc.get_changes(&[]).iter().map(NewChange::of).collect() };
        document::compact_loaded(&doc, stored).map(|c| (c, unindexed))
    })
    .await?
    .map_err(|e| ApiError::Internal(format!("compacting {id}: {e}")))?;
    if !indexed {
        state.store.index_changes(id, &unindexed).await?;
    }
    state.store.commit_compaction(id, compacted.snapshot, &compacted.heads.to_string(), covers_seq, state.now()).await?;
    tracing::info!(doc = %id, folded = compacted.folded.len(), "compacted");
    Ok(())
}
