//! What a pushed change must satisfy before automerge applies it or the server stores it.
//!
//! automerge 0.12 parses a change without checking what its ops refer to, and applying one
//! that refers to something the document lacks either panics or succeeds and breaks the
//! document later, at its next `save`, `load` or `get_changes` (docs/architecture.md,
//! "Hostile input", lists the cases). This module checks the rules that need at most the
//! document's object types and its changes' op counters:
//!
//! * op ids: `start_op` is above every dependency's last op, so ids never repeat; an empty
//!   change starts right after its dependencies; no op id exceeds `u32::MAX`;
//! * every op: its object is the root or an existing (or just made) map, list or text, never a
//!   table; a map takes string keys and a sequence element ids, never counter 0 of an actor;
//!   only an insert may follow HEAD, and an insert has no pred; a delete has a pred; every pred
//!   is a real op id below the op's own;
//! * marks: only in text, and a mark's end directly follows its begin in the same object;
//! * what it refers to is in its past, and it builds on its author's previous change
//!   ([`super::causal`]).
//!
//! * every element it names is inserted into the op's object, every pred is a value at the op's
//!   key ([`super::index::check_references`]): against the stored ops the push refers to, read
//!   from the loaded document on the full merge ([`super::history`]) and from the store's change
//!   index on the append fast path ([`super::index`]), which is stricter and leaves an element
//!   that is a mark to the full merge.
//!
//! The full merge then applies the changes and checks that automerge serialises each of them
//! back to the bytes that were pushed (a change automerge placed differently comes back
//! different or not at all).

use std::collections::HashMap;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType};

use super::causal::{Seen, Stored};
use super::history::{Beside, History};
use super::index::{Action, OpIndex, OpInfo, check_references};

/// Why a pushed change was refused, for [`crate::chunk::ChunkError::InvalidChange`].
pub type Refusal = String;

/// What the checks know of the document: the loaded document on the full merge, the stored
/// ops the push refers to on the append fast path.
#[derive(Clone, Copy)]
pub enum Known<'d> {
    Document(&'d Automerge),
    Index(&'d OpIndex),
}

/// Checks `changes` (in causal order: each one's pushed deps come before it) against `known`.
/// Returns the index of the first refused change and why.
pub fn check_changes<'c>(known: Known<'_>, changes: impl IntoIterator<Item = &'c Change> + Clone) -> Result<(), (usize, Refusal)> {
    check_changes_with(known, Beside::default(), matches!(known, Known::Document(_)), changes)
}

/// [`check_changes`] as the append fast path checks, which stores what it accepts without
/// applying it: strict about elements that are marks (the full merge accepts those and then
/// verifies them by applying), whatever `known` is.
pub fn check_changes_strict<'c>(known: Known<'_>, changes: impl IntoIterator<Item = &'c Change> + Clone) -> Result<(), (usize, Refusal)> {
    check_changes_with(known, Beside::default(), false, changes)
}

/// [`check_changes_strict`] against a loaded document, with what is kept beside it.
pub(super) fn check_changes_strict_on<'c>(
    doc: &Automerge,
    beside: Beside<'_>,
    changes: impl IntoIterator<Item = &'c Change> + Clone,
) -> Result<(), (usize, Refusal)> {
    check_changes_with(Known::Document(doc), beside, false, changes)
}

fn check_changes_with<'c>(
    known: Known<'_>,
    beside: Beside<'_>,
    mark_elements: bool,
    changes: impl IntoIterator<Item = &'c Change> + Clone,
) -> Result<(), (usize, Refusal)> {
    let mut pushed = Pushed { mark_elements, ..Pushed::default() };
    if let Known::Document(doc) = known {
        pushed.history = Some(History::read(doc, beside, changes.clone()));
    }
    for (index, change) in changes.into_iter().enumerate() {
        check_change(known, &mut pushed, change).map_err(|why| (index, why))?;
    }
    Ok(())
}

/// What earlier changes of the same push made (their last op ids and their objects), and the
/// document's objects looked up so far (a change typing into one text refers to it per op), and
/// every op checked so far.
#[derive(Default)]
struct Pushed<'a> {
    max_op: HashMap<ChangeHash, u64>,
    objects: HashMap<OpId, ObjType>,
    ops: HashMap<OpId, OpInfo>,
    /// On the full merge: the document's authors and the stored ops the push refers to.
    history: Option<History<'a>>,
    /// What each change has seen (its ops may refer to nothing else), and each author's last seq
    /// in the push so far.
    seen: Seen,
    /// Whether an element may be a mark (see [`check_changes_strict`]).
    mark_elements: bool,
}

fn check_change(known: Known<'_>, pushed: &mut Pushed<'_>, change: &Change) -> Result<(), Refusal> {
    check_actors(known, pushed, change)?;
    let start = change.start_op().get();
    let len = change.len() as u64;
    let last = (start + len).checked_sub(1).filter(|&l| l <= u64::from(u32::MAX)).ok_or("its op ids exceed 2^32")?;
    let mut deps_max = 0;
    for dep in change.deps() {
        let max = match (pushed.max_op.get(dep), known) {
            (Some(&m), _) => m,
            (None, Known::Document(doc)) => doc.get_change_meta_by_hash(dep).ok_or("a dependency is missing")?.max_op,
            (None, Known::Index(index)) => index.dep_last_op(dep).ok_or("a dependency is not indexed")?,
        };
        deps_max = deps_max.max(max);
    }
    if start <= deps_max {
        return Err(format!("its first op {start} is not above its dependencies' last op {deps_max}"));
    }
    if len == 0 && start != deps_max + 1 {
        return Err("an empty change must start right after its dependencies".into());
    }
    let expanded = change.decode();
    // automerge re-encodes what it stores; a change it would encode differently (a column value
    // it normalises, say) gets another hash once stored, and some such changes panic in
    // automerge's own encoder later (`get_changes`).
    let mut again = expanded.clone();
    again.hash = None;
    if Change::from(again).raw_bytes() != change.raw_bytes() {
        return Err("it is not encoded as automerge encodes it".into());
    }
    // Objects this change makes may be used by any of its ops (automerge registers them first).
    for (i, op) in expanded.operations.iter().enumerate() {
        if let OpType::Make(kind) = op.action {
            pushed.objects.insert(OpId(start + i as u64, change.actor_id().clone()), kind);
        }
    }
    let mut previous: Option<(&OpType, &ObjectId)> = None;
    for (i, op) in expanded.operations.iter().enumerate() {
        let id = OpId(start + i as u64, change.actor_id().clone());
        check_op(known, &mut *pushed, &id, op).map_err(|why| format!("op {i}: {why}"))?;
        let lookup = |id: &OpId| {
            let stored = match known {
                Known::Index(index) => index.op(id),
                Known::Document(_) => pushed.history.as_ref().and_then(|h| h.op(id)),
            };
            pushed.ops.get(id).or(stored).cloned()
        };
        if let Some(why) = check_references(op, &lookup, pushed.mark_elements) {
            return Err(format!("op {i}: {why}"));
        }
        pushed.ops.insert(id, OpInfo::of(op));
        if let OpType::MarkEnd(_) = op.action {
            if !matches!(previous, Some((OpType::MarkBegin(_), obj)) if *obj == op.obj) {
                return Err(format!("op {i}: a mark's end must follow its begin in the same object"));
            }
        }
        previous = Some((&op.action, &op.obj));
    }
    let stored = match known {
        Known::Document(doc) => Stored::Document(doc, pushed.history.as_ref().and_then(History::recent)),
        Known::Index(index) => index.window().map_or(Stored::Heads(index.heads()), Stored::Graph),
    };
    pushed.seen.check(stored, change, &expanded.operations)?;
    pushed.max_op.insert(change.hash(), last);
    Ok(())
}

fn check_op(known: Known<'_>, pushed: &mut Pushed<'_>, id: &OpId, op: &automerge::legacy::Op) -> Result<(), Refusal> {
    if let OpType::Make(ObjType::Table) = op.action {
        return Err("tables are not supported".into());
    }
    let kind = match &op.obj {
        ObjectId::Root => ObjType::Map,
        ObjectId::Id(obj) => object_type(known, pushed, obj)?,
    };
    match (&op.key, kind) {
        (Key::Map(_), ObjType::List | ObjType::Text) => return Err("a map key in a sequence".into()),
        (Key::Seq(_), ObjType::Map) => return Err("an element id in a map".into()),
        (Key::Map(_), _) if op.insert => return Err("an insert with a map key".into()),
        _ => {}
    }
    if matches!(op.action, OpType::MarkBegin(_) | OpType::MarkEnd(_)) && kind != ObjType::Text {
        return Err("a mark outside text".into());
    }
    match &op.key {
        Key::Seq(ElementId::Head) if !op.insert => return Err("only an insert may refer to HEAD".into()),
        Key::Seq(ElementId::Id(elem)) if elem.counter() == 0 => return Err("element id with counter 0".into()),
        _ => {}
    }
    if op.insert && !op.pred.is_empty() {
        return Err("an insert overwrites nothing, so it has no pred".into());
    }
    if matches!(op.action, OpType::Delete) && (op.insert || op.pred.is_empty()) {
        return Err("a delete needs the ops it deletes".into());
    }
    for pred in op.pred.iter() {
        if pred.counter() == 0 || !lamport_lt(pred, id) {
            return Err("a pred must be an earlier op".into());
        }
    }
    Ok(())
}

/// The type of object `obj`: made earlier in the push, or in the document (or the index).
fn object_type(known: Known<'_>, pushed: &mut Pushed<'_>, obj: &OpId) -> Result<ObjType, Refusal> {
    if obj.counter() == 0 {
        return Err("object id with counter 0".into());
    }
    if let Some(kind) = pushed.objects.get(obj) {
        return Ok(*kind);
    }
    let doc = match known {
        Known::Document(doc) => doc,
        Known::Index(index) => {
            return match index.op(obj) {
                Some(OpInfo { action: Action::Make(ObjType::Table), .. }) => Err("tables are not supported".into()),
                Some(OpInfo { action: Action::Make(kind), .. }) => Ok(*kind),
                _ => Err("its object does not exist".into()),
            };
        }
    };
    match doc.import(&format!("{}@{}", obj.counter(), obj.actor())) {
        Ok((_, ObjType::Table)) => Err("tables are not supported".into()),
        Ok((_, kind)) => {
            pushed.objects.insert(obj.clone(), kind);
            Ok(kind)
        }
        Err(_) => Err("its object does not exist".into()),
    }
}

/// automerge 0.12 registers a change's author only when its seq is 1, expects the other actors
/// of its actor table to be known already (it panics otherwise), and indexes an actor's changes
/// by seq: a change's seq must follow its author's last one.
fn check_actors(known: Known<'_>, pushed: &mut Pushed<'_>, change: &Change) -> Result<(), Refusal> {
    let author = change.actor_id();
    let last = pushed.seen.last_seq(author).or_else(|| document_seq(known, pushed, author)).unwrap_or(0);
    if change.seq() != last + 1 {
        return Err(format!("its seq {} does not follow its author's last change ({last})", change.seq()));
    }
    for actor in change.other_actor_ids() {
        if pushed.seen.last_seq(actor).is_none() && document_seq(known, pushed, actor).is_none() {
            return Err("it names an actor the document does not know".into());
        }
    }
    Ok(())
}

/// The seq of `actor`'s last change in the document; `None` when the document does not know the
/// actor.
fn document_seq(known: Known<'_>, pushed: &Pushed<'_>, actor: &ActorId) -> Option<u64> {
    match known {
        Known::Index(index) => index.actor_seq(actor),
        Known::Document(_) => pushed.history.as_ref().and_then(|h| h.actor_seq(actor)),
    }
}

/// automerge's op order: by counter, then by actor.
fn lamport_lt(a: &OpId, b: &OpId) -> bool {
    (a.counter(), a.actor()) < (b.counter(), b.actor())
}
