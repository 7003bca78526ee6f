//! Random histories for the automerge-repo property tests: several actors forking and merging.

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, ChangeHash, ROOT};

/// A history of three replicas: each step either commits on one replica or merges one replica
/// into another. Returns the document holding every replica's changes, and the heads a replica
/// had after each step (what a peer may name).
pub fn history(steps: &[(u8, u8, bool)]) -> (Automerge, Vec<Vec<ChangeHash>>) {
    let mut base = AutoCommit::new();
    let mut replicas: Vec<AutoCommit> = (0..3u8).map(|i| base.fork().with_actor(ActorId::from(vec![i + 1]))).collect();
    let mut seen = Vec::new();
    for (n, &(a, b, merge)) in steps.iter().enumerate() {
        let (a, b) = (usize::from(a % 3), usize::from(b % 3));
        if merge && a != b {
            let mut other = replicas[b].clone();
            replicas[a].merge(&mut other).unwrap();
        } else {
            replicas[a].put(ROOT, format!("k{}", n % 5), n as i64).unwrap();
            replicas[a].commit();
        }
        seen.push(replicas[a].get_heads());
    }
    let mut doc = replicas[0].clone();
    for r in &mut replicas[1..] {
        doc.merge(r).unwrap();
    }
    (doc.document().clone(), seen)
}
