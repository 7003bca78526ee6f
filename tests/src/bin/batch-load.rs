//! Batch sync cost (scripts/bench-batch.sh): `batch-load <label> <docs> <rounds>` against
//! `EDGESYNC_BASE_URL` (same variables as the black-box suite). One user owns `docs` documents
//! with one change each; then, `rounds` times each, one `POST /v1/sync` carrying every document
//! from a client that is up to date (the request an SDK sends on every sync when nothing
//! changed), and one from a fresh client that has nothing (a new device pulling everything).
//! Prints one Markdown table row: label, docs, up-to-date p50/p99 ms, fresh p50/p99 ms, bytes
//! of a fresh pull.

use std::time::{Duration, Instant};

use automerge::{ROOT, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use sync_core::{DocResponse, Heads, Limits, SyncRequest, SyncResponse, client};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (label, docs, rounds) = match args.as_slice() {
        [_, label, d, r] => (label.clone(), d.parse::<usize>().expect("docs"), r.parse::<usize>().expect("rounds")),
        _ => panic!("usage: batch-load <label> <docs> <rounds>"),
    };
    let target = Target::from_env().expect("EDGESYNC_BASE_URL");
    let (_, token) = target.user("batch");
    let mut replicas = create(&target, &token, docs).await;
    let batch = Limits::DEFAULT.max_docs;
    // Push the first change of every document, a batch at a time.
    for chunk in replicas.chunks_mut(batch) {
        let request = SyncRequest { docs: chunk.iter().map(|r| client::build_request(r.id, &r.doc, &r.acked)).collect() };
        let response = post(&target, &token, &request).await.0;
        for (r, res) in chunk.iter_mut().zip(&response.docs) {
            r.acked = client::apply_response(&mut r.doc, r.id, &r.acked, res).expect("applies").acked;
        }
    }
    let up_to_date = SyncRequest { docs: replicas.iter().take(batch).map(|r| client::build_request(r.id, &r.doc, &r.acked)).collect() };
    let fresh = SyncRequest {
        docs: replicas.iter().take(batch).map(|r| sync_core::DocRequest { doc_id: r.id, have: Heads::empty(), heads: Heads::empty(), chunks: Vec::new() }).collect(),
    };
    let mut quiet = Vec::with_capacity(rounds);
    let mut pulls = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let (response, _) = post(&target, &token, &up_to_date).await;
        quiet.push(t.elapsed());
        assert!(response.docs.iter().all(|d| d.chunks.is_empty()), "an up-to-date client gets no changes");
        let t = Instant::now();
        let (response, size) = post(&target, &token, &fresh).await;
        pulls.push(t.elapsed());
        assert!(response.docs.iter().all(|d: &DocResponse| !d.chunks.is_empty()), "a fresh client gets every document");
        bytes = size;
    }
    let (q50, q99) = percentiles(&mut quiet);
    let (f50, f99) = percentiles(&mut pulls);
    println!("| {label} | {} | {q50:.1} | {q99:.1} | {f50:.1} | {f99:.1} | {bytes} |", up_to_date.docs.len());
}

/// `n` documents of one change each, created one request at a time (concurrent creates make
/// sqld answer SQLITE_BUSY, which the API turns into 503).
async fn create(target: &Target, token: &str, n: usize) -> Vec<Replica> {
    let mut replicas = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = Replica::new(&target.create_doc(token).await, (i % 250) as u8 + 1);
        let mut tx = r.doc.transaction();
        tx.put(ROOT, "n", i as i64).unwrap();
        tx.commit();
        replicas.push(r);
    }
    replicas
}

async fn post(target: &Target, token: &str, request: &SyncRequest) -> (SyncResponse, usize) {
    let r = target.post_sync("/v1/sync", token, request).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    (SyncResponse::decode(&body, &Limits::DEFAULT).expect("a sync response"), body.len())
}

fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_secs_f64() * 1000.0;
    (pct(0.50), pct(0.99))
}
