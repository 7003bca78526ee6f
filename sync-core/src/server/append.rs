//! The append fast path: merging a push, or answering a pull, without loading the document.
//!
//! Loading a document costs time proportional to its whole history, which a small edit on a
//! large document should not pay. Two cases need only a few stored rows:
//!
//! * **On the heads.** When the client's `have` is exactly the server's current heads,
//!   everything the client sends is new to the server and the client lacks nothing the server
//!   has: check that every pushed change extends those heads, append the changes, and answer
//!   with the new heads. Why "extends the heads" proves a change is new: a change that
//!   (transitively, through other pushed changes) depends on a server head `h` descends from
//!   `h`. If the server already had it, it would be an ancestor of some head `h2`, making `h` an
//!   ancestor of `h2` — but heads are exactly the changes nothing else depends on. So a pushed
//!   change is new unless it *is* a head (checked).
//! * **Behind the heads.** In a shared document a client is usually a few changes behind: the
//!   store says which pushed changes and dependencies it holds, and the window of the newest
//!   stored changes ([`super::graph`]) says which stored changes lie outside the past of what
//!   the client has (they are sent to it) and of what each pushed change builds on (its ops may
//!   not refer to theirs).
//!
//! It works in two steps around one store query: [`plan`] names the stored ops and changes the
//! push refers to ([`Lookup`]); the caller fetches those ([`Found`]); [`Plan::finish`] checks
//! every op against them ([`super::index`]). When the rows read could not answer but a second
//! read might, [`Plan::widen`] says what to read instead: the heads moved under a push planned
//! on them (it is then merged as one behind them), or a change of the window builds on one
//! older than the window (a collaborator who was slow to push). Whatever the stored rows cannot
//! vouch for (a client far behind, a change the server already has, an unknown dependency)
//! takes the full [`super::merge`].

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{Change, ChangeHash};

use super::causal::WINDOW_CANNOT_TELL;
use super::graph::{MAX_WALKS, MAX_WINDOW, Window};
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
    /// The answer; its chunks are the stored changes [`Appended::pull`] names, once
    /// [`Appended::fill`] has them all.
    pub response: DocResponse,
    /// The stored changes the client lacks, in causal order (empty on the heads).
    pub pull: Vec<ChangeHash>,
    /// Those whose bytes came with the window.
    carried: HashMap<ChangeHash, Vec<u8>>,
}

impl Appended {
    /// The pulled changes whose bytes the store must still read, in order.
    pub fn to_read(&self) -> Vec<ChangeHash> {
        self.pull.iter().filter(|h| !self.carried.contains_key(h)).copied().collect()
    }

    /// Sets the answer's chunks, given the bytes of [`Appended::to_read`] in that order; `None`
    /// when they do not match.
    pub fn fill(&mut self, read: Vec<Vec<u8>>) -> Option<()> {
        let mut read = read.into_iter();
        let mut chunks = Vec::with_capacity(self.pull.len());
        for hash in &self.pull {
            chunks.push(match self.carried.remove(hash) {
                Some(bytes) => bytes,
                None => read.next()?,
            });
        }
        if read.next().is_some() {
            return None;
        }
        self.response.chunks = chunks;
        Some(())
    }
}

/// Merges `request` from the stored heads and `history` (every change the document holds, as
/// the store would find them), or returns `None` when the full [`super::merge`] is needed.
pub fn append(server_heads: &Heads, request: &DocRequest, access: Access, limits: &Limits, history: &[Change]) -> Option<Appended> {
    let incoming = chunk::changes_from_chunks(&request.chunks, limits).ok()?;
    let mut plan = plan(server_heads, request, &incoming, access, limits)?;
    let mut reads = 0;
    let mut appended = loop {
        let found = Found::in_history(history, plan.lookup());
        reads += 1;
        match plan.finish(&found) {
            Some(appended) => break appended,
            None if reads < MAX_READS && plan.widen(&found) => {}
            None => return None,
        }
    };
    let by_hash: HashMap<ChangeHash, &Change> = history.iter().map(|c| (c.hash(), c)).collect();
    let read = appended.to_read().iter().map(|h| by_hash.get(h).map(|c| c.raw_bytes().to_vec())).collect::<Option<_>>()?;
    appended.fill(read)?;
    Some(appended)
}

/// A push (or pull) the fast path may take once the stored rows it refers to check out.
#[derive(Debug)]
pub struct Plan<'c> {
    doc_id: crate::DocumentId,
    ordered: Vec<&'c Change>,
    server_heads: Heads,
    heads: Heads,
    lookup: Lookup,
    /// Behind the heads: what the client has (its `have` and `heads`).
    behind: Option<Vec<ChangeHash>>,
    /// What the client has, and the stored changes the push builds on: what a push planned on
    /// the heads looks up once they moved.
    has: Vec<ChangeHash>,
    external: BTreeSet<ChangeHash>,
    max_heads: usize,
    /// When the last [`Plan::finish`] declined because the window could not tell what lies
    /// outside a past (the one refusal a wider window may turn into an answer): that window's
    /// boundary, which the next read reaches back to ([`Plan::widen`]). Empty otherwise.
    beyond_window: RefCell<Vec<ChangeHash>>,
}

/// How many times the store is read for one push at most (see [`Plan::widen`]): the first read,
/// then once behind the heads, then once with the window reaching back to what its changes
/// build on.
pub const MAX_READS: usize = 3;

/// The first step of the fast path: `None` when the full [`super::merge`] is needed (a viewer
/// pushes, a fresh client, the push refers to too many stored ops or would leave too many
/// heads). Every rule on the ops is checked once, by [`Plan::finish`].
pub fn plan<'c>(server_heads: &Heads, request: &DocRequest, incoming: &'c [Change], access: Access, limits: &Limits) -> Option<Plan<'c>> {
    if access != Access::ReadWrite && !incoming.is_empty() {
        return None;
    }
    let (ordered, external) = causal_order(incoming)?;
    let on_heads = !ordered.is_empty() && request.have == *server_heads && extends(server_heads, &ordered, &external);
    if !on_heads && request.have.is_empty() && request.heads.is_empty() {
        // A fresh client is sent the stored document, compact, by the full merge.
        return None;
    }
    let deps: HashSet<ChangeHash> = ordered.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let heads = heads_within(server_heads, &ordered, limits.max_doc_heads)?;
    let ops = index::references(ordered.iter().copied(), index::MAX_REFERENCES)?;
    let actors = index::actors(ordered.iter().copied());
    if actors.len() > index::MAX_REFERENCES {
        return None;
    }
    let has: Vec<ChangeHash> = request.have.as_slice().iter().chain(request.heads.as_slice()).copied().collect();
    let (lookup_deps, behind) = if on_heads {
        (server_heads.as_slice().iter().filter(|h| deps.contains(h)).copied().collect(), None)
    } else {
        (behind_deps(&ordered, &external, &has), Some(has.clone()))
    };
    let lookup = Lookup { deps: lookup_deps, ops, actors, window: behind.is_some() };
    let max_heads = limits.max_doc_heads;
    let beyond_window = RefCell::default();
    Some(Plan { doc_id: request.doc_id, ordered, server_heads: server_heads.clone(), heads, lookup, behind, has, external, max_heads, beyond_window })
}

/// Behind the heads, the changes looked up: what the pushed changes build on, what the client
/// has, and the pushed changes (which must be new).
fn behind_deps(ordered: &[&Change], external: &BTreeSet<ChangeHash>, has: &[ChangeHash]) -> Vec<ChangeHash> {
    let pushed = ordered.iter().map(|c| c.hash());
    let asked: BTreeSet<ChangeHash> = external.iter().chain(has).copied().chain(pushed).collect();
    asked.into_iter().collect()
}

/// The heads once `ordered` (all new) are stored on `server_heads`; `None` when they would be too
/// many (refused by the full merge, which can also send the client what it needs to merge them).
fn heads_within(server_heads: &Heads, ordered: &[&Change], max_heads: usize) -> Option<Heads> {
    let heads = super::heads_after(server_heads, ordered.iter().copied());
    (!super::over_heads_limit(server_heads, &heads, max_heads)).then_some(heads)
}

impl Plan<'_> {
    /// What to fetch from the store before [`Plan::finish`].
    pub fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    /// The pushed changes, in causal order.
    pub fn pushed(&self) -> &[&Change] {
        &self.ordered
    }

    /// Asks the store for the window on the heads too (behind them it is always asked for): a
    /// caller that keeps the newest changes seeds them from it ([`super::Tail`]). The checks
    /// on the heads do not read it.
    pub fn read_window(&mut self) {
        self.lookup.window = true;
    }

    /// The second step: checks every pushed op against the stored ops it refers to and, behind
    /// the heads, what the client lacks. `None` when something is not as the stored rows vouch
    /// (the full merge then decides).
    pub fn finish(&self, found: &Found) -> Option<Appended> {
        self.beyond_window.borrow_mut().clear();
        // On the heads, the push is checked against the heads it was planned on; behind them,
        // against the heads read with the window (others may have pushed since the plan).
        let planned_on = self.behind.is_none().then_some(&self.server_heads);
        let index = OpIndex::new(&self.lookup, found, planned_on)?;
        let (pull, heads) = match (&self.behind, index.window()) {
            (None, _) => (Vec::new(), self.heads.clone()),
            (Some(has), Some(window)) => {
                let heads = heads_within(&Heads::new(found.heads.clone()), &self.ordered, self.max_heads)?;
                let mut cannot_tell = false;
                let Some(pull) = behind(window, found, &self.ordered, has, &mut cannot_tell) else {
                    if cannot_tell {
                        *self.beyond_window.borrow_mut() = window.boundary().copied().collect();
                    }
                    return None;
                };
                (pull, heads)
            }
            (Some(_), None) => return None,
        };
        if let Err((_, why)) = super::check_changes(super::Known::Index(&index), self.ordered.iter().copied()) {
            if let Some(window) = index.window().filter(|_| why == WINDOW_CANNOT_TELL) {
                *self.beyond_window.borrow_mut() = window.boundary().copied().collect();
            }
            return None;
        }
        let new_changes = self.ordered.iter().map(|c| NewChange::of(c)).collect();
        let response = DocResponse { doc_id: self.doc_id, status: DocStatus::Ok, heads, missing: Heads::empty(), chunks: Vec::new() };
        let carried = match index.window() {
            Some(window) => pull.iter().filter_map(|h| Some((*h, window.bytes(h)?.to_vec()))).collect(),
            None => HashMap::new(),
        };
        Some(Appended { new_changes, response, pull, carried })
    }

    /// After [`Plan::finish`] declined `found`: whether another read might answer, and the
    /// lookup changed for it (at most [`MAX_READS`] reads are worth it; each call here makes
    /// the lookup wider, so it ends).
    ///
    /// * Planned on the heads, which moved before the read (another push came in between): the
    ///   push is merged as one behind the heads, with the window.
    /// * Behind the heads, when the window could not tell what lies outside a past (and holds
    ///   fewer than [`MAX_WINDOW`] changes), because its changes build on stored changes older
    ///   than it: a collaborator slow to push builds on an older state, and while its change is
    ///   in everyone's window, whether the rest lies in a client's past cannot be told from the
    ///   window (see [`super::graph`]); every push would take the full merge, slow enough that
    ///   the next ones build on older states still. The lookup names those older changes, so the
    ///   window reads back from the oldest of them (still at most [`super::graph::MAX_WINDOW`]
    ///   changes).
    pub fn widen(&mut self, found: &Found) -> bool {
        if !found.complete {
            return false;
        }
        if self.behind.is_none() {
            if Heads::new(found.heads.clone()) == self.server_heads {
                return false;
            }
            self.lookup.deps = behind_deps(&self.ordered, &self.external, &self.has);
            self.lookup.window = true;
            self.behind = Some(self.has.clone());
            return true;
        }
        // Only a window that could not tell, and could still grow, is worth reading again: any
        // other refusal goes to the full merge at once.
        let beyond = self.beyond_window.take();
        if beyond.is_empty() || found.window.len() >= MAX_WINDOW {
            return false;
        }
        let asked: HashSet<ChangeHash> = self.lookup.deps.iter().copied().collect();
        let older: BTreeSet<ChangeHash> = beyond.into_iter().filter(|h| !asked.contains(h)).collect();
        if older.is_empty() || asked.len() + older.len() > index::MAX_REFERENCES {
            return false;
        }
        self.lookup.deps.extend(older);
        self.lookup.deps.sort_unstable();
        true
    }
}

/// Behind the heads: the stored changes outside the past of what the client has, when the
/// window answers that; `None` when a pushed change is already stored or builds on one that is
/// not (the full merge handles those), the push builds on too many distinct pasts, or the
/// answer is better sent as a whole document. (Whether the window answers for what each pushed
/// change builds on is asked by the checks, [`super::causal`].)
fn behind(window: &Window, found: &Found, ordered: &[&Change], has: &[ChangeHash], cannot_tell: &mut bool) -> Option<Vec<ChangeHash>> {
    let stored = |h: &ChangeHash| found.deps_last_op.contains_key(h);
    if window.is_empty() || ordered.iter().any(|c| stored(&c.hash())) {
        return None;
    }
    // Each pushed change's stored past, as the stored changes it builds on (as `causal` sees it).
    let mut pasts: HashMap<ChangeHash, BTreeSet<ChangeHash>> = HashMap::with_capacity(ordered.len());
    for change in ordered {
        let mut past = BTreeSet::new();
        for dep in change.deps() {
            match pasts.get(dep) {
                Some(p) => past.extend(p.iter().copied()),
                None if stored(dep) => {
                    past.insert(*dep);
                }
                None => return None,
            }
        }
        pasts.insert(change.hash(), past);
    }
    // The checks walk the window once per distinct past a pushed change builds on (a past the
    // window cannot answer for refuses the check, and a refused check sends the push to the full
    // merge): bound how many.
    if pasts.values().collect::<HashSet<_>>().len() > MAX_WALKS {
        return None;
    }
    // What the client has: the stored changes it names and the past of the pushed ones it names,
    // which must be every pushed change (the full merge would send the others back).
    let mut base: BTreeSet<ChangeHash> = has.iter().filter(|h| stored(h)).copied().collect();
    let mut covered: HashSet<ChangeHash> = HashSet::new();
    let mut stack: Vec<ChangeHash> = has.iter().filter(|h| pasts.contains_key(h)).copied().collect();
    let by_hash: HashMap<ChangeHash, &Change> = ordered.iter().map(|c| (c.hash(), *c)).collect();
    while let Some(hash) = stack.pop() {
        if covered.insert(hash) {
            base.extend(pasts[&hash].iter().copied());
            stack.extend(by_hash[&hash].deps().iter().filter(|d| pasts.contains_key(d)));
        }
    }
    if covered.len() != ordered.len() {
        return None;
    }
    let Some(outside) = window.outside_past(base.iter()) else {
        *cannot_tell = true;
        return None;
    };
    // As the full merge: a client lacking more than a third of the document gets it whole.
    if outside.len() > 1 && outside.len() as u64 * 3 > window.newest_pos() {
        return None;
    }
    Some(outside.into_iter().map(|i| window.row(i).hash).collect())
}

/// The pushed changes (each once) in causal order, and the dependencies they name that are not
/// pushed; `None` if their dependencies form a cycle (which valid hashes cannot).
fn causal_order(incoming: &[Change]) -> Option<(Vec<&Change>, BTreeSet<ChangeHash>)> {
    let mut by_hash: HashMap<ChangeHash, &Change> = HashMap::with_capacity(incoming.len());
    for change in incoming {
        by_hash.entry(change.hash()).or_insert(change);
    }
    // Kahn's algorithm over the pushed changes; a change is ready once its pushed deps are.
    let mut waiting: HashMap<ChangeHash, usize> = HashMap::with_capacity(by_hash.len());
    let mut dependents: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    let mut external = BTreeSet::new();
    let mut ready = Vec::new();
    for (hash, change) in &by_hash {
        let mut pushed_deps = 0;
        for dep in change.deps() {
            if by_hash.contains_key(dep) {
                pushed_deps += 1;
                dependents.entry(*dep).or_default().push(*hash);
            } else {
                external.insert(*dep);
            }
        }
        waiting.insert(*hash, pushed_deps);
        if pushed_deps == 0 {
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
    by_hash.is_empty().then_some((ordered, external))
}

/// Whether the pushed changes all descend from a server head (or the document is empty) and
/// depend only on server heads and each other.
fn extends(server_heads: &Heads, ordered: &[&Change], external: &BTreeSet<ChangeHash>) -> bool {
    let on_heads = external.iter().all(|d| server_heads.contains(d)) && ordered.iter().all(|c| !server_heads.contains(&c.hash()));
    // A change depending on nothing could be an old root change the server has, unless the
    // document is empty.
    on_heads && (server_heads.is_empty() || ordered.iter().all(|c| !c.deps().is_empty()))
}
