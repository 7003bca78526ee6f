//! The `edgesync` binary's commands: import/export round trip, migrate, /metrics on its own
//! listener, SIGTERM, and no start without a token key outside development mode.

use std::process::{Command, Stdio};
use std::time::Duration;

use automerge::{Automerge, ROOT, ReadDoc, transaction::Transactable};

const BIN: &str = env!("CARGO_BIN_EXE_edgesync");

fn edgesync(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--dev").arg("--data-dir").arg(data).args(args).output().unwrap();
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
    let latest = edge_app::store::migrations::MIGRATIONS.last().unwrap().0;
    assert!(edgesync(data.path(), &["migrate"]).contains(&format!("schema at version {latest}")));
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
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port, metrics_port) = (free(), free());
    let mut server = Command::new(BIN)
        .arg("--dev")
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--compaction-interval", "0"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
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
    // Not on the API port: only on the metrics listener.
    let on_api_port = http.get(format!("{base}/metrics")).send().await.unwrap().status();
    let metrics = http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap().text().await.unwrap();
    // SIGTERM (what containers and systemd send) drains and exits cleanly, like Ctrl-C.
    let term = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = exited else {
        server.kill().unwrap();
        panic!("the server ignored SIGTERM");
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(healthy);
    assert_eq!(unauthorized, 401);
    assert_eq!(on_api_port, 404);
    let line = |route: &str, status: &str| {
        metrics.lines().any(|l| l.starts_with("edgesync_http_requests_total") && l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("status=\"{status}\"")))
    };
    assert!(line("/v1/health", "200"), "{metrics}");
    assert!(line("/v1/docs", "401"), "{metrics}");
    assert!(metrics.contains("edgesync_http_request_duration_seconds"));
}

#[test]
fn without_a_token_key_the_server_only_starts_in_development_mode() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--addr", "127.0.0.1:0", "--compaction-interval", "0"])
        .env_remove("JWT_HS256_SECRET")
        .env_remove("JWT_ED25519_PUBLIC_KEYS")
        .env_remove("EDGESYNC_DEV")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("JWT_HS256_SECRET") && said.contains("--dev"), "{said}");
    assert!(!data.path().join("dev-secret").exists(), "no secret is generated outside development mode");
    // Minting a token needs a key too.
    let out = Command::new(BIN).arg("--data-dir").arg(data.path()).args(["token", "--user", "alice"]).env_remove("JWT_HS256_SECRET").output().unwrap();
    assert!(!out.status.success());
    assert!(!data.path().join("dev-secret").exists());
    // Commands that verify no token (migrate) work without one.
    let out = Command::new(BIN).arg("--data-dir").arg(data.path()).arg("migrate").env_remove("JWT_HS256_SECRET").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
