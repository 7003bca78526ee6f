//! A change may refer only to ops it has seen: its own, those of the pushed changes it depends
//! on (directly or through others), and those of the stored changes in its dependencies' past.
//!
//! automerge applies an op whose pred or element belongs to a concurrent change (one the change
//! does not depend on) wherever that op already is, so the server's document takes it; but a
//! collaborator receiving both changes may apply them in the other order and meet an op it has
//! not seen. The same holds for an author's own chain: automerge indexes an actor's changes by
//! seq, so a change must build on its author's previous one.
//!
//! Ancestry among the pushed changes is a vector clock over their authors (each author's chain
//! is linear, which this module also checks); for stored changes, the full merge asks the
//! document which changes lie outside the past of the stored changes a pushed one builds on;
//! the append fast path either requires every pushed change to build on all the heads it read
//! (then the whole stored document is in its past) or asks the window of the newest stored
//! changes ([`super::graph`]).

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Op, OpId};
use automerge::{ActorId, Automerge, Change, ChangeHash};

use super::graph::Window;
use super::index::op_references;
use super::recent::Recent;
use super::validate::Refusal;

/// Op ranges (start op, last op) of changes, by author, sorted.
type Ranges = HashMap<ActorId, Vec<(u64, u64)>>;

/// What the check knows of the stored document.
#[derive(Clone, Copy)]
pub(super) enum Stored<'d> {
    /// The loaded document, with the log of the changes it applied last if it keeps one.
    Document(&'d Automerge, Option<&'d Recent>),
    /// The heads the push builds on (the append fast path on the current heads).
    Heads(&'d [ChangeHash]),
    /// The newest stored changes (the append fast path behind the heads): the push is merged
    /// there only if the window answers for every set of stored changes it builds on.
    Graph(&'d Window),
}

/// What the pushed changes checked so far have seen.
#[derive(Default)]
pub(super) struct Seen {
    past: HashMap<ChangeHash, Past>,
    /// Pushed changes by author, in causal order: (start op, last op, seq).
    by_author: HashMap<ActorId, Vec<(u64, u64, u64)>>,
    /// Stored changes outside the past of a set of stored changes, by author: op ranges, sorted.
    concurrent: HashMap<Vec<ChangeHash>, Ranges>,
}

/// A pushed change's past: the stored changes it builds on, and each pushed author's last seq in it.
#[derive(Clone, Default)]
struct Past {
    stored: BTreeSet<ChangeHash>,
    clock: HashMap<ActorId, u64>,
}

impl Seen {
    /// Checks `change` (whose pushed dependencies were checked before it) and records it.
    pub(super) fn check(&mut self, stored: Stored<'_>, change: &Change, ops: &[Op]) -> Result<(), Refusal> {
        let mut past = Past::default();
        for dep in change.deps() {
            match self.past.get(dep) {
                Some(p) => {
                    past.stored.extend(p.stored.iter().copied());
                    for (author, &seq) in &p.clock {
                        let known = past.clock.entry(author.clone()).or_default();
                        *known = (*known).max(seq);
                    }
                }
                None => {
                    past.stored.insert(*dep);
                }
            }
        }
        let author = change.actor_id();
        let author_pushed_before = self.last_seq(author).is_some();
        if author_pushed_before && past.clock.get(author).copied().unwrap_or(0) + 1 != change.seq() {
            return Err("it does not build on its author's previous change".into());
        }
        let start = change.start_op().get();
        let end = start + ops.len() as u64;
        let mut stored_refs = Vec::new();
        for id in ops.iter().flat_map(op_references) {
            if id.actor() == author && (start..end).contains(&id.counter()) {
                continue;
            }
            match self.pushed_seq(id) {
                Some(seq) if past.clock.get(id.actor()).copied().unwrap_or(0) < seq => {
                    return Err("it refers to an op of a pushed change it does not depend on".into());
                }
                Some(_) => {}
                None => stored_refs.push(id),
            }
        }
        let author_stored_before = !author_pushed_before && change.seq() > 1;
        if !stored_refs.is_empty() || author_stored_before {
            let key: Vec<ChangeHash> = past.stored.iter().copied().collect();
            let concurrent = match stored {
                Stored::Heads(heads) => {
                    if !heads.iter().all(|h| past.stored.contains(h)) {
                        return Err("it does not build on every head it was pushed on".into());
                    }
                    None
                }
                Stored::Document(doc, recent) => Some(self.concurrent.entry(key).or_insert_with_key(|key| concurrent_ranges(doc, recent, key))),
                Stored::Graph(window) => match self.concurrent.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        // Not a verdict on the change: the fast path hands any refusal to the
                        // full merge, which decides with the whole document.
                        let ranges = window_ranges(window, e.key()).ok_or(WINDOW_CANNOT_TELL)?;
                        Some(e.insert(ranges))
                    }
                },
            };
            if let Some(concurrent) = concurrent {
                if stored_refs.iter().any(|id| within(concurrent, id)) {
                    return Err("it refers to an op of a change it does not depend on".into());
                }
                if author_stored_before && concurrent.contains_key(author) {
                    return Err("it does not build on its author's previous change".into());
                }
            }
        }
        past.clock.insert(author.clone(), change.seq());
        self.by_author.entry(author.clone()).or_default().push((start, end.saturating_sub(1), change.seq()));
        self.past.insert(change.hash(), past);
        Ok(())
    }

    /// The seq of `author`'s last change in the push so far.
    pub(super) fn last_seq(&self, author: &ActorId) -> Option<u64> {
        self.by_author.get(author)?.last().map(|&(_, _, seq)| seq)
    }

    /// The seq of the pushed change holding op `id`, if a pushed change holds it.
    fn pushed_seq(&self, id: &OpId) -> Option<u64> {
        let changes = self.by_author.get(id.actor())?;
        // An author's pushed changes come in causal order, so their op ranges ascend.
        let i = changes.partition_point(|&(_, last, _)| last < id.counter());
        changes.get(i).filter(|&&(start, _, _)| start <= id.counter()).map(|&(_, _, seq)| seq)
    }
}

/// The fast path's refusal when the window cannot tell what lies outside a change's past.
pub(super) const WINDOW_CANNOT_TELL: &str = "the window does not answer for its past";

/// The op ranges, by author, of the stored changes outside the past of `past`: from the log of
/// the changes the document applied last when they are all there (a push builds on heads a
/// moment old), else from automerge, which walks the change graph to its vector clocks.
fn concurrent_ranges(doc: &Automerge, recent: Option<&Recent>, past: &[ChangeHash]) -> Ranges {
    let logged = recent.and_then(|recent| recent.since_in(doc, past));
    let outside = match logged {
        Some(hashes) => hashes.iter().filter_map(|hash| doc.get_change_meta_by_hash(hash)).collect(),
        None => doc.get_changes_meta(past),
    };
    let mut ranges = Ranges::new();
    for meta in outside {
        ranges.entry(meta.actor.into_owned()).or_default().push((meta.start_op, meta.max_op));
    }
    for list in ranges.values_mut() {
        list.sort_unstable();
    }
    ranges
}

/// [`concurrent_ranges`] from the window; `None` when it cannot tell.
fn window_ranges(window: &Window, past: &[ChangeHash]) -> Option<Ranges> {
    let mut ranges = Ranges::new();
    for i in window.outside_past(past)? {
        let row = window.row(i);
        ranges.entry(row.actor.clone()).or_default().push((row.start_op, row.last_op));
    }
    for list in ranges.values_mut() {
        list.sort_unstable();
    }
    Some(ranges)
}

fn within(ranges: &Ranges, id: &OpId) -> bool {
    let Some(list) = ranges.get(id.actor()) else { return false };
    let i = list.partition_point(|&(start, _)| start <= id.counter());
    i > 0 && list[i - 1].1 >= id.counter()
}
