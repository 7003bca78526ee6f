//! Waiting syncs (long-poll, docs/protocol.md "Live updates"): a sync that pushes nothing and
//! would learn nothing may wait, up to a bound, until one of its documents changes, and is
//! then answered as a sync made at that moment — carrying the new changes.
//!
//! The wait holds no state but the request: every poll interval (and whenever the host
//! announces a commit in its own process) it re-reads the documents' roles and heads in one
//! statement, so commits at any edge sharing the database wake it, and so do a lost
//! membership or a deleted document (answered as the sync would answer them).

use std::time::Duration;

use sync_core::server;
use sync_core::{DocResponse, DocStatus, Heads, SyncRequest, SyncResponse};

use crate::error::{ApiError, ApiResult};
use crate::service::sync::{self, SyncStats};
use crate::state::AppState;

/// [`sync::sync`], then — when the answer tells the client nothing new — waits up to
/// `wait_ms` (clamped to the configured maximum) for a change and syncs again.
pub async fn sync_or_wait(state: &AppState, user: &str, request: &SyncRequest, wait_ms: u32) -> ApiResult<(SyncResponse, SyncStats)> {
    let (response, stats) = sync::sync(state, user, request).await?;
    let wait_ms = wait_ms.min(state.config.max_wait_ms);
    if wait_ms == 0 || !state.wakeups.can_wait() || !nothing_new(request, &response) {
        return Ok((response, stats));
    }
    let ids: Vec<String> = request.docs.iter().map(|d| d.doc_id.to_string()).collect();
    let started = state.clock.now_micros();
    let poll = Duration::from_millis(state.config.wait_poll_ms.max(1).into());
    // Counted in the waits asked for, not read from the clock (a port that tests move by
    // hand): an early wake-up only shortens the wait.
    let mut left = Duration::from_millis(wait_ms.into());
    while !left.is_zero() {
        let step = left.min(poll);
        state.wakeups.wait(&ids, step).await;
        left -= step;
        if changed(state, user, request, &ids).await? {
            let waited_micros = state.clock.now_micros() - started;
            let (response, stats) = sync::sync(state, user, request).await?;
            return Ok((response, SyncStats { waited_micros, ..stats }));
        }
        if !state.wakeups.can_wait() {
            // The host is shutting down: answer what is known now.
            break;
        }
    }
    Ok((response, SyncStats { waited_micros: state.clock.now_micros() - started, ..stats }))
}

/// True when the request pushes nothing and every answer is an `Ok` that carries no change,
/// asks for none and names no head the client lacks.
fn nothing_new(request: &SyncRequest, response: &SyncResponse) -> bool {
    // A request for no document has nothing to wait for.
    !request.docs.is_empty()
        && request.docs.len() == response.docs.len()
        && request.docs.iter().zip(&response.docs).all(|(req, res)| quiet(req, res))
}

fn quiet(request: &sync_core::DocRequest, response: &DocResponse) -> bool {
    request.chunks.is_empty()
        && response.status == DocStatus::Ok
        && response.chunks.is_empty()
        && response.missing.is_empty()
        && server::is_up_to_date(&response.heads, request)
}

/// Whether a sync now would answer differently: a document the caller no longer sees, or
/// heads the request does not know.
async fn changed(state: &AppState, user: &str, request: &SyncRequest, ids: &[String]) -> ApiResult<bool> {
    let tips = state.store.roles_and_tips(user, ids).await?;
    for (doc, id) in request.docs.iter().zip(ids) {
        let Some((_, tip)) = tips.get(id) else { return Ok(true) };
        let heads = Heads::parse_list(&tip.heads, usize::MAX).map_err(|e| ApiError::Internal(format!("stored heads of {id}: {e}")))?;
        if !server::is_up_to_date(&heads, doc) {
            return Ok(true);
        }
    }
    Ok(false)
}
