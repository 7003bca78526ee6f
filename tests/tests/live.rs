//! Live updates by waiting syncs (`?wait_ms=`, docs/protocol.md "Live updates"), on every
//! runtime: a sync that would tell the client nothing new is held until a collaborator's
//! change commits, and then carries that change. The per-document socket is in
//! `live/document_socket.rs`, the channel (`/v1/live`) in `live/channel.rs`, presence over
//! HTTP in `live/presence.rs` (one test binary: each links the whole graph).

#[path = "live/channel.rs"]
mod channel;
#[path = "live/document_socket.rs"]
mod document_socket;
#[path = "live/presence.rs"]
mod presence;
#[path = "live/repo_socket.rs"]
mod repo_socket;

use std::time::{Duration, Instant};

use automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use serde_json::json;
use sync_core::{DocStatus, Limits, SyncRequest, SyncResponse, client};

/// Far longer than any poll interval: a wait that ends before it was ended by a change.
const LONG_WAIT_MS: u32 = 20_000;

fn put(replica: &mut Replica, key: &str, value: i64) {
    let mut tx = replica.doc.transaction();
    tx.put(ROOT, key, value).unwrap();
    tx.commit();
}

fn get(replica: &Replica, key: &str) -> Option<i64> {
    replica.doc.get(ROOT, key).unwrap().and_then(|(v, _)| v.as_i64())
}

async fn share(t: &Target, owner: &str, id: &str, user: &str, role: &str) {
    let r = t.http.put(t.url(&format!("/v1/docs/{id}/members/{user}"))).bearer_auth(owner).json(&json!({ "role": role })).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A document with one change by its owner, shared with a second user at `role`; both
/// replicas are in sync.
async fn shared_doc(t: &Target, role: &str) -> (Replica, String, Replica, String, String) {
    let (_, owner) = t.user("live-owner");
    let (other_id, other) = t.user("live-other");
    let id = t.create_doc(&owner).await;
    share(t, &owner, &id, &other_id, role).await;
    let mut a = Replica::new(&id, 1);
    put(&mut a, "x", 1);
    assert_eq!(a.sync(t, &owner).await, 200);
    let mut b = Replica::new(&id, 2);
    assert_eq!(b.sync(t, &other).await, 200);
    assert_eq!(get(&b, "x"), Some(1));
    (a, owner, b, other, other_id)
}

#[tokio::test]
async fn a_waiting_sync_is_answered_with_a_collaborators_change() {
    let Some(t) = Target::from_env() else { return };
    // A viewer: pulling live is reading.
    let (mut a, owner, mut b, viewer, _) = shared_doc(&t, "viewer").await;
    let target = Target::at(&t.base);
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let (status, timing) = b.sync_waiting(&target, &viewer, LONG_WAIT_MS).await;
        (status, timing, started.elapsed(), b)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a sync with nothing new waits");
    put(&mut a, "x", 2);
    assert_eq!(a.sync(&t, &owner).await, 200);

    let (status, timing, elapsed, b) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(elapsed < Duration::from_millis(LONG_WAIT_MS.into()) / 2, "woken by the change, not by the end of the wait ({elapsed:?})");
    assert_eq!(get(&b, "x"), Some(2), "the answer carries the change");
    assert_eq!(b.acked, a.acked, "and the new heads");
    assert!(timing.contains("wait;dur="), "Server-Timing reports the wait: {timing}");
}

#[tokio::test]
async fn collaborators_behind_the_heads_are_merged_without_loading_the_document() {
    let Some(t) = Target::from_env() else { return };
    let (mut a, owner, mut b, editor, _) = shared_doc(&t, "editor").await;
    // Both edit at once; A syncs first, so B pushes on heads it has not seen.
    put(&mut a, "x", 2);
    put(&mut b, "y", 3);
    let (status, timing) = a.sync_waiting(&t, &owner, 0).await;
    assert_eq!(status, 200);
    assert!(timing.contains(r#"merge;desc="fast=1 behind=0 loaded=0 "#), "on the heads: {timing}");
    let (status, timing) = b.sync_waiting(&t, &editor, 0).await;
    assert_eq!(status, 200);
    assert!(timing.contains(r#"merge;desc="fast=1 behind=1 loaded=0 "#), "behind the heads: {timing}");
    assert_eq!((get(&b, "x"), get(&b, "y")), (Some(2), Some(3)), "B got A's change with its answer");
    // A, one change behind, pulls B's without a load either, and both hold the same document.
    let (status, timing) = a.sync_waiting(&t, &owner, 0).await;
    assert_eq!(status, 200);
    assert!(timing.contains(r#"merge;desc="fast=1 behind=1 loaded=0 "#), "a pull behind the heads: {timing}");
    // Read from the document's kept tail, which followed B's push (Spin keeps nothing between
    // requests).
    if std::env::var("EDGESYNC_TARGET").is_ok_and(|t| t != "spin") {
        assert!(timing.contains("tail=1"), "a pull behind the heads, from the kept tail: {timing}");
    }
    assert_eq!(a.doc.get_heads(), b.doc.get_heads());
    assert_eq!((get(&a, "x"), get(&a, "y")), (Some(2), Some(3)));
    // A fresh replica is sent the whole document by the full merge, with the same content.
    let mut fresh = Replica::new(&a.id.to_string(), 9);
    let (status, timing) = fresh.sync_waiting(&t, &editor, 0).await;
    assert_eq!(status, 200);
    assert!(timing.contains("loaded=1"), "a fresh client takes the full merge: {timing}");
    assert_eq!(fresh.doc.get_heads(), a.doc.get_heads());
}

#[tokio::test]
async fn a_waiting_sync_with_nothing_new_answers_when_its_wait_ends() {
    let Some(t) = Target::from_env() else { return };
    let (_, _, mut b, other, _) = shared_doc(&t, "editor").await;
    let before = b.acked.clone();
    let started = Instant::now();
    let (status, _) = b.sync_waiting(&t, &other, 1_200).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1_100), "held for its wait: {:?}", started.elapsed());
    assert_eq!(b.acked, before, "an up-to-date answer");
}

#[tokio::test]
async fn a_sync_with_something_to_say_does_not_wait() {
    let Some(t) = Target::from_env() else { return };
    let (a, owner, _, editor, _) = shared_doc(&t, "editor").await;
    let id = a.id.to_string();
    // A fresh replica lacks the document: answered at once with it.
    let mut fresh = Replica::new(&id, 3);
    let started = Instant::now();
    assert_eq!(fresh.sync_waiting(&t, &editor, LONG_WAIT_MS).await.0, 200);
    assert_eq!(get(&fresh, "x"), Some(1));
    // A push is stored and answered at once.
    put(&mut fresh, "y", 7);
    assert_eq!(fresh.sync_waiting(&t, &editor, LONG_WAIT_MS).await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(LONG_WAIT_MS.into()) / 2, "{:?}", started.elapsed());
    let mut check = Replica::new(&id, 4);
    assert_eq!(check.sync(&t, &owner).await, 200);
    assert_eq!(get(&check, "y"), Some(7));
}

#[tokio::test]
async fn strangers_and_missing_documents_are_answered_at_once_and_alike() {
    let Some(t) = Target::from_env() else { return };
    let (_, _, b, _, _) = shared_doc(&t, "editor").await;
    let (_, stranger) = t.user("live-stranger");
    let missing = sync_core::DocumentId::from_bytes(rand::random());
    let started = Instant::now();
    let mut foreign = Replica::new(&b.id.to_string(), 5);
    foreign.acked = b.acked.clone();
    foreign.doc = b.doc.clone();
    let mut absent = Replica::new(&missing.to_string(), 5);
    assert_eq!(foreign.sync_waiting(&t, &stranger, LONG_WAIT_MS).await.0, 404);
    assert_eq!(absent.sync_waiting(&t, &stranger, LONG_WAIT_MS).await.0, 404);
    // In a batch, per document: NotFound for both, at once.
    let request = SyncRequest { docs: vec![client::build_request(b.id, &b.doc, &b.acked), client::build_request(missing, &absent.doc, &absent.acked)] };
    let response = batch(&t, &stranger, &request, LONG_WAIT_MS).await;
    assert!(response.docs.iter().all(|d| d.status == DocStatus::NotFound), "{response:?}");
    assert!(started.elapsed() < Duration::from_millis(LONG_WAIT_MS.into()) / 2, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_batch_waits_for_any_of_its_documents_and_answers_them_all() {
    let Some(t) = Target::from_env() else { return };
    let (mut a, owner, b, editor, editor_id) = shared_doc(&t, "editor").await;
    let other = t.create_doc(&owner).await;
    share(&t, &owner, &other, &editor_id, "editor").await;
    let quiet = Replica::new(&other, 6);
    let request = SyncRequest { docs: vec![client::build_request(quiet.id, &quiet.doc, &quiet.acked), client::build_request(b.id, &b.doc, &b.acked)] };
    let target = Target::at(&t.base);
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        (batch(&target, &editor, &request, LONG_WAIT_MS).await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    put(&mut a, "x", 3);
    assert_eq!(a.sync(&t, &owner).await, 200);
    let (response, elapsed) = waiting.await.unwrap();
    assert!(elapsed < Duration::from_millis(LONG_WAIT_MS.into()) / 2, "{elapsed:?}");
    assert!(response.docs.iter().all(|d| d.status == DocStatus::Ok));
    assert!(response.docs[0].chunks.is_empty(), "the quiet document has nothing to send");
    assert!(!response.docs[1].chunks.is_empty(), "the changed one carries the change");
    assert_eq!(response.docs[1].heads, a.acked);
}

#[tokio::test]
async fn losing_membership_ends_a_wait_as_not_found() {
    let Some(t) = Target::from_env() else { return };
    let (a, owner, mut b, viewer, viewer_id) = shared_doc(&t, "viewer").await;
    let target = Target::at(&t.base);
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let status = b.sync_waiting(&target, &viewer, LONG_WAIT_MS).await.0;
        (status, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = t.http.delete(t.url(&format!("/v1/docs/{}/members/{viewer_id}", a.id))).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, elapsed) = waiting.await.unwrap();
    assert_eq!(status, 404, "the removed member learns nothing more, not even existence");
    assert!(elapsed < Duration::from_millis(LONG_WAIT_MS.into()) / 2, "{elapsed:?}");
}

#[tokio::test]
async fn wait_ms_must_be_a_whole_number() {
    let Some(t) = Target::from_env() else { return };
    let (_, token) = t.user("live-bad");
    let request = SyncRequest { docs: vec![] };
    for query in ["wait_ms=soon", "wait_ms=-1", "wait=5"] {
        let r = t.post_sync(&format!("/v1/sync?{query}"), &token, &request).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:edgesync:problem:invalid-input", "{query}");
    }
}

async fn batch(t: &Target, token: &str, request: &SyncRequest, wait_ms: u32) -> SyncResponse {
    let r = t.post_sync(&format!("/v1/sync?wait_ms={wait_ms}"), token, request).await;
    assert_eq!(r.status(), 200);
    SyncResponse::decode(&r.bytes().await.unwrap(), &Limits::DEFAULT).unwrap()
}
