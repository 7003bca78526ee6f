//! Loading a stored document for reads and compaction, one document at a time.
//!
//! Every path that loads a whole document (snapshot, history, compaction, a full merge) goes
//! through here: the load and what is done with the document run on the [`Compute`](crate::ports::Compute) port, so on the
//! native server a panic inside automerge fails only that document; a document that does not
//! load is recorded as damaged ([`crate::store::DamagedDocument`]) and answers
//! `document-unavailable`, while every other document is served as usual.

use sync_core::automerge::Automerge;
use sync_core::document::{self, StoredDoc};

use crate::error::{ApiError, ApiResult};
use crate::ports::compute::offload;
use crate::state::AppState;
use crate::store::DocState;

/// Runs `f` on the loaded document `id` (stored as `loaded`) on the compute port. If the
/// document does not load, or automerge panics (loading it or in `f`), it is recorded as
/// damaged.
pub async fn with_document<T: Send + 'static>(
    state: &AppState,
    id: &str,
    loaded: DocState,
    f: impl FnOnce(Automerge, StoredDoc<'_>) -> T + Send + 'static,
) -> ApiResult<T> {
    let outcome = offload(state.compute.as_ref(), move || {
        let stored = StoredDoc { snapshot: loaded.snapshot.as_deref(), changes: &loaded.changes };
        document::load(stored).map(|doc| f(doc, stored))
    })
    .await;
    match outcome {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(damaged(state, id, &e.to_string()).await),
        None => Err(damaged(state, id, "automerge panicked on it").await),
    }
}

/// Records that `id` does not load and returns the error its readers get.
pub async fn damaged(state: &AppState, id: &str, reason: &str) -> ApiError {
    tracing::error!(doc = %id, %reason, "stored document does not load");
    if let Err(e) = state.store.mark_damaged(id, reason, state.now()).await {
        tracing::warn!(doc = %id, error = %e, "could not record the damaged document");
    }
    ApiError::DocumentUnavailable(id.to_owned())
}
