//! What the append fast path must know of the stored document before it stores a push: the
//! ops the pushed changes refer to (objects, elements, preds) and the last op of the heads
//! they build on.
//!
//! The fast path has no document, and automerge applies an op that refers to something the
//! document lacks, or that lives in another object or key, without a word, breaking the
//! document at its next load (docs/architecture.md, "Hostile input"). So before accepting a
//! push it names every op id the push refers to but does not make ([`Lookup`]); the store
//! answers with the stored changes holding those ops ([`Found`], one indexed query: every
//! change a document stores is kept by its actor and op range, compacted or not), and
//! [`OpIndex`] answers, per op id, which object and key it acted on and how.
//!
//! What the index cannot vouch for sends the push down the full merge, which decides with the
//! whole document: an op or dependency the store did not return, a reference to a mark, an
//! increment or a delete, or more references than [`MAX_REFERENCES`].

use std::collections::HashMap;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Change, ChangeHash, ObjType, ScalarValue};

use super::graph::{CARRIED_BYTES, GraphRow, MAX_WINDOW, WINDOW_MARGIN, Window};

/// At most this many op ids are looked up for one document's push; a push that refers to more
/// distinct stored ops takes the full merge.
pub const MAX_REFERENCES: usize = 1024;
/// At most this many bytes of stored changes are decoded to check one document's push.
pub const MAX_FOUND_BYTES: usize = 8 << 20;

/// What the fast path asks the store before it accepts a push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// Changes whose last op id the store answers, for those it holds: the stored changes the
    /// push builds on (their last op ids bound the new ops' ids from below) and, behind the
    /// heads, also the pushed changes (which must be new) and what the client says it has.
    pub deps: Vec<ChangeHash>,
    /// Op ids (actor, counter) the push refers to without making them, sorted, distinct.
    pub ops: Vec<(ActorId, u64)>,
    /// Actors the pushed changes name (authors and the actors their ops refer to): the store
    /// answers each one's last seq, or nothing for an actor the document does not know.
    pub actors: Vec<ActorId>,
    /// Whether the store also answers the window of the newest changes ([`super::graph`]),
    /// from [`WINDOW_MARGIN`] changes before the oldest of `deps` it holds.
    pub window: bool,
}

/// The store's answer to a [`Lookup`].
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The stored changes holding the looked-up ops (each once; missing ops are simply absent).
    pub changes: Vec<Vec<u8>>,
    /// The last op id of each looked-up dependency the store holds.
    pub deps_last_op: HashMap<ChangeHash, u64>,
    /// The seq of each looked-up actor's last change, for the actors the document knows.
    pub actor_seqs: HashMap<ActorId, u64>,
    /// Whether the store indexes every change of the document (documents stored before the
    /// index existed are indexed by their next compaction): without it, nothing is vouched for.
    pub complete: bool,
    /// The document's heads, read in the same statement: when they are still the heads the
    /// push builds on, every op found is in the push's causal past (a change committed since
    /// would be concurrent with it, and a change may refer only to ops it has seen).
    pub heads: Vec<ChangeHash>,
    /// When asked for: the stored changes from [`WINDOW_MARGIN`] before the oldest looked-up
    /// dependency the store holds (in storage order) to the newest, at most [`MAX_WINDOW`]
    /// of the newest, with the bytes of those newer than that oldest one and at most
    /// [`CARRIED_BYTES`] long; none when it holds no looked-up dependency in order.
    pub window: Vec<GraphRow>,
}

impl Found {
    /// What a store holding exactly `history` answers (for tests and in-memory callers).
    pub fn in_history(history: &[Change], lookup: &Lookup) -> Self {
        let deps: std::collections::HashSet<&ChangeHash> = history.iter().flat_map(|c| c.deps()).collect();
        let heads = history.iter().map(Change::hash).filter(|h| !deps.contains(h)).collect();
        let mut found = Found { complete: true, heads, ..Found::default() };
        for change in history {
            if lookup.actors.contains(change.actor_id()) {
                let seq = found.actor_seqs.entry(change.actor_id().clone()).or_default();
                *seq = (*seq).max(change.seq());
            }
            let (start, last) = (change.start_op().get(), change.max_op());
            if lookup.deps.contains(&change.hash()) {
                found.deps_last_op.insert(change.hash(), last);
            }
            if lookup.ops.iter().any(|(actor, counter)| actor == change.actor_id() && (start..=last).contains(counter)) {
                found.changes.push(change.raw_bytes().to_vec());
            }
        }
        if lookup.window {
            found.window = window_of(history, lookup);
        }
        found
    }
}

/// The window a store holding `history` (in storage order) answers.
fn window_of(history: &[Change], lookup: &Lookup) -> Vec<GraphRow> {
    let Some(oldest) = history.iter().position(|c| lookup.deps.contains(&c.hash())) else { return Vec::new() };
    let from = oldest.saturating_sub(WINDOW_MARGIN as usize).max(history.len().saturating_sub(MAX_WINDOW));
    let rows = history.iter().enumerate().skip(from);
    rows.map(|(i, c)| GraphRow {
        hash: c.hash(),
        deps: c.deps().to_vec(),
        actor: c.actor_id().clone(),
        seq: c.seq(),
        start_op: c.start_op().get(),
        last_op: c.max_op(),
        pos: i as u64 + 1,
        bytes: (i > oldest && c.raw_bytes().len() <= CARRIED_BYTES).then(|| c.raw_bytes().to_vec()),
    })
    .collect()
}

/// How an op acted, as far as the checks need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Make(ObjType),
    Put,
    PutCounter,
    Increment,
    Delete,
    Mark,
}

/// One op: its object, its key, whether it inserted an element, and its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpInfo {
    pub obj: ObjectId,
    pub key: Key,
    pub insert: bool,
    pub action: Action,
}

impl OpInfo {
    pub fn of(op: &automerge::legacy::Op) -> Self {
        let action = match &op.action {
            OpType::Make(kind) => Action::Make(*kind),
            OpType::Put(ScalarValue::Counter(_)) => Action::PutCounter,
            OpType::Put(_) => Action::Put,
            OpType::Increment(_) => Action::Increment,
            OpType::Delete => Action::Delete,
            OpType::MarkBegin(..) | OpType::MarkEnd(..) => Action::Mark,
        };
        OpInfo { obj: op.obj.clone(), key: op.key.clone(), insert: op.insert, action }
    }

    /// An element others may refer to: a value inserted into a sequence, or (when `marks`) a
    /// mark, which automerge also places as an element and inserts next to.
    fn is_element(&self, marks: bool) -> bool {
        self.insert && (matches!(self.action, Action::Put | Action::PutCounter | Action::Make(_)) || (marks && self.action == Action::Mark))
    }
}

/// The stored ops a push refers to, by op id, and its dependencies' last ops.
#[derive(Debug, Default)]
pub struct OpIndex {
    ops: HashMap<OpId, OpInfo>,
    deps_last_op: HashMap<ChangeHash, u64>,
    actor_seqs: HashMap<ActorId, u64>,
    heads: Vec<ChangeHash>,
    window: Option<Window>,
}

impl OpIndex {
    /// Decodes the changes the store found, keeping only the ops the push refers to. `None` when
    /// the store does not index the whole document, its heads moved since `server_heads` were
    /// read (when given; the window is read with the heads it goes with), the changes are over
    /// [`MAX_FOUND_BYTES`] or one does not parse.
    pub fn new(lookup: &Lookup, found: &Found, server_heads: Option<&crate::Heads>) -> Option<Self> {
        if !found.complete || server_heads.is_some_and(|h| crate::Heads::new(found.heads.clone()) != *h) {
            return None;
        }
        if found.changes.iter().map(Vec::len).sum::<usize>() > MAX_FOUND_BYTES {
            return None;
        }
        let wanted: std::collections::HashSet<OpId> = lookup.ops.iter().map(|(a, c)| OpId(*c, a.clone())).collect();
        let changes: Vec<Change> = found.changes.iter().map(|bytes| Change::try_from(bytes.as_slice()).ok()).collect::<Option<_>>()?;
        Some(OpIndex {
            ops: ops_among(&changes, &wanted),
            deps_last_op: found.deps_last_op.clone(),
            actor_seqs: found.actor_seqs.clone(),
            heads: found.heads.clone(),
            window: lookup.window.then(|| Window::new(found.window.clone(), &found.heads)),
        })
    }

    /// The window of the newest changes, when the push does not build on the current heads.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    pub fn op(&self, id: &OpId) -> Option<&OpInfo> {
        self.ops.get(id)
    }

    pub fn dep_last_op(&self, dep: &ChangeHash) -> Option<u64> {
        self.deps_last_op.get(dep).copied()
    }

    /// The document's heads the push builds on (checked equal to the ones it was planned on).
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// The seq of `actor`'s last change, `None` when the document does not know the actor.
    pub fn actor_seq(&self, actor: &ActorId) -> Option<u64> {
        self.actor_seqs.get(actor).copied()
    }
}

/// The ops of `changes` whose ids are `wanted`, by id.
pub(super) fn ops_among(changes: &[Change], wanted: &std::collections::HashSet<OpId>) -> HashMap<OpId, OpInfo> {
    let mut ops = HashMap::with_capacity(wanted.len());
    for change in changes {
        let start = change.start_op().get();
        for (i, op) in change.decode().operations.iter().enumerate() {
            let id = OpId(start + i as u64, change.actor_id().clone());
            if wanted.contains(&id) {
                ops.insert(id, OpInfo::of(op));
            }
        }
    }
    ops
}

/// The actors `changes` name: their authors and the other actors in their actor tables.
pub fn actors<'c>(changes: impl IntoIterator<Item = &'c Change>) -> Vec<ActorId> {
    let mut actors = std::collections::BTreeSet::new();
    for change in changes {
        actors.insert(change.actor_id().clone());
        actors.extend(change.other_actor_ids().iter().cloned());
    }
    actors.into_iter().collect()
}

/// The op ids an op refers to: its object, its element, its preds.
pub(super) fn op_references(op: &automerge::legacy::Op) -> impl Iterator<Item = &OpId> {
    let obj = match &op.obj {
        ObjectId::Id(id) => Some(id),
        ObjectId::Root => None,
    };
    let elem = match &op.key {
        Key::Seq(ElementId::Id(id)) => Some(id),
        _ => None,
    };
    obj.into_iter().chain(elem).chain(op.pred.iter())
}

/// The op ids `changes` refer to without making them: objects, elements and preds; `None` when
/// there are more than `limit`.
pub fn references<'c>(changes: impl IntoIterator<Item = &'c Change>, limit: usize) -> Option<Vec<(ActorId, u64)>> {
    let mut made = std::collections::HashSet::new();
    let mut refs = std::collections::BTreeSet::new();
    for change in changes {
        let start = change.start_op().get();
        let expanded = change.decode();
        for i in 0..expanded.operations.len() {
            made.insert(OpId(start + i as u64, change.actor_id().clone()));
        }
        for op in &expanded.operations {
            for id in op_references(op) {
                if !made.contains(id) {
                    refs.insert((id.actor().clone(), id.counter()));
                    if refs.len() > limit {
                        return None;
                    }
                }
            }
        }
    }
    Some(refs.into_iter().collect())
}

/// Why an op's element or preds are not what the stored ops vouch for; `None` when they are.
/// `lookup` finds the push's own earlier ops and the stored ones (see [`OpIndex`]). The element
/// must be inserted into the op's object (with `mark_elements`, a mark counts as one), a pred
/// must be a value at the op's key, an increment's pred a counter.
pub fn check_references(op: &automerge::legacy::Op, lookup: &dyn Fn(&OpId) -> Option<OpInfo>, mark_elements: bool) -> Option<&'static str> {
    if let Key::Seq(ElementId::Id(elem)) = &op.key {
        match lookup(elem) {
            Some(e) if e.is_element(mark_elements) && e.obj == op.obj => {}
            _ => return Some("its element is not inserted into its object"),
        }
    }
    for pred in op.pred.iter() {
        let Some(p) = lookup(pred) else { return Some("a pred is not a stored op") };
        if p.obj != op.obj {
            return Some("a pred is in another object");
        }
        let same_key = match &op.key {
            Key::Map(_) => !p.insert && p.key == op.key,
            Key::Seq(ElementId::Id(elem)) => (p.insert && pred == elem) || (!p.insert && p.key == op.key),
            Key::Seq(ElementId::Head) => false,
        };
        if !same_key {
            return Some("a pred is at another key or element");
        }
        let overwritable = match op.action {
            OpType::Increment(_) => p.action == Action::PutCounter,
            _ => matches!(p.action, Action::Put | Action::PutCounter | Action::Make(_)),
        };
        if !overwritable {
            return Some("a pred is not a value");
        }
    }
    None
}
