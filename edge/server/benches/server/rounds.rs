//! Part 1: sync rounds of one small edit each, over HTTP on loopback and in-process.

use std::fmt::Write;
use std::time::{Duration, Instant};

use edge_app::AppState;

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
    /// Change rows per document after the run (none are compacted meanwhile).
    pub rows_after: usize,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.rounds as f64 / self.secs
    }
}

/// Runs `total` rounds spread over the scenario's clients (stopping early at `limit`), each on
/// fresh documents. Every client first makes one untimed round (connection set-up, first sync).
pub async fn run(state: &AppState, base: &str, http: &reqwest::Client, sc: Scenario, path: Path, total: usize, limit: Duration, tag: &str) -> Outcome {
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
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::new();
    for mut r in replicas {
        let (state, base, http) = (state.clone(), base.to_owned(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            for round in 0..=per_client {
                if Instant::now() > deadline {
                    break;
                }
                r.edit();
                let took = match path {
                    Path::Http => r.sync_http(&http, &base).await,
                    Path::InProcess => r.sync_in_process(&state).await,
                };
                if round > 0 {
                    lat.push(took);
                }
            }
            (lat, r.id)
        }));
    }
    let mut latencies = Latencies::default();
    let mut ids = Vec::new();
    for t in tasks {
        let (lat, id) = t.await.expect("client task");
        latencies.extend(lat);
        ids.push(id);
    }
    let secs = start.elapsed().as_secs_f64();
    let rows_after = harness::doc_size(state, ids[0]).await.0;
    // Rounds per second over the whole run, untimed first rounds excluded from the count only.
    Outcome { rounds: latencies.len(), secs, latencies, rows_after }
}

pub async fn measure(state: &AppState, base: &str, total: usize, limit: Duration) -> String {
    let http = harness::http_client();
    let mut table = String::new();
    let mut ratios = String::new();
    writeln!(table, "| scenario | clients | path | rounds | rounds/s | p50 | p99 | change rows per doc at end |").unwrap();
    writeln!(table, "|---|---:|---|---:|---:|---:|---:|---:|").unwrap();
    writeln!(ratios, "| scenario | clients | rounds/s HTTP / in-process | p50 HTTP / in-process | p99 HTTP / in-process |").unwrap();
    writeln!(ratios, "|---|---:|---:|---:|---:|").unwrap();
    for (i, sc) in SCENARIOS.iter().enumerate() {
        let mut results = Vec::new();
        for (path, label) in [(Path::InProcess, "in-process"), (Path::Http, "HTTP")] {
            let tag = format!("p1s{i}{label}");
            let o = run(state, base, &http, *sc, path, total, limit, &tag).await;
            eprintln!("  {} x{} {label}: {} rounds in {:.1} s", sc.name, sc.clients, o.rounds, o.secs);
            writeln!(
                table,
                "| {} | {} | {label} | {} | {:.0} | {} | {} | {} |",
                sc.name,
                sc.clients,
                o.rounds,
                o.per_sec(),
                ms(o.latencies.pct(50.0)),
                ms(o.latencies.pct(99.0)),
                o.rows_after
            )
            .unwrap();
            results.push(o);
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
