//! The live channel (`GET /v1/live`, docs/protocol.md §11) on a real listener, with real
//! WebSocket clients: a collaborator's commit reaches a subscriber without it polling (the
//! database poll is set to a minute, so only the push can deliver in time), a commit made
//! through another node arrives on the poll, presence carries the token's subject, a
//! non-member learns nothing, tokens are checked at the door and at their expiry, and the
//! watcher feeding the sockets ends at the shutdown.

mod common;

use std::time::Duration;

use common::TestApp;
use edge_app::AppState;
use edge_app::ports::{Clock, Wakeups};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The server as `serve` runs it (push on commit, poll every `poll_ms`), on a loopback port.
async fn serve(app: &TestApp, poll_ms: u32) -> (String, AppState) {
    common::serve_live(app, poll_ms, Duration::from_secs(edge_app::live::RECHECK_SECS)).await
}

async fn serve_with(app: &TestApp, poll_ms: u32, recheck: Duration) -> (String, AppState) {
    common::serve_live(app, poll_ms, recheck).await
}

async fn connect(addr: &str, token: &str) -> Socket {
    let mut request = format!("ws://{addr}/v1/live").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("connects").0
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// The next text message, within `within`.
async fn next(socket: &mut Socket, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

async fn subscribe(socket: &mut Socket, docs: &[&str]) -> Value {
    send(socket, json!({"type": "subscribe", "docs": docs})).await;
    let reply = next(socket, Duration::from_secs(5)).await.expect("an answer");
    assert_eq!(reply["type"], "subscribed", "{reply}");
    reply
}

/// Pushes one change to `doc` as `user` over HTTP; returns the new heads.
async fn edit(addr: &str, app: &TestApp, user: &str, doc: &str) -> Vec<String> {
    let response = common::edit_over_http(addr, app, user, doc.parse().unwrap(), "by", user).await;
    edge_app::live::split_heads(&response.docs[0].heads.to_string())
}

#[tokio::test]
async fn a_collaborators_commit_is_pushed_and_presence_carries_the_senders_identity() {
    let app = TestApp::new().await;
    let (addr, _) = serve(&app, 60_000).await;
    let doc = app.create_doc("alice").await;
    app.add_member("alice", &doc, "bob", "editor").await;
    app.add_member("alice", &doc, "vera", "viewer").await;
    let mut bob = connect(&addr, &app.token("bob")).await;
    let mut vera = connect(&addr, &app.token("vera")).await;
    assert_eq!(subscribe(&mut bob, &[&doc]).await["docs"][0], json!({"doc": doc, "heads": []}));
    subscribe(&mut vera, &[&doc]).await;

    let heads = edit(&addr, &app, "alice", &doc).await;
    for socket in [&mut bob, &mut vera] {
        let changed = next(socket, Duration::from_secs(5)).await.expect("pushed, not polled (the poll is a minute)");
        assert_eq!(changed, json!({"type": "changed", "doc": doc, "heads": heads}));
    }

    // A viewer may send presence; the sender is the token's subject, whatever the data says.
    send(&mut vera, json!({"type": "presence", "doc": doc, "data": {"cursor": 3, "from": "alice"}})).await;
    let presence = next(&mut bob, Duration::from_secs(5)).await.unwrap();
    assert_eq!(presence, json!({"type": "presence", "doc": doc, "from": "vera", "data": {"cursor": 3, "from": "alice"}}));
    assert_eq!(next(&mut vera, Duration::from_millis(300)).await, None, "no echo to the sender");
    // Oversized or too frequent presence is refused, the connection stays.
    send(&mut vera, json!({"type": "presence", "doc": doc, "data": "x".repeat(2000)})).await;
    assert_eq!(next(&mut vera, Duration::from_secs(5)).await.unwrap()["code"], "presence-too-large");
    for _ in 0..25 {
        send(&mut vera, json!({"type": "presence", "doc": doc, "data": 1})).await;
    }
    let mut limited = false;
    while let Some(m) = next(&mut vera, Duration::from_millis(500)).await {
        limited |= m["code"] == "rate-limited";
    }
    assert!(limited, "25 presence messages in a second are over the limit");
}

#[tokio::test]
async fn a_non_member_cannot_tell_a_document_from_a_missing_one() {
    let app = TestApp::new().await;
    let (addr, _) = serve(&app, 60_000).await;
    let doc = app.create_doc("alice").await;
    let missing = "00000000000000000000000000000001";
    let mut mallory = connect(&addr, &app.token("mallory")).await;
    let reply = subscribe(&mut mallory, &[&doc, missing]).await;
    assert_eq!(reply, json!({"type": "subscribed", "docs": [], "unavailable": [doc, missing]}));
    send(&mut mallory, json!({"type": "presence", "doc": doc, "data": {}})).await;
    assert_eq!(next(&mut mallory, Duration::from_secs(5)).await.unwrap()["code"], "not-subscribed");
    edit(&addr, &app, "alice", &doc).await;
    assert_eq!(next(&mut mallory, Duration::from_millis(500)).await, None, "nothing about a document it may not read");
    // Each subscribe costs the server a database read: a flood is refused unread.
    for _ in 0..60 {
        send(&mut mallory, json!({"type": "subscribe", "docs": [missing]})).await;
    }
    let mut limited = 0;
    while let Some(m) = next(&mut mallory, Duration::from_millis(500)).await {
        limited += usize::from(m["code"] == "rate-limited");
    }
    assert!(limited >= 10, "{limited} of 60 messages in a second refused");
}

#[tokio::test]
async fn a_commit_made_through_another_node_arrives_on_the_poll() {
    let app = TestApp::new().await;
    let (addr, _) = serve(&app, 200).await;
    // Another node on the same database: its commits are not announced in this process.
    let (other, _) = serve(&app, 60_000).await;
    let doc = app.create_doc("alice").await;
    let mut alice = connect(&addr, &app.token("alice")).await;
    subscribe(&mut alice, &[&doc]).await;
    let heads = edit(&other, &app, "alice", &doc).await;
    let changed = next(&mut alice, Duration::from_secs(5)).await.expect("within a few polls");
    assert_eq!(changed, json!({"type": "changed", "doc": doc, "heads": heads}));
}

#[tokio::test]
async fn tokens_are_checked_at_the_door_and_end_the_connection_when_they_expire() {
    let app = TestApp::new().await;
    let (addr, _) = serve(&app, 60_000).await;
    let bare = format!("ws://{addr}/v1/live").into_client_request().unwrap();
    let refused = tokio_tungstenite::connect_async(bare).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    // A browser offers the token as a subprotocol; the server answers with the channel's.
    let mut request = format!("ws://{addr}/v1/live").into_client_request().unwrap();
    let protocols = format!("edgesync.live.v1, bearer.{}", app.token("alice"));
    request.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "edgesync.live.v1");
    subscribe(&mut socket, &[]).await;
    // A token that expires in two seconds (the test clock is the server's).
    let claims = TestApp::claims("alice");
    let short = edge_app::auth::mint_hs256(common::HS_SECRET.as_bytes(), &claims, app.clock.now(), 2);
    let mut expiring = connect(&addr, &short).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), expiring.next()).await.expect("closed at expiry");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // A frame within the limit but several times the socket's read buffer (1 KiB) is read
    // whole: 200 ids, about 7 KiB.
    let many: Vec<String> = (0..200u32).map(|i| format!("{i:032x}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let reply = subscribe(&mut socket, &many).await;
    assert_eq!(reply["unavailable"].as_array().map(Vec::len), Some(200), "every id answered");
    // A frame over the limit ends the connection.
    send(&mut socket, json!({"type": "subscribe", "docs": ["x".repeat(10_000)]})).await;
    assert!(next(&mut socket, Duration::from_secs(5)).await.is_none());
}

#[tokio::test]
async fn a_subscription_ends_when_its_access_does() {
    let app = TestApp::new().await;
    let (addr, _) = serve_with(&app, 60_000, Duration::from_millis(300)).await;
    let doc = app.create_doc("alice").await;
    app.add_member("alice", &doc, "bob", "editor").await;
    let mut bob = connect(&addr, &app.token("bob")).await;
    subscribe(&mut bob, &[&doc]).await;
    let r = app.call(axum::http::Method::DELETE, &format!("/v1/docs/{doc}/members/bob"), Some(&app.token("alice")), None).await;
    assert!(r.status.is_success(), "{}", r.status);
    let ended = next(&mut bob, Duration::from_secs(5)).await.expect("told within a recheck");
    assert_eq!(ended, json!({"type": "unavailable", "docs": [doc]}));
    edit(&addr, &app, "alice", &doc).await;
    assert_eq!(next(&mut bob, Duration::from_millis(500)).await, None, "no more news of it");
}

#[tokio::test]
async fn one_user_cannot_take_the_servers_connections() {
    let app = TestApp::new().await;
    let (addr, _) = serve(&app, 60_000).await;
    let token = app.token("mallory");
    let mut held = Vec::new();
    for _ in 0..edgesync_server::live::MAX_CONNECTIONS_PER_USER {
        held.push(connect(&addr, &token).await);
    }
    let mut request = format!("ws://{addr}/v1/live").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(refused.to_string().contains("429"), "{refused}");
    // Anyone else still gets in, and mallory again once a connection closes.
    let mut alice = connect(&addr, &app.token("alice")).await;
    subscribe(&mut alice, &[]).await;
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect(&addr, &token).await;
    subscribe(&mut again, &[]).await;
}

#[tokio::test]
async fn the_watcher_ends_at_the_shutdown_even_announced_behind_a_commit() {
    let app = TestApp::new().await;
    let wakeups = std::sync::Arc::new(edgesync_server::wakeups::LocalWakeups::default());
    let state = app.state.clone().with_wakeups(wakeups.clone());
    let watcher = edgesync_server::live::spawn_watcher(std::sync::Arc::new(edgesync_server::live::LiveHub::default()), state, &wakeups);
    // Both queued before the watcher runs: it takes the commit, then finds the shutdown
    // among the announcements a busy server's commits share a read with.
    wakeups.announce(&["0123456789abcdef0123456789abcdef".into()]);
    wakeups.shut_down();
    tokio::time::timeout(Duration::from_secs(5), watcher).await.expect("the watcher ended").unwrap();
}
