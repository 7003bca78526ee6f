//! Sync through HTTP: convergence, batches, validation, snapshots, history, compaction and
//! concurrent writers.

mod common;

use automerge::{ActorId, Automerge, ReadDoc, ROOT, transaction::Transactable};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestApp;
use sync_core::{DocStatus, DocumentId, Heads, MEDIA_TYPE, SyncRequest, client};

/// A client replica of one document.
struct Replica {
    id: DocumentId,
    doc: Automerge,
    acked: Heads,
}

impl Replica {
    fn new(id: &str, actor: u8) -> Self {
        Self { id: id.parse().unwrap(), doc: Automerge::new().with_actor(ActorId::from(vec![actor; 8])), acked: Heads::empty() }
    }

    fn put(&mut self, key: &str, value: i64) {
        let mut tx = self.doc.transaction();
        tx.put(ROOT, key, value).unwrap();
        tx.commit();
    }

    fn request(&self) -> SyncRequest {
        SyncRequest { docs: vec![client::build_request(self.id, &self.doc, &self.acked)] }
    }

    async fn sync(&mut self, app: &TestApp, token: &str) -> client::Applied {
        let r = app.sync_at(&format!("/v1/docs/{}/sync", self.id), token, &self.request()).await;
        let response = r.sync();
        let applied = client::apply_response(&mut self.doc, self.id, &self.acked, &response.docs[0]).unwrap();
        self.acked = applied.acked.clone();
        applied
    }
}

#[tokio::test]
async fn two_clients_converge_through_the_api_in_one_round_trip_each() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    app.add_member("alice", &id, "bob", "editor").await;
    let (ta, tb) = (app.token("alice"), app.token("bob"));
    let mut a = Replica::new(&id, 1);
    let mut b = Replica::new(&id, 2);
    a.put("a", 1);
    b.put("b", 2);
    assert!(!a.sync(&app, &ta).await.resend);
    let applied = b.sync(&app, &tb).await;
    assert_eq!(applied.pending, 0);
    assert!(!applied.resend);
    a.sync(&app, &ta).await;
    assert_eq!(a.doc.get_heads(), b.doc.get_heads());
    assert!(a.doc.get(ROOT, "b").unwrap().is_some() && b.doc.get(ROOT, "a").unwrap().is_some());
    let meta = app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&ta), None).await.json();
    let heads: Vec<String> = b.doc.get_heads().iter().map(ToString::to_string).collect();
    assert_eq!(meta["heads"], serde_json::json!(heads));
}

#[tokio::test]
async fn many_documents_in_one_request_each_get_a_status() {
    let app = TestApp::new().await;
    let mine = app.create_doc("alice").await;
    let theirs = app.create_doc("bob").await;
    app.add_member("bob", &theirs, "alice", "viewer").await;
    let hidden = app.create_doc("bob").await;
    let mut docs = Vec::new();
    for id in [&mine, &theirs, &hidden] {
        let mut r = Replica::new(id, 3);
        r.put("x", 1);
        docs.push(client::build_request(r.id, &r.doc, &r.acked));
    }
    let response = app.sync_at("/v1/sync", &app.token("alice"), &SyncRequest { docs }).await.sync();
    let statuses: Vec<DocStatus> = response.docs.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [DocStatus::Ok, DocStatus::Forbidden, DocStatus::NotFound]);
    let meta = app.call(Method::GET, &format!("/v1/docs/{theirs}"), Some(&app.token("bob")), None).await.json();
    assert_eq!(meta["change_rows"], 0, "viewer's push not stored");
}

#[tokio::test]
async fn a_fresh_client_pulls_more_documents_than_one_state_read_takes() {
    let app = TestApp::new().await;
    let token = app.token("alice");
    // 130 documents with an edit each (the full merges read states 100 at a time), one of
    // another user among them, and one the client is up to date with.
    let mut ids = Vec::new();
    for i in 0..130 {
        let id = app.create_doc("alice").await;
        let mut r = Replica::new(&id, 1);
        r.put("n", i);
        r.sync(&app, &token).await;
        ids.push(id);
    }
    let hidden = app.create_doc("bob").await;
    let mut fresh: Vec<Replica> = ids.iter().map(|id| Replica::new(id, 2)).collect();
    let mut docs: Vec<_> = fresh.iter().map(Replica::request).flat_map(|r| r.docs).collect();
    docs.insert(70, client::build_request(hidden.parse().unwrap(), &Automerge::new(), &Heads::empty()));
    let empty = app.create_doc("alice").await;
    docs.insert(3, client::build_request(empty.parse().unwrap(), &Automerge::new(), &Heads::empty()));
    let (response, stats) = edge_app::service::sync::sync(&app.state, "alice", &SyncRequest { docs }).await.unwrap();
    assert_eq!((stats.loaded, stats.fast_path), (130, 0));
    let mut answers = response.docs.into_iter();
    for (i, r) in fresh.iter_mut().enumerate() {
        if i == 3 {
            let answer = answers.next().unwrap();
            assert_eq!((answer.status, answer.chunks.len()), (DocStatus::Ok, 0), "up to date");
        }
        if i == 70 {
            assert_eq!(answers.next().unwrap().status, DocStatus::NotFound, "not a member");
        }
        let answer = answers.next().unwrap();
        assert_eq!((answer.doc_id, answer.status), (r.id, DocStatus::Ok));
        client::apply_response(&mut r.doc, r.id, &r.acked, &answer).unwrap();
        assert_eq!(r.doc.get(ROOT, "n").unwrap().unwrap().0, automerge::Value::int(i as i64), "document {i}");
    }
    assert!(answers.next().is_none());
}

#[tokio::test]
async fn bad_sync_requests_are_problems() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let other = Replica::new(&app.create_doc("alice").await, 1);
    app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &other.request()).await.assert_problem(400, "invalid-input");
    let raw = |ct: &str, body: Vec<u8>| {
        Request::post(format!("/v1/docs/{id}/sync")).header("authorization", format!("Bearer {token}")).header("content-type", ct).body(Body::from(body)).unwrap()
    };
    app.send(raw("application/json", b"{}".to_vec())).await.assert_problem(415, "unsupported-media-type");
    // Each decode error carries its stable name as the problem's `code` (docs/protocol.md §6).
    for (body, code) in [(vec![9, 9, 9], "unsupported-version"), (vec![], "empty"), (vec![1, 1, 5], "truncated"), (vec![1, 2, 0], "wrong-message-type")] {
        let reply = app.send(raw(MEDIA_TYPE, body.clone())).await;
        reply.assert_problem(400, "malformed-body");
        assert_eq!(reply.json()["code"], code, "{body:?}");
    }
    let small = TestApp::with(|c| c.sync_limits.max_message_bytes = 64).await;
    let sid = small.create_doc("alice").await;
    let mut big = Replica::new(&sid, 1);
    big.put(&"k".repeat(100), 1);
    small.sync_at(&format!("/v1/docs/{sid}/sync"), &small.token("alice"), &big.request()).await.assert_problem(413, "payload-too-large");
    let mut garbage = Replica::new(&id, 1).request();
    garbage.docs[0].chunks.push(b"definitely not automerge".to_vec());
    let reply = app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &garbage).await;
    reply.assert_problem(400, "malformed-body");
    assert_eq!(reply.json()["code"], "invalid-changes");
}

#[tokio::test]
async fn replaying_a_sync_stores_nothing_twice() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let mut r = Replica::new(&id, 1);
    r.put("x", 1);
    let request = r.request();
    app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &request).await.sync();
    app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &request).await.sync();
    let meta = app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&token), None).await.json();
    assert_eq!(meta["change_rows"], 1);
}

#[tokio::test]
async fn snapshots_are_cacheable_and_addressable_by_heads() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let mut r = Replica::new(&id, 1);
    r.put("v", 1);
    r.sync(&app, &token).await;
    let first_heads = Heads::new(r.doc.get_heads());
    r.put("v", 2);
    r.sync(&app, &token).await;

    let now = app.call(Method::GET, &format!("/v1/docs/{id}/snapshot"), Some(&token), None).await;
    assert_eq!(now.status, StatusCode::OK);
    let etag = now.header("etag").unwrap().to_owned();
    let loaded = Automerge::load(&now.body).unwrap();
    assert_eq!(loaded.get_heads(), r.doc.get_heads());
    let cond = Request::get(format!("/v1/docs/{id}/snapshot")).header("authorization", format!("Bearer {token}")).header("if-none-match", &etag).body(Body::empty()).unwrap();
    assert_eq!(app.send(cond).await.status, StatusCode::NOT_MODIFIED);

    let past = app.call(Method::GET, &format!("/v1/docs/{id}/snapshot?heads={first_heads}"), Some(&token), None).await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(past.header("cache-control").unwrap().contains("immutable"));
    let old = Automerge::load(&past.body).unwrap();
    let (value, _) = old.get(ROOT, "v").unwrap().unwrap();
    assert_eq!(value.as_i64(), Some(1));
    let unknown = "ab".repeat(32);
    app.call(Method::GET, &format!("/v1/docs/{id}/snapshot?heads={unknown}"), Some(&token), None).await.assert_problem(400, "invalid-input");
    app.call(Method::GET, &format!("/v1/docs/{id}/snapshot?heads=xyz"), Some(&token), None).await.assert_problem(400, "invalid-input");
}

#[tokio::test]
async fn history_is_paginated_in_causal_order() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let mut r = Replica::new(&id, 1);
    for i in 0..5 {
        r.put("n", i);
    }
    r.sync(&app, &token).await;
    let page = app.call(Method::GET, &format!("/v1/docs/{id}/history?limit=3"), Some(&token), None).await.json();
    assert_eq!(page["changes"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app.call(Method::GET, &format!("/v1/docs/{id}/history?limit=3&cursor={cursor}"), Some(&token), None).await.json();
    assert_eq!(rest["changes"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let seqs: Vec<u64> = page["changes"].as_array().unwrap().iter().chain(rest["changes"].as_array().unwrap()).map(|c| c["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn compaction_folds_the_log_and_sync_stays_correct() {
    let app = TestApp::with(|c| c.compaction_threshold = 3).await;
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let mut a = Replica::new(&id, 1);
    for i in 0..10 {
        a.put(&format!("k{i}"), i);
        a.sync(&app, &token).await;
    }
    let report = edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
    assert_eq!(report.compacted, 1);
    let meta = app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&token), None).await.json();
    assert_eq!(meta["change_rows"], 0);
    assert!(meta["snapshot_bytes"].as_i64().unwrap() > 0);
    let mut fresh = Replica::new(&id, 2);
    fresh.sync(&app, &token).await;
    assert_eq!(fresh.doc.get_heads(), a.doc.get_heads());
    a.put("after", 1);
    a.sync(&app, &token).await;
    fresh.sync(&app, &token).await;
    assert!(fresh.doc.get(ROOT, "after").unwrap().is_some());
}

/// One sync through the service, returning what it did.
async fn push(app: &TestApp, r: &Replica) -> (sync_core::SyncResponse, edge_app::api::SyncStats) {
    edge_app::service::sync::sync(&app.state, "alice", &r.request()).await.unwrap()
}

#[tokio::test]
async fn pushes_on_the_current_heads_skip_the_document_load() {
    let app = TestApp::with(|c| c.compaction_threshold = 3).await;
    let id = app.create_doc("alice").await;
    let mut a = Replica::new(&id, 1);
    let mut b = Replica::new(&id, 2);
    a.put("a0", 0);
    let (first, stats) = push(&app, &a).await;
    assert_eq!((stats.changes_applied, stats.fast_path), (1, 1), "an empty document takes any push");
    a.acked = client::apply_response(&mut a.doc, a.id, &a.acked, &first.docs[0]).unwrap().acked;
    for i in 1..6 {
        a.put(&format!("a{i}"), i);
        let (response, stats) = push(&app, &a).await;
        assert_eq!((stats.changes_applied, stats.fast_path), (1, 1));
        // The second push's read brings the window the document's tail is seeded from; the
        // next ones are checked on the tail, without a read.
        assert_eq!(stats.tail_hits, usize::from(i >= 2), "push {i}");
        a.acked = client::apply_response(&mut a.doc, a.id, &a.acked, &response.docs[0]).unwrap().acked;
        assert_eq!(a.acked.as_slice(), a.doc.get_heads().as_slice());
        if i == 3 {
            edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
        }
    }
    // A client that has not seen the latest heads goes through the full merge and gets them.
    b.put("b", 1);
    let (response, stats) = push(&app, &b).await;
    assert_eq!((stats.changes_applied, stats.fast_path), (1, 0));
    b.acked = client::apply_response(&mut b.doc, b.id, &b.acked, &response.docs[0]).unwrap().acked;
    // What the fast path stored loads back: heads, content and a fresh client all agree.
    let meta = app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&app.token("alice")), None).await.json();
    assert_eq!(meta["heads"].as_array().unwrap().len(), 2);
    let mut fresh = Replica::new(&id, 3);
    fresh.sync(&app, &app.token("alice")).await;
    assert_eq!(fresh.doc.get_heads(), b.doc.get_heads());
    for i in 0..6 {
        assert!(fresh.doc.get(ROOT, format!("a{i}").as_str()).unwrap().is_some(), "a{i}");
    }
}

#[tokio::test]
async fn edits_of_old_content_take_the_fast_path_across_compaction() {
    let mut app = TestApp::with(|c| c.compaction_threshold = 2).await;
    let id = app.create_doc("alice").await;
    let mut a = Replica::new(&id, 1);
    let text = {
        let mut tx = a.doc.transaction();
        let text = tx.put_object(ROOT, "t", automerge::ObjType::Text).unwrap();
        tx.splice_text(&text, 0, 0, "hello").unwrap();
        tx.commit();
        text
    };
    a.put("n", 1);
    let (response, _) = push(&app, &a).await;
    a.acked = client::apply_response(&mut a.doc, a.id, &a.acked, &response.docs[0]).unwrap().acked;
    assert_eq!(edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap().compacted, 1);
    // Typing between characters, deleting one, overwriting a key: every op refers to ops the
    // snapshot now holds, which the change index still vouches for.
    let edits: [&dyn Fn(&mut automerge::transaction::Transaction<'_>); 3] = [
        &|tx| tx.splice_text(&text, 2, 0, "XY").unwrap(),
        &|tx| tx.splice_text(&text, 0, 1, "").unwrap(),
        &|tx| tx.put(ROOT, "n", 2).unwrap(),
    ];
    for edit in edits {
        let mut tx = a.doc.transaction();
        edit(&mut tx);
        tx.commit();
        let (response, stats) = push(&app, &a).await;
        assert_eq!((stats.changes_applied, stats.fast_path), (1, 1));
        a.acked = client::apply_response(&mut a.doc, a.id, &a.acked, &response.docs[0]).unwrap().acked;
    }
    // A document stored before the change index existed takes the full merge until its next
    // compaction indexes it.
    for sql in ["DELETE FROM change_index WHERE doc_id = ?1", "DELETE FROM indexed_documents WHERE doc_id = ?1"] {
        app.state.store.db().query(edge_app::ports::Statement::new(sql, [id.as_str().into()])).await.unwrap();
    }
    assert!(!app.state.store.is_indexed(&id).await.unwrap());
    // Nor did it ever have a kept tail: one is seeded only from a read of an indexed document.
    app.state.tails = std::sync::Arc::default();
    a.put("n", 3);
    let (response, stats) = push(&app, &a).await;
    assert_eq!((stats.changes_applied, stats.fast_path), (1, 0));
    a.acked = client::apply_response(&mut a.doc, a.id, &a.acked, &response.docs[0]).unwrap().acked;
    edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
    assert_eq!(app.state.store.indexed_changes(&id).await.unwrap(), a.doc.get_changes(&[]).len() as i64);
    assert!(app.state.store.is_indexed(&id).await.unwrap());
    a.put("n", 4);
    assert_eq!(push(&app, &a).await.1.fast_path, 1);
    let mut fresh = Replica::new(&id, 2);
    fresh.sync(&app, &app.token("alice")).await;
    assert_eq!(fresh.doc.get_heads(), a.doc.get_heads());
    let (_, t) = fresh.doc.get(ROOT, "t").unwrap().unwrap();
    assert_eq!(fresh.doc.text(&t).unwrap(), "eXYllo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_syncs_into_one_document_lose_nothing() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let (app, id, token) = (app.clone(), id.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = Replica::new(&id, 10 + i);
            r.put(&format!("client-{i}"), i64::from(i));
            let applied = r.sync(&app, &token).await;
            assert_eq!(applied.pending, 0, "client {i}'s change acknowledged");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut reader = Replica::new(&id, 200);
    reader.sync(&app, &token).await;
    for i in 0..50 {
        assert!(reader.doc.get(ROOT, format!("client-{i}").as_str()).unwrap().is_some(), "client-{i} lost");
    }
}

/// Collaborators a few changes behind on one document are answered from its kept tail instead
/// of the database's fast-path read, and converge; a commit of another instance (its own tail)
/// leaves this one's tail behind, and the next sync reads the database and sends that change.
#[tokio::test]
async fn collaborators_behind_the_heads_are_answered_from_the_kept_tail() {
    let app = TestApp::new().await;
    let id = app.create_doc("alice").await;
    let mut clients: Vec<Replica> = (1..=3).map(|actor| Replica::new(&id, actor)).collect();
    // Not young: a client lacking more than a third of a document is sent it whole.
    for i in 0..10 {
        clients[0].put("k0", i);
    }
    for r in &mut clients {
        r.sync(&app, &app.token("alice")).await;
    }
    let mut hits = 0;
    for round in 0..12 {
        let r = &mut clients[round % 3];
        r.put(&format!("k{}", round % 3), round as i64 + 100);
        let (response, stats) = push(&app, r).await;
        assert_eq!((stats.fast_path, stats.loaded), (1, 0), "round {round}: {:?} {stats:?}", response.docs[0].status);
        r.acked = client::apply_response(&mut r.doc, r.id, &r.acked, &response.docs[0]).unwrap().acked;
        hits += stats.tail_hits;
    }
    // Read from the database: the first push (on the heads, no window to seed a tail from) and
    // each other author's first change (whether the document has older changes of its author,
    // only the database can say); every other read is the tail's.
    assert_eq!(hits, 9, "reads from the tail");
    let other = app.state.clone().with_tails(std::sync::Arc::default());
    let mut elsewhere = Replica::new(&id, 9);
    elsewhere.sync(&app, &app.token("alice")).await;
    elsewhere.put("elsewhere", 1);
    edge_app::service::sync::sync(&other, "alice", &elsewhere.request()).await.unwrap();
    let r = &mut clients[0];
    r.put("k0", 99);
    let (response, stats) = push(&app, r).await;
    assert_eq!((stats.fast_path, stats.tail_hits), (1, 0), "the tail did not see the other instance's commit");
    r.acked = client::apply_response(&mut r.doc, r.id, &r.acked, &response.docs[0]).unwrap().acked;
    assert_eq!(r.doc.get(ROOT, "elsewhere").unwrap().map(|(v, _)| v.as_i64()), Some(Some(1)));
    for r in &mut clients {
        r.sync(&app, &app.token("alice")).await;
    }
    let heads = clients[0].doc.get_heads();
    assert!(clients.iter().all(|r| r.doc.get_heads() == heads), "all converged");
}
