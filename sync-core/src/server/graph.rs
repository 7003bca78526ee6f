//! The newest part of a document's change graph: what lets a push that does not build on the
//! current heads, or a pull by a client a few changes behind, skip loading the document.
//!
//! In a shared document every client is a few changes behind the others: its `have` is no
//! longer the server's heads, and what it pushes is concurrent with what others pushed since.
//! Merging it needs to know which stored changes lie outside the past of the changes it builds
//! on (its ops may not refer to theirs, and the client must be sent them). The store keeps every
//! change's dependencies and its position in the order changes were stored, which is a causal
//! order (a change is stored only after its dependencies). The *window* is the stored changes
//! from a little before the oldest the client names up to the newest ([`MAX_WINDOW`] at most);
//! everything older is the *rest*.
//!
//! Why the window can answer exactly: the rest is closed under dependencies (an older change
//! never depends on a newer one), so it is the past of its own heads, and each of those heads
//! is either a dependency of a window change or a server head (nothing else can name it). If
//! walking back from the client's changes through the window reaches every such *boundary*
//! change, the whole rest is in the client's past and what lies outside it is exactly the
//! window changes the walk did not reach. Otherwise the window cannot tell, and the full merge
//! decides.

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, ChangeHash};

/// At most this many of a document's newest changes are read for one push or pull; a client
/// further behind takes the full merge (and its compact answer).
pub const MAX_WINDOW: usize = 512;
/// How many changes before the oldest one the client names the window also reads, so that a
/// collaborator's change built on a slightly older state still lies inside it. Small: every
/// shared-document push reads the margin, and when it falls short the fast path reads again,
/// back to what the window's changes build on (`Plan::widen`). 8 writers on one document, 400
/// rounds each: 4 took 0.88× the server CPU of 16, and 1 no less than 4 (docs/benchmarks.md).
pub const WINDOW_MARGIN: u64 = 4;
/// At most this many distinct sets of stored changes one push builds on are walked (each walk
/// is linear in the window); a push building on more takes the full merge.
pub const MAX_WALKS: usize = 16;

/// One stored change of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRow {
    pub hash: ChangeHash,
    pub deps: Vec<ChangeHash>,
    pub actor: ActorId,
    pub seq: u64,
    pub start_op: u64,
    pub last_op: u64,
    /// Its position in the order the document's changes were stored (1 for the first).
    pub pos: u64,
    /// The change itself, when the store sent it along (see [`CARRIED_BYTES`]).
    pub bytes: Option<Vec<u8>>,
}

/// The store sends a window change's bytes along when it is newer than the oldest change the
/// client names and at most this long: what a pull usually needs, without another query.
pub const CARRIED_BYTES: usize = 4096;

/// The window of a document's newest changes (see the module docs).
#[derive(Debug, Default)]
pub struct Window {
    /// By ascending position: a causal order.
    rows: Vec<GraphRow>,
    at: HashMap<ChangeHash, usize>,
    /// Stored changes outside the window that a window change depends on, and the server heads
    /// outside it: the rest's heads are among them.
    boundary: HashSet<ChangeHash>,
}

impl Window {
    /// The window from `rows` (any order) of a document whose heads are `server_heads`.
    pub fn new(mut rows: Vec<GraphRow>, server_heads: &[ChangeHash]) -> Self {
        rows.sort_by_key(|r| r.pos);
        rows.dedup_by_key(|r| r.hash);
        let at: HashMap<ChangeHash, usize> = rows.iter().enumerate().map(|(i, r)| (r.hash, i)).collect();
        let boundary = rows.iter().flat_map(|r| r.deps.iter()).chain(server_heads).filter(|h| !at.contains_key(h)).copied().collect();
        Window { rows, at, boundary }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The newest change's position: how many changes the document stored in order (a lower
    /// bound of how many it holds).
    pub fn newest_pos(&self) -> u64 {
        self.rows.last().map_or(0, |r| r.pos)
    }

    /// The stored changes just outside the window that its changes depend on, and the server
    /// heads outside it.
    pub fn boundary(&self) -> impl Iterator<Item = &ChangeHash> {
        self.boundary.iter()
    }

    pub fn row(&self, i: usize) -> &GraphRow {
        &self.rows[i]
    }

    /// The bytes of change `hash`, if the store sent them with the window.
    pub fn bytes(&self, hash: &ChangeHash) -> Option<&[u8]> {
        self.rows[*self.at.get(hash)?].bytes.as_deref()
    }

    /// The stored changes outside the past of `base` (stored changes only), as window indices in
    /// causal order; `None` when the window cannot tell.
    pub fn outside_past<'h>(&self, base: impl IntoIterator<Item = &'h ChangeHash>) -> Option<Vec<usize>> {
        let mut reached = vec![false; self.rows.len()];
        let mut beyond: HashSet<ChangeHash> = HashSet::new();
        let mut stack = Vec::new();
        let mut visit = |hash: &ChangeHash, stack: &mut Vec<usize>| match self.at.get(hash) {
            Some(&i) if !reached[i] => {
                reached[i] = true;
                stack.push(i);
            }
            Some(_) => {}
            None => {
                beyond.insert(*hash);
            }
        };
        for hash in base {
            visit(hash, &mut stack);
        }
        while let Some(i) = stack.pop() {
            for dep in &self.rows[i].deps {
                visit(dep, &mut stack);
            }
        }
        if !self.boundary.iter().all(|h| beyond.contains(h)) {
            return None;
        }
        Some((0..self.rows.len()).filter(|&i| !reached[i]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    fn row(n: u8, deps: &[u8], pos: u64) -> GraphRow {
        GraphRow { hash: h(n), deps: deps.iter().map(|&d| h(d)).collect(), actor: ActorId::from(vec![n]), seq: 1, start_op: 1, last_op: 1, pos, bytes: None }
    }

    /// 1 <- 2 <- 3 (window: 2, 3) and a branch 4 on 1 (window), heads 3 and 4.
    fn branching() -> Window {
        Window::new(vec![row(2, &[1], 2), row(3, &[2], 3), row(4, &[1], 4)], &[h(3), h(4)])
    }

    #[test]
    fn a_client_on_one_branch_lacks_the_other() {
        let w = branching();
        let outside: Vec<u8> = w.outside_past(&[h(3)]).unwrap().into_iter().map(|i| w.row(i).hash.0[0]).collect();
        assert_eq!(outside, [4]);
        assert_eq!(w.outside_past(&[h(3), h(4)]).unwrap(), Vec::<usize>::new());
    }

    #[test]
    fn a_client_behind_the_window_is_not_answered() {
        let w = Window::new(vec![row(3, &[2], 3), row(4, &[3], 4)], &[h(4)]);
        // 1 is older than the window: whether 2 is in its past, the window cannot tell.
        assert_eq!(w.outside_past(&[h(1)]), None);
        // 2 is the window's boundary: everything older is in its past.
        assert_eq!(w.outside_past(&[h(2)]).unwrap(), vec![0, 1]);
    }

    #[test]
    fn a_rest_head_reached_only_through_the_rest_is_not_vouched_for() {
        // 5 (in the window) depends on 1, and the client's 2 (older than the window) may or may
        // not descend from 1: not answered.
        let w = Window::new(vec![row(3, &[2], 3), row(5, &[1], 5)], &[h(3), h(5)]);
        assert_eq!(w.outside_past(&[h(3)]), None);
    }
}
