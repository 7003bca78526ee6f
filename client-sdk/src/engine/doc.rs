//! One document in memory: the automerge document, its record, and what is not yet in the
//! store.

use automerge::{Automerge, ChangeHash, ReadDoc};
use sync_core::{DocumentId, Heads, client};

use crate::error::{DocSyncError, OpenError};
use crate::ports::{Commit, DocRecord, StoredDocument};

pub(crate) struct DocState {
    pub(crate) doc: Automerge,
    pub(crate) record: DocRecord,
    /// The record changed since it was last written.
    record_dirty: bool,
    /// Bumped on every record change, so a write of an older record does not clear `record_dirty`.
    record_rev: u64,
    /// Applied changes not yet in the store, in the order they were applied (so every prefix
    /// is causally closed). The store therefore always holds a causally closed set.
    unstored: Vec<(ChangeHash, Vec<u8>)>,
    /// Change rows in the store after its snapshot.
    rows: usize,
    /// False when stored rows did not all apply on load (missing dependencies, which only a
    /// damaged store has): a snapshot would not cover them, so rows are never folded.
    can_compact: bool,
    pub(crate) last_error: Option<DocSyncError>,
}

/// What a write covered, to be marked stored once it committed.
pub(crate) struct Written {
    unstored: usize,
    record_rev: Option<u64>,
    snapshot: bool,
}

impl DocState {
    /// A new, empty document; its record is written by the first persist.
    pub(crate) fn new(record: DocRecord) -> Self {
        Self {
            doc: Automerge::new(),
            record,
            record_dirty: true,
            record_rev: 0,
            unstored: Vec::new(),
            rows: 0,
            can_compact: true,
            last_error: None,
        }
    }

    pub(crate) fn from_stored(stored: StoredDocument) -> Result<Self, OpenError> {
        let doc_id = stored.record.id;
        let doc = sync_core::document::load(sync_core::document::StoredDoc {
            snapshot: stored.snapshot.as_deref(),
            changes: &stored.changes,
        })
        .map_err(|e| OpenError::CorruptDocument { doc_id, reason: e.to_string() })?;
        let can_compact = doc.get_missing_deps(&[]).is_empty();
        Ok(Self {
            doc,
            record: stored.record,
            record_dirty: false,
            record_rev: 0,
            unstored: Vec::new(),
            rows: stored.changes.len(),
            can_compact,
            last_error: None,
        })
    }

    pub(crate) fn id(&self) -> DocumentId {
        self.record.id
    }

    pub(crate) fn heads(&self) -> Heads {
        Heads::new(self.doc.get_heads())
    }

    /// Local changes the server has not acknowledged.
    pub(crate) fn pending(&self) -> usize {
        client::pending_changes(&self.doc, &self.record.acked)
    }

    /// Changes the record; it is written with the next persist.
    pub(crate) fn update_record(&mut self, f: impl FnOnce(&mut DocRecord)) {
        let before = self.record.clone();
        f(&mut self.record);
        if self.record != before {
            self.record_dirty = true;
            self.record_rev += 1;
        }
    }

    /// Remembers a change made through a local transaction.
    pub(crate) fn track_local(&mut self, hash: ChangeHash) {
        if let Some(change) = self.doc.get_change_by_hash(&hash) {
            self.unstored.push((hash, change.raw_bytes().to_vec()));
        }
    }

    /// Remembers every change applied since the document had heads `before`.
    pub(crate) fn track_since(&mut self, before: &[ChangeHash]) {
        if self.doc.get_heads() != before {
            for change in self.doc.get_changes(before) {
                self.unstored.push((change.hash(), change.raw_bytes().to_vec()));
            }
        }
    }

    /// The write that brings the store up to date, if anything is unwritten. Many new changes
    /// (more than a third of the document, or enough rows to pass `snapshot_after_rows`) are
    /// written as one snapshot that replaces the rows, as the edge compacts.
    pub(crate) fn pending_write(&self, snapshot_after_rows: usize) -> Option<(Commit, Written)> {
        let n = self.unstored.len();
        if n == 0 && !self.record_dirty {
            return None;
        }
        let total = sync_core::chunk::change_count(&self.doc);
        let snapshot = self.can_compact && n > 0 && (self.rows + n > snapshot_after_rows || (n > 1 && 3 * n > total));
        let commit = Commit {
            doc_id: self.id(),
            record: self.record_dirty.then(|| self.record.clone()),
            snapshot: snapshot.then(|| self.doc.save()),
            changes: if snapshot { Vec::new() } else { self.unstored.clone() },
        };
        Some((commit, Written { unstored: n, record_rev: self.record_dirty.then_some(self.record_rev), snapshot }))
    }

    /// Records that a write from [`pending_write`](Self::pending_write) committed.
    pub(crate) fn mark_written(&mut self, written: Written) {
        let n = written.unstored.min(self.unstored.len());
        self.unstored.drain(..n);
        self.rows = if written.snapshot { 0 } else { self.rows + n };
        if written.record_rev == Some(self.record_rev) {
            self.record_dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::ROOT;
    use automerge::transaction::Transactable;

    use super::*;
    use crate::ports::Origin;

    fn record() -> DocRecord {
        DocRecord { id: DocumentId::from_bytes([3; 16]), title: String::new(), origin: Origin::Local, registered: false, acked: Heads::empty() }
    }

    fn edit(state: &mut DocState, key: &str) {
        let hash = state.doc.transact(|tx| tx.put(ROOT, key, 1)).unwrap().hash.unwrap();
        state.track_local(hash);
    }

    #[test]
    fn writes_record_then_rows_then_nothing() {
        let mut state = DocState::new(record());
        let (commit, written) = state.pending_write(100).unwrap();
        assert!(commit.record.is_some() && commit.changes.is_empty());
        state.mark_written(written);
        assert!(state.pending_write(100).is_none());

        edit(&mut state, "a");
        let (commit, written) = state.pending_write(100).unwrap();
        assert!(commit.record.is_none() && commit.snapshot.is_none());
        assert_eq!(commit.changes.len(), 1);
        state.mark_written(written);
        assert!(state.pending_write(100).is_none());
    }

    #[test]
    fn a_record_changed_during_a_write_stays_dirty() {
        let mut state = DocState::new(record());
        let (_, written) = state.pending_write(100).unwrap();
        state.update_record(|r| r.registered = true);
        state.mark_written(written);
        let (commit, _) = state.pending_write(100).unwrap();
        assert!(commit.record.unwrap().registered);
    }

    #[test]
    fn many_new_changes_become_a_snapshot() {
        let mut state = DocState::new(record());
        for i in 0..5 {
            edit(&mut state, &format!("k{i}"));
        }
        let (commit, written) = state.pending_write(100).unwrap();
        let snapshot = commit.snapshot.expect("5 of 5 changes are new");
        assert!(commit.changes.is_empty());
        state.mark_written(written);
        assert_eq!(Automerge::load(&snapshot).unwrap().get_heads(), state.doc.get_heads());
        // Rows since the snapshot count towards the next one.
        for i in 0..3 {
            edit(&mut state, &format!("r{i}"));
            let (commit, written) = state.pending_write(100).unwrap();
            assert!(commit.snapshot.is_none());
            state.mark_written(written);
        }
        assert_eq!(state.rows, 3);
        // Past the row limit, even a single change folds everything into a snapshot.
        edit(&mut state, "over");
        let (commit, written) = state.pending_write(3).unwrap();
        assert!(commit.snapshot.is_some() && commit.changes.is_empty());
        state.mark_written(written);
        assert_eq!(state.rows, 0);
    }
}
