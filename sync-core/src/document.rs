//! Loading, compacting and inspecting stored documents.
//!
//! The edge stores a document as its latest snapshot (a saved automerge document) plus the
//! change rows written after it. Compaction folds the rows into a new snapshot.

use automerge::{Automerge, ChangeHash};

use crate::id::Heads;

/// A stored document as the edge keeps it: a snapshot and the changes after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredDoc<'a> {
    pub snapshot: Option<&'a [u8]>,
    pub changes: &'a [Vec<u8>],
}

/// Why stored bytes could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("snapshot is not a valid automerge document: {0}")]
    Snapshot(automerge::AutomergeError),
    #[error("stored change {index} is not valid: {reason}")]
    Change { index: usize, reason: String },
}

/// Loads a stored document: its snapshot, then its change rows.
pub fn load(stored: StoredDoc<'_>) -> Result<Automerge, LoadError> {
    let mut doc = match stored.snapshot {
        Some(bytes) if !bytes.is_empty() => Automerge::load(bytes).map_err(LoadError::Snapshot)?,
        _ => Automerge::new(),
    };
    let mut changes = Vec::with_capacity(stored.changes.len());
    for (index, bytes) in stored.changes.iter().enumerate() {
        let change = automerge::Change::try_from(bytes.as_slice())
            .map_err(|e| LoadError::Change { index, reason: e.to_string() })?;
        changes.push(change);
    }
    doc.apply_changes(changes)
        .map_err(|e| LoadError::Change { index: 0, reason: e.to_string() })?;
    Ok(doc)
}

/// The result of folding a document's change rows into a snapshot.
#[derive(Debug, Clone)]
pub struct Compacted {
    /// The new snapshot, holding the old snapshot and every folded change.
    pub snapshot: Vec<u8>,
    /// The heads the snapshot covers.
    pub heads: Heads,
    /// Hashes of the change rows now covered by the snapshot; only these may be deleted, so
    /// rows that arrived while compaction ran stay.
    pub folded: Vec<ChangeHash>,
}

/// Folds `stored`'s change rows into a new snapshot.
pub fn compact(stored: StoredDoc<'_>) -> Result<Compacted, LoadError> {
    compact_loaded(&load(stored)?, stored)
}

/// [`compact`] with `stored` already loaded into `doc`.
pub fn compact_loaded(doc: &Automerge, stored: StoredDoc<'_>) -> Result<Compacted, LoadError> {
    let mut folded = Vec::with_capacity(stored.changes.len());
    for (index, bytes) in stored.changes.iter().enumerate() {
        let change = automerge::Change::try_from(bytes.as_slice())
            .map_err(|e| LoadError::Change { index, reason: e.to_string() })?;
        folded.push(change.hash());
    }
    Ok(Compacted { snapshot: doc.save(), heads: Heads::new(doc.get_heads()), folded })
}

/// One entry of a document's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInfo {
    pub hash: ChangeHash,
    /// Hex actor id of the peer that made the change.
    pub actor: String,
    pub seq: u64,
    /// Milliseconds since the Unix epoch, as recorded by the author's clock (untrusted).
    pub timestamp_ms: i64,
    pub message: Option<String>,
    pub deps: Vec<ChangeHash>,
    /// Number of operations in the change.
    pub ops: u64,
}

/// The document's history in causal order (every change after its dependencies).
pub fn history(doc: &Automerge) -> Vec<ChangeInfo> {
    doc.get_changes_meta(&[])
        .into_iter()
        .map(|m| ChangeInfo {
            hash: m.hash,
            actor: m.actor.to_hex_string(),
            seq: m.seq,
            timestamp_ms: m.timestamp,
            message: m.message.map(|s| s.into_owned()),
            deps: m.deps,
            ops: m.max_op.saturating_sub(m.start_op) + 1,
        })
        .collect()
}

/// Why a view at given heads could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("the document has no change {0}")]
    UnknownHead(ChangeHash),
}

/// The document as it was at `heads`, saved as a standalone automerge document.
pub fn snapshot_at(doc: &Automerge, heads: &Heads) -> Result<Vec<u8>, ViewError> {
    if let Some(unknown) = heads.as_slice().iter().find(|h| !crate::chunk::has_change(doc, h)) {
        return Err(ViewError::UnknownHead(*unknown));
    }
    let fork = doc.fork_at(heads.as_slice()).map_err(|_| ViewError::UnknownHead(heads.as_slice()[0]))?;
    Ok(fork.save())
}
