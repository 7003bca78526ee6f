//! The `edgesync` binary's commands: import/export round trip, migrate, and /metrics.

use std::process::{Command, Stdio};
use std::time::Duration;

use automerge::{Automerge, ROOT, ReadDoc, transaction::Transactable};

const BIN: &str = env!("CARGO_BIN_EXE_edgesync");

fn edgesync(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_then_export_round_trips_a_document() {
    let data = tempfile::tempdir().unwrap();
    let mut doc = Automerge::new();
    for i in 0..2_500 {
        let mut tx = doc.transaction();
        tx.put(ROOT, format!("k{}", i % 50).as_str(), i).unwrap();
        tx.commit();
    }
    let input = data.path().join("in.automerge");
    std::fs::write(&input, doc.save()).unwrap();
    assert!(edgesync(data.path(), &["migrate"]).contains("schema at version 1"));
    let id = "00112233445566778899aabbccddeeff";
    let said = edgesync(data.path(), &["import", input.to_str().unwrap(), "--owner", "alice", "--id", id]);
    assert!(said.contains("imported 2500 changes"), "{said}");
    let output = data.path().join("out.automerge");
    edgesync(data.path(), &["export", id, output.to_str().unwrap()]);
    let exported = Automerge::load(&std::fs::read(&output).unwrap()).unwrap();
    assert_eq!(exported.get_heads(), doc.get_heads());
    assert_eq!(exported.get(ROOT, "k49").unwrap().unwrap().0.as_i64(), doc.get(ROOT, "k49").unwrap().unwrap().0.as_i64());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(BIN)
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--compaction-interval", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut healthy = false;
    for _ in 0..200 {
        if http.get(format!("{base}/v1/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unauthorized = http.get(format!("{base}/v1/docs")).send().await.unwrap().status();
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(healthy);
    assert_eq!(unauthorized, 401);
    let line = |route: &str, status: &str| {
        metrics.lines().any(|l| l.starts_with("edgesync_http_requests_total") && l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\"")))
    };
    assert!(line("/v1/health", "200"), "{metrics}");
    assert!(line("/v1/docs", "401"), "{metrics}");
    assert!(metrics.contains("edgesync_http_request_duration_seconds"));
}
