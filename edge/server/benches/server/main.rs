//! The native server under load: sync rounds over HTTP on loopback next to the same work
//! in-process, sync latency on a small versus a very large document, and resident memory
//! while touching many documents.
//!
//! Run with `nice -n 10 cargo bench -p edgesync-server --bench server`. Prints Markdown tables
//! on stdout and progress on stderr. The state is opened as `edgesync --rate-limit 0 serve`
//! opens it (a local libSQL file in a temp dir, WAL, `synchronous = FULL`), the router gets
//! `serve`'s layers, the Prometheus recorder is installed as `serve` does, and logs are
//! formatted as `serve` formats them (JSON, `RUST_LOG` or `serve`'s default filter) but written
//! to a sink.
//!
//! Sizes can be lowered for a smoke run: `EDGESYNC_BENCH_ROUNDS` (2000),
//! `EDGESYNC_BENCH_BIG` (100000), `EDGESYNC_BENCH_DOCS` (10000), `EDGESYNC_BENCH_REQUESTS` (500000).
//! `EDGESYNC_BENCH_PARTS` picks parts (default `1234`; part 4 is the peak memory of hostile
//! pushes).

mod big_doc;
mod harness;
mod hostile;
mod memory;
mod phases;
mod rounds;

use std::time::{Duration, Instant};

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let rounds = knob("EDGESYNC_BENCH_ROUNDS", 2_000);
    let big = knob("EDGESYNC_BENCH_BIG", 100_000);
    let docs = knob("EDGESYNC_BENCH_DOCS", 10_000);
    let requests = knob("EDGESYNC_BENCH_REQUESTS", 500_000);
    let parts = std::env::var("EDGESYNC_BENCH_PARTS").unwrap_or_else(|_| "1234".into());

    // As `serve` does: RUST_LOG, or the server's default filter.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| edgesync_server::serve::DEFAULT_LOG_FILTER.into());
    tracing_subscriber::fmt().with_env_filter(filter).json().flatten_event(true).with_writer(std::io::sink).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let workers = runtime.metrics().num_workers();
    let t = Instant::now();
    runtime.block_on(async {
        let prometheus = edgesync_server::metrics::install().expect("recorder installs");
        let probe_dir = tempfile::tempdir().expect("temp dir");
        let fsync = || {
            let (p50, p99) = harness::fsync_probe(probe_dir.path());
            format!("fsync of a 4 KiB append in the temp dir just before this part (p50 / p99 of 50): {} / {}.\n", harness::ms(p50), harness::ms(p99))
        };
        let (mut part1, mut part2, mut part3, mut part4) = (None, None, None, None);

        // Memory first, in a fresh process, so earlier parts' freed heap cannot hide growth.
        if parts.contains('3') {
            eprintln!("part 3: memory over {docs} documents");
            let probe = fsync();
            let dir = tempfile::tempdir().expect("temp dir");
            let state = harness::open_state(dir.path()).await;
            let mem = memory::measure(&state, docs).await;
            let samples = memory::metrics_samples(&state, &prometheus, requests).await;
            part3 = Some(format!("{probe}\n{mem}\n{samples}"));
        }
        if parts.contains('4') {
            eprintln!("part 4: peak memory of hostile pushes");
            let dir = tempfile::tempdir().expect("temp dir");
            let state = harness::open_state(dir.path()).await;
            part4 = Some(hostile::measure(&state).await);
        }
        if parts.contains('1') {
            eprintln!("part 1: {rounds} sync rounds per scenario and path");
            let probe = fsync();
            let dir = tempfile::tempdir().expect("temp dir");
            let state = harness::open_state(dir.path()).await;
            let base = harness::start_http(state.clone()).await;
            part1 = Some(format!("{probe}\n{}", rounds::measure(&state, &base, rounds, Duration::from_secs(12)).await));
        }
        if parts.contains('2') {
            eprintln!("part 2: small vs {big}-change document");
            let probe = fsync();
            let dir = tempfile::tempdir().expect("temp dir");
            let state = harness::open_state(dir.path()).await;
            part2 = Some(format!("{probe}\n{}", big_doc::measure(&state, big, 200, 3, Duration::from_secs(20)).await));
        }

        println!("Temp dirs under {}; tokio multi-thread runtime, {workers} workers, shared by server and clients.\n", std::env::temp_dir().display());
        if let Some(p) = part1 {
            println!("### 1. Sync rounds, one map put per round (up to {rounds} timed rounds per row, at most 12 s)\n\n{p}");
        }
        if let Some(p) = part2 {
            println!("### 2. One small edit by an up-to-date client: 100 vs {big} changes (in-process `sync`)\n\n{p}");
        }
        if let Some(p) = part3 {
            println!("### 3. Memory (VmRSS) while touching {docs} documents (create + one sync each, in-process)\n\n{p}");
        }
        if let Some(p) = part4 {
            println!("### 4. Peak memory while refusing hostile pushes (in-process, `serve`'s router)\n\n{p}");
        }
    });
    eprintln!("total {:.1} s", t.elapsed().as_secs_f64());
}
