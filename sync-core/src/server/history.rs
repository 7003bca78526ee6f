//! What the full merge's checks read from the loaded document before applying a push: each
//! author's last seq, and the stored ops the push refers to (objects, elements, preds).
//!
//! automerge 0.12 panics applying an op whose element or pred is in another object (and where
//! panics abort, as on the wasm edges, that takes the instance down), so the full merge checks
//! every reference against the op it names before automerge sees the change, with the same
//! rules as the append fast path ([`super::index::check_references`]). automerge has no public
//! lookup of an op by id; the ops come from the changes holding them, rebuilt by automerge in
//! one pass over the op range they span (`Automerge::bundle`), so a push that refers to many
//! stored ops costs one walk of the document, not one per op. That walk visits every op of the
//! document (automerge keeps them by object, not by counter), so a copy kept loaded first
//! parses the changes it applied last from its log ([`Recent`]): an edit mostly refers to ops
//! made a moment before (the value it overwrites, the character it types after).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use automerge::legacy::OpId;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};

use super::index::{self, OpInfo};
use super::recent::Recent;

/// What a pushed change is checked against in a document's history, whatever it pushes: each
/// author's last seq and the op range of each author's changes. Read in one pass over every
/// change's metadata (automerge offers no other way); a caller keeping a document loaded keeps
/// this beside it and extends it with the changes it applies
/// ([`KeptDoc`](super::kept::KeptDoc)), so that pass is made once per load, not once per push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Authors {
    /// The document's heads this was read at.
    heads: Vec<ChangeHash>,
    seqs: HashMap<ActorId, u64>,
    /// Each author's changes: (start op, last op, hash), sorted by start op.
    ranges: HashMap<ActorId, Vec<(u64, u64, ChangeHash)>>,
}

/// What [`Authors`] takes in memory per change at most (a range and its share of the vector's
/// spare capacity), for the estimates of callers that keep it.
pub const AUTHORS_BYTES_PER_CHANGE: u64 = 2 * std::mem::size_of::<(u64, u64, ChangeHash)>() as u64;

impl Authors {
    pub(super) fn read(doc: &Automerge) -> Self {
        let mut authors = Authors { heads: doc.get_heads(), seqs: HashMap::new(), ranges: HashMap::new() };
        for meta in doc.get_changes_meta(&[]) {
            authors.add(meta.actor.into_owned(), meta.seq, meta.start_op, meta.max_op, meta.hash);
        }
        for list in authors.ranges.values_mut() {
            list.sort_unstable();
        }
        authors
    }

    /// Whether this was read (or extended) at `doc`'s heads.
    pub(super) fn is_at(&self, doc: &Automerge) -> bool {
        self.heads == doc.get_heads()
    }

    /// Extends this with `changes`, about to be applied in this order to the document it was
    /// read at; [`Authors::at`] then records the heads they bring it to.
    pub(super) fn extend<'c>(&mut self, changes: impl IntoIterator<Item = &'c Change>) {
        for change in changes {
            let max_op = (change.start_op().get() + change.len() as u64).saturating_sub(1);
            self.add(change.actor_id().clone(), change.seq(), change.start_op().get(), max_op, change.hash());
            // An author's changes come in seq order, so their op ranges ascend: sorted still,
            // unless the document held changes of a forked actor.
            if let Some(list) = self.ranges.get_mut(change.actor_id())
                && list.len() > 1
                && list[list.len() - 2] > list[list.len() - 1]
            {
                list.sort_unstable();
            }
        }
    }

    /// This, read (or extended) at `heads`.
    pub(super) fn at(self, heads: Vec<ChangeHash>) -> Self {
        Authors { heads, ..self }
    }

    fn add(&mut self, actor: ActorId, seq: u64, start_op: u64, max_op: u64, hash: ChangeHash) {
        let last = self.seqs.entry(actor.clone()).or_insert(0);
        *last = seq.max(*last);
        self.ranges.entry(actor).or_default().push((start_op, max_op, hash));
    }
}

/// What a caller keeping a document loaded keeps beside it for the checks
/// ([`KeptDoc`](super::kept::KeptDoc)): its authors, read at its heads, and its log of the
/// changes it applied last (every logged change is one the document holds).
#[derive(Clone, Copy, Default)]
pub(super) struct Beside<'a> {
    pub(super) authors: Option<&'a Authors>,
    pub(super) recent: Option<&'a Recent>,
}

/// The loaded document's authors and the stored ops a push refers to.
pub(super) struct History<'a> {
    authors: Cow<'a, Authors>,
    recent: Option<&'a Recent>,
    ops: HashMap<OpId, OpInfo>,
}

impl<'a> History<'a> {
    /// Reads what checking `pushed` needs from `doc`: its [`Authors`] (unless kept beside it,
    /// read at `doc`'s heads), and the ops it refers to, from the changes holding them: those
    /// in the log kept beside it parsed from their bytes, the rest rebuilt in one pass.
    pub(super) fn read<'c>(doc: &Automerge, beside: Beside<'a>, pushed: impl IntoIterator<Item = &'c Change>) -> Self {
        let authors = beside.authors.map_or_else(|| Cow::Owned(Authors::read(doc)), Cow::Borrowed);
        // The push's size bounds its references (every op names at most a handful).
        let refs = index::references(pushed, usize::MAX).unwrap_or_default();
        let mut wanted = HashSet::with_capacity(refs.len());
        let mut holding = HashSet::new();
        for (actor, counter) in refs {
            let Some(list) = authors.ranges.get(&actor) else { continue };
            let at = list.partition_point(|&(start, _, _)| start <= counter);
            if let Some(&(_, last, hash)) = at.checked_sub(1).map(|i| &list[i])
                && counter <= last
            {
                holding.insert(hash);
                wanted.insert(OpId(counter, actor));
            }
        }
        let mut changes = Vec::with_capacity(holding.len());
        if let Some(recent) = beside.recent {
            holding.retain(|hash| match recent.bytes(hash).map(Change::try_from) {
                Some(Ok(change)) => {
                    changes.push(change);
                    false
                }
                _ => true,
            });
        }
        changes.extend(changes_holding(doc, holding));
        let ops = index::ops_among(&changes, &wanted);
        History { authors, recent: beside.recent, ops }
    }

    /// The log of the changes the document applied last, if one is kept beside it.
    pub(super) fn recent(&self) -> Option<&'a Recent> {
        self.recent
    }

    /// The seq of `actor`'s last change, `None` when the document does not know the actor.
    pub(super) fn actor_seq(&self, actor: &ActorId) -> Option<u64> {
        self.authors.seqs.get(actor).copied()
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
