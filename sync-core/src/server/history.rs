//! What the full merge's checks read from the loaded document before applying a push: each
//! author's last seq, and the stored ops the push refers to (objects, elements, preds).
//!
//! automerge 0.12 panics applying an op whose element or pred is in another object (and where
//! panics abort, as on the wasm edges, that takes the instance down), so the full merge checks
//! every reference against the op it names before automerge sees the change, with the same
//! rules as the append fast path ([`super::index::check_references`]). automerge has no public
//! lookup of an op by id; the ops come from the changes holding them, rebuilt by automerge in
//! one pass over the op range they span (`Automerge::bundle`), so a push that refers to many
//! stored ops costs one walk of the document, not one per op.

use std::collections::{HashMap, HashSet};

use automerge::legacy::OpId;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};

use super::index::{self, OpInfo};

/// The loaded document's authors and the stored ops a push refers to.
pub(super) struct History {
    seqs: HashMap<ActorId, u64>,
    ops: HashMap<OpId, OpInfo>,
}

impl History {
    /// Reads what checking `pushed` needs from `doc`: one pass over the changes' metadata, and
    /// one over the op range of the changes holding the referenced ops (if any).
    pub(super) fn read<'c>(doc: &Automerge, pushed: impl IntoIterator<Item = &'c Change>) -> Self {
        let mut seqs = HashMap::new();
        // Each author's changes: (start op, last op, hash), sorted by start op.
        let mut ranges: HashMap<ActorId, Vec<(u64, u64, ChangeHash)>> = HashMap::new();
        for meta in doc.get_changes_meta(&[]) {
            let seq = seqs.entry(meta.actor.clone().into_owned()).or_insert(0);
            *seq = meta.seq.max(*seq);
            ranges.entry(meta.actor.into_owned()).or_default().push((meta.start_op, meta.max_op, meta.hash));
        }
        for list in ranges.values_mut() {
            list.sort_unstable();
        }
        // The push's size bounds its references (every op names at most a handful).
        let refs = index::references(pushed, usize::MAX).unwrap_or_default();
        let mut wanted = HashSet::with_capacity(refs.len());
        let mut holding = HashSet::new();
        for (actor, counter) in refs {
            let Some(list) = ranges.get(&actor) else { continue };
            let at = list.partition_point(|&(start, _, _)| start <= counter);
            if let Some(&(_, last, hash)) = at.checked_sub(1).map(|i| &list[i]) {
                if counter <= last {
                    holding.insert(hash);
                    wanted.insert(OpId(counter, actor));
                }
            }
        }
        let ops = index::ops_among(&changes_holding(doc, holding), &wanted);
        History { seqs, ops }
    }

    /// The seq of `actor`'s last change, `None` when the document does not know the actor.
    pub(super) fn actor_seq(&self, actor: &ActorId) -> Option<u64> {
        self.seqs.get(actor).copied()
    }

    /// A stored op the push refers to; `None` when the document does not hold it.
    pub(super) fn op(&self, id: &OpId) -> Option<&OpInfo> {
        self.ops.get(id)
    }
}

/// The document's changes with these hashes, rebuilt in one pass when automerge can, one by one
/// otherwise (every hash is the document's own, so either way they all come back).
fn changes_holding(doc: &Automerge, hashes: HashSet<ChangeHash>) -> Vec<Change> {
    if hashes.is_empty() {
        return Vec::new();
    }
    if let Ok(changes) = doc.bundle(hashes.iter().copied()).and_then(|bundle| bundle.to_changes()) {
        if changes.len() == hashes.len() {
            return changes;
        }
    }
    hashes.iter().filter_map(|hash| doc.get_change_by_hash(hash)).collect()
}
