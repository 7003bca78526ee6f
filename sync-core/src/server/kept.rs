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

use automerge::{Automerge, Change};

use super::{Access, Known, NewChange, applicable, check_changes_strict, heads_after, over_heads_limit, unseen};
use crate::chunk::{self, ChunkError};
use crate::id::{DocumentId, Heads};
use crate::limits::Limits;
use crate::wire::{DocResponse, DocStatus};

/// Past this many changes a kept copy is not worth checking on: the check reads every change's
/// metadata once (the authors' last seqs, which automerge offers no other way), 30 µs for 100
/// changes and 1.45 ms for 10,000 (`cargo bench -p edgesync-sync-core --bench kept`), where the
/// fast path reads the same from the store in about 0.1 ms however long the history.
pub const KEPT_CHECK_MAX_CHANGES: u64 = 500;

/// The outcome of [`check_kept`].
#[derive(Debug)]
pub struct Checked {
    /// Changes the document lacks, in causal order, to commit and then apply to the copy.
    pub new_changes: Vec<NewChange>,
    /// The full merge's answer without its pulled changes.
    pub response: DocResponse,
    /// Why the push was refused, when `response.status` is `TooLarge`.
    pub rejection: Option<ChunkError>,
}

/// Checks a push to document `doc_id` (its changes, already read) against `doc`, the stored
/// document kept loaded; see the module docs. `None`: the checks refused a pushed change, which
/// the full merge decides. Its cost grows with the document's history: callers check
/// [`KEPT_CHECK_MAX_CHANGES`] first.
pub fn check_kept(doc: &Automerge, doc_id: DocumentId, pushed: &[Change], access: Access, limits: &Limits) -> Option<Checked> {
    let before = chunk::heads_of(doc);
    let answer = |status, heads, missing| DocResponse { doc_id, status, heads, missing, chunks: Vec::new() };
    let fresh = unseen(doc, pushed.to_vec());
    if fresh.is_empty() {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Ok, before, Heads::empty()), rejection: None });
    }
    if access == Access::ReadOnly {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Forbidden, before, Heads::empty()), rejection: None });
    }
    let (ready, missing) = applicable(doc, fresh);
    let heads = heads_after(&before, &ready);
    if over_heads_limit(&before, &heads, limits.max_doc_heads) {
        let why = ChunkError::TooManyHeads { heads: heads.len(), limit: limits.max_doc_heads };
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::TooLarge, before, Heads::empty()), rejection: Some(why) });
    }
    check_changes_strict(Known::Document(doc), &ready).ok()?;
    let new_changes = ready.iter().map(NewChange::of).collect();
    Some(Checked { new_changes, response: answer(DocStatus::Ok, heads, missing), rejection: None })
}
