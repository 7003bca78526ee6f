//! What the sync-core benchmarks share.

use automerge::{ActorId, Automerge, ROOT, transaction::Transactable};

/// A document of `changes` changes by 8 authors taking turns, one map put each (as in the
/// shared-document benchmarks).
pub fn shared_doc(changes: usize) -> Automerge {
    let mut doc = Automerge::new();
    for i in 0..changes {
        let mut author = doc.fork().with_actor(ActorId::from(vec![(i % 8) as u8 + 1]));
        let mut tx = author.transaction();
        tx.put(ROOT, format!("n{}", i % 8), i as i64).expect("put");
        tx.commit();
        doc.merge(&mut author).expect("merge");
    }
    doc
}
