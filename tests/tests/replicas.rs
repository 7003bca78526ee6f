//! Edges on different copies of a replicated libSQL database (scripts/test-replicas.sh starts
//! the topology of scripts/topology.sh and points `EDGESYNC_TOPOLOGY` at it): the Worker in
//! workerd on sqld replica 1, the Spin component on sqld replica 2, the native server on an
//! embedded replica. Run one test at a time: they stop and wipe shared processes.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use futures_util::StreamExt;
use sync_core::{MEDIA_TYPE, SyncRequest, client};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const EDGES: [&str; 3] = ["WORKERD", "SPIN", "NATIVE"];

struct Topology {
    dir: PathBuf,
    edges: Vec<(&'static str, Target)>,
}

impl Topology {
    fn from_env() -> Option<Self> {
        let Ok(dir) = std::env::var("EDGESYNC_TOPOLOGY") else {
            assert!(std::env::var_os("EDGESYNC_REQUIRE_TARGET").is_none(), "EDGESYNC_TOPOLOGY is required");
            eprintln!("skipped: EDGESYNC_TOPOLOGY not set (run through scripts/test-replicas.sh)");
            return None;
        };
        let ports = edgesync_blackbox::Topology::read(&dir);
        let edges = EDGES.iter().map(|e| (*e, Target::at(&ports.url(&format!("{e}_PORT"))))).collect();
        Some(Self { dir: dir.into(), edges })
    }

    fn control(&self, args: &[&str]) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let status = Command::new(root.join("scripts/topology.sh")).arg(args[0]).arg(&self.dir).args(&args[1..]).status().unwrap();
        assert!(status.success(), "topology.sh {args:?}");
    }
}

/// Restarts the primary when dropped, so a failing test does not take the others down with it.
struct PrimaryBack<'a>(&'a Topology);

impl Drop for PrimaryBack<'_> {
    fn drop(&mut self) {
        self.0.control(&["start-primary"]);
    }
}

fn edit(r: &mut Replica, key: &str) {
    let mut tx = r.doc.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
}

/// Syncs every client through its own edge until all have the same heads and nothing is
/// pending, or panics after `limit` (replication lag makes early rounds see older copies).
async fn until_converged(topo: &Topology, clients: &mut [Replica], token: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        for (client, (_, edge)) in clients.iter_mut().zip(&topo.edges) {
            client.sync(edge, token).await;
        }
        let heads = clients[0].doc.get_heads();
        let settled = clients.iter().all(|c| c.doc.get_heads() == heads && client::pending_changes(&c.doc, &c.acked) == 0);
        if settled {
            return;
        }
        assert!(start.elapsed() < limit, "clients did not converge within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh user's document, created through the native edge, and one client replica per edge
/// (actor ids from `actor_base`).
async fn setup(topo: &Topology, name: &str, actor_base: u8) -> (String, String, Vec<Replica>) {
    let native = &topo.edges[2].1;
    let token = native.token_for(&format!("{name}-{:08x}", rand::random::<u32>()));
    let id = native.create_doc(&token).await;
    let clients = (0..topo.edges.len()).map(|n| Replica::new(&id, actor_base + n as u8)).collect();
    (id, token, clients)
}

/// One sync round of `client` through `edge`, as raw HTTP (the caller inspects the answer).
async fn post_sync(edge: &Target, token: &str, client: &Replica) -> reqwest::Response {
    let request = SyncRequest { docs: vec![client::build_request(client.id, &client.doc, &client.acked)] };
    let url = edge.url(&format!("/v1/docs/{}/sync", client.id));
    edge.http.post(url).bearer_auth(token).header("content-type", MEDIA_TYPE).body(request.encode()).send().await.unwrap()
}

#[tokio::test]
async fn clients_on_different_edges_converge() {
    let Some(topo) = Topology::from_env() else { return };
    let (_, token, mut clients) = setup(&topo, "conv", 10).await;
    let mut keys = Vec::new();
    for round in 0..4 {
        // Everyone edits offline, then reconnects through its own edge in a rotating order.
        for (n, c) in clients.iter_mut().enumerate() {
            let key = format!("{}-r{round}", EDGES[n]);
            edit(c, &key);
            keys.push(key);
        }
        for k in 0..3 {
            let n = (round + k) % 3;
            clients[n].sync(&topo.edges[n].1, &token).await;
        }
    }
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;
    for c in &clients {
        for key in &keys {
            assert!(c.doc.get(ROOT, key.as_str()).unwrap().is_some(), "{key} missing");
        }
    }
}

#[tokio::test]
async fn primary_down_writes_are_503_reads_go_on_and_nothing_is_lost() {
    let Some(topo) = Topology::from_env() else { return };
    let (id, token, mut clients) = setup(&topo, "down", 20).await;
    edit(&mut clients[0], "before");
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;

    let health = |edge: &Target| {
        let edge = edge.url("/v1/health");
        async move { reqwest::get(edge).await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let native = &topo.edges[2].1;
    let fresh = health(native).await;
    assert!(fresh["replica"]["frame_no"].as_u64().is_some(), "{fresh}");
    assert!(fresh["replica"]["lag_ms"].as_i64().unwrap() < 5_000, "{fresh}");
    assert!(health(&topo.edges[0].1).await.get("replica").is_none(), "sqld replicas are not embedded");

    topo.control(&["stop-primary"]);
    let back = PrimaryBack(&topo);
    for (n, (name, edge)) in topo.edges.iter().enumerate() {
        // Reads of replicated data keep working.
        let r = edge.http.get(edge.url(&format!("/v1/docs/{id}/snapshot"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{name}: snapshot while the primary is down");
        let r = post_sync(edge, &token, &clients[n]).await;
        assert_eq!(r.status(), 200, "{name}: an up-to-date pull while the primary is down");

        // Writes fail clearly and retryably; the edit stays with the client.
        edit(&mut clients[n], &format!("offline-{name}"));
        let started = Instant::now();
        let r = post_sync(edge, &token, &clients[n]).await;
        assert_eq!(r.status(), 503, "{name}: a push while the primary is down");
        assert!(r.headers().get("retry-after").is_some(), "{name}: Retry-After");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: serde_json::Value = r.json().await.unwrap();
        assert_eq!(problem["type"], "urn:edgesync:problem:unavailable");
        assert!(started.elapsed() < Duration::from_secs(20), "{name}: took {:?}", started.elapsed());
        assert_eq!(client::pending_changes(&clients[n].doc, &clients[n].acked), 1);
    }

    // The embedded replica can no longer pull: its health says how stale reads have become.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let stale = health(native).await;
    assert_eq!(stale["status"], "ok");
    assert!(stale["replica"]["lag_ms"].as_i64().unwrap() >= 2_000, "{stale}");

    drop(back);
    until_converged(&topo, &mut clients, &token, Duration::from_secs(60)).await;
    for c in &clients {
        for key in ["before", "offline-WORKERD", "offline-SPIN", "offline-NATIVE"] {
            assert!(c.doc.get(ROOT, key).unwrap().is_some(), "{key} lost");
        }
    }
}

#[tokio::test]
async fn a_replica_restarted_from_empty_catches_up() {
    let Some(topo) = Topology::from_env() else { return };
    let (id, token, mut clients) = setup(&topo, "wipe", 30).await;
    edit(&mut clients[2], "written-before-wipe");
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;

    topo.control(&["wipe-replica", "1"]);
    // The Worker's replica starts empty; without any manual step the edge serves the document
    // again once the replica has caught up, and its client converges with the others.
    let mut fresh = Replica::new(&id, 39);
    let start = Instant::now();
    while fresh.sync(&topo.edges[0].1, &token).await != 200 || fresh.doc.get(ROOT, "written-before-wipe").unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "the wiped replica never caught up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    clients[0] = fresh;
    edit(&mut clients[0], "after-wipe");
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;
    assert!(clients[1].doc.get(ROOT, "after-wipe").unwrap().is_some());
}

/// Opens `edge`'s per-document socket for `id` and reads its greeting.
async fn open_socket(edge: &Target, id: &str, token: &str) -> Socket {
    let mut request = format!("{}/v1/docs/{id}/live", edge.base.replacen("http", "ws", 1)).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
    let greeting = socket.next().await.unwrap().unwrap();
    assert!(greeting.to_text().unwrap().contains("subscribed"), "{greeting:?}");
    socket
}

/// The sorted hex heads of `replica`.
fn sorted_heads(replica: &Replica) -> Vec<String> {
    let mut heads: Vec<String> = replica.doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort();
    heads
}

/// Time from `since` until `socket` announces `expected` heads, or panics after 10 s.
async fn announced(socket: &mut Socket, expected: &[String], since: Instant) -> Duration {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let Some(Ok(Message::Text(text))) = socket.next().await else { panic!("the socket closed") };
            let message: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            let mut heads: Vec<String> = message["heads"].as_array().map(|h| h.iter().map(|h| h.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
            heads.sort();
            if message["type"] == "changed" && heads == expected {
                return since.elapsed();
            }
        }
    })
    .await
    .expect("the subscriber is told within 10 s")
}

/// A change committed at the Worker reaches a live subscriber of the native edge (its
/// per-document socket: the embedded replica's sync, then the server's heads poll) and a
/// waiting sync at Spin (replica 2, then the component's poll) — within docs/protocol.md's
/// bound: the replica's lag plus `EDGESYNC_WAIT_POLL_MS` (1 s here), asserted with room to
/// spare on a loaded machine.
#[tokio::test]
async fn a_change_committed_at_the_worker_reaches_the_other_edges_subscribers() {
    let Some(topo) = Topology::from_env() else { return };
    let (id, token, mut clients) = setup(&topo, "live", 40).await;
    edit(&mut clients[0], "before");
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;
    let (worker, spin, native) = (&topo.edges[0].1, &topo.edges[1].1, &topo.edges[2].1);
    let mut socket = open_socket(native, &id, &token).await;

    let mut at_spin = Replica::new(&id, 49);
    assert_eq!(at_spin.sync(spin, &token).await, 200);
    let [writer, ..] = &mut clients[..] else { unreachable!() };
    edit(writer, "from-the-worker");
    let expected = sorted_heads(writer);
    let waiting = async {
        let started = Instant::now();
        let (status, _) = at_spin.sync_waiting(spin, &token, 20_000).await;
        (status, started.elapsed())
    };
    let committed = async {
        tokio::time::sleep(Duration::from_millis(300)).await; // the waiting sync is in place
        let started = Instant::now();
        assert_eq!(writer.sync(worker, &token).await, 200);
        started
    };
    let ((status, waited), committed_at) = tokio::join!(waiting, committed);
    assert_eq!(status, 200);
    assert!(at_spin.doc.get(ROOT, "from-the-worker").unwrap().is_some(), "the waiting sync at Spin carried the change");
    assert!(waited < Duration::from_secs(10), "Spin's waiter answered after {waited:?}");
    let pushed = announced(&mut socket, &expected, committed_at).await;
    eprintln!("commit at the Worker -> Spin waiter {waited:?}, native socket {pushed:?}");
}

/// With `EDGESYNC_LIVE_POLL_MS` (500 ms in the topology), a commit made through the native edge
/// reaches a socket held by the Worker's document object: the object re-reads the heads from
/// its copy (replica 1) on that interval.
#[tokio::test]
async fn a_change_committed_at_the_native_edge_reaches_the_workers_sockets() {
    let Some(topo) = Topology::from_env() else { return };
    let (id, token, mut clients) = setup(&topo, "live-w", 50).await;
    edit(&mut clients[2], "before");
    until_converged(&topo, &mut clients, &token, Duration::from_secs(30)).await;
    let (worker, native) = (&topo.edges[0].1, &topo.edges[2].1);
    let mut socket = open_socket(worker, &id, &token).await;

    let writer = &mut clients[2];
    edit(writer, "from-native");
    let expected = sorted_heads(writer);
    let committed = Instant::now();
    assert_eq!(writer.sync(native, &token).await, 200);
    let pushed = announced(&mut socket, &expected, committed).await;
    eprintln!("commit at the native edge -> Worker socket {pushed:?}");
}
