//! The client's side of a sync round, mirroring [`crate::server`].
//!
//! A client keeps, per document, the server heads it last had acknowledged (`acked`). It
//! sends everything not covered by `acked` and applies what comes back. `acked` only ever holds
//! heads the server reported *after* committing, so anything covered by it is durable there.

use automerge::Automerge;

use crate::chunk;
use crate::id::{DocumentId, Heads};
use crate::wire::{DocRequest, DocResponse, DocStatus};

/// Builds the request for one document from the local state and the last acknowledged heads.
pub fn build_request(doc_id: DocumentId, doc: &Automerge, acked: &Heads) -> DocRequest {
    let have = Heads::new(chunk::present_in(doc, acked.as_slice()));
    DocRequest { doc_id, chunks: chunk::chunks_since(doc, have.as_slice()), have, heads: chunk::heads_of(doc) }
}

/// The request of a waiting sync (docs/protocol.md §10): the document's `have` and `heads` as
/// in [`build_request`], without chunks, so the server answers only when it has something new
/// for the client. Local changes go out with ordinary syncs.
pub fn build_wait_request(doc_id: DocumentId, doc: &Automerge, acked: &Heads) -> DocRequest {
    let have = Heads::new(chunk::present_in(doc, acked.as_slice()));
    DocRequest { doc_id, chunks: Vec::new(), have, heads: chunk::heads_of(doc) }
}

/// The first request for a document whose acknowledged heads are unknown: the client kept the
/// document but lost `acked` (restored from a backup without it, moved from another store).
/// [`build_request`] with empty `acked` would push the whole document; this sends no changes,
/// the local `heads`, and in `have` a sample of local history (the changes 1, 2, 4, 8, … back
/// from the newest in causal order, at most 64), so the server answers with its heads and what
/// the client lacks after the sampled changes it has (docs/protocol.md §4). Applying the answer
/// sets `acked` to the server's heads; when local changes remain, [`Applied::resend`] is set and
/// the next [`build_request`] pushes only those.
pub fn build_probe_request(doc_id: DocumentId, doc: &Automerge) -> DocRequest {
    let changes = doc.get_changes(&[]);
    let sample = std::iter::successors(Some(1usize), |back| back.checked_mul(2))
        .take(PROBE_SAMPLE)
        .map_while(|back| changes.len().checked_sub(back + 1))
        .map(|at| changes[at].hash());
    DocRequest { doc_id, chunks: Vec::new(), have: Heads::new(sample.collect()), heads: chunk::heads_of(doc) }
}

/// Hashes a probe samples at most: 1 .. 2^63 changes back.
const PROBE_SAMPLE: usize = 64;

/// What applying a response did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The heads to remember as acknowledged (persist this with the document).
    pub acked: Heads,
    pub status: DocStatus,
    /// Local changes the server does not have yet (rejected, or their dependencies were missing).
    pub pending: usize,
    /// True when another round would make progress right away: the server accepted the
    /// request but still lacks local changes (it lacked something the client believed it had,
    /// e.g. it answered from a lagging replica), so a resend from the new `acked` is accepted;
    /// or the push was refused for the document's number of heads, and an empty change now
    /// merges them.
    pub resend: bool,
}

/// Why a response could not be applied. The local document is unchanged in substance (a
/// failed load may leave changes queued, never lost) and `acked` must not be updated.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("response is for document {got}, expected {expected}")]
    WrongDocument { expected: DocumentId, got: DocumentId },
    #[error("server sent an invalid chunk: {0}")]
    InvalidChunk(automerge::AutomergeError),
}

/// Applies the server's answer for one document.
pub fn apply_response(doc: &mut Automerge, doc_id: DocumentId, acked: &Heads, response: &DocResponse) -> Result<Applied, ApplyError> {
    apply_response_logged(doc, doc_id, acked, response, &mut automerge::PatchLog::inactive())
}

/// [`apply_response`], recording what the received changes did in `patches` (an active
/// [`automerge::PatchLog`]; `doc.make_patches(&mut patches)` then renders them). The cost is
/// in proportion to the received changes, not to the document.
pub fn apply_response_logged(doc: &mut Automerge, doc_id: DocumentId, acked: &Heads, response: &DocResponse, patches: &mut automerge::PatchLog) -> Result<Applied, ApplyError> {
    if response.doc_id != doc_id {
        return Err(ApplyError::WrongDocument { expected: doc_id, got: response.doc_id });
    }
    // One call for all chunks: automerge applies them as one batch, which for thousands of
    // changes is orders of magnitude faster than a call per chunk.
    if !response.chunks.is_empty() {
        let all: Vec<u8> = response.chunks.concat();
        doc.load_incremental_log_patches(&all, patches).map_err(ApplyError::InvalidChunk)?;
    }
    let acked = match response.status {
        // Heads are only meaningful on these statuses.
        DocStatus::Ok | DocStatus::Forbidden | DocStatus::TooLarge => Heads::new(chunk::present_in(doc, response.heads.as_slice())),
        _ => acked.clone(),
    };
    // Refused because the document would have too many heads: with the server's changes
    // applied, one empty change depending on every head merges them, and the next round
    // (which pushes it) is accepted. See docs/protocol.md, §5.
    let merge_heads = response.status == DocStatus::TooLarge && doc.get_heads().len() > 1;
    if merge_heads {
        doc.empty_commit(automerge::transaction::CommitOptions::default());
    }
    let pending = doc.get_changes(acked.as_slice()).len();
    let resend = (response.status == DocStatus::Ok || merge_heads) && pending > 0;
    Ok(Applied { acked, status: response.status, pending, resend })
}

/// Number of local changes not yet acknowledged by the server.
pub fn pending_changes(doc: &Automerge, acked: &Heads) -> usize {
    let have = chunk::present_in(doc, acked.as_slice());
    doc.get_changes(&have).len()
}
