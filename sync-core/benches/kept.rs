//! What checking a push on a kept copy costs as the document's history grows
//! (`sync_core::server::check_kept` reads the authors every time; the automerge-repo route checks
//! on a `KeptDoc`, when the copy stands at the stored heads).
//!
//! Run with `cargo bench -p edgesync-sync-core --bench kept`. Each document is built by 8
//! authors taking turns (one map put each, as in the shared-document benchmarks); the push is one
//! more put by one of them on the current heads. Prints one Markdown table: microseconds per
//! check, median of 5 batches of 200, on the document as loaded (`check_kept`: the authors
//! read every time) and on a `KeptDoc` (read once and kept, as the route keeps its copies).

mod support;

use std::time::Instant;

use automerge::{ActorId, ROOT, transaction::Transactable};
use support::shared_doc;
use sync_core::server::{self, Access};
use sync_core::{DocRequest, DocumentId, Heads, Limits};

fn main() {
    println!("| changes in the document | check_kept, µs per push | KeptDoc::check, µs per push | ratio |");
    println!("|---:|---:|---:|---:|");
    for changes in [100usize, 300, 500, 1_000, 3_000, 10_000] {
        let doc = shared_doc(changes);
        let heads = doc.get_heads();
        let mut client = doc.fork().with_actor(ActorId::from(vec![3]));
        let mut tx = client.transaction();
        tx.put(ROOT, "n2", -1).expect("put");
        tx.commit();
        let chunks = client.get_changes(&heads).iter().map(|c| c.raw_bytes().to_vec()).collect();
        let request = DocRequest { doc_id: DocumentId::from_bytes([1; 16]), have: Heads::new(heads), heads: Heads::new(client.get_heads()), chunks };
        let mut kept = server::KeptDoc::new(doc.clone());
        let time = |check: &mut dyn FnMut(&[automerge::Change]) -> Option<server::Checked>| {
            let mut batches: Vec<f64> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..200 {
                        let pushed = sync_core::chunk::changes_from_chunks(&request.chunks, &Limits::DEFAULT).expect("a valid change");
                        let checked = check(&pushed).expect("checked");
                        assert_eq!(checked.new_changes.len(), 1, "the push is accepted");
                    }
                    t.elapsed().as_secs_f64() * 1e6 / 200.0
                })
                .collect();
            batches.sort_by(f64::total_cmp);
            batches[2]
        };
        let fresh = time(&mut |pushed| server::check_kept(&doc, request.doc_id, pushed, Access::ReadWrite, &Limits::DEFAULT));
        let on_kept = time(&mut |pushed| kept.check(request.doc_id, pushed, Access::ReadWrite, &Limits::DEFAULT));
        println!("| {changes} | {fresh:.1} | {on_kept:.1} | {:.2} |", on_kept / fresh);
    }
}
