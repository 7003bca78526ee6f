//! A push checked against a document the caller keeps loaded, without changing it.
//!
//! A caller that keeps a document loaded between requests (the automerge-repo route keeps one
//! per stored heads, shared by every connection that answers from it) can check a push against
//! it in memory instead of reading the stored ops and the window of newest changes back from
//! the store ([`super::append`]). The copy is shared and must only ever hold committed changes,
//! so the push is not applied here: the caller commits [`Checked::new_changes`] and then
//! applies them to its copy.
//!
//! Like the append fast path, then, it stores what automerge has not applied yet, so it accepts
//! only what the fast path would: the full merge's rules against the same document (what is
//! new, what can be applied — the rest is reported missing —, the heads limit), and every
//! pushed op checked as the fast path checks it ([`super::check_changes_strict`]). A push those
//! checks refuse is not answered here: the full merge, which applies and verifies, decides.
//! The answer holds the heads and status the full merge would send, but no changes to pull: a
//! caller that needs those takes another path.

use std::collections::HashSet;

use automerge::{Automerge, ChangeHash};

use super::{Access, Known, NewChange, Pushed, applicable, check_changes_strict, heads_after, rejected, unseen};
use crate::chunk::{self, ChunkError};
use crate::id::Heads;
use crate::limits::Limits;
use crate::wire::{DocRequest, DocResponse, DocStatus};

/// Past this many changes a kept copy is not worth checking on: the check reads every change's
/// metadata once (the authors' last seqs, which automerge offers no other way), 30 µs for 100
/// changes and 1.45 ms for 10,000 (`cargo bench -p edgesync-sync-core --bench kept`), where the
/// fast path reads the same from the store in about 0.1 ms however long the history.
pub const KEPT_CHECK_MAX_CHANGES: usize = 500;

/// The outcome of [`check_kept`].
#[derive(Debug)]
pub struct Checked {
    /// Changes the document lacks, in causal order, to commit and then apply to the copy.
    pub new_changes: Vec<NewChange>,
    /// The full merge's answer without its pulled changes.
    pub response: DocResponse,
    /// Why pushed chunks were rejected, when `response.status` is `InvalidChanges`/`TooLarge`.
    pub rejection: Option<ChunkError>,
}

/// Checks `request`'s push (`pushed`, already read) against `doc`, the stored document kept
/// loaded; see the module docs. `None`: the checks refused a pushed change, which the full
/// merge decides. Its cost grows with the document's history: callers check
/// [`KEPT_CHECK_MAX_CHANGES`] first.
pub fn check_kept(doc: &Automerge, request: &DocRequest, pushed: Pushed, access: Access, limits: &Limits) -> Option<Checked> {
    let before = chunk::heads_of(doc);
    let answer = |status, heads, missing| DocResponse { doc_id: request.doc_id, status, heads, missing, chunks: Vec::new() };
    let incoming = match pushed {
        Ok(changes) => changes,
        Err(e) => return Some(Checked { new_changes: Vec::new(), response: rejected(request, &before, &e), rejection: Some(e) }),
    };
    let fresh = unseen(doc, incoming);
    if fresh.is_empty() {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Ok, before, Heads::empty()), rejection: None });
    }
    if access == Access::ReadOnly {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Forbidden, before, Heads::empty()), rejection: None });
    }
    let (ready, missing) = applicable(doc, fresh);
    let after = heads_after(&before, &ready);
    if after > limits.max_doc_heads && after > before.len() {
        let why = ChunkError::TooManyHeads { heads: after, limit: limits.max_doc_heads };
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::TooLarge, before, Heads::empty()), rejection: Some(why) });
    }
    check_changes_strict(Known::Document(doc), &ready).ok()?;
    // The heads once `ready` is applied: every old head and new change nothing new depends on.
    let covered: HashSet<ChangeHash> = ready.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let heads = before.as_slice().iter().copied().chain(ready.iter().map(|c| c.hash())).filter(|h| !covered.contains(h)).collect();
    let new_changes = ready.iter().map(NewChange::of).collect();
    Some(Checked { new_changes, response: answer(DocStatus::Ok, Heads::new(heads), missing), rejection: None })
}
