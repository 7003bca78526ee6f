//! The SDK on a server with the live channel (docs/protocol.md §11): a collaborator's edit
//! arrives through the WebSocket (the client polls once an hour and makes no waiting sync),
//! and an idle client sends no request at all.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Events, TestServer};
use edgesync_client::automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_client::{BackgroundSync, ChangeOrigin, DocHandle, Event};

fn has(doc: &DocHandle, key: &str) -> bool {
    doc.read(|d| d.get(ROOT, key).ok().flatten().is_some()).unwrap_or(false)
}

#[tokio::test]
async fn a_collaborators_edit_arrives_over_the_live_channel_and_an_idle_client_is_silent() {
    let server = TestServer::start_live().await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.client(&dir.path().join("a.db"), "alice", None).await;
    let doc_a = a.create_document("live").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "first", 1)).await.unwrap();
    a.sync_now().await.unwrap();

    let live = BackgroundSync { interval: Duration::from_secs(3600), live: Some(Duration::from_secs(20)), ..Default::default() };
    let b = server.client(&dir.path().join("b.db"), "alice", Some(live)).await;
    let mut events = Events::new(b.subscribe());
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    let remote = |key: &'static str| {
        let doc_b = doc_b.clone();
        move |e: &Event| matches!(e, Event::Changed { origin: ChangeOrigin::Remote, .. }) && has(&doc_b, key)
    };
    events.wait_for(Duration::from_secs(10), "the first pull", remote("first")).await;

    doc_a.change(|tx| tx.put(ROOT, "second", 2)).await.unwrap();
    a.sync_now().await.unwrap();
    events.wait_for(Duration::from_secs(5), "A's edit, pushed", remote("second")).await;
    assert_eq!(doc_b.heads(), doc_a.heads());
    assert_eq!(server.faults.waiting_syncs.load(Ordering::SeqCst), 0, "the WebSocket, not a waiting sync, brought it");

    // Idle: nothing to send, nothing announced, no request.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.faults.sync_requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.faults.sync_requests.load(Ordering::SeqCst), before, "an idle client polled");
    b.close().await;
}
