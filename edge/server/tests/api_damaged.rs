//! A document whose stored state does not load fails alone. Here a member with write access
//! stores, through the append fast path (which does not load the document), a change that
//! references an object the document does not have: automerge cannot load the document
//! afterwards. Its batch neighbours still sync, reads of it answer `document-unavailable`,
//! compaction skips it and compacts the others, and operators find it in the admin list.

mod common;

use axum::http::{Method, StatusCode};
use automerge::{ActorId, Automerge, ROOT, transaction::Transactable};
use common::TestApp;
use edge_app::auth::{self, TokenClaims};
use sync_core::{DocRequest, DocStatus, DocumentId, Heads, SyncRequest, client};

fn edit(doc: &mut Automerge, key: &str) {
    let mut tx = doc.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
}

#[tokio::test]
async fn a_document_that_does_not_load_fails_alone() {
    let app = TestApp::with(|c| c.compaction_threshold = 1).await;
    let token = app.token("alice");
    let (bad_id, good_id) = (app.create_doc("alice").await, app.create_doc("alice").await);
    let (bad, good): (DocumentId, DocumentId) = (bad_id.parse().unwrap(), good_id.parse().unwrap());

    // Both documents get an honest edit; then the poisoned change goes onto the bad one's heads.
    let mut honest = Automerge::new().with_actor(ActorId::from(vec![1; 8]));
    edit(&mut honest, "ok");
    let first = SyncRequest { docs: vec![client::build_request(bad, &honest, &Heads::empty()), client::build_request(good, &honest, &Heads::empty())] };
    let answer = app.sync_at("/v1/sync", &token, &first).await.sync();
    assert!(answer.docs.iter().all(|d| d.status == DocStatus::Ok));
    let heads = Heads::new(honest.get_heads());
    let change = common::crafted_change_on(&honest);
    let push = DocRequest { doc_id: bad, have: heads.clone(), heads: Heads::new(vec![change.hash()]), chunks: vec![change.raw_bytes().to_vec()] };
    let stored = app.sync_at(&format!("/v1/docs/{bad_id}/sync"), &token, &SyncRequest { docs: vec![push] }).await;
    if stored.status != StatusCode::OK {
        // The fast path refused it: nothing to recover from, which is the better outcome.
        eprintln!("the fast path refused the poisoned change");
        stored.assert_problem(400, "malformed-body");
        return;
    }

    // A fresh client syncing both in one batch: the bad one is Unavailable, the good one works.
    let mut fresh = Automerge::new();
    let batch = SyncRequest { docs: vec![client::build_request(bad, &fresh, &Heads::empty()), client::build_request(good, &fresh, &Heads::empty())] };
    // Both take the full merge, which loads each document (a fresh client gets it saved as
    // one chunk); the damaged one fails alone.
    let answer = app.sync_at("/v1/sync", &token, &batch).await.sync();
    assert_eq!(answer.docs[1].status, DocStatus::Ok);
    client::apply_response(&mut fresh, good, &Heads::empty(), &answer.docs[1]).unwrap();
    edit(&mut honest, "later");
    let merge = SyncRequest { docs: vec![client::build_request(bad, &honest, &Heads::empty()), client::build_request(good, &honest, &heads)] };
    let answer = app.sync_at("/v1/sync", &token, &merge).await.sync();
    assert_eq!(answer.docs[0].status, DocStatus::Unavailable, "the damaged document fails");
    assert_eq!(answer.docs[1].status, DocStatus::Ok, "its batch neighbour syncs");

    // Reads of it are problems, not dropped connections; the good one reads fine.
    for path in ["snapshot", "history"] {
        app.call(Method::GET, &format!("/v1/docs/{bad_id}/{path}"), Some(&token), None).await.assert_problem(503, "document-unavailable");
        assert_eq!(app.call(Method::GET, &format!("/v1/docs/{good_id}/{path}"), Some(&token), None).await.status, StatusCode::OK);
    }

    // Compaction skips it and goes on with the rest, now and in later passes.
    let report = edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
    assert_eq!((report.compacted, report.skipped), (1, 0), "already recorded as damaged, so not a candidate");
    let meta = app.call(Method::GET, &format!("/v1/docs/{good_id}"), Some(&token), None).await.json();
    assert_eq!(meta["change_rows"], 0, "the good document was compacted");

    // Operators see it.
    let claims = TokenClaims { scope: Some("edgesync:admin".into()), ..TestApp::claims("ops") };
    let admin = auth::mint_hs256(common::HS_SECRET.as_bytes(), &claims, edge_app::ports::Clock::now(app.clock.as_ref()), 600);
    let listed = app.call(Method::GET, "/v1/admin/damaged", Some(&admin), None).await.json();
    assert_eq!(listed[0]["doc_id"], bad_id);
    assert!(listed[0]["reason"].as_str().unwrap().len() > 3);
    app.call(Method::GET, "/v1/admin/damaged", Some(&token), None).await.assert_problem(403, "forbidden");
    // Forgetting it puts it back among the compaction candidates (where it fails again).
    let forget = format!("/v1/admin/damaged/{bad_id}");
    assert_eq!(app.call(Method::DELETE, &forget, Some(&admin), None).await.status, StatusCode::NO_CONTENT);
    app.call(Method::DELETE, &forget, Some(&admin), None).await.assert_problem(404, "not-found");
    assert_eq!(app.call(Method::GET, "/v1/admin/damaged", Some(&admin), None).await.json(), serde_json::json!([]));
    let report = edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
    assert_eq!((report.compacted, report.skipped), (0, 1));
}
