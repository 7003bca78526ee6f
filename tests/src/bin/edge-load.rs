//! A small sync load generator for comparing runtimes (scripts/bench-edges.sh) and servers
//! (scripts/bench-automerge-repo.sh):
//! `edge-load <label> <clients> <rounds-per-client> [own|shared|shared:N|create|offline]` against
//! `EDGESYNC_BASE_URL` (same variables as the black-box suite). Each client makes one small edit
//! per sync round, on a document of its own (`own`, the default) or on documents all clients
//! share (`shared`: one; `shared:N`: N, round n editing document n mod N; each client is then a
//! few changes behind the others), or creates a new document per round (`create`: the document,
//! then one sync pushing its one change). Prints one Markdown table row: label, mode, clients,
//! rounds/s, p50 ms, p99 ms, how many syncs the server answered by loading the document (its
//! `Server-Timing`), and how many 503s were retried. With `thin:` before the mode (`thin:own`,
//! `thin:shared:N`), each client is a [`ThinReplica`]: real changes, nothing applied (so that on
//! one machine the clients' automerge work does not hide the server's; `edgesync_blackbox::thin`).
//!
//! `offline`: the clients share one document, and each makes its rounds of edits offline (one
//! change each); then they sync in turn until all hold the same heads, through a TCP relay that
//! counts the bytes on the wire. Prints: label, mode, clients, edits per client, request bytes,
//! response bytes (bodies), messages (requests and responses), seconds from the first sync
//! until converged, bytes on the wire to the server and from it (HTTP headers included).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::thin::ThinReplica;
use edgesync_blackbox::{Replica, Target};

/// One client's copy of a document: the SDK's (a full automerge document), or a thin one.
enum Client {
    Full(Box<Replica>),
    Thin(Box<ThinReplica>),
}

impl Client {
    fn new(id: &str, actor: u8, thin: bool) -> Self {
        if thin { Client::Thin(Box::new(ThinReplica::new(id, actor))) } else { Client::Full(Box::new(Replica::new(id, actor))) }
    }

    /// Puts `value` on `key` (this client's alone).
    fn edit(&mut self, key: &str, value: i64) {
        match self {
            Client::Full(replica) => {
                let mut tx = replica.doc.transaction();
                tx.put(ROOT, key, value).unwrap();
                tx.commit();
            }
            Client::Thin(thin) => thin.edit(key, value),
        }
    }

    /// One sync round: the status and `Server-Timing`.
    async fn sync(&mut self, target: &Target, token: &str) -> (u16, String) {
        match self {
            Client::Full(replica) => replica.sync_waiting(target, token, 0).await,
            Client::Thin(thin) => thin.sync(target, token).await,
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: edge-load <label> <clients> <rounds-per-client> [own|shared|shared:N|create|offline], or edge-load token <user>";
    if let [_, token, user] = args.as_slice()
        && token == "token"
    {
        // For clients driven from elsewhere (automerge-repo's, by scripts/bench-automerge-repo.sh).
        println!("{}", Target::from_env().expect("EDGESYNC_BASE_URL").token_for(user));
        return;
    }
    let (label, clients, rounds, mode) = match args.as_slice() {
        [_, label, c, r] => (label.clone(), c.parse::<usize>().expect("clients"), r.parse::<usize>().expect("rounds"), "own".to_owned()),
        [_, label, c, r, m] => (label.clone(), c.parse().expect("clients"), r.parse().expect("rounds"), m.clone()),
        _ => panic!("{usage}"),
    };
    let target = std::sync::Arc::new(Target::from_env().expect("EDGESYNC_BASE_URL"));
    if mode == "offline" {
        return offline(&target, &label, clients, rounds).await;
    }
    let (thin, mode) = match mode.strip_prefix("thin:") {
        Some(rest) => (true, rest.to_owned()),
        None => (false, mode),
    };
    let create = mode == "create";
    // How many documents all clients share (0: each its own).
    let shared = match mode.as_str() {
        "own" | "create" => 0,
        "shared" => 1,
        m => m.strip_prefix("shared:").and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0).expect(usage),
    };
    // Users and documents are made before the clock starts (except in `create`).
    let users: Vec<(String, String)> = (0..clients).map(|_| target.user("load")).collect();
    let mut common = Vec::new();
    for _ in 0..shared {
        common.push(shared_doc(&target, &users).await);
    }
    let mut docs = Vec::new();
    for (_, token) in &users {
        docs.push(match (create, shared) {
            (true, _) => Vec::new(),
            (false, 0) => vec![target.create_doc(token).await],
            (false, _) => common.clone(),
        });
    }
    let mut tasks = Vec::new();
    let start = Instant::now();
    let written: Vec<(String, Vec<String>)> = users.iter().map(|(_, token)| token.clone()).zip(docs.iter().cloned()).collect();
    for (c, ((_, token), ids)) in users.into_iter().zip(docs).enumerate() {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut replicas: Vec<Client> = ids.iter().map(|id| Client::new(id, c as u8 + 1, thin)).collect();
            let mut latencies = Vec::with_capacity(rounds);
            let (mut loads, mut retries) = (0, 0);
            for n in 0..rounds {
                // A round's time: from the create (`create`), else from the sync.
                let mut t = Instant::now();
                if create {
                    replicas = vec![Client::new(&target.create_doc(&token).await, c as u8 + 1, thin)];
                }
                let replicas_len = replicas.len();
                let replica = &mut replicas[n % replicas_len];
                replica.edit(&format!("n{c}"), n as i64);
                if !create {
                    t = Instant::now();
                }
                // As clients do (docs/protocol.md): a 503 is retried after a pause; the round's
                // time includes it, and the retries are counted.
                let (mut status, mut timing) = replica.sync(&target, &token).await;
                while status == 503 && retries < 100 {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    (status, timing) = replica.sync(&target, &token).await;
                }
                assert_eq!(status, 200, "sync round {n} of client {c}");
                latencies.push(t.elapsed());
                // `merge;desc="fast=N behind=N loaded=N"`
                loads += timing.split("loaded=").nth(1).and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()).unwrap_or(0);
            }
            (latencies, loads, retries)
        }));
    }
    let (mut all, mut loads, mut retries): (Vec<Duration>, usize, usize) = (Vec::new(), 0, 0);
    for t in tasks {
        let (latencies, l, r) = t.await.unwrap();
        all.extend(latencies);
        loads += l;
        retries += r;
    }
    let elapsed = start.elapsed();
    if thin && !create {
        check_thin(&target, &written, rounds).await;
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    let mode = if thin { format!("thin:{mode}") } else { mode };
    println!("| {label} | {mode} | {clients} | {:.0} | {:.2} | {:.2} | {loads} | {retries} |", all.len() as f64 / elapsed.as_secs_f64(), pct(0.50), pct(0.99));
}

/// What thin clients wrote, as an SDK client reads it: in every document, each client's last
/// value on its key (client `c` wrote round `n` to document `n mod` its documents).
async fn check_thin(target: &Target, written: &[(String, Vec<String>)], rounds: usize) {
    for (c, (token, ids)) in written.iter().enumerate() {
        for (d, id) in ids.iter().enumerate() {
            let Some(last) = (0..rounds).rev().find(|n| n % ids.len() == d) else { continue };
            let mut reader = Replica::new(id, 200);
            assert_eq!(reader.sync(target, token).await, 200);
            let value = reader.doc.get(ROOT, format!("n{c}").as_str()).unwrap().map(|(v, _)| v.as_i64());
            assert_eq!(value, Some(Some(last as i64)), "client {c}'s last edit of document {id}");
        }
    }
}

/// The `offline` mode (see the module docs).
async fn offline(target: &Target, label: &str, clients: usize, edits: usize) {
    let users: Vec<(String, String)> = (0..clients).map(|_| target.user("offline")).collect();
    let id = shared_doc(target, &users).await;
    // Every client holds the document (one change) before going offline.
    let mut replicas: Vec<Replica> = (0..clients).map(|c| Replica::new(&id, c as u8 + 1)).collect();
    let mut tx = replicas[0].doc.transaction();
    tx.put(ROOT, "created", true).unwrap();
    tx.commit();
    for (replica, (_, token)) in replicas.iter_mut().zip(&users) {
        assert_eq!(replica.sync(target, token).await, 200);
        (replica.requests, replica.bytes_sent, replica.bytes_received) = (0, 0, 0);
    }
    for (c, replica) in replicas.iter_mut().enumerate() {
        for n in 0..edits {
            let mut tx = replica.doc.transaction();
            tx.put(ROOT, format!("n{c}").as_str(), n as i64).unwrap();
            tx.commit();
        }
    }
    // The syncs go through a relay counting the bytes on the wire; the setup above did not.
    let (base, wire) = relay(&target.base).await;
    let target = &Target::at(&base);
    let start = Instant::now();
    let converged = |replicas: &mut [Replica]| {
        let heads = replicas[0].doc.get_heads();
        replicas.iter_mut().all(|r| r.doc.get_heads() == heads)
    };
    let mut turn = 0;
    while turn < clients || !converged(&mut replicas) {
        assert!(turn < 4 * clients, "the clients did not converge");
        let c = turn % clients;
        assert_eq!(replicas[c].sync(target, &users[c].1).await, 200, "sync {turn}");
        turn += 1;
    }
    let elapsed = start.elapsed();
    let sum = |f: fn(&Replica) -> usize| replicas.iter().map(f).sum::<usize>();
    println!(
        "| {label} | offline | {clients} | {edits} | {} | {} | {} | {:.3} | {} | {} |",
        sum(|r| r.bytes_sent),
        sum(|r| r.bytes_received),
        2 * sum(|r| r.requests),
        elapsed.as_secs_f64(),
        wire[0].load(Ordering::Relaxed),
        wire[1].load(Ordering::Relaxed)
    );
}

/// A TCP relay to the server of `base` (`http://host:port`): its base URL, and the bytes it
/// carried to the server and from it so far.
async fn relay(base: &str) -> (String, Arc<[AtomicU64; 2]>) {
    let server = base.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let wire: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let counters = wire.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(&server).await else { continue };
            let ((client_read, client_write), (up_read, up_write)) = (client.into_split(), upstream.into_split());
            tokio::spawn(pump(client_read, up_write, counters.clone(), 0));
            tokio::spawn(pump(up_read, client_write, counters.clone(), 1));
        }
    });
    (url, wire)
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, wire: Arc<[AtomicU64; 2]>, way: usize) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        wire[way].fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A document created by the first of `users` (name, token) and shared with the others as editors.
async fn shared_doc(target: &Target, users: &[(String, String)]) -> String {
    let id = target.create_doc(&users[0].1).await;
    for (user, _) in &users[1..] {
        let r = target
            .http
            .put(target.url(&format!("/v1/docs/{id}/members/{user}")))
            .bearer_auth(&users[0].1)
            .json(&serde_json::json!({ "role": "editor" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "sharing the document");
    }
    id
}
