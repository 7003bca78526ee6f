//! The Rust client SDK against the runtime under test (the black-box suite runs this file on
//! every runtime: native, Spin, the Worker under wrangler dev and in bare workerd).

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::Target;
use edgesync_client::{Client, TokenError};

async fn open(t: &Target, dir: &std::path::Path, name: &str, token: &str) -> Client {
    let token = token.to_owned();
    Client::builder(t.base.clone())
        .store_path(dir.join(name))
        .token_provider(move |_refresh| {
            let token = token.clone();
            async move { Ok::<_, TokenError>(token) }
        })
        .manual_sync()
        .open()
        .await
        .expect("client opens")
}

fn has(doc: &edgesync_client::DocHandle, key: &str) -> bool {
    doc.read(|d| d.get(ROOT, key).unwrap().is_some()).unwrap()
}

#[tokio::test]
async fn sdk_clients_edit_offline_and_converge() {
    let Some(t) = Target::from_env() else { return };
    let (_, token) = t.user("sdk");
    let dir = tempfile::tempdir().unwrap();
    let a = open(&t, dir.path(), "a.db", &token).await;
    let b = open(&t, dir.path(), "b.db", &token).await;

    // Created offline on A, registered and pushed by its first sync, pulled by B.
    let doc_a = a.create_document("shared").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "a0", 1)).await.unwrap();
    a.sync_now().await.unwrap();
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    b.sync_now().await.unwrap();
    assert!(has(&doc_b, "a0"));

    // Both edit without syncing, then reconnect in turn.
    doc_a.change(|tx| tx.put(ROOT, "a1", 1)).await.unwrap();
    doc_b.change(|tx| tx.put(ROOT, "b1", 1)).await.unwrap();
    assert_eq!((a.pending_changes(), b.pending_changes()), (1, 1));
    b.sync_now().await.unwrap();
    a.sync_now().await.unwrap();
    b.sync_now().await.unwrap();
    assert_eq!(doc_a.heads(), doc_b.heads());
    for key in ["a0", "a1", "b1"] {
        assert!(has(&doc_a, key) && has(&doc_b, key), "{key}");
    }
    assert_eq!((a.pending_changes(), b.pending_changes()), (0, 0));

    // Reopened from its store, B has everything and nothing left to send.
    let heads = doc_b.heads();
    drop(doc_b); // handles keep the store open
    b.close().await;
    let b = open(&t, dir.path(), "b.db", &token).await;
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    assert_eq!(doc_b.heads(), heads);
    assert_eq!(b.pending_changes(), 0);
}
