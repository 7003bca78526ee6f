//! Part 1: sync rounds of one small edit each, over HTTP on loopback and in-process.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use edge_app::AppState;
use edge_app::service::compaction;

use crate::harness::{self, Latencies, Replica, ms, ratio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Http,
    InProcess,
}

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub clients: usize,
    /// All clients edit one document (else each its own).
    pub shared: bool,
}

pub const SCENARIOS: [Scenario; 3] = [
    Scenario { name: "own doc", clients: 1, shared: false },
    Scenario { name: "own doc", clients: 8, shared: false },
    Scenario { name: "8 clients on one doc", clients: 8, shared: true },
];

pub struct Outcome {
    pub rounds: usize,
    pub secs: f64,
    pub latencies: Latencies,
    /// Client-side time per round outside the timed call (edit, build request, apply response;
    /// plus encode and decode over HTTP), including waits for a worker thread: the clients run
    /// on the same runtime and cores as the server.
    pub client_ms: f64,
    /// Documents compacted by the background pass during the run.
    pub compactions: u32,
    /// Syncs the server answered by loading the document (the full merge).
    pub loads: usize,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.rounds as f64 / self.secs
    }

    fn merge(&mut self, o: Outcome) {
        let n = (self.rounds + o.rounds).max(1) as f64;
        self.client_ms = (self.client_ms * self.rounds as f64 + o.client_ms * o.rounds as f64) / n;
        self.rounds += o.rounds;
        self.secs += o.secs;
        self.latencies.extend(o.latencies);
        self.compactions += o.compactions;
        self.loads += o.loads;
    }
}

/// What the clients talk to: the state in-process, or the HTTP server on it.
#[derive(Clone, Copy)]
struct Server<'a> {
    state: &'a AppState,
    base: &'a str,
    http: &'a reqwest::Client,
}

/// The compaction task of `serve` (`run_pass(state, 100)` on a timer), every second instead
/// of every minute so that documents are compacted within a short run as they would be in a
/// long one. Counts the documents it compacts.
fn spawn_compaction(state: &AppState, count: Arc<AtomicU32>) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let r = compaction::run_pass(&state, 100).await.expect("compaction pass");
            count.fetch_add(r.compacted, Ordering::Relaxed);
        }
    })
}

/// Runs `total` rounds spread over the scenario's clients (stopping early at `limit`), each on
/// fresh documents. Every client first makes one untimed round (connection set-up, first sync).
async fn run(server: &Server<'_>, sc: Scenario, path: Path, total: usize, limit: Duration, tag: &str) -> Outcome {
    let Server { state, base, http } = *server;
    let mut replicas = Vec::new();
    let shared = if sc.shared { Some(harness::create_doc(state, &format!("{tag}-u0")).await) } else { None };
    for c in 0..sc.clients {
        let user = format!("{tag}-u{c}");
        let id = match shared {
            Some(id) => {
                if c > 0 {
                    harness::add_editor(state, id, &user).await;
                }
                id
            }
            None => harness::create_doc(state, &user).await,
        };
        replicas.push(Replica::new(state, id, &user, c as u64 + 1));
    }
    let per_client = total / sc.clients;
    // Earlier runs' documents are compacted now, untimed, so that this run only pays for its own.
    compaction::run_pass(state, 1_000).await.expect("compaction pass");
    let compacted = Arc::new(AtomicU32::new(0));
    let compactor = spawn_compaction(state, compacted.clone());
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::new();
    for mut r in replicas {
        let (state, base, http) = (state.clone(), base.to_owned(), http.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut client) = (Latencies::default(), Duration::ZERO);
            for round in 0..=per_client {
                let t = Instant::now();
                if t > deadline {
                    break;
                }
                r.edit();
                let took = match path {
                    Path::Http => r.sync_http(&http, &base).await,
                    Path::InProcess => r.sync_in_process(&state).await,
                };
                if round > 0 {
                    lat.push(took);
                    client += t.elapsed() - took;
                }
            }
            (lat, client, r.loads)
        }));
    }
    let (mut latencies, mut client, mut loads) = (Latencies::default(), Duration::ZERO, 0);
    for t in tasks {
        let (lat, c, l) = t.await.expect("client task");
        latencies.extend(lat);
        client += c;
        loads += l;
    }
    let secs = start.elapsed().as_secs_f64();
    compactor.abort();
    let client_ms = client.as_secs_f64() * 1000.0 / latencies.len().max(1) as f64;
    // Rounds per second over the whole run, untimed first rounds excluded from the count only.
    Outcome { rounds: latencies.len(), secs, latencies, client_ms, compactions: compacted.load(Ordering::Relaxed), loads }
}

pub async fn measure(state: &AppState, base: &str, total: usize, limit: Duration) -> String {
    let http = harness::http_client();
    let mut table = String::new();
    let mut ratios = String::new();
    writeln!(table, "| scenario | clients | path | rounds | rounds/s | p50 | p99 | client time per round | compactions | full merges |").unwrap();
    writeln!(table, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|").unwrap();
    writeln!(ratios, "| scenario | clients | rounds/s HTTP / in-process | p50 HTTP / in-process | p99 HTTP / in-process |").unwrap();
    writeln!(ratios, "|---|---:|---:|---:|---:|").unwrap();
    for (i, sc) in SCENARIOS.iter().enumerate() {
        // Two halves per path in the order in-process, HTTP, HTTP, in-process, each on fresh
        // documents, so that load drifting during the run weighs on both paths alike.
        let mut results: Vec<Outcome> = Vec::new();
        for (seg, path) in [Path::InProcess, Path::Http, Path::Http, Path::InProcess].into_iter().enumerate() {
            let server = Server { state, base, http: &http };
            let o = run(&server, *sc, path, total / 2, limit / 2, &format!("p1s{i}g{seg}")).await;
            eprintln!("  {} x{} {path:?}: {} rounds in {:.1} s", sc.name, sc.clients, o.rounds, o.secs);
            match results.get_mut(usize::from(path == Path::Http)) {
                Some(r) if seg >= 2 => r.merge(o),
                _ => results.push(o),
            }
        }
        for (o, label) in results.iter().zip(["in-process", "HTTP"]) {
            writeln!(
                table,
                "| {} | {} | {label} | {} | {:.0} | {} | {} | {:.2} ms | {} | {} |",
                sc.name,
                sc.clients,
                o.rounds,
                o.per_sec(),
                ms(o.latencies.pct(50.0)),
                ms(o.latencies.pct(99.0)),
                o.client_ms,
                o.compactions,
                o.loads
            )
            .unwrap();
        }
        let (inp, http) = (&results[0], &results[1]);
        writeln!(
            ratios,
            "| {} | {} | {} | {} | {} |",
            sc.name,
            sc.clients,
            ratio(http.per_sec(), inp.per_sec()),
            ratio(http.latencies.pct(50.0).as_secs_f64(), inp.latencies.pct(50.0).as_secs_f64()),
            ratio(http.latencies.pct(99.0).as_secs_f64(), inp.latencies.pct(99.0).as_secs_f64()),
        )
        .unwrap();
    }
    format!("{table}\n{ratios}")
}
