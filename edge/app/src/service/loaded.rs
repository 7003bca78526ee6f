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
//! Bounded by the documents' stored bytes (their compressed size, as the store counts them;
//! loaded, a document takes several times that) and by count; the least recently used
//! entries are evicted first, and a document larger than the whole budget is never kept.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::lock::Mutex as AsyncMutex;

use sync_core::automerge::Automerge;

/// A loaded document, shared by the connections answering from it. Answers only read it
/// (their messages' changes are stripped: the store has applied them already), but automerge's
/// sync API takes `&mut`.
pub type Shared = Arc<Mutex<Automerge>>;

/// Documents kept at most, whatever their size.
const MAX_ENTRIES: usize = 10_000;

pub struct LoadedDocs {
    max_bytes: u64,
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
    bytes: u64,
    clock: u64,
}

struct Entry {
    heads: String,
    /// The highest change row `seq` applied (a copy catches up from there).
    seq: i64,
    doc: Shared,
    bytes: u64,
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
    /// stands at `heads`, holding rows up to `seq`.
    CaughtUp { doc: Shared, heads: String, seq: i64, added: u64 },
}

impl Default for LoadedDocs {
    /// 64 MiB of stored bytes.
    fn default() -> Self {
        Self::new(64 << 20)
    }
}

impl LoadedDocs {
    /// A cache of at most `max_bytes` stored bytes (0: keeps nothing).
    pub fn new(max_bytes: u64) -> Self {
        Self { max_bytes, inner: Mutex::default(), loading: Mutex::default(), pool_jobs: AtomicUsize::new(0) }
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
            Fresh::CaughtUp { doc, heads, seq, added } => {
                let mut inner = self.lock();
                inner.clock += 1;
                let clock = inner.clock;
                if let Some(entry) = inner.docs.get_mut(id).filter(|e| Arc::ptr_eq(&e.doc, &doc)) {
                    (entry.heads, entry.seq, entry.loaded, entry.used) = (heads, seq, clock, clock);
                    entry.bytes += added;
                    inner.bytes += added;
                    self.evict(&mut inner);
                }
                doc
            }
        }
    }

    /// Keeps `doc`, loaded at `heads` (change rows up to `seq`) from `bytes` stored bytes, in
    /// place of any older copy of `id`; returns it shared.
    pub fn put(&self, id: &str, heads: String, seq: i64, doc: Automerge, bytes: u64) -> Shared {
        let doc: Shared = Arc::new(Mutex::new(doc));
        if bytes > self.max_bytes {
            self.forget(id);
            return doc;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.docs.insert(id.to_owned(), Entry { heads, seq, doc: doc.clone(), bytes, used, loaded: used }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        self.evict(&mut inner);
        doc
    }

    /// Drops the least recently used entries until the cache is within its budget.
    fn evict(&self, inner: &mut Inner) {
        while inner.bytes > self.max_bytes || inner.docs.len() > MAX_ENTRIES {
            // A scan, bounded by MAX_ENTRIES, only when over budget.
            let Some(oldest) = inner.docs.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = inner.docs.remove(&oldest) {
                inner.bytes -= gone.bytes;
            }
        }
    }

    /// Records that the copy of `id` kept at `from` now stands at `to`, `added` stored bytes
    /// larger (its holder applied the changes committed in between).
    pub fn advanced(&self, id: &str, from: &str, to: &str, added: u64) {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let Some(entry) = inner.docs.get_mut(id).filter(|e| e.heads == from) else { return };
        entry.heads = to.to_owned();
        entry.bytes += added;
        entry.loaded = clock;
        inner.bytes += added;
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
            inner.bytes -= gone.bytes;
        }
    }

    /// Documents kept, and their stored bytes.
    pub fn usage(&self) -> (usize, u64) {
        let inner = self.lock();
        (inner.docs.len(), inner.bytes)
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

    #[test]
    fn a_hit_needs_the_same_heads_and_the_budget_evicts_the_least_recently_used() {
        let cache = LoadedDocs::new(100);
        cache.put("a", "h1".into(), 1, Automerge::new(), 40);
        cache.put("b", "h1".into(), 1, Automerge::new(), 40);
        assert!(cache.get("a", "h1").is_some());
        assert!(cache.get("a", "h2").is_none(), "other heads: a miss");
        cache.put("c", "h1".into(), 1, Automerge::new(), 40);
        assert!(cache.get("b", "h1").is_none(), "b was the least recently used");
        assert!(cache.get("a", "h1").is_some() && cache.get("c", "h1").is_some());
        assert_eq!(cache.usage(), (2, 80));
        cache.put("a", "h2".into(), 2, Automerge::new(), 50);
        assert_eq!(cache.usage(), (2, 90), "a newer copy replaces the older");
        cache.put("huge", "h".into(), 1, Automerge::new(), 101);
        assert!(cache.get("huge", "h").is_none(), "larger than the budget: not kept");
        cache.forget("a");
        assert_eq!(cache.usage(), (1, 40));
        // Growth counts too: advancing a kept copy past the budget evicts the others first.
        cache.put("d", "h1".into(), 1, Automerge::new(), 40);
        cache.advanced("d", "h1", "h2", 30);
        assert_eq!(cache.usage(), (1, 70), "c went to make room for d's growth");
        cache.advanced("d", "h2", "h3", 40);
        assert_eq!(cache.usage(), (0, 0), "a copy grown past the whole budget is dropped");
    }
}
