//! Sync: authorise, read the heads, append (sync-core's fast path) or load and merge, commit all writes of a request in one
//! transaction, and only then answer.

use std::collections::HashMap;

use sync_core::document::StoredDoc;
use sync_core::server::{self, Access};
use sync_core::{DocResponse, DocStatus, Heads, SyncRequest, SyncResponse};

use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::ports::compute::offload;
use crate::state::AppState;
use crate::store::DocWrite;

/// What a sync did, for metrics and Server-Timing.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    pub changes_applied: usize,
    pub db_micros: i64,
    pub crdt_micros: i64,
    /// Documents merged by the append fast path (no document load).
    pub fast_path: usize,
}

/// Syncs every document of `request` for `user`.
pub async fn sync(state: &AppState, user: &str, request: &SyncRequest) -> ApiResult<(SyncResponse, SyncStats)> {
    let ids: Vec<String> = request.docs.iter().map(|d| d.doc_id.to_string()).collect();
    let mut stats = SyncStats::default();
    let t = state.clock.now_micros();
    let roles: HashMap<String, Role> = state.store.roles(user, &ids).await?.into_iter().collect();
    stats.db_micros += state.clock.now_micros() - t;

    let mut responses = Vec::with_capacity(request.docs.len());
    let mut writes = Vec::new();
    for (doc, id) in request.docs.iter().zip(&ids) {
        let Some(&role) = roles.get(id) else {
            responses.push(status_only(doc.doc_id, DocStatus::NotFound));
            continue;
        };
        let t = state.clock.now_micros();
        let heads = state.store.load_heads(id).await?;
        stats.db_micros += state.clock.now_micros() - t;
        let Some(heads) = heads else {
            responses.push(status_only(doc.doc_id, DocStatus::NotFound));
            continue;
        };
        let server_heads = Heads::parse_list(&heads, usize::MAX).map_err(|e| ApiError::Internal(format!("stored heads of {id}: {e}")))?;
        if server::is_up_to_date(&server_heads, doc) {
            responses.push(server::up_to_date_response(doc, &server_heads));
            continue;
        }
        let access = if role.can_write() { Access::ReadWrite } else { Access::ReadOnly };
        // A push on the current heads needs no load, however long the document's history.
        let t = state.clock.now_micros();
        let appended = server::append(&server_heads, doc, access, &state.config.sync_limits);
        stats.crdt_micros += state.clock.now_micros() - t;
        if let Some(appended) = appended {
            stats.fast_path += 1;
            writes.push(DocWrite { doc_id: id.clone(), changes: appended.new_changes });
            responses.push(appended.response);
            continue;
        }
        let t = state.clock.now_micros();
        let loaded = state.store.load_state(id).await?;
        stats.db_micros += state.clock.now_micros() - t;
        let Some(loaded) = loaded else {
            responses.push(status_only(doc.doc_id, DocStatus::NotFound));
            continue;
        };
        let t = state.clock.now_micros();
        let (request, limits) = (doc.clone(), state.config.sync_limits);
        let merged = offload(state.compute.as_ref(), move || {
            let stored = StoredDoc { snapshot: loaded.snapshot.as_deref(), changes: &loaded.changes };
            server::merge(stored, &request, access, &limits)
        })
        .await
        .ok_or_else(|| ApiError::Internal(format!("merging into {id} panicked")))?
        .map_err(|e| ApiError::Internal(format!("stored document {id} does not load: {e}")))?;
        stats.crdt_micros += state.clock.now_micros() - t;
        if let Some(why) = &merged.rejection {
            tracing::info!(doc = %id, reason = %why, "rejected pushed changes");
        }
        if !merged.new_changes.is_empty() {
            writes.push(DocWrite { doc_id: id.clone(), changes: merged.new_changes });
        }
        responses.push(merged.response);
    }
    // The response goes out only after every write of the request has committed.
    let t = state.clock.now_micros();
    state.store.commit_sync(&writes, state.now()).await?;
    stats.db_micros += state.clock.now_micros() - t;
    stats.changes_applied = writes.iter().map(|w| w.changes.len()).sum();
    Ok((SyncResponse { docs: responses }, stats))
}

fn status_only(doc_id: sync_core::DocumentId, status: DocStatus) -> DocResponse {
    DocResponse { doc_id, status, heads: Heads::empty(), missing: Heads::empty(), chunks: Vec::new() }
}
