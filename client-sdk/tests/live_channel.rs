//! The SDK on a server with the live channel (docs/protocol.md §11): a collaborator's edit
//! arrives through the WebSocket (the client polls once an hour and makes no waiting sync),
//! an idle client sends no request at all, and presence goes from one client to another.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Events, TestServer};
use edgesync_client::automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_client::{BackgroundSync, ChangeOrigin, DocHandle, Event};

fn has(doc: &DocHandle, key: &str) -> bool {
    doc.read(|d| d.get(ROOT, key).ok().flatten().is_some()).unwrap_or(false)
}

/// A remote change that brought `key` into `doc`.
fn remote_change(doc: &DocHandle, key: &'static str) -> impl Fn(&Event) -> bool + use<> {
    let doc = doc.clone();
    move |e: &Event| matches!(e, Event::Changed { origin: ChangeOrigin::Remote, .. }) && has(&doc, key)
}

/// Waits until `client`'s live loop is in `mode`.
async fn wait_for_mode(client: &edgesync_client::Client, mode: edgesync_client::LiveMode) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while client.live_mode() != mode {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the live loop reaches {mode:?}"));
}

/// Live sockets or waiting syncs (20 s), and an interval sync only once an hour: whatever
/// arrives sooner came through the live path.
fn live_polling_hourly() -> BackgroundSync {
    BackgroundSync { interval: Duration::from_secs(3600), live: Some(Duration::from_secs(20)), ..Default::default() }
}

#[tokio::test]
async fn a_collaborators_edit_arrives_over_the_live_channel_and_an_idle_client_is_silent() {
    let server = TestServer::start_live().await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.client(&dir.path().join("a.db"), "alice", None).await;
    let doc_a = a.create_document("live").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "first", 1)).await.unwrap();
    a.sync_now().await.unwrap();

    // Without a socket B would poll every 300 ms; with one watching everything, once an hour.
    let live = BackgroundSync {
        interval: Duration::from_millis(300),
        interval_while_live: Duration::from_secs(3600),
        live: Some(Duration::from_secs(20)),
        ..Default::default()
    };
    let b = server.client(&dir.path().join("b.db"), "alice", Some(live)).await;
    let mut events = Events::new(b.subscribe());
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    events.wait_for(Duration::from_secs(10), "the first pull", remote_change(&doc_b, "first")).await;

    doc_a.change(|tx| tx.put(ROOT, "second", 2)).await.unwrap();
    a.sync_now().await.unwrap();
    events.wait_for(Duration::from_secs(5), "A's edit, pushed", remote_change(&doc_b, "second")).await;
    assert_eq!(doc_b.heads(), doc_a.heads());
    assert_eq!(server.faults.waiting_syncs.load(Ordering::SeqCst), 0, "the WebSocket, not a waiting sync, brought it");

    // Idle: nothing to send, nothing announced, no request (the interval sync waits an hour
    // while the socket watches every document).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = server.faults.sync_requests.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(server.faults.sync_requests.load(Ordering::SeqCst), before, "an idle client polled");
    b.close().await;
}

#[tokio::test]
async fn presence_reaches_the_other_clients_of_a_document_with_the_senders_identity() {
    let server = TestServer::start_live().await;
    let dir = tempfile::tempdir().unwrap();
    let live = live_polling_hourly();
    let a = server.client(&dir.path().join("a.db"), "alice", Some(live)).await;
    let doc_a = a.create_document("cursors").await.unwrap();
    a.sync_now().await.unwrap();
    server.add_member("alice", doc_a.id(), "bob", "viewer").await;
    let b = server.client(&dir.path().join("b.db"), "bob", Some(live)).await;
    b.open_document(doc_a.id()).await.unwrap();
    b.sync_now().await.unwrap();
    let mut heard = a.subscribe_presence();
    // Once both sockets are subscribed, a viewer's cursor reaches the owner.
    let sent = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if b.set_presence(doc_a.id(), serde_json::json!({"cursor": 7, "from": "someone-else"}))
                && let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(300), heard.next()).await
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("presence arrives");
    assert_eq!((sent.doc_id, sent.from.as_str()), (doc_a.id(), "bob"));
    assert_eq!(sent.data, serde_json::json!({"cursor": 7, "from": "someone-else"}));
    // Without a live channel nothing is sent.
    let manual = server.client(&dir.path().join("c.db"), "alice", None).await;
    assert!(!manual.set_presence(doc_a.id(), serde_json::json!(1)));
}

#[tokio::test]
async fn a_document_opened_before_its_creator_pushed_it_is_still_polled_while_the_socket_is_open() {
    let server = TestServer::start_live().await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.client(&dir.path().join("a.db"), "alice", None).await;
    let doc_a = a.create_document("not pushed yet").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "n", 1)).await.unwrap();

    // B opens the id first: the server does not know it, so no socket can watch it, and B
    // must keep its normal interval (not the hour it waits while sockets watch everything).
    let live = BackgroundSync {
        interval: Duration::from_millis(200),
        interval_while_live: Duration::from_secs(3600),
        live: Some(Duration::from_secs(20)),
        ..Default::default()
    };
    let b = server.client(&dir.path().join("b.db"), "alice", Some(live)).await;
    let mut events = Events::new(b.subscribe());
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    // The socket is open (and its first subscription sent) before A pushes.
    wait_for_mode(&b, edgesync_client::LiveMode::Channel).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    a.sync_now().await.unwrap();
    events.wait_for(Duration::from_secs(5), "the document, found by an interval sync", remote_change(&doc_b, "n")).await;
    assert_eq!(doc_b.heads(), doc_a.heads());
    b.close().await;
}

#[tokio::test]
async fn waiting_syncs_do_not_spin_on_a_document_the_server_does_not_have() {
    // No sockets: the client keeps a waiting sync open instead.
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let live = live_polling_hourly();
    let b = server.client(&dir.path().join("b.db"), "alice", Some(live)).await;
    let mut events = Events::new(b.subscribe());
    b.open_document(edgesync_client::new_document_id().unwrap()).await.unwrap();
    events.wait_for(Duration::from_secs(10), "the sync that finds nothing", |e| matches!(e, Event::SyncFailed { .. })).await;
    // A waiting sync answered at once ("not found" is news) must not be reissued at once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waits = server.faults.waiting_syncs.load(Ordering::SeqCst);
    assert!(waits <= 2, "{waits} waiting syncs in 2 s for a document nobody has");
    b.close().await;
}

#[tokio::test]
async fn without_document_sockets_a_known_document_is_watched_by_waiting_syncs() {
    // Waiting syncs but no sockets (as on Spin): `/v1/live` and `/v1/docs/{id}/live` answer 404.
    let server = TestServer::start_waiting_only().await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.client(&dir.path().join("a.db"), "alice", None).await;
    let doc_a = a.create_document("no sockets").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "first", 1)).await.unwrap();
    a.sync_now().await.unwrap();
    // B knows the document before its background loop starts, so its first look for sockets
    // tries that document's and gets 404: that means "no sockets here", not "no document".
    // The 404s come after B's first sync (as they may on a loaded machine), so no later sync
    // would undo a wrong conclusion.
    let b = server.client(&dir.path().join("b.db"), "alice", None).await;
    b.open_document(doc_a.id()).await.unwrap();
    b.sync_now().await.unwrap();
    b.close().await;
    server.faults.live_delay_ms.store(500, Ordering::SeqCst);
    let b = server.client(&dir.path().join("b.db"), "alice", Some(live_polling_hourly())).await;
    let mut events = Events::new(b.subscribe());
    let doc_b = b.document(doc_a.id()).expect("in B's store");
    wait_for_mode(&b, edgesync_client::LiveMode::WaitingSyncs).await;

    doc_a.change(|tx| tx.put(ROOT, "second", 2)).await.unwrap();
    a.sync_now().await.unwrap();
    events.wait_for(Duration::from_secs(5), "A's edit, through B's waiting sync", remote_change(&doc_b, "second")).await;
    b.close().await;
}

#[tokio::test]
async fn without_the_channel_each_open_document_gets_its_own_socket() {
    // `/v1/live` answers 404 but `/v1/docs/{id}/live` is served: a Worker deployed without its
    // channel binding.
    let server = TestServer::start_live().await;
    server.faults.hide_channel.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let a = server.client(&dir.path().join("a.db"), "alice", None).await;
    let doc_a = a.create_document("per document").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "first", 1)).await.unwrap();
    a.sync_now().await.unwrap();

    let b = server.client(&dir.path().join("b.db"), "alice", Some(live_polling_hourly())).await;
    let mut events = Events::new(b.subscribe());
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    events.wait_for(Duration::from_secs(10), "the first pull", remote_change(&doc_b, "first")).await;
    wait_for_mode(&b, edgesync_client::LiveMode::DocumentSockets).await;

    doc_a.change(|tx| tx.put(ROOT, "second", 2)).await.unwrap();
    a.sync_now().await.unwrap();
    events.wait_for(Duration::from_secs(5), "A's edit, pushed through the document's socket", remote_change(&doc_b, "second")).await;
    assert_eq!(server.faults.waiting_syncs.load(Ordering::SeqCst), 0, "the document's socket, not a waiting sync, brought it");
    b.close().await;
}
