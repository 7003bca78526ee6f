//! What receiving an acknowledgement (a sync message without changes) and answering it cost as
//! the document's history grows: automerge's `receive_sync_message` and
//! `generate_sync_message` against `sync_core::automerge_repo`'s `receive_without_changes` and
//! `generate_sync_message`, which the automerge-repo route uses.
//!
//! Run with `cargo bench -p edgesync-sync-core --bench receive`. Each document is built by 8
//! authors taking turns (one map put each, as in the shared-document benchmarks). The server has
//! just sent a peer the newest change; the peer's acknowledgement names the document's heads
//! with a bloom filter of nothing new, as automerge's peers send it; the answer is then nothing.
//! A second table: an acknowledgement that crossed the server's newest message (it names the
//! heads before the change that message sent). Prints Markdown tables: microseconds per
//! message, median of 5 batches of 200, all measured in the same run.

mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use automerge::sync::{BloomFilter, ChunkList, Have, Message, MessageFlags, MessageVersion, State, SyncDoc};
use support::shared_doc;
use sync_core::automerge_repo::{generate_sync_message, receive_without_changes};

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
    println!(
        "| changes in the document | automerge receive_sync_message, µs | receive_without_changes, µs | ratio | automerge generate_sync_message, µs | generate_sync_message, µs | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut crossed = Vec::new();
    for changes in [100usize, 1_000, 10_000] {
        let mut doc = shared_doc(changes);
        let heads = doc.get_heads();
        let newest = doc.get_changes(&[]).last().expect("a change").hash();
        let state = State { sent_hashes: BTreeSet::from([newest]), in_flight: true, have_responded: true, last_sent_heads: heads.clone(), ..State::default() };
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
        let mut received = state.clone();
        receive_without_changes(&doc, &mut received, ack.clone()).expect("without changes");
        let theirs_answer = micros(|| assert!(doc.generate_sync_message(&mut received.clone()).is_none()));
        let ours_answer = micros(|| assert!(generate_sync_message(&doc, &mut received.clone()).is_none()));
        println!("| {changes} | {theirs:.1} | {ours:.1} | {:.3} | {theirs_answer:.1} | {ours_answer:.1} | {:.3} |", ours / theirs, ours_answer / theirs_answer);
        crossed.push((changes, crossed_acknowledgement(&mut doc, &state)));
    }
    println!();
    println!("| changes in the document | crossed acknowledgement: automerge receive_sync_message, µs | receive_without_changes, µs | ratio |");
    println!("|---:|---:|---:|---:|");
    for (changes, (theirs, ours)) in crossed {
        println!("| {changes} | {theirs:.1} | {ours:.1} | {:.3} |", ours / theirs);
    }
}

/// An acknowledgement that crossed the server's newest message on the wire: it names the
/// heads before the newest change, which was sent (and is still owed). Microseconds per
/// receive, automerge's and ours.
fn crossed_acknowledgement(doc: &mut automerge::Automerge, state: &State) -> (f64, f64) {
    let newest = doc.get_changes(&[]).last().expect("a change").clone();
    let ack = Message {
        heads: newest.deps().to_vec(),
        need: Vec::new(),
        have: vec![Have { last_sync: newest.deps().to_vec(), bloom: BloomFilter::default() }],
        changes: ChunkList::empty(),
        flags: None,
        version: MessageVersion::V2,
    };
    let theirs = micros(|| {
        let mut st = state.clone();
        doc.receive_sync_message(&mut st, ack.clone()).expect("received");
        assert!(st.sent_hashes.contains(&newest.hash()));
    });
    let ours = micros(|| {
        let mut st = state.clone();
        receive_without_changes(doc, &mut st, ack.clone()).expect("without changes");
        assert!(st.sent_hashes.contains(&newest.hash()));
    });
    (theirs, ours)
}
