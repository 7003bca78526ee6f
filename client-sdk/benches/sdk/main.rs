//! Client SDK benchmark (native): durable local edits, opening a 100,000-op document, and
//! pushing 10,000 offline edits in one sync. Prints Markdown tables (docs/benchmarks.md).
//!
//! ```sh
//! nice -n 10 cargo bench -p edgesync-client --bench sdk
//! ```
//!
//! The server is the real API (edge/app's router over the native server's libSQL storage on a
//! temp dir, `synchronous = FULL`), served in-process on loopback as the client-sdk tests
//! start it; a layer in front of it counts request and response body bytes. Client stores
//! live in a temp dir on the same disk; an fsync probe before each part says what one commit
//! waits for at least.

mod harness;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgesync_client::DocHandle;
use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::automerge::{Automerge, ObjType, ROOT};
use harness::{BareStore, Latencies, Wire, client, fsync_probe, letters, ms, serve, stored, stored_snapshot, text_of};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const EDITS: usize = 2_000;
const BIG_CHANGES: usize = 1_000;
const OPS_PER_CHANGE: usize = 100;
const REOPENS: usize = 5;
const OFFLINE_EDITS: usize = 10_000;

async fn local_edits(dir: &Path) {
    println!("### 1. Local durable edit (`DocHandle::change`, one map put each)\n");
    println!("{}\n", fsync_probe(dir));
    let client = client("http://127.0.0.1:9", &dir.join("edits.db")).await;
    let doc = client.create_document("edits").await.expect("create");
    for i in 0..50 {
        doc.change(|tx| tx.put(ROOT, "warm-up", i as i64)).await.expect("warm-up edit");
    }
    // Interleaved, so disk and scheduling noise hits the three series alike.
    let floor = BareStore::open(&dir.join("bare.db")).await;
    let mut plain = Automerge::new();
    let (mut durable, mut bare, mut memory) = (Latencies::default(), Latencies::default(), Latencies::default());
    for i in 0..EDITS {
        let t = Instant::now();
        doc.change(|tx| tx.put(ROOT, format!("k{}", i % 100), i as i64)).await.expect("edit");
        durable.0.push(t.elapsed());
        bare.0.push(floor.commit().await);
        let t = Instant::now();
        plain.transact(|tx| tx.put(ROOT, format!("k{}", i % 100), i as i64)).expect("edit");
        memory.0.push(t.elapsed());
    }
    println!("| edit | n | p50 | p99 | mean | max | over 1 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let rows = [
        ("SDK `change`, durable (commit + fsync)", &durable),
        ("bare libSQL insert + commit, same settings", &bare),
        ("automerge transaction alone (no store)", &memory),
    ];
    for (name, lat) in rows {
        let max = lat.pct(100.0);
        println!("| {name} | {} | {} | {} | {} | {} | {} |", lat.0.len(), ms(lat.pct(50.0)), ms(lat.pct(99.0)), ms(lat.mean()), ms(max), lat.over(Duration::from_millis(1)));
    }
    let (rows, snapshot, file) = stored(&dir.join("edits.db")).await;
    println!("\nStore afterwards: {rows} change rows, snapshot {snapshot} bytes, file {file} bytes (rows are folded into the snapshot every 1,000).\n");
    client.close().await;
}

async fn open_big(dir: &Path) {
    println!("### 2. Open a document with {} operations\n", BIG_CHANGES * OPS_PER_CHANGE);
    println!("{}\n", fsync_probe(dir));
    let store = dir.join("big.db");
    let built = Instant::now();
    let id = {
        let client = client("http://127.0.0.1:9", &store).await;
        let doc = client.create_document("big").await.expect("create");
        let text = doc.change(|tx| tx.put_object(ROOT, "text", ObjType::Text)).await.expect("text object");
        let mut rng = StdRng::seed_from_u64(100_000);
        for i in 0..BIG_CHANGES {
            let chunk = letters(&mut rng, OPS_PER_CHANGE);
            doc.change(|tx| tx.splice_text(&text, i * OPS_PER_CHANGE, 0, &chunk)).await.expect("insert");
        }
        assert_eq!(text_of(&doc).1, BIG_CHANGES * OPS_PER_CHANGE);
        let id = doc.id();
        drop(doc);
        client.close().await;
        id
    };
    let built = built.elapsed();
    let (rows, snapshot, file) = stored(&store).await;
    println!(
        "Built through the SDK as {BIG_CHANGES} changes of {OPS_PER_CHANGE} random-letter text inserts (each change durable) in {}; stored as a snapshot of {snapshot} bytes + {rows} change rows; file {file} bytes.\n",
        ms(built)
    );
    let (mut open, mut read, mut total) = (Latencies::default(), Latencies::default(), Latencies::default());
    for _ in 0..REOPENS {
        let t = Instant::now();
        let client = client("http://127.0.0.1:9", &store).await;
        let opened = t.elapsed();
        let doc = client.document(id).expect("the document is local");
        let (_, len) = text_of(&doc);
        let first = t.elapsed();
        assert_eq!(len, BIG_CHANGES * OPS_PER_CHANGE);
        open.0.push(opened);
        read.0.push(first - opened);
        total.0.push(first);
        drop(doc);
        client.close().await;
    }
    let snapshot = stored_snapshot(&store).await;
    let mut load = Latencies::default();
    for _ in 0..REOPENS {
        let t = Instant::now();
        let loaded = Automerge::load(&snapshot).expect("snapshot loads");
        load.0.push(t.elapsed());
        drop(loaded);
    }
    println!("| step ({REOPENS} reopens) | median | min | max |");
    println!("|---|---:|---:|---:|");
    for (name, lat) in [("`Client::open` (store + load every document)", &open), ("first read (whole text)", &read), ("open + first read", &total), ("for comparison: `Automerge::load` of the stored snapshot alone", &load)] {
        println!("| {name} | {} | {} | {} |", ms(lat.pct(50.0)), ms(lat.pct(0.0)), ms(lat.pct(100.0)));
    }
    println!();
}

/// A fresh client of the same user fetches the document; returns the table row.
async fn pull(url: &str, store: &Path, doc: &DocHandle, wire: &Wire, name: &str) -> String {
    let other = client(url, store).await;
    let fetched = other.open_document(doc.id()).await.expect("open by id");
    let t = Instant::now();
    other.sync_now().await.expect("pull");
    let time = t.elapsed();
    let (requests, up, down, server) = wire.take();
    assert_eq!(fetched.heads(), doc.heads(), "the fresh client has every edit");
    drop(fetched);
    other.close().await;
    format!("| {name} | {} | {} | {requests} | {up} | {down} | - |", ms(time), ms(server))
}

/// What the fresh client does with the uncompacted answer (one chunk per change): automerge's
/// `load_incremental` per chunk, as `sync_core::client::apply_response` calls it, against one
/// call on all chunks at once.
fn apply_probe(doc: &DocHandle) {
    let chunks: Vec<Vec<u8>> = doc.read(|d| d.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()).expect("document");
    let t = Instant::now();
    let mut one_by_one = Automerge::new();
    for chunk in &chunks {
        one_by_one.load_incremental(chunk).expect("chunk");
    }
    let each = t.elapsed();
    let t = Instant::now();
    let mut at_once = Automerge::new();
    at_once.load_incremental(&chunks.concat()).expect("chunks");
    let all = t.elapsed();
    assert_eq!(one_by_one.get_heads(), at_once.get_heads());
    println!("Applying those {} single-change chunks to an empty document: `load_incremental` per chunk {}, one `load_incremental` of all chunks concatenated {} ({:.0}x).\n", chunks.len(), ms(each), ms(all), each.as_secs_f64() / all.as_secs_f64());
}

async fn push_offline(dir: &Path) {
    println!("### 3. Push {OFFLINE_EDITS} queued offline edits in one sync (real server, loopback HTTP)\n");
    println!("{}\n", fsync_probe(dir));
    let wire = Arc::new(Wire::default());
    let (url, state) = serve(dir, wire.clone()).await;
    let client = client(&url, &dir.join("offline.db")).await;
    let doc = client.create_document("offline").await.expect("create");
    let text = doc.change(|tx| tx.put_object(ROOT, "text", ObjType::Text)).await.expect("text object");
    client.sync_now().await.expect("first sync");
    wire.take();
    let mut rng = StdRng::seed_from_u64(10_000);
    let queued = Instant::now();
    for i in 0..OFFLINE_EDITS {
        // Typing with the cursor moving now and then: one letter at a random position.
        let at = rng.random_range(0..=i);
        let letter = letters(&mut rng, 1);
        doc.change(|tx| tx.splice_text(&text, at, 0, &letter)).await.expect("edit");
    }
    let queued = queued.elapsed();
    assert_eq!(client.pending_changes(), OFFLINE_EDITS);
    let t = Instant::now();
    let report = client.sync_now().await.expect("push");
    let push = t.elapsed();
    let (requests, up, down, server) = wire.take();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");
    let before = pull(&url, &dir.join("fresh-1.db"), &doc, &wire, "a fresh client pulls it (server not compacted yet)").await;
    edge_app::service::compaction::compact_document(&state, &doc.id().to_string()).await.expect("compaction");
    let after = pull(&url, &dir.join("fresh-2.db"), &doc, &wire, "a fresh client pulls it (after server compaction)").await;

    println!("Queueing: {OFFLINE_EDITS} durable one-letter edits took {} ({} per edit).\n", ms(queued), ms(queued / OFFLINE_EDITS as u32));
    println!("| sync | time | of which server | `/v1/sync` requests | request bytes | response bytes | request bytes per edit |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let per_edit = up as f64 / OFFLINE_EDITS as f64;
    println!("| push {OFFLINE_EDITS} edits ({} round) | {} | {} | {requests} | {up} | {down} | {per_edit:.1} |", report.rounds, ms(push), ms(server));
    println!("{before}\n{after}\n");
    apply_probe(&doc);
    drop(doc);
    client.close().await;
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("## Client SDK (native)\n");
        local_edits(dir.path()).await;
        open_big(dir.path()).await;
        push_offline(dir.path()).await;
    });
}
