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
//! What this path checks of the ops is what the changes themselves show
//! ([`super::check_changes`] without a document); that referenced objects, elements and ops
//! exist needs the document, which only the full merge loads. See `docs/architecture.md`,
//! "Hostile input", for what that leaves open.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ChangeHash};

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

/// Merges `request` from the stored heads alone, or returns `None` when the full
/// [`super::merge`] is needed (the client's `have` differs from the server's heads, it is not
/// allowed to write, a chunk does not parse, or a change does not extend the heads).
pub fn append(server_heads: &Heads, request: &DocRequest, access: Access, limits: &Limits) -> Option<Appended> {
    let incoming = chunk::changes_from_chunks(&request.chunks, limits).ok()?;
    append_pushed(server_heads, request, &incoming, access, limits)
}

/// [`append`] with the request's chunks already read.
pub fn append_pushed(server_heads: &Heads, request: &DocRequest, incoming: &[Change], access: Access, limits: &Limits) -> Option<Appended> {
    if access != Access::ReadWrite || incoming.is_empty() || request.have != *server_heads {
        return None;
    }
    let ordered = extending(server_heads, incoming)?;
    // A change that breaks a rule the change itself shows is refused by the full merge, which
    // says why.
    super::check_changes(super::Known::HeadsOnly, ordered.iter().copied()).ok()?;
    let deps: HashSet<ChangeHash> = ordered.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let mut heads: Vec<ChangeHash> = server_heads.as_slice().iter().filter(|h| !deps.contains(h)).copied().collect();
    heads.extend(ordered.iter().map(|c| c.hash()).filter(|h| !deps.contains(h)));
    if heads.len() > limits.max_doc_heads && heads.len() > server_heads.len() {
        // Refused by the full merge, which can also send the client what it needs to merge.
        return None;
    }
    let new_changes = ordered
        .iter()
        .map(|c| NewChange { hash: c.hash(), deps: c.deps().to_vec(), bytes: c.raw_bytes().to_vec() })
        .collect();
    let response = DocResponse {
        doc_id: request.doc_id,
        status: DocStatus::Ok,
        heads: Heads::new(heads),
        missing: Heads::empty(),
        chunks: Vec::new(),
    };
    Some(Appended { new_changes, response })
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
