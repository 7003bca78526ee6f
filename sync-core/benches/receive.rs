//! What receiving an acknowledgement (a sync message without changes) costs as the document's
//! history grows: automerge's `receive_sync_message` against
//! `sync_core::automerge_repo::receive_without_changes`, which the automerge-repo route uses.
//!
//! Run with `cargo bench -p edgesync-sync-core --bench receive`. Each document is built by 8
//! authors taking turns (one map put each, as in the shared-document benchmarks). The server has
//! just sent a peer the newest change; the peer's acknowledgement names the document's heads
//! with a bloom filter of nothing new, as automerge's peers send it. Prints one Markdown table:
//! microseconds per message, median of 5 batches of 200, both measured in the same run.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use automerge::sync::{BloomFilter, ChunkList, Have, Message, MessageFlags, MessageVersion, State, SyncDoc};
use support::shared_doc;
use sync_core::automerge_repo::receive_without_changes;

/// Microseconds per call of `f`, median of 5 batches of 200.
fn micros(mut f: impl FnMut()) -> f64 {
    let mut batches: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..200 {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[2]
}

fn main() {
    println!("| changes in the document | automerge receive_sync_message, µs | receive_without_changes, µs | ratio |");
    println!("|---:|---:|---:|---:|");
    for changes in [100usize, 1_000, 10_000] {
        let mut doc = shared_doc(changes);
        let heads = doc.get_heads();
        let newest = doc.get_changes(&[]).last().expect("a change").hash();
        let state = State { sent_hashes: BTreeSet::from([newest]), in_flight: true, ..State::default() };
        let mut flags = MessageFlags::new();
        flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
        let ack = Message {
            heads: heads.clone(),
            need: Vec::new(),
            have: vec![Have { last_sync: heads.clone(), bloom: BloomFilter::default() }],
            changes: ChunkList::empty(),
            flags: Some(flags),
            version: MessageVersion::V2,
        };
        let theirs = micros(|| {
            let mut st = state.clone();
            doc.receive_sync_message(&mut st, ack.clone()).expect("received");
            assert!(st.sent_hashes.is_empty());
        });
        let ours = micros(|| {
            let mut st = state.clone();
            receive_without_changes(&doc, &mut st, ack.clone()).expect("without changes");
            assert!(st.sent_hashes.is_empty());
        });
        println!("| {changes} | {theirs:.1} | {ours:.1} | {:.3} |", ours / theirs);
    }
}
