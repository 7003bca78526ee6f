//! Turning received chunks (single changes or whole documents) into automerge changes.
//!
//! Every pushed chunk is inspected ([`crate::inspect`]) before automerge parses it, against a
//! budget shared by the whole request: inflation is capped and operation, change and actor
//! counts are read off the columns without expanding them, so a few bytes can never make the
//! server inflate gigabytes or iterate billions of ops.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};

use crate::id::Heads;
use crate::inspect::{self, Budget, InspectError, Inspected};

/// Why pushed chunks could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk {index} is not a valid automerge change: {reason}")]
    InvalidChange { index: usize, reason: String },
    #[error("chunk {index} is not a valid automerge document: {reason}")]
    InvalidDocument { index: usize, reason: String },
    #[error("chunks hold more than {limit} changes")]
    TooManyChanges { limit: usize },
    #[error("chunk {index} is over the request's budget: {reason}")]
    OverBudget { index: usize, reason: InspectError },
    #[error("the push would leave the document with {heads} heads, more than {limit}; merge them first")]
    TooManyHeads { heads: usize, limit: usize },
}

impl ChunkError {
    /// True when the chunks were refused for their size, not their contents.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooManyChanges { .. } | Self::OverBudget { .. } | Self::TooManyHeads { .. })
    }

    fn inspected(index: usize, e: InspectError) -> Self {
        use InspectError as E;
        match e {
            E::InflateLimit { .. }
            | E::TooManyOps { .. }
            | E::TooManyChanges { .. }
            | E::TooManyItems { .. }
            | E::TooManyActors { .. }
            | E::AllocFailed => Self::OverBudget { index, reason: e },
            other => Self::InvalidChange { index, reason: other.to_string() },
        }
    }
}

/// automerge's chunk header: 4 magic bytes, a 4-byte checksum, then the chunk type.
pub(crate) const CHUNK_TYPE_OFFSET: usize = 8;
pub(crate) const CHUNK_TYPE_DOCUMENT: u8 = 0;

/// Expands chunks into individual changes, in order, at most `limit` of them, with a budget of
/// its own (see [`changes_within`] to share one across the documents of a request).
pub fn changes_from_chunks(chunks: &[Vec<u8>], limits: &crate::Limits) -> Result<Vec<Change>, ChunkError> {
    changes_within(chunks, limits.max_chunks_per_doc, &mut limits.push_budget())
}

/// Expands chunks into individual changes, in order, at most `limit` of them, charging what
/// they cost to `budget`.
pub fn changes_within(chunks: &[Vec<u8>], limit: usize, budget: &mut Budget) -> Result<Vec<Change>, ChunkError> {
    let doc_limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        // The document's own change limit applies within the request's budget.
        let left = doc_limit.saturating_sub(out.len() as u64);
        let allowed = budget.max_changes.min(left);
        let mut this = Budget { max_changes: allowed, ..*budget };
        let inspected = inspect::inspect_chunk(chunk, &mut this);
        budget.max_inflated_bytes = this.max_inflated_bytes;
        budget.max_ops = this.max_ops;
        budget.max_changes -= allowed - this.max_changes;
        match inspected.map_err(|e| ChunkError::inspected(index, e))? {
            (Inspected::Document { .. }, _) => out.extend(load_document(index, chunk)?),
            (Inspected::Change { .. }, rewritten) => out.push(parse_change(index, rewritten.as_deref().unwrap_or(chunk))?),
        }
        if out.len() > limit {
            return Err(ChunkError::TooManyChanges { limit });
        }
    }
    Ok(out)
}

/// A pushed document, already inspected, expanded into its changes. automerge 0.12 can panic
/// on a document that is consistent enough to pass inspection; where panics unwind (native),
/// that is one more invalid chunk rather than a failed request.
pub(crate) fn load_document(index: usize, chunk: &[u8]) -> Result<Vec<Change>, ChunkError> {
    let invalid = |reason: String| ChunkError::InvalidDocument { index, reason };
    debug_assert_eq!(chunk.get(CHUNK_TYPE_OFFSET), Some(&CHUNK_TYPE_DOCUMENT));
    // `get_changes` re-encodes every change and can panic on a document that loaded.
    catch_unwind(AssertUnwindSafe(|| Automerge::load(chunk).map(|doc| doc.get_changes(&[]))))
        .map_err(|_| invalid("automerge panicked while loading it".into()))?
        .map_err(|e| invalid(e.to_string()))
}

/// A pushed change chunk (type 1; type 2 arrives here already inflated by the inspector).
fn parse_change(index: usize, bytes: &[u8]) -> Result<Change, ChunkError> {
    let change = Change::try_from(bytes).map_err(|e| ChunkError::InvalidChange { index, reason: e.to_string() })?;
    // automerge does not check a change chunk's checksum (the first 4 bytes of the change
    // hash, stored after the magic bytes); a corrupted change can parse and then panic inside
    // automerge when applied, so the check is done here.
    if bytes.get(4..8) != Some(&change.hash().0[..4]) {
        return Err(ChunkError::InvalidChange { index, reason: "checksum does not match the contents".into() });
    }
    Ok(change)
}

/// The subset of `hashes` that `doc` has applied (queued changes do not count).
pub fn present_in(doc: &Automerge, hashes: &[ChangeHash]) -> Vec<ChangeHash> {
    hashes.iter().filter(|h| has_change(doc, h)).copied().collect()
}

/// Whether `doc` has applied the change `hash` (a queued one does not count).
///
/// automerge's own test is crate-private, and `get_change_meta_by_hash` decodes the change's
/// metadata from the document's columns first (5× the cost, and the commonest call on the
/// server's acknowledgement path). `get_missing_deps` on one hash is a lookup in the change
/// graph: an applied change has nothing missing, an unknown one is itself missing, and a
/// queued one always leads to a missing dependency (automerge applies a queued change as soon
/// as its dependencies are all applied).
pub fn has_change(doc: &Automerge, hash: &ChangeHash) -> bool {
    doc.get_missing_deps(std::slice::from_ref(hash)).is_empty()
}

/// The heads of `doc` as canonical [`Heads`].
pub fn heads_of(doc: &Automerge) -> Heads {
    Heads::new(doc.get_heads())
}

/// The chunks that bring a peer who has `base` up to `doc`: individual changes, or the whole
/// document when more than a third of it would be sent (the same trade automerge's own sync
/// makes), because the document encoding is far more compact than many changes.
pub fn chunks_since(doc: &Automerge, base: &[ChangeHash]) -> Vec<Vec<u8>> {
    let changes = doc.get_changes(base);
    if changes.is_empty() {
        return Vec::new();
    }
    let total = change_count(doc);
    if changes.len() > 1 && changes.len() * 3 > total {
        return vec![doc.save()];
    }
    changes.iter().map(|c| c.raw_bytes().to_vec()).collect()
}

/// How many changes `doc` holds.
pub fn change_count(doc: &Automerge) -> usize {
    doc.stats().num_changes as usize
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn only_applied_changes_are_held() {
        let mut author = AutoCommit::new();
        author.put(ROOT, "a", 1).unwrap();
        let first = author.get_last_local_change().unwrap();
        author.put(ROOT, "a", 2).unwrap();
        let second = author.get_last_local_change().unwrap();

        let mut doc = Automerge::new();
        // The second change's dependency is missing: automerge queues it.
        doc.apply_changes([second.clone()]).unwrap();
        assert!(!has_change(&doc, &second.hash()), "a queued change is not held");
        assert!(!has_change(&doc, &first.hash()), "an unknown change is not held");
        assert_eq!(present_in(&doc, &[first.hash(), second.hash()]), Vec::<ChangeHash>::new());
        // Its dependency arrives: both are applied.
        doc.apply_changes([first.clone()]).unwrap();
        assert!(has_change(&doc, &first.hash()) && has_change(&doc, &second.hash()));
    }
}
