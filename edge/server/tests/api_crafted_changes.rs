//! A change that parses but lies about what it references (here: an object the document does
//! not have) makes automerge 0.12 panic when applied. The merge catches that as an invalid
//! push: the request gets a 400 problem (`InvalidChanges`), nothing is stored, and the server
//! and the document keep working.

mod common;

use std::sync::Arc;

use automerge::{ActorId, Automerge, ROOT, ReadDoc, transaction::Transactable};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use edgesync_server::compute::BlockingPool;
use http_body_util::BodyExt;
use sync_core::{DocumentId, Heads, MEDIA_TYPE, SyncRequest, client};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_automerge_cannot_apply_fails_alone() {
    let app = TestApp::new().await;
    let router = edge_app::app(app.state.clone().with_compute(Arc::new(BlockingPool::default())));
    let id = app.create_doc("alice").await;
    let token = app.token("alice");
    let doc_id: DocumentId = id.parse().unwrap();
    let sync = |body: Vec<u8>| {
        Request::post(format!("/v1/docs/{id}/sync"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", MEDIA_TYPE)
            .body(Body::from(body))
            .unwrap()
    };

    let mut honest = Automerge::new().with_actor(ActorId::from(vec![1; 8]));
    let mut tx = honest.transaction();
    tx.put(ROOT, "ok", 1).unwrap();
    tx.commit();
    let first = SyncRequest { docs: vec![client::build_request(doc_id, &honest, &Heads::empty())] };
    assert_eq!(router.clone().oneshot(sync(first.encode())).await.unwrap().status(), StatusCode::OK);

    // Sent without acknowledged heads, so the server loads and merges (no append fast path).
    let bad = common::crafted_change_on(&honest);
    let request = SyncRequest {
        docs: vec![sync_core::DocRequest { doc_id, have: Heads::empty(), heads: Heads::new(vec![bad.hash()]), chunks: vec![bad.raw_bytes().to_vec()] }],
    };
    let response = router.clone().oneshot(sync(request.encode())).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:edgesync:problem:malformed-body");

    // Nothing of it was stored; the document and the server go on.
    let meta = app.call(axum::http::Method::GET, &format!("/v1/docs/{id}"), Some(&token), None).await.json();
    assert_eq!(meta["change_rows"], 1);
    let mut fresh = Automerge::new();
    let pull = SyncRequest { docs: vec![client::build_request(doc_id, &fresh, &Heads::empty())] };
    let response = router.clone().oneshot(sync(pull.encode())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let answer = sync_core::SyncResponse::decode(&body, &sync_core::Limits::DEFAULT).unwrap();
    client::apply_response(&mut fresh, doc_id, &Heads::empty(), &answer.docs[0]).unwrap();
    assert!(fresh.get(ROOT, "ok").unwrap().is_some());
}
