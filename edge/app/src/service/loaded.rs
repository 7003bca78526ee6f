//! Documents kept loaded between the messages of automerge-repo connections.
//!
//! automerge's sync protocol answers from a loaded document (its change graph and bloom
//! filters), and one commit to a shared document is answered, then pushed, to every
//! connection of the document: without this cache each of them would read and load the whole
//! document again. An entry is the document as loaded at some stored heads, and a lookup hits
//! only when the caller read exactly those heads from the database just before, so a hit is
//! never stale; a miss loads from the store as before. Nothing relies on it: an instance that
//! restarts, or a document evicted, only costs a load.
//!
//! A document is loaded once however many connections want it at once: the others wait for
//! that load (its heads are at least as new as the ones they read) instead of loading it too.
//!
//! Bounded by the memory the kept documents take, estimated from their changes and operations
//! ([`memory`]; their stored bytes say little: a compacted document takes 70–125 times its
//! saved size in memory), and by count; the least recently used entries are evicted first,
//! and a document larger than the whole budget is never kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::lock::Mutex as AsyncMutex;

use sync_core::automerge::{Automerge, ReadDoc};
use sync_core::server::{AUTHORS_BYTES_PER_CHANGE, KeptDoc, RECENT_MEMORY};

/// A loaded document, shared by the connections answering from it. Answers only read it
/// (their messages' changes are stripped: the store has applied them already), but automerge's
/// sync API takes `&mut`; pushes are checked on it ([`KeptDoc::check`]) and committed changes
/// applied to it ([`KeptDoc::apply`]).
pub type Shared = Arc<Mutex<KeptDoc>>;

/// Documents kept at most, whatever their size.
const MAX_ENTRIES: usize = 10_000;

/// What a loaded document takes in memory at least, and per change and per operation, with
/// automerge 0.12: an empty or one-change document 15–17 KiB, 140–290 bytes per change (the
/// most when loaded from change rows), 1–16 bytes per operation. Chosen so that the estimate
/// is at least what automerge allocates for every document shape tested
/// (`edge/app/tests/loaded_memory.rs`, which fails if an upgrade makes it an underestimate).
const BASE_BYTES: u64 = 18 << 10;
const BYTES_PER_CHANGE: u64 = 300;
const BYTES_PER_OP: u64 = 8;
/// At least, with [`KeptDoc`]'s log of recent changes.
const KEPT_BASE_BYTES: u64 = BASE_BYTES + RECENT_MEMORY;
/// Per change, with what [`KeptDoc`] keeps beside the document for checks.
const KEPT_BYTES_PER_CHANGE: u64 = BYTES_PER_CHANGE + AUTHORS_BYTES_PER_CHANGE;

/// The memory `doc` takes, estimated from its counts (automerge does not report its
/// allocations; [`ReadDoc::stats`] is constant-time), with what a [`KeptDoc`] keeps beside it
/// for checks (counted whether or not a check has read it yet) and its log of recent changes
/// (counted full).
pub fn memory(doc: &Automerge) -> u64 {
    let stats = doc.stats();
    KEPT_BASE_BYTES + stats.num_changes.saturating_mul(KEPT_BYTES_PER_CHANGE) + stats.num_ops.saturating_mul(BYTES_PER_OP)
}

pub struct LoadedDocs {
    /// The memory the kept documents may take (their [`memory`] estimates).
    max_memory: u64,
    inner: Mutex<Inner>,
    /// One load at a time per document (entries only while someone loads or waits).
    loading: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    /// Jobs on kept copies running on the compute pool now (see [`LoadedDocs::pool_job`]).
    pool_jobs: AtomicUsize,
}

/// Counts a job on the compute pool while it lives.
pub struct PoolJob<'a>(&'a AtomicUsize);

impl Drop for PoolJob<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Entry>,
    /// The kept documents' memory estimates, summed.
    memory: u64,
    clock: u64,
    /// The clock at the last [`LoadedDocs::sweep`].
    swept: u64,
}

struct Entry {
    heads: String,
    /// The highest change row `seq` applied (a copy catches up from there).
    seq: i64,
    doc: Shared,
    /// Stored bytes it was loaded from (and applied since): how large work on it is.
    bytes: u64,
    /// Its [`memory`] estimate.
    memory: u64,
    used: u64,
    /// When it was loaded or last advanced (the cache's clock).
    loaded: u64,
}

/// A kept copy at other heads than wanted, for [`LoadedDocs::get_or_load`]'s loader.
pub struct Stale {
    pub doc: Shared,
    /// The highest change row `seq` it holds.
    pub seq: i64,
}

/// What a loader did.
pub enum Fresh {
    /// Loaded the document whole: at `heads`, holding change rows up to `seq`, from `bytes`
    /// stored bytes.
    Loaded { heads: String, seq: i64, doc: Box<Automerge>, bytes: u64 },
    /// Applied the change rows after the stale copy's `seq` to it (`added` bytes): it now
    /// stands at `heads`, holding rows up to `seq`, and takes `memory` ([`memory`]).
    CaughtUp { doc: Shared, heads: String, seq: i64, added: u64, memory: u64 },
}

impl Default for LoadedDocs {
    /// 64 MiB.
    fn default() -> Self {
        Self::new(64 << 20)
    }
}

impl LoadedDocs {
    /// A cache of documents taking at most `max_memory` bytes (estimated; 0: keeps nothing).
    pub fn new(max_memory: u64) -> Self {
        Self { max_memory, inner: Mutex::default(), loading: Mutex::default(), pool_jobs: AtomicUsize::new(0) }
    }

    /// Document `id` at `heads` (just read from the store) or later: kept, or brought up to
    /// date by `load` and kept. `load` gets the kept copy at other heads, if any, to catch up
    /// from; it returns what it did, or `None` if the document is gone. Concurrent callers
    /// share one load.
    pub async fn get_or_load<E, Fut>(&self, id: &str, heads: &str, load: impl FnOnce(Option<Stale>) -> Fut) -> Result<Option<Shared>, E>
    where
        Fut: Future<Output = Result<Option<Fresh>, E>>,
    {
        if let Some(doc) = self.get(id, heads) {
            return Ok(Some(doc));
        }
        let since = self.lock().clock;
        let gate = self.loading.lock().unwrap_or_else(|e| e.into_inner()).entry(id.to_owned()).or_default().clone();
        let turn = gate.lock().await;
        // Loaded (or advanced) by another caller while this one waited: stored after `heads`
        // were read, so at least as new.
        let kept = {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            inner.docs.get_mut(id).filter(|e| e.heads == heads || e.loaded > since).map(|e| {
                e.used = clock;
                e.doc.clone()
            })
        };
        let result = match kept {
            Some(doc) => Ok(Some(doc)),
            None => {
                let stale = self.lock().docs.get(id).map(|e| Stale { doc: e.doc.clone(), seq: e.seq });
                load(stale).await.map(|fresh| fresh.map(|fresh| self.keep(id, fresh)))
            }
        };
        drop(turn);
        let mut loading = self.loading.lock().unwrap_or_else(|e| e.into_inner());
        // Only the map and this caller hold it: nobody waits.
        if Arc::strong_count(&gate) <= 2 {
            loading.remove(id);
        }
        result
    }

    /// Document `id` as loaded at exactly `heads` (the stored heads' text form), if kept.
    pub fn get(&self, id: &str, heads: &str) -> Option<Shared> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.docs.get_mut(id).filter(|e| e.heads == heads)?;
        entry.used = clock;
        Some(entry.doc.clone())
    }

    fn keep(&self, id: &str, fresh: Fresh) -> Shared {
        match fresh {
            Fresh::Loaded { heads, seq, doc, bytes } => self.put(id, heads, seq, *doc, bytes),
            Fresh::CaughtUp { doc, heads, seq, added, memory } => {
                let mut inner = self.lock();
                inner.clock += 1;
                let clock = inner.clock;
                if let Some(entry) = inner.docs.get_mut(id).filter(|e| Arc::ptr_eq(&e.doc, &doc)) {
                    (entry.heads, entry.seq, entry.loaded, entry.used) = (heads, seq, clock, clock);
                    entry.bytes += added;
                    let before = std::mem::replace(&mut entry.memory, memory);
                    inner.memory = inner.memory - before + memory;
                    self.evict(&mut inner);
                }
                doc
            }
        }
    }

    /// Keeps `doc`, loaded at `heads` (change rows up to `seq`) from `bytes` stored bytes, in
    /// place of any older copy of `id`; returns it shared.
    pub fn put(&self, id: &str, heads: String, seq: i64, doc: Automerge, bytes: u64) -> Shared {
        let memory = memory(&doc);
        let doc: Shared = Arc::new(Mutex::new(KeptDoc::new(doc)));
        if memory > self.max_memory {
            self.forget(id);
            return doc;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.docs.insert(id.to_owned(), Entry { heads, seq, doc: doc.clone(), bytes, memory, used, loaded: used }) {
            inner.memory -= old.memory;
        }
        inner.memory += memory;
        self.evict(&mut inner);
        doc
    }

    /// Drops the least recently used entries until the cache is within its budget.
    fn evict(&self, inner: &mut Inner) {
        while inner.memory > self.max_memory || inner.docs.len() > MAX_ENTRIES {
            // A scan, bounded by MAX_ENTRIES, only when over budget.
            let Some(oldest) = inner.docs.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = inner.docs.remove(&oldest) {
                inner.memory -= gone.memory;
            }
        }
    }

    /// Records that `doc`, the copy of `id` kept at `from`, now stands at `to`, `added` stored
    /// bytes larger and taking `memory` (its holder applied the changes committed in between).
    /// Nothing changes if another copy took its place meanwhile.
    pub fn advanced(&self, id: &str, doc: &Shared, from: &str, to: &str, added: u64, memory: u64) {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let Some(entry) = inner.docs.get_mut(id).filter(|e| e.heads == from && Arc::ptr_eq(&e.doc, doc)) else { return };
        entry.heads = to.to_owned();
        entry.bytes += added;
        entry.loaded = clock;
        let before = std::mem::replace(&mut entry.memory, memory);
        inner.memory = inner.memory - before + memory;
        // A kept document grows with its changes: the budget holds for growth too.
        self.evict(&mut inner);
    }

    /// The stored bytes the kept copy of `id` was loaded from, if one is kept.
    pub fn bytes(&self, id: &str) -> Option<u64> {
        self.lock().docs.get(id).map(|e| e.bytes)
    }

    /// Marks a job on a kept copy as running on the compute pool until the guard drops: such a
    /// job may hold a copy's lock for long, which work on the calling task must not wait for.
    pub fn pool_job(&self) -> PoolJob<'_> {
        self.pool_jobs.fetch_add(1, Ordering::Relaxed);
        PoolJob(&self.pool_jobs)
    }

    /// Whether a job marked by [`Self::pool_job`] may be running.
    pub fn pool_busy(&self) -> bool {
        self.pool_jobs.load(Ordering::Relaxed) > 0
    }

    /// Drops any copy of `id` (for instance after automerge panicked on it).
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(gone) = inner.docs.remove(id) {
            inner.memory -= gone.memory;
        }
    }

    /// Drops the documents not used since the previous sweep; returns how many. Called on an
    /// interval (the native server: every minute), it frees what a burst of work left kept
    /// once the documents go idle, whatever the budget.
    pub fn sweep(&self) -> usize {
        let mut inner = self.lock();
        let now = inner.clock;
        let since = std::mem::replace(&mut inner.swept, now);
        let before = inner.docs.len();
        let mut freed = 0;
        inner.docs.retain(|_, e| {
            let keep = e.used > since;
            if !keep {
                freed += e.memory;
            }
            keep
        });
        inner.memory -= freed;
        before - inner.docs.len()
    }

    /// Documents kept, and the memory they take (estimated).
    pub fn usage(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.docs.len(), inner.memory)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_jobs_are_counted_while_their_guards_live() {
        let docs = LoadedDocs::new(1 << 20);
        assert!(!docs.pool_busy());
        let (a, b) = (docs.pool_job(), docs.pool_job());
        drop(a);
        assert!(docs.pool_busy(), "one job still runs");
        drop(b);
        assert!(!docs.pool_busy());
    }

    /// A document of `changes` changes of one map put each.
    fn doc(changes: usize) -> Automerge {
        use sync_core::automerge::transaction::Transactable;
        let mut doc = sync_core::automerge::AutoCommit::new();
        for n in 0..changes {
            doc.put(sync_core::automerge::ROOT, "n", n as i64).unwrap();
            doc.commit();
        }
        doc.document().clone()
    }

    #[test]
    fn a_hit_needs_the_same_heads_and_the_budget_evicts_the_least_recently_used() {
        let one = memory(&Automerge::new());
        assert_eq!(one, KEPT_BASE_BYTES);
        let cache = LoadedDocs::new(2 * one + one / 2);
        cache.put("a", "h1".into(), 1, Automerge::new(), 40);
        cache.put("b", "h1".into(), 1, Automerge::new(), 40);
        assert!(cache.get("a", "h1").is_some());
        assert!(cache.get("a", "h2").is_none(), "other heads: a miss");
        cache.put("c", "h1".into(), 1, Automerge::new(), 40);
        assert!(cache.get("b", "h1").is_none(), "b was the least recently used");
        assert!(cache.get("a", "h1").is_some() && cache.get("c", "h1").is_some());
        assert_eq!(cache.usage(), (2, 2 * one));
        cache.put("a", "h2".into(), 2, doc(3), 50);
        assert_eq!(cache.usage(), (2, one + one + 3 * (KEPT_BYTES_PER_CHANGE + BYTES_PER_OP)), "a newer copy replaces the older");
        cache.put("huge", "h".into(), 1, doc(400), 1);
        assert!(cache.get("huge", "h").is_none(), "larger than the budget, however small stored: not kept");
        cache.forget("a");
        assert_eq!(cache.usage(), (1, one));
        // Growth counts too: advancing a kept copy past the budget evicts the others first.
        cache.put("d", "h1".into(), 1, Automerge::new(), 40);
        let d = cache.get("d", "h1").unwrap();
        cache.advanced("d", &Arc::default(), "h1", "h2", 30, 2 * one);
        assert_eq!(cache.usage(), (2, 2 * one), "another copy than the one kept: nothing changes");
        cache.advanced("d", &d, "h1", "h2", 30, one + 3 * one / 4);
        assert_eq!(cache.usage(), (1, one + 3 * one / 4), "c went to make room for d's growth");
        assert_eq!(cache.bytes("d"), Some(70), "the stored bytes applied are counted apart");
        cache.advanced("d", &d, "h2", "h3", 40, 3 * one);
        assert_eq!(cache.usage(), (0, 0), "a copy grown past the whole budget is dropped");
    }

    #[test]
    fn a_sweep_drops_what_was_not_used_since_the_previous_one() {
        let cache = LoadedDocs::new(1 << 30);
        cache.put("a", "h".into(), 1, Automerge::new(), 1);
        cache.put("b", "h".into(), 1, Automerge::new(), 1);
        assert_eq!(cache.sweep(), 0, "both used since the start");
        assert!(cache.get("a", "h").is_some());
        assert_eq!(cache.sweep(), 1, "b was idle");
        assert_eq!(cache.usage(), (1, KEPT_BASE_BYTES));
        assert!(cache.get("b", "h").is_none());
        assert_eq!(cache.sweep(), 1, "then a");
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn the_estimate_bounds_what_a_small_document_takes_whatever_its_stored_size() {
        // Sixty one-put changes save to a few hundred bytes; loaded they take kilobytes.
        let doc = doc(60);
        let saved = doc.save().len() as u64;
        let estimate = memory(&doc);
        assert!(estimate > 50 * saved, "{estimate} bytes estimated for {saved} saved");
        assert_eq!(estimate, KEPT_BASE_BYTES + 60 * (KEPT_BYTES_PER_CHANGE + BYTES_PER_OP));
    }
}
