//! Where a sync's time goes, and what a slow sync does to other requests.
//!
//! [`breakdown`] replays the steps of `edge_app::service::sync::sync` for one document (the
//! same store calls and the same sync-core merge) and times each; it also times
//! `document::load` alone, the first step of the merge.

use std::fmt::Write;
use std::time::{Duration, Instant};

use edge_app::AppState;
use edge_app::store::DocWrite;
use sync_core::document::{self, StoredDoc};
use sync_core::server::{self, Access};
use sync_core::{Limits, SyncResponse};

use crate::harness::{Latencies, Replica, ms, ratio};

/// Median time of each step of a sync over `rounds` rounds (fewer if `limit` passes).
pub async fn breakdown(state: &AppState, r: &mut Replica, rounds: usize, limit: Duration) -> [Latencies; 6] {
    let mut out: [Latencies; 6] = Default::default();
    let deadline = Instant::now() + limit;
    let id = r.id.to_string();
    for _ in 0..rounds {
        if Instant::now() > deadline {
            break;
        }
        r.edit();
        let request = r.request();
        let t = Instant::now();
        state.store.roles_and_tips(&r.user, std::slice::from_ref(&id)).await.expect("roles");
        out[0].push(t.elapsed());
        let t = Instant::now();
        let loaded = state.store.load_state(&id).await.expect("loads").expect("exists");
        out[1].push(t.elapsed());
        let stored = StoredDoc { snapshot: loaded.snapshot.as_deref(), changes: &loaded.changes };
        let t = Instant::now();
        drop(document::load(stored).expect("document loads"));
        out[2].push(t.elapsed());
        let t = Instant::now();
        let merged = server::merge(stored, &request.docs[0], Access::ReadWrite, &Limits::DEFAULT).expect("merges");
        out[3].push(t.elapsed());
        let t = Instant::now();
        let writes = [DocWrite { doc_id: id.clone(), changes: merged.new_changes }];
        state.store.commit_sync(&writes, state.now()).await.expect("commits");
        out[4].push(t.elapsed());
        let t = Instant::now();
        drop(merged.doc);
        out[5].push(t.elapsed());
        r.apply(&SyncResponse { docs: vec![merged.response] });
    }
    out
}

pub fn breakdown_table(rows: &[(String, [Latencies; 6])]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "| document | rounds | `roles_and_tips` | `load_state` | `document::load` alone | `server::merge` (incl. its load) | `commit_sync` | drop merged doc |"
    )
    .unwrap();
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    for (name, l) in rows {
        let m: Vec<String> = l.iter().map(|x| ms(x.pct(50.0))).collect();
        writeln!(out, "| {name} | {} | {} | {} | {} | {} | {} | {} |", l[0].len(), m[0], m[1], m[2], m[3], m[4], m[5]).unwrap();
    }
    out
}

/// Latency of small-document syncs over HTTP alone, then while `busy` clients keep syncing
/// the big document over HTTP (each runs on the server's async workers).
pub async fn interference(state: &AppState, small: &mut Replica, big: Vec<Replica>, rounds: usize, limit: Duration) -> String {
    let base = crate::harness::start_http(state.clone()).await;
    let http = crate::harness::http_client();
    let mut alone = Latencies::default();
    for _ in 0..rounds {
        small.edit();
        alone.push(small.sync_http(&http, &base).await);
    }
    let busy = big.len();
    let stop = Instant::now() + limit;
    let mut tasks = Vec::new();
    for mut r in big {
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < stop {
                r.edit();
                r.sync_http(&http, &base).await;
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut loaded = Latencies::default();
    while loaded.len() < rounds && Instant::now() < stop {
        small.edit();
        loaded.push(small.sync_http(&http, &base).await);
    }
    let mut big_rounds = 0;
    for t in tasks {
        big_rounds += t.await.expect("big client");
    }
    let mut out = String::new();
    writeln!(out, "| small-document sync over HTTP | rounds | p50 | p99 |").unwrap();
    writeln!(out, "|---|---:|---:|---:|").unwrap();
    writeln!(out, "| alone | {} | {} | {} |", alone.len(), ms(alone.pct(50.0)), ms(alone.pct(99.0))).unwrap();
    writeln!(
        out,
        "| while {busy} clients sync the big document ({big_rounds} rounds) | {} | {} | {} |",
        loaded.len(),
        ms(loaded.pct(50.0)),
        ms(loaded.pct(99.0))
    )
    .unwrap();
    writeln!(
        out,
        "| ratio | | {} | {} |",
        ratio(loaded.pct(50.0).as_secs_f64(), alone.pct(50.0).as_secs_f64()),
        ratio(loaded.pct(99.0).as_secs_f64(), alone.pct(99.0).as_secs_f64())
    )
    .unwrap();
    out
}
