//! Documents' newest changes kept between HTTP syncs (a cache of [`Tail`]s): the fast path's
//! read of a shared document answered from memory.
//!
//! A lookup hits only when the heads the caller just read from the database (with the user's
//! role, in the same request) are the tail's, and the tail answers only what its rows settle
//! (see [`Tail`]); anything else reads the database as before. Nothing relies on it: an
//! instance that restarts, a document evicted, a commit the tail could not follow (another
//! instance's, or a full merge's) only costs the read it saves. Bounded by the memory the tails
//! take; the least recently used are evicted first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sync_core::Heads;
use sync_core::automerge::{Change, ChangeHash};
use sync_core::server::{Found, Lookup, NewChange, Tail};

use crate::ports::Committed;

pub struct Tails {
    max_memory: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Entry>,
    memory: usize,
    clock: u64,
}

struct Entry {
    tail: Tail,
    memory: usize,
    used: u64,
}

impl Default for Tails {
    /// 8 MiB: about 300 documents of small changes, at least 30 of the largest rows.
    fn default() -> Self {
        Self::new(8 << 20)
    }
}

impl Tails {
    /// A cache of tails taking at most `max_memory` bytes (about; 0: keeps none).
    pub fn new(max_memory: usize) -> Self {
        Self { max_memory, inner: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store's answer to `lookup` for document `id` whose heads were just read as `heads`,
    /// if its tail stands there and settles it. `pushed`: the push's changes, in causal order.
    pub fn answer(&self, id: &str, heads: &Heads, lookup: &Lookup, pushed: &[&Change]) -> Option<Found> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.docs.get_mut(id).filter(|e| e.tail.heads() == heads.as_slice())?;
        entry.used = clock;
        entry.tail.answer(lookup, pushed)
    }

    /// Keeps the tail a read of `id` from the store (`found`) gives, unless the one kept is as
    /// new (see [`Tail::seed`]).
    pub fn seed(&self, id: &str, found: &Found) {
        if self.max_memory == 0 {
            return;
        }
        let mut inner = self.lock();
        let Some(tail) = Tail::seed(found, inner.docs.get(id).map(|e| &e.tail)) else { return };
        self.put(&mut inner, id, tail);
    }

    /// Whether a tail of `id` is kept (only then is there a commit to follow).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().docs.contains_key(id)
    }

    /// Whether a read of `id` from the store should bring the window to seed a tail from:
    /// tails are kept, and none of `id` is.
    pub fn wants(&self, id: &str) -> bool {
        self.max_memory > 0 && !self.contains(id)
    }

    /// What follows the commit of `writes` (document, the heads its push was checked against,
    /// its changes): each document's kept tail follows its changes ([`Tails::advance`]).
    /// Documents without a kept tail, and writes without changes, are left out (nothing copied).
    pub fn follow<'w>(self: &Arc<Self>, writes: impl Iterator<Item = (&'w String, Vec<ChangeHash>, &'w [NewChange])>) -> Committed {
        let follow: Vec<_> =
            writes.filter(|(id, _, changes)| !changes.is_empty() && self.contains(id)).map(|(id, on, changes)| (id.clone(), on, changes.to_vec())).collect();
        let tails = self.clone();
        Box::new(move || {
            for (id, checked_on, changes) in follow {
                tails.advance(&id, &checked_on, &changes);
            }
        })
    }

    /// Follows a commit of `changes` to `id`, checked against the store at heads `before`. A
    /// tail that cannot follow it stays where it stands (still exact there; the next read of
    /// the store replaces it).
    pub fn advance(&self, id: &str, before: &[ChangeHash], changes: &[NewChange]) {
        let mut inner = self.lock();
        let Some(mut entry) = inner.docs.remove(id) else { return };
        inner.memory -= entry.memory;
        entry.tail.advance(before, changes);
        self.put(&mut inner, id, entry.tail);
    }

    fn put(&self, inner: &mut Inner, id: &str, tail: Tail) {
        let memory = tail.memory() + id.len();
        if memory > self.max_memory {
            return;
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.memory += memory;
        if let Some(old) = inner.docs.insert(id.to_owned(), Entry { tail, memory, used }) {
            inner.memory -= old.memory;
        }
        if inner.memory > self.max_memory {
            // The least recently used go, down to three quarters of the budget: one sort per
            // many insertions.
            let mut by_use: Vec<(u64, String)> = inner.docs.iter().map(|(k, e)| (e.used, k.clone())).collect();
            by_use.sort_unstable();
            for (_, key) in by_use {
                if inner.memory <= self.max_memory / 4 * 3 {
                    break;
                }
                if let Some(e) = inner.docs.remove(&key) {
                    inner.memory -= e.memory;
                }
            }
        }
    }

    /// The memory the kept tails take (about).
    pub fn memory(&self) -> usize {
        self.lock().memory
    }
}
