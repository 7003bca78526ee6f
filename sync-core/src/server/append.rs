//! The append-only fast path: merging a push without loading the document.
//!
//! Loading a document costs time proportional to its whole history, which a small edit on a
//! large document should not pay. When the client's `have` is exactly the server's current
//! heads, everything the client sends is new to the server and the client lacks nothing the
//! server has, so the round needs only the stored heads: check that every pushed change
//! extends those heads, append the changes, and answer with the new heads.
//!
//! Why "extends the heads" proves a change is new: a change that (transitively, through other
//! pushed changes) depends on a server head `h` descends from `h`. If the server already had
//! it, it would be an ancestor of some head `h2`, making `h` an ancestor of `h2` — but heads
//! are exactly the changes nothing else depends on. So a pushed change is new unless it *is* a
//! head (checked), and a change that does not reach a head (or reaches something unknown)
//! sends the request down the full [`super::merge`] path instead.
//!
//! It works in two steps around one store query: [`plan`] names the stored ops the changes
//! refer to ([`Lookup`]); the caller fetches those ([`Found`]); [`Plan::finish`] checks every
//! op against them ([`super::index`]). Whatever the stored ops cannot vouch for takes the full merge.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};

use super::index::{self, Found, Lookup, OpIndex};
use super::{Access, NewChange};
use crate::chunk;
use crate::id::Heads;
use crate::limits::Limits;
use crate::wire::{DocRequest, DocResponse, DocStatus};

/// A push merged from the heads alone: persist `new_changes`, then send `response`.
#[derive(Debug)]
pub struct Appended {
    /// The pushed changes, in causal order; none of them is known to the server.
    pub new_changes: Vec<NewChange>,
    pub response: DocResponse,
}

/// Merges `request` from the stored heads and `history` (every change the document holds, as
/// the store would find them), or returns `None` when the full [`super::merge`] is needed.
pub fn append(server_heads: &Heads, request: &DocRequest, access: Access, limits: &Limits, history: &[Change]) -> Option<Appended> {
    let incoming = chunk::changes_from_chunks(&request.chunks, limits).ok()?;
    let plan = plan(server_heads, request, &incoming, access, limits)?;
    let found = Found::in_history(history, plan.lookup());
    plan.finish(&found)
}

/// A push the fast path may take once the stored ops it refers to check out.
#[derive(Debug)]
pub struct Plan<'c> {
    doc_id: crate::DocumentId,
    ordered: Vec<&'c Change>,
    server_heads: Heads,
    heads: Heads,
    lookup: Lookup,
}

/// The first step of the fast path: `None` when the full [`super::merge`] is needed (the
/// client's `have` differs from the server's heads, it may not write, a change does not extend
/// the heads, the push refers to too many stored ops, or it would leave too many heads). Every
/// rule on the ops is checked once, by [`Plan::finish`].
pub fn plan<'c>(server_heads: &Heads, request: &DocRequest, incoming: &'c [Change], access: Access, limits: &Limits) -> Option<Plan<'c>> {
    if access != Access::ReadWrite || incoming.is_empty() || request.have != *server_heads {
        return None;
    }
    let ordered = extending(server_heads, incoming)?;
    let deps: HashSet<ChangeHash> = ordered.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let mut heads: Vec<ChangeHash> = server_heads.as_slice().iter().filter(|h| !deps.contains(h)).copied().collect();
    heads.extend(ordered.iter().map(|c| c.hash()).filter(|h| !deps.contains(h)));
    if heads.len() > limits.max_doc_heads && heads.len() > server_heads.len() {
        // Refused by the full merge, which can also send the client what it needs to merge.
        return None;
    }
    let ops = index::references(ordered.iter().copied(), index::MAX_REFERENCES)?;
    let actors = index::actors(ordered.iter().copied());
    if actors.len() > index::MAX_REFERENCES {
        return None;
    }
    let lookup = Lookup { deps: server_heads.as_slice().iter().filter(|h| deps.contains(h)).copied().collect(), ops, actors };
    Some(Plan { doc_id: request.doc_id, ordered, server_heads: server_heads.clone(), heads: Heads::new(heads), lookup })
}

impl Plan<'_> {
    /// What to fetch from the store before [`Plan::finish`].
    pub fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    /// The second step: checks every pushed op against the stored ops it refers to. `None`
    /// when something is not as the index vouches (the full merge then decides).
    pub fn finish(self, found: &Found) -> Option<Appended> {
        let index = OpIndex::new(&self.lookup, found, &self.server_heads)?;
        super::check_changes(super::Known::Index(&index), self.ordered.iter().copied()).ok()?;
        let new_changes = self.ordered.iter().map(|c| NewChange::of(c)).collect();
        let response = DocResponse {
            doc_id: self.doc_id,
            status: DocStatus::Ok,
            heads: self.heads,
            missing: Heads::empty(),
            chunks: Vec::new(),
        };
        Some(Appended { new_changes, response })
    }
}

/// The pushed changes in causal order if every one of them descends from a server head (or
/// the document is empty) and depends only on server heads and other pushed changes.
fn extending<'c>(server_heads: &Heads, incoming: &'c [Change]) -> Option<Vec<&'c Change>> {
    let mut by_hash: HashMap<ChangeHash, &'c Change> = HashMap::with_capacity(incoming.len());
    for change in incoming {
        if server_heads.contains(&change.hash()) {
            return None;
        }
        by_hash.entry(change.hash()).or_insert(change);
    }
    // Kahn's algorithm over the pushed changes; a change is ready once its pushed deps are.
    let mut waiting: HashMap<ChangeHash, usize> = HashMap::with_capacity(by_hash.len());
    let mut dependents: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    let mut ready = Vec::new();
    for (hash, change) in &by_hash {
        let mut pushed_deps = 0;
        for dep in change.deps() {
            if by_hash.contains_key(dep) {
                pushed_deps += 1;
                dependents.entry(*dep).or_default().push(*hash);
            } else if !server_heads.contains(dep) {
                return None;
            }
        }
        waiting.insert(*hash, pushed_deps);
        if pushed_deps == 0 {
            // Depends only on server heads: it must depend on at least one, unless the
            // document is empty (otherwise it could be an old root change the server has).
            if change.deps().is_empty() && !server_heads.is_empty() {
                return None;
            }
            ready.push(*hash);
        }
    }
    let mut ordered = Vec::with_capacity(by_hash.len());
    while let Some(hash) = ready.pop() {
        for next in dependents.remove(&hash).unwrap_or_default() {
            let left = waiting.get_mut(&next)?;
            *left -= 1;
            if *left == 0 {
                ready.push(next);
            }
        }
        ordered.push(by_hash.remove(&hash)?);
    }
    // Anything left over sits on a cycle, which valid hashes cannot form.
    by_hash.is_empty().then_some(ordered)
}
