//! Local durability: a client process killed with SIGKILL right after `change` returned still
//! has the edit when its store is reopened, and delivers it on the next sync.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{TestServer, scalar};
use edgesync_client::automerge::ScalarValue;
use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::{DocHandle, DocumentId, StoreError, new_document_id};

const EDIT: &str = env!("CARGO_BIN_EXE_edgesync-client-edit");

/// Runs the edit tool on `store` until it reported `last` as durable, then SIGKILLs it.
fn edit_then_kill(store: &Path, id: DocumentId, count: u64, last: u64) {
    let mut child = Command::new(EDIT)
        .args([store.to_str().unwrap(), &id.to_string(), &count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the edit tool starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the tool reports each edit").unwrap();
        if line == format!("durable {last}") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no flushing
    child.wait().unwrap();
}

fn assert_edits(doc: &DocHandle, through: u64) {
    for n in 0..=through {
        assert_eq!(scalar(doc, &format!("edit-{n}")), Some(ScalarValue::Uint(n)), "edit {n} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_survives_sigkill_and_is_delivered() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("client.db");
    let id = new_document_id().unwrap();
    // One edit to a document created offline, then the process sleeps until killed.
    edit_then_kill(&store, id, 1, 0);

    let client = server.client(&store, "alice", None).await;
    let doc = client.document(id).expect("the document created before the kill is there");
    assert_edits(&doc, 0);
    assert_eq!(doc.pending_changes(), 1, "the unsynced edit is in the outbox");

    let report = client.sync_now().await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.pending, 0);

    // Another device of the same user receives it from the server.
    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("client.db"), "alice", None).await;
    let copy = other.open_document(id).await.unwrap();
    other.sync_now().await.unwrap();
    assert_edits(&copy, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_edits_survives_sigkill_mid_write() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("client.db");
    let id = new_document_id().unwrap();
    // Edits until killed: the kill lands while later edits are being written.
    edit_then_kill(&store, id, 0, 150);

    let client = server.client(&store, "alice", None).await;
    let doc = client.document(id).expect("the document is there");
    assert_edits(&doc, 150);
    let pending = doc.pending_changes();
    assert!(pending >= 151, "every returned edit is pending, got {pending}");

    // Keep editing on the reopened store (a new actor continues the history), then sync.
    doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, "after-restart", true)).await.unwrap();
    let report = client.sync_now().await.unwrap();
    assert!(report.errors.is_empty() && report.pending == 0, "{report:?}");

    let other_dir = tempfile::tempdir().unwrap();
    let other = server.client(&other_dir.path().join("client.db"), "alice", None).await;
    let copy = other.open_document(id).await.unwrap();
    other.sync_now().await.unwrap();
    assert_edits(&copy, 150);
    assert_eq!(copy.heads(), doc.heads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_and_acked_heads_survive_a_restart() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("client.db");
    let client = server.client(&store, "alice", None).await;
    let doc = client.create_document("kept").await.unwrap();
    doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, "synced", 1)).await.unwrap();
    client.sync_now().await.unwrap();
    doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, "unsynced", 2)).await.unwrap();
    let id = doc.id();

    // A second client cannot open the store while the first has it.
    let second = edgesync_client::LibsqlStore::open(&store).await;
    assert!(matches!(second, Err(StoreError::InUse(_))), "{second:?}");

    drop(doc);
    client.close().await;
    let client = server.client(&store, "alice", None).await;
    let doc = client.document(id).unwrap();
    // Only the unsynced change is pending: the acked heads were persisted.
    assert_eq!(doc.pending_changes(), 1);
    let info = doc.info().unwrap();
    assert!(info.registered);
    assert_eq!(client.documents().len(), 1);
    let report = client.sync_now().await.unwrap();
    assert_eq!(report.pending, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_changes_are_durable_and_readable_offline() {
    let server = TestServer::start().await;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server.client(&a_dir.path().join("c.db"), "alice", None).await;
    let doc = a.create_document("pulled").await.unwrap();
    for n in 0..20u64 {
        doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, format!("edit-{n}"), n)).await.unwrap();
    }
    a.sync_now().await.unwrap();
    let b_store = b_dir.path().join("c.db");
    let b = server.client(&b_store, "alice", None).await;
    b.open_document(doc.id()).await.unwrap();
    b.sync_now().await.unwrap();
    // A few more, arriving as single changes rather than a whole document.
    doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, "late", 1)).await.unwrap();
    a.sync_now().await.unwrap();
    b.sync_now().await.unwrap();
    b.close().await;

    // Reopened with the server gone: everything received is there, nothing is pending.
    drop(server);
    let reopened = edgesync_client::Client::builder("http://127.0.0.1:9")
        .store_path(&b_store)
        .token_provider(|_| async { Err::<String, _>(edgesync_client::TokenError::new("offline")) })
        .manual_sync()
        .open()
        .await
        .unwrap();
    let copy = reopened.document(doc.id()).unwrap();
    assert_edits(&copy, 19);
    assert_eq!(copy.heads(), doc.heads());
    assert_eq!(copy.pending_changes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folding_rows_into_a_snapshot_keeps_every_edit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("c.db");
    let open = || {
        edgesync_client::Client::builder("http://127.0.0.1:9")
            .store_path(&store)
            .token_provider(|_| async { Err::<String, _>(edgesync_client::TokenError::new("offline")) })
            .engine_config(edgesync_client::EngineConfig { snapshot_after_rows: 10, ..Default::default() })
            .manual_sync()
            .open()
    };
    let client = open().await.unwrap();
    let doc = client.create_document("folded").await.unwrap();
    for n in 0..35u64 {
        doc.change(|tx| tx.put(edgesync_client::automerge::ROOT, format!("edit-{n}"), n)).await.unwrap();
    }
    let (id, heads) = (doc.id(), doc.heads());
    drop(doc);
    client.close().await;

    let client = open().await.unwrap();
    let doc = client.document(id).unwrap();
    assert_edits(&doc, 34);
    assert_eq!(doc.heads(), heads);
    assert_eq!(doc.pending_changes(), 35, "folding does not acknowledge anything");
}
