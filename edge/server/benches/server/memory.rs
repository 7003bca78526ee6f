//! Part 3: resident memory while touching many documents (create + one sync each,
//! in-process), keeping everything alive: nothing may stay cached per document.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use edge_app::AppState;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceExt;

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

/// Requests through `serve`'s router (no network): each one records a latency sample in the
/// Prometheus recorder `serve` installs. Returns the RSS growth in bytes per request.
async fn requests(router: &axum::Router, n: usize, upkeep: Option<&PrometheusHandle>) -> f64 {
    let before = harness::rss_kib();
    for i in 0..n {
        let mut req = Request::get("/v1/docs").body(Body::empty()).expect("request");
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        let r = router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(r.status().as_u16(), 401);
        if let Some(h) = upkeep.filter(|_| i % 10_000 == 9_999) {
            h.run_upkeep();
        }
    }
    (harness::rss_kib() as f64 - before as f64) * 1024.0 / n as f64
}

/// RSS growth per HTTP request with the metrics recorder as `serve` installs it (nobody
/// scrapes `/metrics`), next to the same with the recorder's upkeep run every 10,000 requests.
pub async fn metrics_samples(state: &AppState, handle: &PrometheusHandle, n: usize) -> String {
    let router = harness::router(state.clone());
    let t = Instant::now();
    requests(&router, n / 10, Some(handle)).await; // warm-up: allocator and router caches
    let with_upkeep = requests(&router, n, Some(handle)).await;
    let without = requests(&router, n, None).await;
    eprintln!("  metrics samples took {:.1} s", t.elapsed().as_secs_f64());
    let mut out = String::new();
    writeln!(out, "| {n} unauthenticated `GET /v1/docs` (401) through `serve`'s router | RSS growth per request |").unwrap();
    writeln!(out, "|---|---:|").unwrap();
    writeln!(out, "| recorder upkeep every 10,000 requests | {with_upkeep:+.1} B |").unwrap();
    writeln!(out, "| no upkeep, `/metrics` never scraped | {without:+.1} B |").unwrap();
    out
}
