//! Part 2: one small edit by an up-to-date client, on a 100-change document versus a
//! 100,000-change one (before and after compaction).

use std::fmt::Write;
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT};
use edge_app::AppState;
use edge_app::service::compaction;
use edge_app::store::DocWrite;
use sync_core::Heads;
use sync_core::server::NewChange;

use crate::harness::{self, Latencies, Replica, ms, ratio};
use crate::phases;

/// Changes written per transaction while seeding (as `edgesync import` does).
const BATCH: usize = 1_000;

/// Latencies plus the service's own split of them.
#[derive(Default)]
struct Sample {
    lat: Latencies,
    db_micros: i64,
    crdt_micros: i64,
}

impl Sample {
    async fn round(&mut self, r: &mut Replica, state: &AppState) {
        r.edit();
        let (took, stats) = r.sync_in_process_stats(state).await;
        self.lat.push(took);
        self.db_micros += stats.db_micros;
        self.crdt_micros += stats.crdt_micros;
    }

    fn row(&self, doc: &str, stored: &str) -> String {
        let n = self.lat.len().max(1) as f64;
        format!(
            "| {doc} | {stored} | {} | {} | {} | {:.2} ms | {:.2} ms |",
            self.lat.len(),
            ms(self.lat.pct(50.0)),
            ms(self.lat.pct(99.0)),
            self.db_micros as f64 / n / 1000.0,
            self.crdt_micros as f64 / n / 1000.0
        )
    }
}

/// A document of `n` one-put changes by one actor, at fixed times.
fn build_doc(n: usize, actor: u8) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![actor; 16]));
    for i in 0..n {
        let mut tx = doc.transaction();
        tx.put(ROOT, format!("k{}", i % 1_000), i as i64).expect("put");
        tx.commit_with(CommitOptions::default().with_time(1_760_000_000 + i as i64));
    }
    doc
}

/// Stores `doc`'s changes as change rows of a new document, `BATCH` per transaction.
async fn seed(state: &AppState, user: &str, doc: Automerge) -> Replica {
    let id = harness::create_doc(state, user).await;
    for batch in doc.get_changes(&[]).chunks(BATCH) {
        let write = DocWrite {
            doc_id: id.to_string(),
            changes: batch.iter().map(NewChange::of).collect(),
        };
        state.store.commit_sync(&[write], state.now()).await.expect("seeded");
    }
    let acked = Heads::new(doc.get_heads());
    Replica::with_doc(state, id, user, doc, acked)
}

pub async fn measure(state: &AppState, big: usize, rounds: usize, before_rounds: usize, limit: Duration) -> String {
    let mut notes = String::new();
    let t = Instant::now();
    let mut small = seed(state, "p2-small", build_doc(100, 0x51)).await;
    compaction::compact_document(state, &small.id.to_string()).await.expect("compacted");

    let t_build = Instant::now();
    let big_doc = build_doc(big, 0xb1);
    let build = t_build.elapsed();
    let t_seed = Instant::now();
    let mut large = seed(state, "p2-big", big_doc).await;
    let seeded = t_seed.elapsed();
    let (rows, _) = harness::doc_size(state, large.id).await;
    writeln!(
        notes,
        "Seeding: {big} one-put changes built in {:.1} s, stored as {rows} change rows in {:.1} s ({} per transaction).",
        build.as_secs_f64(),
        seeded.as_secs_f64(),
        BATCH
    )
    .unwrap();

    // Before compaction: every sync loads all change rows, so only a few rounds.
    let mut before = Sample::default();
    let deadline = Instant::now() + limit;
    while before.lat.len() < before_rounds && Instant::now() < deadline {
        before.round(&mut large, state).await;
    }

    let t_compact = Instant::now();
    compaction::compact_document(state, &large.id.to_string()).await.expect("compacted");
    let compact_took = t_compact.elapsed();
    let (rows_big, snap_big) = harness::doc_size(state, large.id).await;
    let (_, snap_small) = harness::doc_size(state, small.id).await;
    writeln!(
        notes,
        "Compaction of the big document: {:.1} s; snapshot {snap_big} bytes, {rows_big} change rows left. Small document snapshot: {snap_small} bytes.",
        compact_took.as_secs_f64()
    )
    .unwrap();

    // Alternate the two documents round by round, so drifting machine load hits both alike.
    let (mut s, mut l) = (Sample::default(), Sample::default());
    let deadline = Instant::now() + limit;
    for _ in 0..rounds {
        s.round(&mut small, state).await;
        if Instant::now() < deadline {
            l.round(&mut large, state).await;
        }
    }
    eprintln!("  part 2 rounds done after {:.1} s", t.elapsed().as_secs_f64());

    let steps = vec![
        ("100 changes".to_string(), phases::breakdown(state, &mut small, 20, limit).await),
        (format!("{big} changes, compacted"), phases::breakdown(state, &mut large, 5, limit / 3).await),
    ];
    let busy: Vec<Replica> = (0..2u8)
        .map(|i| {
            let doc = large.doc.fork().with_actor(ActorId::from(vec![0xc0 + i; 16]));
            Replica::with_doc(state, large.id, "p2-big", doc, large.acked.clone())
        })
        .collect();
    let blocked = phases::interference(state, &mut small, busy, 40, limit / 3).await;
    eprintln!("  part 2 took {:.1} s", t.elapsed().as_secs_f64());

    let mut out = String::new();
    writeln!(out, "| document | stored as | rounds | p50 | p99 | mean db | mean crdt |").unwrap();
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|").unwrap();
    writeln!(out, "{}", s.row("100 changes", "snapshot + rows of this run")).unwrap();
    writeln!(out, "{}", l.row(&format!("{big} changes"), "snapshot + rows of this run")).unwrap();
    writeln!(out, "{}", before.row(&format!("{big} changes"), "change rows (before compaction)")).unwrap();
    writeln!(out).unwrap();
    writeln!(out, "| ratio vs 100 changes | p50 | p99 |").unwrap();
    writeln!(out, "|---|---:|---:|").unwrap();
    for (label, x) in [("compacted", &l), ("before compaction", &before)] {
        let p = |q| ratio(x.lat.pct(q).as_secs_f64(), s.lat.pct(q).as_secs_f64());
        writeln!(out, "| {big} changes, {label} | {} | {} |", p(50.0), p(99.0)).unwrap();
    }
    writeln!(out, "\nMedian time of each step of a sync (the service's steps replayed one by one):\n").unwrap();
    writeln!(out, "{}", phases::breakdown_table(&steps)).unwrap();
    writeln!(out, "Head-of-line blocking: a small document's syncs while full merges of the big one run (on the blocking pool, `serve`'s `Compute`).\n").unwrap();
    writeln!(out, "{blocked}").unwrap();
    format!("{notes}\n{out}")
}
