//! Part 3: resident memory while touching many documents (create + one sync each,
//! in-process), keeping everything alive: nothing may stay cached per document.

use std::fmt::Write;
use std::time::Instant;

use edge_app::AppState;

use crate::harness::{self, Replica};

/// Concurrent clients creating and syncing documents.
const WORKERS: usize = 4;

async fn touch(state: &AppState, from: usize, to: usize) {
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            for i in (from + w..to).step_by(WORKERS) {
                let user = format!("p3-u{i}");
                let id = harness::create_doc(&state, &user).await;
                let mut r = Replica::new(&state, id, &user, i as u64 + 1);
                r.edit();
                r.sync_in_process(&state).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
}

pub async fn measure(state: &AppState, docs: usize) -> String {
    let checkpoints: Vec<usize> = [docs / 10, docs / 4, docs / 2, docs].into_iter().filter(|&n| n > 0).collect();
    let start = harness::rss_kib();
    let t = Instant::now();
    let mut out = String::new();
    writeln!(out, "| documents touched | VmRSS | growth since 0 | growth per document since previous row |").unwrap();
    writeln!(out, "|---:|---:|---:|---:|").unwrap();
    writeln!(out, "| 0 | {:.1} MiB | – | – |", start as f64 / 1024.0).unwrap();
    let (mut done, mut prev) = (0, start);
    let mut at_first = start;
    for &n in &checkpoints {
        touch(state, done, n).await;
        let rss = harness::rss_kib();
        let per_doc = (rss as f64 - prev as f64) * 1024.0 / (n - done) as f64;
        writeln!(out, "| {n} | {:.1} MiB | {:+.1} MiB | {per_doc:+.0} B |", rss as f64 / 1024.0, (rss as f64 - start as f64) / 1024.0).unwrap();
        if done == 0 {
            at_first = rss;
        }
        (done, prev) = (n, rss);
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!("  part 3 took {secs:.1} s");
    let overall = (prev as f64 - start as f64) * 1024.0 / docs as f64;
    let tail = (prev as f64 - at_first as f64) * 1024.0 / (docs - checkpoints[0]) as f64;
    format!(
        "{out}\n{docs} documents created and synced once in {secs:.1} s ({:.0} documents/s, {WORKERS} concurrent clients). \
         RSS growth per document: {overall:+.0} B over all {docs}, {tail:+.0} B after the first {}.\n",
        docs as f64 / secs,
        checkpoints[0]
    )
}
