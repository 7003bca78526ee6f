//! The authorisation matrix: owner / editor / viewer / stranger × every document route.
//! A stranger always gets 404 (no existence leak); a member without the role gets 403.

mod common;

use automerge::{Automerge, ROOT, transaction::Transactable};
use axum::http::Method;
use common::TestApp;
use serde_json::json;
use sync_core::{DocumentId, Heads, SyncRequest, client};

const ROLES: [&str; 4] = ["owner", "editor", "viewer", "stranger"];

#[derive(Clone, Copy, Debug)]
enum Route {
    Get,
    Delete,
    ListMembers,
    SetMember,
    RemoveOtherMember,
    RemoveSelf,
    SyncPull,
    SyncPush,
    Snapshot,
    History,
}

/// A fresh document owned by "owner" with an editor and a viewer (and "carol", a viewer
/// whose membership the member routes act on).
async fn setup() -> (TestApp, String) {
    let app = TestApp::new().await;
    let doc = app.create_doc("owner").await;
    app.add_member("owner", &doc, "editor", "editor").await;
    app.add_member("owner", &doc, "viewer", "viewer").await;
    app.add_member("owner", &doc, "carol", "viewer").await;
    (app, doc)
}

async fn status(app: &TestApp, doc: &str, who: &str, route: Route) -> u16 {
    let token = app.token(who);
    let t = Some(token.as_str());
    let id: DocumentId = doc.parse().unwrap();
    let r = match route {
        Route::Get => app.call(Method::GET, &format!("/v1/docs/{doc}"), t, None).await,
        Route::Delete => app.call(Method::DELETE, &format!("/v1/docs/{doc}"), t, None).await,
        Route::ListMembers => app.call(Method::GET, &format!("/v1/docs/{doc}/members"), t, None).await,
        Route::SetMember => app.call(Method::PUT, &format!("/v1/docs/{doc}/members/dave"), t, Some(json!({"role": "viewer"}))).await,
        Route::RemoveOtherMember => app.call(Method::DELETE, &format!("/v1/docs/{doc}/members/carol"), t, None).await,
        Route::RemoveSelf => app.call(Method::DELETE, &format!("/v1/docs/{doc}/members/{who}"), t, None).await,
        Route::SyncPull => {
            let req = SyncRequest { docs: vec![client::build_request(id, &Automerge::new(), &Heads::empty())] };
            app.sync_at(&format!("/v1/docs/{doc}/sync"), &token, &req).await
        }
        Route::SyncPush => {
            let mut local = Automerge::new();
            let mut tx = local.transaction();
            tx.put(ROOT, "by", who).unwrap();
            tx.commit();
            let req = SyncRequest { docs: vec![client::build_request(id, &local, &Heads::empty())] };
            app.sync_at(&format!("/v1/docs/{doc}/sync"), &token, &req).await
        }
        Route::Snapshot => app.call(Method::GET, &format!("/v1/docs/{doc}/snapshot"), t, None).await,
        Route::History => app.call(Method::GET, &format!("/v1/docs/{doc}/history"), t, None).await,
    };
    if r.status.as_u16() >= 400 {
        let p = r.json();
        assert_eq!(p["status"], r.status.as_u16(), "problem+json for {route:?} as {who}");
    }
    r.status.as_u16()
}

#[tokio::test]
async fn every_cell_of_the_matrix() {
    use Route::*;
    // Expected status for owner, editor, viewer, stranger.
    let matrix: [(Route, [u16; 4]); 10] = [
        (Get, [200, 200, 200, 404]),
        (Delete, [204, 403, 403, 404]),
        (ListMembers, [200, 200, 200, 404]),
        (SetMember, [200, 403, 403, 404]),
        (RemoveOtherMember, [204, 403, 403, 404]),
        // The creator cannot leave (409); other members may leave on their own.
        (RemoveSelf, [409, 204, 204, 404]),
        (SyncPull, [200, 200, 200, 404]),
        (SyncPush, [200, 200, 403, 404]),
        (Snapshot, [200, 200, 200, 404]),
        (History, [200, 200, 200, 404]),
    ];
    let mut failures = Vec::new();
    for (route, expected) in matrix {
        for (who, want) in ROLES.iter().zip(expected) {
            let (app, doc) = setup().await;
            let got = status(&app, &doc, who, route).await;
            if got != want {
                failures.push(format!("{route:?} as {who}: expected {want}, got {got}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_viewers_push_stores_nothing() {
    let (app, doc) = setup().await;
    assert_eq!(status(&app, &doc, "viewer", Route::SyncPush).await, 403);
    let meta = app.call(Method::GET, &format!("/v1/docs/{doc}"), Some(&app.token("owner")), None).await.json();
    assert_eq!(meta["heads"], json!([]));
    assert_eq!(meta["change_rows"], 0);
}

#[tokio::test]
async fn a_removed_member_loses_access() {
    let (app, doc) = setup().await;
    assert_eq!(status(&app, &doc, "carol", Route::Get).await, 200);
    assert_eq!(status(&app, &doc, "owner", Route::RemoveOtherMember).await, 204);
    assert_eq!(status(&app, &doc, "carol", Route::Get).await, 404);
}
