//! Failures against the real server: token expiry mid-session, 503 with Retry-After, the
//! server going away and coming back, read-only access, documents the server lost or whose id
//! is taken. Local edits are never dropped.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Events, TestServer, string};
use edgesync_client::automerge::ROOT;
use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::{Backoff, BackgroundSync, Client, DocSyncError, Event, SyncError, SyncStatus, TokenError};

fn background(initial: Duration, max: Duration) -> BackgroundSync {
    BackgroundSync {
        interval: Duration::from_secs(3600),
        interval_while_live: Duration::from_secs(3600),
        debounce: Duration::from_millis(10),
        backoff: Backoff { initial, max, max_retry_after: Duration::from_secs(30) },
        live: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refreshed_once_and_the_sync_succeeds() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A provider that caches its token and mints a new one only when asked to refresh.
    let calls = Arc::new(Mutex::new(Vec::<bool>::new()));
    let broken = Arc::new(AtomicBool::new(false));
    let current = Arc::new(Mutex::new(server.token_with_ttl("alice", 600)));
    let provider = {
        let (calls, broken, current, mint) = (calls.clone(), broken.clone(), current.clone(), server.provider("alice"));
        move |refresh: bool| {
            calls.lock().unwrap().push(refresh);
            if refresh {
                let fresh = if broken.load(Ordering::SeqCst) { "not-a-jwt".to_owned() } else { mint(true).into_inner().unwrap() };
                *current.lock().unwrap() = fresh;
            }
            std::future::ready(Ok::<_, TokenError>(current.lock().unwrap().clone()))
        }
    };
    let client =
        Client::builder(server.url()).store_path(dir.path().join("c.db")).token_provider(provider).manual_sync().open().await.unwrap();
    let doc = client.create_document("tokens").await.unwrap();
    doc.change(|tx| tx.put(ROOT, "first", "yes")).await.unwrap();
    assert!(client.sync_now().await.unwrap().errors.is_empty());
    assert!(!calls.lock().unwrap().contains(&true), "a valid token is not refreshed");

    // Mid-session the token expires (the server's clock passes its exp).
    server.clock.advance(Duration::from_secs(7200));
    doc.change(|tx| tx.put(ROOT, "second", "yes")).await.unwrap();
    let report = client.sync_now().await.unwrap();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");
    assert_eq!(calls.lock().unwrap().iter().filter(|r| **r).count(), 1, "exactly one refresh: {:?}", calls.lock().unwrap());

    // The edit made with the refreshed token is on the server.
    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("c.db"), "alice", None).await;
    let copy = other.open_document(doc.id()).await.unwrap();
    other.sync_now().await.unwrap();
    assert_eq!(string(&copy, "second").as_deref(), Some("yes"));

    // A refresh that does not help: one refresh, then a typed error; the edit stays pending.
    server.clock.advance(Duration::from_secs(7200));
    broken.store(true, Ordering::SeqCst);
    doc.change(|tx| tx.put(ROOT, "third", "yes")).await.unwrap();
    let err = client.sync_now().await.unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized { .. }), "{err:?}");
    assert_eq!(calls.lock().unwrap().iter().filter(|r| **r).count(), 2, "one more refresh, no loop");
    assert_eq!(doc.pending_changes(), 1);
    assert!(matches!(client.status(), SyncStatus::Error(_)));
    assert_eq!(string(&doc, "third").as_deref(), Some("yes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_honours_retry_after_on_503() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Exponential backoff alone would wait 15 s or more; only Retry-After gets this done quickly.
    let client = server.client(&dir.path().join("c.db"), "alice", Some(background(Duration::from_secs(30), Duration::from_secs(60)))).await;
    let mut events = Events::new(client.subscribe());
    server.faults.refuse_next_syncs(2, 1);

    let doc = client.create_document("busy server").await.unwrap();
    doc.change(|tx| tx.put(ROOT, "k", "v")).await.unwrap();
    events.status(Duration::from_secs(10), |s, _| matches!(s, SyncStatus::Error(_))).await;
    let refused_at = Instant::now();
    events.status(Duration::from_secs(15), |s, pending| *s == SyncStatus::Synced && pending == 0).await;
    let waited = refused_at.elapsed();

    assert_eq!(server.faults.refused.load(Ordering::SeqCst), 2);
    assert_eq!(server.faults.sync_requests.load(Ordering::SeqCst), 3, "two refused attempts, then success, nothing more");
    assert!(waited >= Duration::from_millis(1900), "retried before Retry-After elapsed twice: {waited:?}");
    assert_eq!(client.pending_changes(), 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_loop_goes_offline_backs_off_and_recovers() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = server.client(&dir.path().join("c.db"), "alice", Some(background(Duration::from_millis(100), Duration::from_millis(400)))).await;
    let mut events = Events::new(client.subscribe());
    let doc = client.create_document("flaky").await.unwrap();
    doc.change(|tx| tx.put(ROOT, "before", 1)).await.unwrap();
    events.status(Duration::from_secs(10), |s, pending| *s == SyncStatus::Synced && pending == 0).await;

    server.stop().await;
    doc.change(|tx| tx.put(ROOT, "while-down", 2)).await.unwrap();
    events.status(Duration::from_secs(10), |s, pending| *s == SyncStatus::Offline && pending == 1).await;
    // Let it fail a few times while backing off.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    events.drain();
    let offline = events.seen.lock().unwrap().iter().filter(|e| matches!(e, Event::Status { status: SyncStatus::Offline, .. })).count();
    assert!((2..=15).contains(&offline), "retries back off (not zero, not a busy loop): {offline} failures in 1.5 s");
    assert_eq!(doc.pending_changes(), 1);

    server.restart().await;
    events.status(Duration::from_secs(10), |s, pending| *s == SyncStatus::Synced && pending == 0).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("c.db"), "alice", None).await;
    let copy = other.open_document(doc.id()).await.unwrap();
    other.sync_now().await.unwrap();
    assert_eq!(copy.heads(), doc.heads());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewers_edit_is_refused_per_document_and_kept() {
    let server = TestServer::start().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alice = server.client(&a_dir.path().join("c.db"), "alice", None).await;
    let other = alice.create_document("alice writes").await.unwrap();
    let owned = alice.create_document("read-only for bob").await.unwrap();
    owned.change(|tx| tx.put(ROOT, "owner", "alice")).await.unwrap();
    alice.sync_now().await.unwrap();
    server.add_member("alice", owned.id(), "bob", "viewer").await;
    server.add_member("alice", other.id(), "bob", "editor").await;

    let bob_store = b_dir.path().join("c.db");
    let bob = server.client(&bob_store, "bob", None).await;
    let read_only = bob.open_document(owned.id()).await.unwrap();
    let writable = bob.open_document(other.id()).await.unwrap();
    assert!(bob.sync_now().await.unwrap().errors.is_empty());
    assert_eq!(string(&read_only, "owner").as_deref(), Some("alice"));

    let mut events = Events::new(read_only.subscribe());
    read_only.change(|tx| tx.put(ROOT, "bob", "was here")).await.unwrap();
    writable.change(|tx| tx.put(ROOT, "bob", "allowed")).await.unwrap();
    owned.change(|tx| tx.put(ROOT, "news", "from alice")).await.unwrap();
    alice.sync_now().await.unwrap();
    let report = bob.sync_now().await.unwrap();

    assert_eq!(report.error_for(read_only.id()), Some(&DocSyncError::Forbidden));
    assert_eq!(report.error_for(writable.id()), None, "the other document in the batch synced");
    assert_eq!(read_only.sync_error(), Some(DocSyncError::Forbidden));
    events.wait_for(Duration::from_secs(1), "SyncFailed", |e| matches!(e, Event::SyncFailed { error: DocSyncError::Forbidden, .. })).await;
    assert_eq!(string(&read_only, "bob").as_deref(), Some("was here"), "the local edit stays");
    assert_eq!(string(&read_only, "news").as_deref(), Some("from alice"), "remote changes are still pulled");
    assert_eq!(read_only.pending_changes(), 1);
    assert_eq!(bob.pending_changes(), 1);
    alice.sync_now().await.unwrap();
    assert_eq!(string(&owned, "bob"), None, "the server stored nothing of it");
    assert_eq!(string(&other, "bob").as_deref(), Some("allowed"));

    // The refused edit survives a restart, and goes through once bob may write.
    let id = read_only.id();
    drop((read_only, writable, events));
    bob.close().await;
    let bob = server.client(&bob_store, "bob", None).await;
    let read_only = bob.document(id).unwrap();
    assert_eq!(read_only.pending_changes(), 1);
    server.add_member("alice", id, "bob", "editor").await;
    let report = bob.sync_now().await.unwrap();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");
    assert_eq!(read_only.sync_error(), None);
    alice.sync_now().await.unwrap();
    assert_eq!(string(&owned, "bob").as_deref(), Some("was here"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_the_server_lost_is_registered_again() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = server.client(&dir.path().join("c.db"), "alice", None).await;
    let doc = client.create_document("deleted remotely").await.unwrap();
    doc.change(|tx| tx.put(ROOT, "k", 1)).await.unwrap();
    client.sync_now().await.unwrap();
    assert_eq!(server.call(reqwest::Method::DELETE, &format!("/v1/docs/{}", doc.id()), "alice", None).await, 204);

    doc.change(|tx| tx.put(ROOT, "k2", 2)).await.unwrap();
    let report = client.sync_now().await.unwrap();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");
    // The whole document, old changes included, is on the server again.
    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("c.db"), "alice", None).await;
    let copy = other.open_document(doc.id()).await.unwrap();
    other.sync_now().await.unwrap();
    assert_eq!(copy.heads(), doc.heads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_taken_by_someone_else_is_a_typed_error_and_edits_stay() {
    let server = TestServer::start().await;
    let id = edgesync_client::new_document_id().unwrap();
    let body = serde_json::json!({ "id": id.to_string(), "title": "carol's" });
    assert_eq!(server.call(reqwest::Method::POST, "/v1/docs", "carol", Some(body)).await, 201);

    let dir = tempfile::tempdir().unwrap();
    let client = server.client(&dir.path().join("c.db"), "alice", None).await;
    let doc = client.create_document_with_id(id, "mine").await.unwrap();
    doc.change(|tx| tx.put(ROOT, "k", 1)).await.unwrap();
    let report = client.sync_now().await.unwrap();
    assert_eq!(report.error_for(id), Some(&DocSyncError::IdTaken), "{report:?}");
    assert_eq!(doc.pending_changes(), 1);
    // Not retried in a loop: the next run reports the same without registering again.
    let report = client.sync_now().await.unwrap();
    assert_eq!(report.error_for(id), Some(&DocSyncError::IdTaken));
    assert_eq!(doc.pending_changes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_that_fails_its_whole_batch_is_isolated_and_the_others_sync() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = server.client(&dir.path().join("c.db"), "alice", None).await;
    let mut docs = Vec::new();
    for i in 0..6 {
        let doc = client.create_document(&format!("doc {i}")).await.unwrap();
        doc.change(|tx| tx.put(ROOT, "n", i as i64)).await.unwrap();
        docs.push(doc);
    }
    assert!(client.sync_now().await.unwrap().errors.is_empty());
    // Every document edits again; any request holding the fourth one now fails as a whole.
    for doc in &docs {
        doc.change(|tx| tx.put(ROOT, "again", "yes")).await.unwrap();
    }
    *server.faults.poisoned.lock().unwrap() = Some(docs[3].id());
    let report = client.sync_now().await.unwrap();
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(matches!(report.errors.get(&docs[3].id()), Some(DocSyncError::RequestFailed(_))), "{report:?}");
    assert_eq!(report.synced, 5);
    // The others are on the server; the failed one's edit stays pending, and goes once the
    // server can take it again.
    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("c.db"), "alice", None).await;
    for (i, doc) in docs.iter().enumerate().filter(|(i, _)| *i != 3) {
        let copy = other.open_document(doc.id()).await.unwrap();
        other.sync_now().await.unwrap();
        assert_eq!(string(&copy, "again").as_deref(), Some("yes"), "document {i}");
    }
    *server.faults.poisoned.lock().unwrap() = None;
    let report = client.sync_now().await.unwrap();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");
}

#[tokio::test]
async fn shared_documents_lists_what_the_server_shares_and_needs_the_network() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let alice = server.client(&dir.path().join("a.db"), "alice", None).await;
    let shared = alice.create_document("for bob").await.unwrap();
    alice.create_document("alice only").await.unwrap();
    alice.sync_now().await.unwrap();
    server.add_member("alice", shared.id(), "bob", "viewer").await;

    let bob = server.client(&dir.path().join("b.db"), "bob", None).await;
    assert!(bob.documents().is_empty(), "nothing opened on bob's device");
    let listed = bob.shared_documents().await.unwrap();
    let seen: Vec<_> = listed.iter().map(|d| (d.id, d.title.as_str(), d.owner.as_str(), d.role.as_str())).collect();
    assert_eq!(seen, vec![(shared.id(), "for bob", "alice", "viewer")]);
    assert_eq!(alice.shared_documents().await.unwrap().len(), 2);
    server.stop().await;
    assert!(matches!(bob.shared_documents().await, Err(edgesync_client::SyncError::Offline(_))));
}
