//! The kept-document cache's memory estimate (`service::loaded::memory`) is an upper bound of
//! what automerge allocates for a loaded document, for the shapes a document takes: one small
//! change, many changes (loaded from a saved document or from change rows, as the store holds
//! them), long text in one change and in many. The cache's budget is only as good as this.
//!
//! A binary of its own with one test: the allocator below counts every allocation of the
//! process, so nothing else may run while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use edge_app::service::loaded::memory;
use sync_core::automerge::transaction::Transactable;
use sync_core::automerge::{AutoCommit, Automerge, ObjType, ROOT};
use sync_core::document::StoredDoc;

/// Bytes allocated and not yet freed.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Bytes one document loaded by `load` holds (the mean over 3 copies).
fn held(load: impl Fn() -> Automerge) -> i64 {
    let before = LIVE.load(Relaxed);
    let docs: Vec<Automerge> = (0..3).map(|_| load()).collect();
    let held = (LIVE.load(Relaxed) - before) as i64 / 3;
    drop(docs);
    held
}

#[test]
fn the_estimate_bounds_what_loaded_documents_hold() {
    let mut shapes: Vec<(String, AutoCommit)> = Vec::new();
    for changes in [1, 100, 1000] {
        let mut doc = AutoCommit::new();
        for n in 0..changes {
            doc.put(ROOT, format!("k{}", n % 7), n as i64).unwrap();
            doc.commit();
        }
        shapes.push((format!("{changes} changes of one put"), doc));
    }
    let mut long = AutoCommit::new();
    let text = long.put_object(ROOT, "text", ObjType::Text).unwrap();
    long.splice_text(&text, 0, 0, &"lorem ipsum ".repeat(1000)).unwrap();
    long.commit();
    shapes.push(("one change of 12,000 characters".into(), long));
    let mut typed = AutoCommit::new();
    let text = typed.put_object(ROOT, "text", ObjType::Text).unwrap();
    typed.commit();
    for n in 0..500 {
        typed.splice_text(&text, n * 5, 0, "hello").unwrap();
        typed.commit();
    }
    shapes.push(("500 changes of five characters".into(), typed));

    for (shape, mut doc) in shapes {
        let saved = doc.save();
        let rows: Vec<Vec<u8>> = doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
        let loaded = Automerge::load(&saved).unwrap();
        let estimate = memory(&loaded) as i64;
        let from_saved = held(|| Automerge::load(&saved).unwrap());
        // As the store loads rows (all at once), and as a kept copy catches up (one by one).
        let from_rows = held(|| sync_core::document::load(StoredDoc { snapshot: None, changes: &rows }).unwrap());
        let caught_up = held(|| {
            let mut doc = Automerge::new();
            for row in &rows {
                doc.load_incremental(row).unwrap();
            }
            doc
        });
        let most = from_saved.max(from_rows).max(caught_up);
        println!("{shape}: {} saved bytes, estimate {estimate}, held {from_saved} / {from_rows} / {caught_up}", saved.len());
        assert!(most <= estimate, "{shape}: estimated {estimate} bytes, held {from_saved} loaded saved, {from_rows} from rows, {caught_up} caught up");
        // Not so far above that the budget keeps a fraction of what it could.
        assert!(estimate <= 8 * most, "{shape}: estimated {estimate} bytes for at most {most}");
    }
}
