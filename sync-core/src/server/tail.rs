//! A document's newest stored changes, kept between requests: what the fast path reads from the
//! store ([`Lookup`] → [`Found`]) answered from memory while the document's heads are still the
//! tail's.
//!
//! In a shared document every push reads the window of the newest changes, the changes its ops
//! refer to and its author's last seq (one statement, but the one most of a shared push's
//! database time goes to), and every push only adds a change or two to what the previous read
//! returned. A [`Tail`] is seeded from such a read ([`Tail::seed`]) and follows the commits of
//! the pushes it or a read answered ([`Tail::advance`]); it answers a [`Lookup`] exactly as the
//! store would ([`Tail::answer`]) or not at all.
//!
//! Why an answer is exact: the tail's rows are a suffix of a causal order of the changes its
//! heads reach (every change appended depends only on changes the tail already held), so what
//! lies before them (the *rest*) is closed under dependencies. The caller asks only when the
//! heads it just read from the store are the tail's: then the store holds exactly the tail's
//! changes (both are the past of the same heads), and every question the tail answers is one
//! its rows settle — a looked-up change is in the rows, or is pushed and builds on a row or on
//! another such pushed change (the rest cannot hold it: it would hold its dependencies too); an
//! actor's last change is its newest row; an op is at or after its actor's oldest row; the
//! window starts inside the rows. Anything else is left to the store (`None`).
//!
//! The positions of appended rows follow the tail's newest; when two writers commit at once the
//! store may have placed them in the other order. Both are causal orders of the same changes,
//! which is all the window needs; a position is otherwise only a count (how young a document
//! is).

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::{ActorId, Change, ChangeHash};

use super::NewChange;
use super::graph::{CARRIED_BYTES, GraphRow, MAX_WINDOW, WINDOW_MARGIN};
use super::index::{Found, Lookup};

/// At most this many rows are kept (the newest): 8 writers on one document each push about
/// every 8 changes, so a window rarely reaches further back.
pub const TAIL_ROWS: usize = 64;
/// Heads a tail passed through that a commit may still name as the heads it was checked on
/// (two pushes checked at the same heads, committed together).
const PASSED: usize = 16;
/// What a row takes in memory besides its bytes and dependencies (hash, actor, counters, the
/// map entry), and per dependency.
const ROW_BYTES: usize = 160;
const DEP_BYTES: usize = 32;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Tail {
    /// Sorted.
    heads: Vec<ChangeHash>,
    /// By ascending, consecutive position; each row's `bytes` kept when at most
    /// [`CARRIED_BYTES`] long and known.
    rows: VecDeque<GraphRow>,
    at: HashMap<ChangeHash, u64>,
    /// Earlier heads (sorted) and the newest position then.
    passed: VecDeque<(Vec<ChangeHash>, u64)>,
}

impl Tail {
    /// A tail from a read of the store that carried a window (`None` when it did not, or the
    /// store does not index every change of the document, or `previous` stands at the read's
    /// heads, or is newer than the read and agrees with it: keep that one).
    ///
    /// `previous`: the tail kept until now, if any. The new tail keeps the bytes of its changes
    /// that the read did not carry and, when the read holds the previous tail's rows it covers
    /// at the same positions, the previous tail's older rows and the heads it passed through (a
    /// commit checked on them is still followed). The previous tail's rows follow the store's
    /// order except where another writer's commit came in between, which shifts its newest
    /// rows (it follows nothing after that): the read, which reaches the store's newest
    /// change, then finds them elsewhere.
    pub fn seed(found: &Found, previous: Option<&Tail>) -> Option<Self> {
        if !found.complete || found.window.is_empty() {
            return None;
        }
        let mut heads = found.heads.clone();
        heads.sort_unstable();
        heads.dedup();
        if previous.is_some_and(|p| p.heads == heads) {
            return None;
        }
        let mut rows = found.window.clone();
        rows.sort_by_key(|r| r.pos);
        if rows.windows(2).any(|w| w[1].pos != w[0].pos + 1) {
            return None;
        }
        let mut tail = Tail { heads, rows: VecDeque::new(), at: HashMap::new(), passed: VecDeque::new() };
        for mut row in rows {
            row.bytes = row.bytes.filter(|b| b.len() <= CARRIED_BYTES);
            tail.push(row);
        }
        if let Some(previous) = previous {
            if previous.newest_pos() > tail.newest_pos() && previous.holds_in_order(&tail) {
                return None;
            }
            // A change's bytes are its hash's, whatever the order.
            for row in tail.rows.iter_mut().filter(|r| r.bytes.is_none()) {
                row.bytes = previous.row(&row.hash).and_then(|r| r.bytes.clone());
            }
            if tail.holds_in_order(previous) {
                // The previous tail's older rows, where they meet the read's (trimmed below).
                let older = previous.rows.iter().filter(|r| r.pos < tail.first_pos());
                if older.clone().next_back().is_some_and(|r| r.pos + 1 == tail.first_pos()) && older.clone().all(|r| !tail.at.contains_key(&r.hash)) {
                    for row in older.rev().cloned().collect::<Vec<_>>() {
                        tail.at.insert(row.hash, row.pos);
                        tail.rows.push_front(row);
                    }
                }
                if tail.first_pos() <= previous.first_pos() {
                    tail.passed = previous.passed.clone();
                    tail.passed.push_back((previous.heads.clone(), previous.newest_pos()));
                }
            }
        }
        tail.trim();
        Some(tail)
    }

    /// Whether every row of `other` within this one's positions is the same change at the same
    /// position here (and `other` has rows there).
    fn holds_in_order(&self, other: &Tail) -> bool {
        let mut within = other.rows.iter().filter(|r| (self.first_pos()..=self.newest_pos()).contains(&r.pos)).peekable();
        within.peek().is_some() && within.all(|r| self.at.get(&r.hash) == Some(&r.pos))
    }

    /// The heads the tail stands at, sorted.
    pub fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// What it takes in memory, about.
    pub fn memory(&self) -> usize {
        let rows: usize = self.rows.iter().map(|r| ROW_BYTES + r.deps.len() * DEP_BYTES + r.bytes.as_ref().map_or(0, Vec::len)).sum();
        let passed: usize = self.passed.iter().map(|(h, _)| 16 + h.len() * DEP_BYTES).sum();
        rows + passed + self.heads.len() * DEP_BYTES
    }

    fn first_pos(&self) -> u64 {
        self.rows.front().map_or(0, |r| r.pos)
    }

    fn newest_pos(&self) -> u64 {
        self.rows.back().map_or(0, |r| r.pos)
    }

    fn row(&self, hash: &ChangeHash) -> Option<&GraphRow> {
        self.rows.get(usize::try_from(self.at.get(hash)? - self.first_pos()).ok()?)
    }

    fn push(&mut self, row: GraphRow) {
        self.at.insert(row.hash, row.pos);
        self.rows.push_back(row);
    }

    fn trim(&mut self) {
        while self.rows.len() > TAIL_ROWS {
            if let Some(row) = self.rows.pop_front() {
                self.at.remove(&row.hash);
            }
        }
        // A commit checked on heads older than the rows cannot be followed.
        let first = self.first_pos();
        self.passed.retain(|(_, pos)| pos + 1 >= first);
        while self.passed.len() > PASSED {
            self.passed.pop_front();
        }
    }

    /// What the store would answer to `lookup` if its heads are the tail's, or `None` when the
    /// rows do not settle it. `pushed`: the push's changes, in causal order (a looked-up change
    /// among them that builds on a row is known not to be stored).
    pub fn answer(&self, lookup: &Lookup, pushed: &[&Change]) -> Option<Found> {
        let mut found = Found { complete: true, heads: self.heads.clone(), ..Found::default() };
        // Pushed changes the store cannot hold: each builds on a row or on another such one.
        let mut new: HashSet<ChangeHash> = HashSet::new();
        for change in pushed {
            if !self.at.contains_key(&change.hash()) && change.deps().iter().any(|d| self.at.contains_key(d) || new.contains(d)) {
                new.insert(change.hash());
            }
        }
        let mut anchor: Option<u64> = None;
        for hash in &lookup.deps {
            match self.row(hash) {
                Some(row) => {
                    found.deps_last_op.insert(*hash, row.last_op);
                    anchor = Some(anchor.map_or(row.pos, |a| a.min(row.pos)));
                }
                None if new.contains(hash) => {}
                None => return None,
            }
        }
        // An author's changes are a chain (each builds on the one before, and the checks make a
        // change's ops newer than everything it builds on), so its last is its newest row.
        for actor in &lookup.actors {
            let last = self.rows.iter().filter(|r| r.actor == *actor).max_by_key(|r| r.last_op)?;
            found.actor_seqs.insert(actor.clone(), last.seq);
        }
        let mut holding: Vec<u64> = Vec::new();
        for (actor, counter) in &lookup.ops {
            if let Some(row) = self.op_row(actor, *counter)?
                && !holding.contains(&row.pos)
            {
                holding.push(row.pos);
                found.changes.push(row.bytes.clone()?);
            }
        }
        if lookup.window
            && let Some(anchor) = anchor
        {
            let from = anchor.saturating_sub(WINDOW_MARGIN);
            if self.first_pos() > from.max(1) {
                return None;
            }
            let rows = self.rows.iter().filter(|r| r.pos >= from);
            let skip = rows.clone().count().saturating_sub(MAX_WINDOW);
            found.window = rows.skip(skip).map(|r| GraphRow { bytes: r.bytes.clone().filter(|_| r.pos > anchor), ..r.clone() }).collect();
        }
        Some(found)
    }

    /// The row holding op `counter` of `actor`: `Some(None)` when the document has no such op
    /// (the actor's changes from its oldest row on are all rows), `None` when the rows cannot
    /// tell.
    fn op_row(&self, actor: &ActorId, counter: u64) -> Option<Option<&GraphRow>> {
        let mut mine = self.rows.iter().filter(|r| r.actor == *actor).peekable();
        if counter < mine.peek()?.start_op {
            return None;
        }
        Some(mine.find(|r| (r.start_op..=r.last_op).contains(&counter)))
    }

    /// Follows a commit of `changes` (in causal order) that were checked against the store at
    /// heads `before` (sorted). `false` when the tail cannot follow it (it was checked on heads
    /// the tail did not pass through, or so long ago that its rows are gone): drop the tail.
    pub fn advance(&mut self, before: &[ChangeHash], changes: &[NewChange]) -> bool {
        // Already rows (a read after the commit brought them): nothing to follow.
        let added: Vec<&NewChange> = changes.iter().filter(|c| !self.at.contains_key(&c.hash)).collect();
        if added.is_empty() {
            return true;
        }
        let since = if before == self.heads.as_slice() {
            self.newest_pos()
        } else {
            match self.passed.iter().find(|(heads, _)| heads.as_slice() == before) {
                Some((_, pos)) => *pos,
                None => return false,
            }
        };
        if self.first_pos() > since + 1 {
            return false;
        }
        self.passed.push_back((self.heads.clone(), self.newest_pos()));
        for c in added {
            super::recent::step(&mut self.heads, c.hash, &c.deps);
            let pos = self.newest_pos() + 1;
            let bytes = (c.bytes.len() <= CARRIED_BYTES).then(|| c.bytes.clone());
            let row = GraphRow { hash: c.hash, deps: c.deps.clone(), actor: c.actor.clone(), seq: c.seq, start_op: c.start_op, last_op: c.last_op, pos, bytes };
            self.push(row);
        }
        self.trim();
        true
    }
}
