//! Replication figures for docs/benchmarks.md, inside the topology of scripts/topology.sh (run
//! by scripts/bench-replicas.sh; `EDGESYNC_TOPOLOGY` and the token variables are set there).
//!
//! 1. The document load of a sync request (`load_heads`, what the append fast path reads, and
//!    `load_state`, what the full merge reads) from an embedded replica, over HTTP (Hrana,
//!    the client the wasm edges run) from a sqld replica, and over HTTP from the primary:
//!    interleaved, same run, same document.
//! 2. Time for a change pushed at one edge (the Worker, replica 1) to be visible at the others
//!    (Spin on replica 2, native on its embedded replica).

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{ROOT, transaction::Transactable};
use edge_app::ports::{Clock, Database, SystemClock};
use edge_app::store::{DocWrite, Store};
use edgesync_blackbox::{Replica, Target, Topology};
use edgesync_server::storage::{Backend, LibsqlDatabase};
use hrana_client::native::HranaDatabase;
use sync_core::server::NewChange;

const CHANGES: usize = 200;
const READS: usize = 300;
const TRIALS: usize = 30;

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort_unstable();
    let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let topology = Topology::read(std::env::var("EDGESYNC_TOPOLOGY").expect("EDGESYNC_TOPOLOGY"));
    let url = |k: &str| topology.url(k);

    // A document of CHANGES one-put changes, written on the primary (below the compaction
    // threshold: what an active document's log looks like between compactions).
    let primary: Arc<dyn Database> = Arc::new(HranaDatabase::new(&url("PRIMARY_PORT"), "").unwrap());
    let store = Store::new(primary.clone());
    let id = format!("{:032x}", rand::random::<u128>());
    primary.batch(Store::create_document_statements(&id, "bench", "", SystemClock.now())).await.unwrap();
    let mut doc = automerge::Automerge::new();
    for i in 0..CHANGES {
        let mut tx = doc.transaction();
        tx.put(ROOT, format!("k{i}").as_str(), i as i64).unwrap();
        tx.commit();
    }
    let changes = doc.get_changes(&[]).iter().map(NewChange::of).collect();
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes }], SystemClock.now()).await.unwrap();

    let scratch = tempfile::tempdir().unwrap();
    let embedded = LibsqlDatabase::open(Backend::Replica {
        path: scratch.path().join("replica.db"),
        url: url("PRIMARY_PORT"),
        auth_token: String::new(),
        sync_interval: Duration::from_secs(1),
    })
    .await
    .unwrap();
    let replica: Arc<dyn Database> = Arc::new(HranaDatabase::new(&url("REPLICA1_PORT"), "").unwrap());
    let sources: Vec<(&str, Store)> = vec![
        ("embedded replica (local file)", Store::new(embedded)),
        ("sqld replica over HTTP (Hrana)", Store::new(replica)),
        ("sqld primary over HTTP (Hrana)", store),
    ];
    // Every copy has the document before timing starts.
    for (name, s) in &sources {
        let start = Instant::now();
        while s.load_state(&id).await.unwrap().is_none_or(|d| d.changes.len() < CHANGES) {
            assert!(start.elapsed() < Duration::from_secs(30), "{name} never got the document");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut heads: Vec<Vec<Duration>> = vec![Vec::new(); sources.len()];
    let mut states: Vec<Vec<Duration>> = vec![Vec::new(); sources.len()];
    for _ in 0..READS {
        for (i, (_, s)) in sources.iter().enumerate() {
            let t = Instant::now();
            s.load_heads(&id).await.unwrap().unwrap();
            heads[i].push(t.elapsed());
            let t = Instant::now();
            s.load_state(&id).await.unwrap().unwrap();
            states[i].push(t.elapsed());
        }
    }
    println!("### Document load of a sync request ({CHANGES}-change document, {READS} reads each, interleaved)\n");
    println!("| read from | `load_heads` p50 | p99 | `load_state` p50 | p99 | `load_state` p50 vs primary |");
    println!("|---|---:|---:|---:|---:|---:|");
    let primary_p50 = pct(states[2].clone(), 50.0);
    for (i, (name, _)) in sources.iter().enumerate() {
        let p50 = pct(states[i].clone(), 50.0);
        println!(
            "| {name} | {:.3} ms | {:.3} ms | {p50:.3} ms | {:.3} ms | {:.2} |",
            pct(heads[i].clone(), 50.0),
            pct(heads[i].clone(), 99.0),
            pct(states[i].clone(), 99.0),
            p50 / primary_p50
        );
    }

    // Visibility across edges: push at the Worker, poll the others' view of the heads.
    let edge = |k: &str| Target::at(&url(k));
    let (worker, spin, native) = (edge("WORKERD_PORT"), edge("SPIN_PORT"), edge("NATIVE_PORT"));
    let token = worker.token_for("bench-visibility");
    let doc_id = worker.create_doc(&token).await;
    let mut client = Replica::new(&doc_id, 7);
    let mut seen: Vec<Vec<Duration>> = vec![Vec::new(), Vec::new()];
    for trial in 0..TRIALS {
        let mut tx = client.doc.transaction();
        tx.put(ROOT, "trial", trial as i64).unwrap();
        tx.commit();
        let head = client.doc.get_heads()[0].to_string();
        let started = Instant::now();
        assert_eq!(client.sync(&worker, &token).await, 200);
        // Poll both edges in turns, so neither waits for the other.
        let mut found = [None, None];
        while found.iter().any(Option::is_none) {
            for (i, other) in [&spin, &native].into_iter().enumerate() {
                if found[i].is_some() {
                    continue;
                }
                let r = other.http.get(other.url(&format!("/v1/docs/{doc_id}"))).bearer_auth(&token).send().await.unwrap();
                if r.status() == 200 && r.json::<serde_json::Value>().await.unwrap()["heads"].to_string().contains(&head) {
                    found[i] = Some(started.elapsed());
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "change never became visible");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for (i, at) in found.into_iter().enumerate() {
            seen[i].push(at.unwrap());
        }
    }
    println!("\n### A change pushed at the Worker (replica 1): time until another edge serves it ({TRIALS} trials)\n");
    println!("| visible at | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (i, name) in ["Spin (sqld replica 2)", "native (embedded replica, 1 s pull)"].iter().enumerate() {
        println!("| {name} | {:.1} ms | {:.1} ms | {:.1} ms |", pct(seen[i].clone(), 50.0), pct(seen[i].clone(), 99.0), pct(seen[i].clone(), 100.0));
    }
}
