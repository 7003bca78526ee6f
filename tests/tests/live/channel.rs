//! The channel (`GET /v1/live`, docs/protocol.md §11): one socket subscribed to many
//! documents, on every runtime with inbound WebSockets — the native server (one in-process
//! hub) and the Worker (one Durable Object per user, told by the documents' objects). Spin has
//! none: the route answers 404.
//!
//! Asserted: a subscription answers granted documents with their heads and lists strangers'
//! and missing documents alike as unavailable; a commit over HTTP reaches every subscribed
//! socket as `changed`, the writer's too; presence reaches the other subscribers — the
//! sender's other sockets included, the sending socket excluded — with the token's subject as
//! sender; presence for a document not subscribed is refused; an unsubscribed socket hears
//! nothing more and a new subscription starts from the current heads; a removed member's
//! subscription ends with `unavailable` while the socket stays open; the per-user connection
//! cap; the socket closes with 4001 when its token expires.

use std::time::Duration;

use edgesync_blackbox::{Replica, Target};
use serde_json::{Value, json};

use super::document_socket::{Socket, WITHIN, connect, has_sockets, hex_heads, next, send, sorted};
use super::{put, share};

fn channel_url(t: &Target) -> String {
    format!("{}/v1/live", t.base.replacen("http", "ws", 1))
}

async fn subscribe(socket: &mut Socket, docs: &[&str]) -> Value {
    send(socket, json!({"type": "subscribe", "docs": docs})).await;
    let answer = next(socket, WITHIN).await.expect("an answer to subscribe");
    assert_eq!(answer["type"], "subscribed", "{answer}");
    answer
}

/// The next message that is not presence (presence may arrive at any time).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next(socket, WITHIN).await.unwrap_or_else(|| panic!("a {kind} message"));
        if message["type"] == kind {
            return message;
        }
        assert_eq!(message["type"], "changed", "only {kind} or changed expected: {message}");
    }
}

#[tokio::test]
async fn one_socket_hears_of_many_documents_and_relays_presence() {
    let Some(t) = Target::from_env() else { return };
    let (owner_id, owner) = t.user("channel-owner");
    let (viewer_id, viewer) = t.user("channel-viewer");
    if !has_sockets() {
        assert_eq!(connect(&channel_url(&t), &owner, false).await.err(), Some(404), "no channel: clients fall back to waiting syncs");
        return;
    }
    let shared = t.create_doc(&owner).await;
    let private = t.create_doc(&owner).await;
    share(&t, &owner, &shared, &viewer_id, "viewer").await;
    let mut a = Replica::new(&shared, 1);
    put(&mut a, "x", 1);
    assert_eq!(a.sync(&t, &owner).await, 200);
    let missing = "0123456789abcdef0123456789abcdef";

    let mut watching = connect(&channel_url(&t), &viewer, true).await.expect("a viewer opens the channel");
    let answer = subscribe(&mut watching, &[&shared, &private, missing]).await;
    assert_eq!((answer["docs"].as_array().map(Vec::len), answer["docs"][0]["doc"].as_str()), (Some(1), Some(shared.as_str())), "{answer}");
    assert_eq!(sorted(&answer["docs"][0]["heads"]), hex_heads(&a), "with its current heads");
    let mut refused = sorted(&answer["unavailable"]);
    refused.sort();
    let mut expected = vec![private.clone(), missing.to_owned()];
    expected.sort();
    assert_eq!(refused, expected, "a stranger's document and a missing one look the same");
    // The same user's second socket, and the owner's.
    let mut second = connect(&channel_url(&t), &viewer, false).await.expect("a second socket");
    subscribe(&mut second, &[&shared]).await;
    let mut editing = connect(&channel_url(&t), &owner, false).await.expect("the owner opens the channel");
    subscribe(&mut editing, &[&shared, &private]).await;

    put(&mut a, "x", 2);
    assert_eq!(a.sync(&t, &owner).await, 200);
    for socket in [&mut watching, &mut second, &mut editing] {
        let changed = next_of(socket, "changed").await;
        assert_eq!(changed["doc"].as_str(), Some(shared.as_str()), "{changed}");
        assert_eq!(sorted(&changed["heads"]), hex_heads(&a), "every subscriber hears the new heads, the writer too");
    }
    let mut b = Replica::new(&private, 1);
    put(&mut b, "secret", 1);
    assert_eq!(b.sync(&t, &owner).await, 200);
    assert_eq!(next_of(&mut editing, "changed").await["doc"].as_str(), Some(private.as_str()));

    // Presence: to the other sockets (the sender's own other socket too), never echoed, sent
    // as the token's subject.
    send(&mut watching, json!({"type": "presence", "doc": shared, "data": {"cursor": 3, "from": owner_id}})).await;
    for socket in [&mut editing, &mut second] {
        let seen = next_of(socket, "presence").await;
        assert_eq!((seen["doc"].as_str(), seen["from"].as_str()), (Some(shared.as_str()), Some(viewer_id.as_str())), "{seen}");
        assert_eq!(seen["data"], json!({"cursor": 3, "from": owner_id}));
    }
    send(&mut watching, json!({"type": "presence", "doc": private, "data": 1})).await;
    let refused = next(&mut watching, WITHIN).await.expect("an answer");
    assert_eq!(refused["code"], "not-subscribed", "no presence for a document not subscribed (the viewer may not read it): {refused}");
    assert!(next(&mut watching, Duration::from_millis(300)).await.is_none(), "no echo of its own presence, nothing about the private document");

    // Unsubscribed: nothing more; subscribing again starts from the current heads.
    send(&mut second, json!({"type": "unsubscribe", "docs": [shared]})).await;
    put(&mut a, "x", 3);
    assert_eq!(a.sync(&t, &owner).await, 200);
    assert_eq!(next_of(&mut watching, "changed").await["doc"].as_str(), Some(shared.as_str()), "the other socket still hears");
    assert!(next(&mut second, Duration::from_millis(500)).await.is_none(), "an unsubscribed socket hears nothing");
    let again = subscribe(&mut second, &[&shared]).await;
    assert_eq!(sorted(&again["docs"][0]["heads"]), hex_heads(&a), "a new subscription starts from the current heads");

    // Both of the viewer's sockets leave: nothing more reaches them, and subscribing again
    // starts watching again (on Workers: the channel registers with the document's object anew).
    for socket in [&mut watching, &mut second] {
        send(socket, json!({"type": "unsubscribe", "docs": [shared]})).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    put(&mut a, "x", 4);
    assert_eq!(a.sync(&t, &owner).await, 200);
    assert_eq!(next_of(&mut editing, "changed").await["doc"].as_str(), Some(shared.as_str()));
    for socket in [&mut watching, &mut second] {
        assert!(next(socket, Duration::from_millis(300)).await.is_none(), "nothing after unsubscribing");
        let again = subscribe(socket, &[&shared]).await;
        assert_eq!(sorted(&again["docs"][0]["heads"]), hex_heads(&a), "{again}");
    }
    put(&mut a, "x", 5);
    assert_eq!(a.sync(&t, &owner).await, 200);
    for socket in [&mut watching, &mut second] {
        assert_eq!(sorted(&next_of(socket, "changed").await["heads"]), hex_heads(&a), "watched again after subscribing again");
    }

    // Access ends: the subscription ends with `unavailable`, the socket stays open.
    let r = t.http.delete(t.url(&format!("/v1/docs/{shared}/members/{viewer_id}"))).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(r.status(), 204);
    for socket in [&mut watching, &mut second] {
        let told = next_of(socket, "unavailable").await;
        assert_eq!(told["docs"], json!([shared]), "{told}");
    }
    let answer = subscribe(&mut watching, &[&shared]).await;
    assert_eq!(answer["unavailable"], json!([shared]), "the socket is still open, and the document is not the viewer's any more");
}

#[tokio::test]
async fn a_user_has_at_most_32_channel_sockets_and_each_closes_when_its_token_expires() {
    let Some(t) = Target::from_env() else { return };
    if !has_sockets() {
        return;
    }
    let (_, token) = t.user("channel-many");
    let mut sockets = Vec::new();
    for _ in 0..32 {
        sockets.push(connect(&channel_url(&t), &token, false).await.expect("within the cap"));
    }
    // Refused before the upgrade, even while the earlier sockets are still being set up.
    assert_eq!(connect(&channel_url(&t), &token, false).await.err(), Some(429), "the 33rd socket of one user");
    drop(sockets.pop());
    // The server learns of the close asynchronously.
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(socket) = connect(&channel_url(&t), &token, false).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed socket frees its place");
    drop(sockets);

    let (expiring_user, _) = t.user("channel-expiring");
    let started = std::time::Instant::now();
    let expiring = t.token_expiring(&expiring_user, 2);
    let mut socket = connect(&channel_url(&t), &expiring, true).await.expect("a valid token opens");
    let closed = next(&mut socket, Duration::from_secs(10)).await.expect("closed at the token's expiry");
    assert_eq!(closed["closed"], 4001, "{closed}");
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the token expires");
}

/// On Workers a channel registers with each document's object, which costs requests to other
/// objects: a member subscribing and unsubscribing in a loop is refused once their channel
/// spent its budget (2,000 registrations per minute), instead of multiplying requests without
/// bound, and what it subscribed before keeps working. The native server's subscriptions cost one database read per message and are bounded
/// by the message budget alone.
#[tokio::test]
async fn churning_subscriptions_on_workers_are_refused_past_the_registration_budget() {
    let Some(t) = Target::from_env() else { return };
    if !matches!(std::env::var("EDGESYNC_TARGET").as_deref(), Ok("worker" | "workerd")) {
        return;
    }
    let (_, token) = t.user("channel-churn");
    let mut docs = Vec::new();
    for _ in 0..40 {
        docs.push(t.create_doc(&token).await);
    }
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let mut socket = connect(&channel_url(&t), &token, false).await.expect("the channel opens");
    // A subscription made before the churn keeps working through it.
    let kept = t.create_doc(&token).await;
    subscribe(&mut socket, &[&kept]).await;
    // Each cycle registers 40 documents (40 of the budget) and leaves them again (leaving is
    // free: only what was registered can be left). Two minutes' budgets at most, if the test
    // straddles a minute.
    let mut refused_after = None;
    for cycle in 0..110 {
        send(&mut socket, json!({"type": "subscribe", "docs": docs})).await;
        let answer = next(&mut socket, WITHIN).await.expect("an answer to subscribe");
        if answer["type"] == "error" {
            assert_eq!(answer["code"], "rate-limited", "{answer}");
            refused_after = Some(cycle);
            break;
        }
        assert_eq!(answer["docs"].as_array().map(Vec::len), Some(40), "{answer}");
        send(&mut socket, json!({"type": "unsubscribe", "docs": docs})).await;
        // Within the 50 messages per second.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cycles = refused_after.expect("churning is refused within two minutes' budgets");
    assert!(cycles >= 49, "refused after {cycles} cycles: the budget is 2,000 newly watched documents per minute (1, then 49 cycles of 40)");
    let mut k = Replica::new(&kept, 1);
    put(&mut k, "still", 1);
    assert_eq!(k.sync(&t, &token).await, 200);
    assert_eq!(next_of(&mut socket, "changed").await["doc"].as_str(), Some(kept.as_str()), "the earlier subscription still hears");
    // The refused subscribe subscribed nothing, and the socket stays open.
    send(&mut socket, json!({"type": "presence", "doc": docs[0], "data": 1})).await;
    let answer = next(&mut socket, WITHIN).await.expect("an answer");
    assert_eq!(answer["code"], "not-subscribed", "the refused subscribe subscribed nothing: {answer}");
}
