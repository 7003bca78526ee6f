//! Durability: clients sync into the real `edgesync` binary, which is killed with SIGKILL in
//! the middle of the load and restarted on the same data. Every change the server
//! acknowledged before dying must be there after the restart.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::{ActorId, Automerge, ROOT, ReadDoc, transaction::Transactable};
use sync_core::{DocumentId, Heads, Limits, MEDIA_TYPE, SyncRequest, SyncResponse, client};

const BIN: &str = env!("CARGO_BIN_EXE_edgesync");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(data: &std::path::Path, port: u16) -> Child {
    Command::new(BIN)
        .args(["--dev", "--data-dir", data.to_str().unwrap(), "--rate-limit", "0", "serve", "--addr", &format!("127.0.0.1:{port}"), "--compaction-interval", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/v1/health")).send().await
            && r.status().is_success() {
                return;
            }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not become healthy");
}

/// Syncs once; returns the response if the server answered.
async fn sync(http: &reqwest::Client, base: &str, token: &str, id: DocumentId, doc: &mut Automerge, acked: &mut Heads) -> Option<()> {
    let request = SyncRequest { docs: vec![client::build_request(id, doc, acked)] };
    let r = http
        .post(format!("{base}/v1/docs/{id}/sync"))
        .bearer_auth(token)
        .header("content-type", MEDIA_TYPE)
        .body(request.encode())
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let body = r.bytes().await.ok()?;
    let response = SyncResponse::decode(&body, &Limits::DEFAULT).expect("valid response");
    let applied = client::apply_response(doc, id, acked, &response.docs[0]).expect("applies");
    *acked = applied.acked;
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(data.path(), port);
    let http = reqwest::Client::new();
    wait_healthy(&http, &base).await;
    let token = String::from_utf8(Command::new(BIN).args(["--dev", "--data-dir", data.path().to_str().unwrap(), "token", "--user", "alice"]).output().unwrap().stdout).unwrap().trim().to_owned();
    let created: serde_json::Value = http
        .post(format!("{base}/v1/docs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id: DocumentId = created["id"].as_str().unwrap().parse().unwrap();

    // Keys whose change the server acknowledged (the change is covered by acked heads).
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for c in 0..6u8 {
        let (http, base, token, acknowledged) = (http.clone(), base.clone(), token.clone(), acknowledged.clone());
        clients.push(tokio::spawn(async move {
            let mut doc = Automerge::new().with_actor(ActorId::from(vec![c + 1; 4]));
            let mut acked = Heads::empty();
            for n in 0.. {
                let key = format!("c{c}-{n}");
                let mut tx = doc.transaction();
                tx.put(ROOT, key.as_str(), n).unwrap();
                tx.commit();
                if sync(&http, &base, &token, id, &mut doc, &mut acked).await.is_none() {
                    return; // the server is gone
                }
                if client::pending_changes(&doc, &acked) == 0 {
                    acknowledged.lock().unwrap().push(key);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 20, "the load made progress before the kill ({} acks)", acknowledged.len());

    let mut server = start(data.path(), port);
    wait_healthy(&http, &base).await;
    let mut reader = Automerge::new();
    let mut acked = Heads::empty();
    sync(&http, &base, &token, id, &mut reader, &mut acked).await.expect("sync after restart");
    let missing: Vec<&String> = acknowledged.iter().filter(|k| reader.get(ROOT, k.as_str()).unwrap().is_none()).collect();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(missing.is_empty(), "{} of {} acknowledged edits lost: {missing:?}", missing.len(), acknowledged.len());
}
