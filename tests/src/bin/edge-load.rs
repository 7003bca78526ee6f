//! A small sync load generator for comparing runtimes (scripts/bench-edges.sh):
//! `edge-load <label> <clients> <rounds-per-client>` against `EDGESYNC_BASE_URL` (same
//! variables as the black-box suite). Each client owns a document and makes one small edit
//! per sync round. Prints one Markdown table row: label, rounds/s, p50 ms, p99 ms.

use std::time::{Duration, Instant};

use automerge::{ROOT, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (label, clients, rounds) = match args.as_slice() {
        [_, label, c, r] => (label.clone(), c.parse::<usize>().expect("clients"), r.parse::<usize>().expect("rounds")),
        _ => panic!("usage: edge-load <label> <clients> <rounds-per-client>"),
    };
    let target = std::sync::Arc::new(Target::from_env().expect("EDGESYNC_BASE_URL"));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let (_, token) = target.user("load");
            let id = target.create_doc(&token).await;
            let mut replica = Replica::new(&id, c as u8 + 1);
            let mut latencies = Vec::with_capacity(rounds);
            for n in 0..rounds {
                let mut tx = replica.doc.transaction();
                tx.put(ROOT, "n", n as i64).unwrap();
                tx.commit();
                let t = Instant::now();
                let status = replica.sync(&target, &token).await;
                assert_eq!(status, 200, "sync round {n} of client {c}");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!("| {label} | {clients} | {:.0} | {:.2} | {:.2} |", all.len() as f64 / elapsed.as_secs_f64(), pct(0.50), pct(0.99));
}
