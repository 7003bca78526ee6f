//! Part 4: peak resident memory above idle while the server refuses hostile pushes, through
//! `serve`'s router in-process: a decompression bomb (1 GiB of zeros in about 1 MiB), a
//! 40 MiB body (over the 32 MiB a sync body may have), next to an honest 1 MiB push. The peak
//! (`VmHWM`) is reset to the current RSS before each request (`/proc/self/clear_refs`), so
//! each row is that one request's peak over the idle server.

use std::fmt::Write;
use std::io::Write as _;
use std::net::SocketAddr;

use automerge::{ROOT, transaction::Transactable};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use edge_app::AppState;
use sync_core::{DocRequest, DocumentId, Heads, MEDIA_TYPE, SyncRequest};
use tower::ServiceExt;

use crate::harness;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Peak RSS growth (KiB) over the RSS before `body` was posted, and the answer's status.
async fn peak_of(router: &axum::Router, token: &str, id: DocumentId, body: Vec<u8>) -> (u64, u16) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let idle = status_kib("VmRSS:");
    let mut req = Request::post(format!("/v1/docs/{id}/sync"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", MEDIA_TYPE)
        .body(Body::from(body))
        .expect("request");
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let status = router.clone().oneshot(req).await.expect("infallible").status().as_u16();
    (status_kib("VmHWM:").saturating_sub(idle), status)
}

fn bomb(id: DocumentId, mib: usize) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        deflate.write_all(&zeros).expect("deflate");
    }
    let chunk = sync_core::inspect::frame_chunk(2, [0; 4], &deflate.finish().expect("deflate"));
    SyncRequest { docs: vec![DocRequest { doc_id: id, have: Heads::empty(), heads: Heads::empty(), chunks: vec![chunk] }] }.encode()
}

fn honest(id: DocumentId, bytes: usize) -> Vec<u8> {
    let mut doc = automerge::Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "blob", "h".repeat(bytes)).expect("put");
    tx.commit();
    SyncRequest { docs: vec![sync_core::client::build_request(id, &doc, &Heads::empty())] }.encode()
}

pub async fn measure(state: &AppState) -> String {
    let router = harness::router(state.clone());
    let token = harness::token(state, "p4-attacker");
    let mut out = String::new();
    writeln!(out, "| request (`POST /v1/docs/{{id}}/sync`) | body | answer | peak RSS above idle |").unwrap();
    writeln!(out, "|---|---:|---:|---:|").unwrap();
    let rows: [(&str, Box<dyn Fn(DocumentId) -> Vec<u8>>); 3] = [
        ("honest push: one 1 MiB string", Box::new(|id| honest(id, 1 << 20))),
        ("decompression bomb: 1 GiB of zeros, compressed change", Box::new(|id| bomb(id, 1024))),
        ("body over the limit: 40 MiB", Box::new(|_| vec![1u8; 40 << 20])),
    ];
    for (what, body) in rows {
        let id = harness::create_doc(state, "p4-attacker").await;
        let body = body(id);
        let len = body.len();
        let (peak, status) = peak_of(&router, &token, id, body).await;
        writeln!(out, "| {what} | {:.1} MiB | {status} | {:.1} MiB |", len as f64 / 1048576.0, peak as f64 / 1024.0).unwrap();
    }
    out
}
