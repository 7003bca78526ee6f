//! The Rust client SDK against the runtime under test (the black-box suite runs this file on
//! every runtime: native, Spin, the Worker under wrangler dev and in bare workerd).

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::Target;
use edgesync_client::{BackgroundSync, ChangeOrigin, Client, ClientBuilder, DocHandle, Event, LiveMode, Subscription, TokenError};

fn builder(t: &Target, dir: &std::path::Path, name: &str, token: &str) -> ClientBuilder {
    let token = token.to_owned();
    Client::builder(t.base.clone()).store_path(dir.join(name)).token_provider(move |_refresh| {
        let token = token.clone();
        async move { Ok::<_, TokenError>(token) }
    })
}

async fn open(t: &Target, dir: &std::path::Path, name: &str, token: &str) -> Client {
    builder(t, dir, name, token).manual_sync().open().await.expect("client opens")
}

fn has(doc: &DocHandle, key: &str) -> bool {
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

#[tokio::test]
async fn a_collaborators_edit_arrives_through_the_live_channel_without_polling() {
    let Some(t) = Target::from_env() else { return };
    let (user, token) = t.user("sdk-live");
    let dir = tempfile::tempdir().unwrap();
    // Both sync in the background, but would poll only once an hour: what arrives sooner came
    // through the live channel (sockets where the runtime has them, else waiting syncs).
    let live = BackgroundSync { interval: std::time::Duration::from_secs(3600), live: Some(std::time::Duration::from_secs(20)), ..Default::default() };
    let a = builder(&t, dir.path(), "a.db", &token).background_sync(live).open().await.expect("client opens");
    let doc_a = a.create_document("live").await.unwrap();
    doc_a.change(|tx| tx.put(ROOT, "first", 1)).await.unwrap();
    a.sync_now().await.unwrap();

    let b = builder(&t, dir.path(), "b.db", &token).background_sync(live).open().await.expect("client opens");
    let mut events = b.subscribe();
    let doc_b = b.open_document(doc_a.id()).await.unwrap();
    let deadline = std::time::Duration::from_secs(15);
    tokio::time::timeout(deadline, remote_change(&mut events, &doc_b, "first")).await.expect("B pulls the document");

    doc_a.change(|tx| tx.put(ROOT, "second", 2)).await.unwrap();
    a.sync_now().await.unwrap();
    let patches = tokio::time::timeout(deadline, remote_change(&mut events, &doc_b, "second")).await.expect("A's edit reaches B through the live channel");
    assert_eq!(patches, serde_json::json!([{"action": "put", "path": ["second"], "value": 2}]), "the event says what changed");
    assert_eq!(doc_b.heads(), doc_a.heads());

    // Which channel, per runtime: one socket for every document (native; Workers, held by the
    // user's Durable Object), waiting syncs (Spin, which has no inbound WebSockets).
    let expected = match std::env::var("EDGESYNC_TARGET").as_deref() {
        Ok("spin") => LiveMode::WaitingSyncs,
        _ => LiveMode::Channel,
    };
    assert_eq!(b.live_mode(), expected);
    // Presence round-trips: B's cursor reaches A (sent until A hears it), through the socket or
    // over HTTP where the runtime has no sockets (docs/protocol.md §10.1).
    let mut heard = a.subscribe_presence();
    let got = tokio::time::timeout(deadline, async {
        loop {
            assert!(b.set_presence(doc_a.id(), serde_json::json!({"cursor": 7})), "presence goes out while live");
            if let Ok(Some(p)) = tokio::time::timeout(std::time::Duration::from_millis(300), heard.next()).await {
                return p;
            }
        }
    })
    .await
    .expect("presence arrives");
    assert_eq!((got.doc_id, got.from.as_str(), &got.data), (doc_a.id(), user.as_str(), &serde_json::json!({"cursor": 7})));
    a.close().await;
    b.close().await;
}

/// More documents than a client opens per-document sockets for (32): on every runtime with
/// sockets one channel socket watches them all, so an idle client sends no request at all
/// (issue: ≤ 1 request per minute for 100 open documents; docs/benchmarks.md measures it).
#[tokio::test]
async fn an_idle_client_watching_40_documents_sends_no_request() {
    let Some(t) = Target::from_env() else { return };
    if std::env::var("EDGESYNC_TARGET").as_deref() == Ok("spin") {
        return; // No sockets: waiting syncs are requests (docs/protocol.md §10).
    }
    let (_, token) = t.user("sdk-idle");
    let dir = tempfile::tempdir().unwrap();
    let a = open(&t, dir.path(), "a.db", &token).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let doc = a.create_document(&format!("idle {i}")).await.unwrap();
        doc.change(|tx| tx.put(ROOT, "n", i)).await.unwrap();
        ids.push(doc.id());
    }
    a.sync_now().await.unwrap();
    // Without a socket watching every document, B would sync every 300 ms.
    let settings = BackgroundSync {
        interval: std::time::Duration::from_millis(300),
        interval_while_live: std::time::Duration::from_secs(3600),
        live: Some(std::time::Duration::from_secs(20)),
        ..Default::default()
    };
    let b = builder(&t, dir.path(), "b.db", &token).background_sync(settings).open().await.expect("client opens");
    let mut docs = Vec::new();
    for id in &ids {
        docs.push(b.open_document(*id).await.unwrap());
    }
    let settled = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while b.live_mode() != LiveMode::Channel || !docs.iter().all(|d| has(d, "n")) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "B pulls every document and opens its channel ({:?})", b.live_mode());
    let mut events = b.subscribe();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    while events.try_next().is_some() {}
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut syncs = 0;
    while let Some(event) = events.try_next() {
        syncs += usize::from(matches!(event, Event::Status { status: edgesync_client::SyncStatus::Syncing, .. }));
    }
    assert_eq!(syncs, 0, "an idle client watching every document through its channel synced");
    a.close().await;
    b.close().await;
}

/// Waits for a remote change after which `doc` has `key`; returns its patches (as JSON).
async fn remote_change(events: &mut Subscription, doc: &DocHandle, key: &str) -> serde_json::Value {
    loop {
        match events.next().await {
            Some(Event::Changed { origin: ChangeOrigin::Remote, patches, .. }) if has(doc, key) => return edgesync_client::patches::to_json(&patches),
            Some(_) => {}
            None => panic!("events ended"),
        }
    }
}
