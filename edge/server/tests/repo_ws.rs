//! `GET /v1/automerge-repo` on a real listener with raw WebSocket clients speaking
//! automerge-repo's CBOR messages (sync-core's codec): hostile frames close only the socket
//! that sent them while a collaborator's socket keeps being pushed to; a change pushed through
//! one socket reaches another at once; ephemeral messages reach the document's other readers
//! once, never a non-member.

mod common;

use std::time::Duration;

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use common::TestApp;
use futures_util::{SinkExt, StreamExt};
use sync_core::automerge_repo::{Message, repo_document_id};
use sync_core::{DocumentId, Heads, SyncRequest, client};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

async fn connect(addr: &str, app: &TestApp, user: &str) -> Socket {
    let url = format!("ws://{addr}/v1/automerge-repo?token={}", app.token(user));
    tokio_tungstenite::connect_async(url).await.expect("connects").0
}

async fn send(socket: &mut Socket, message: &Message) {
    socket.send(Frame::Binary(message.encode().into())).await.unwrap();
}

/// The next message, or the close code (`Err`), within `within`; `Ok(None)`: nothing came.
async fn next(socket: &mut Socket, within: Duration) -> Result<Option<Message>, Option<CloseCode>> {
    loop {
        match tokio::time::timeout(within, socket.next()).await {
            Err(_) => return Ok(None),
            Ok(Some(Ok(Frame::Binary(bytes)))) => return Ok(Some(Message::decode(&bytes).expect("the server sends automerge-repo messages"))),
            Ok(Some(Ok(Frame::Close(frame)))) => return Err(frame.map(|f| f.code)),
            Ok(Some(Ok(Frame::Ping(_) | Frame::Pong(_)))) => continue,
            // Closed without a close frame (or reset).
            Ok(None | Some(Err(_))) => return Err(None),
            Ok(other) => panic!("unexpected {other:?}"),
        }
    }
}

/// Joins as peer `me`; returns the server's peer id.
async fn join(socket: &mut Socket, me: &str) -> String {
    send(socket, &Message::Join { sender_id: me.into(), peer_metadata: None, supported_protocol_versions: vec!["1".into()] }).await;
    match next(socket, WAIT).await {
        Ok(Some(Message::Peer { sender_id, target_id, selected_protocol_version, .. })) => {
            assert_eq!((target_id.as_str(), selected_protocol_version.as_str()), (me, "1"));
            assert!(sender_id.starts_with("sync-server"), "{sender_id}");
            sender_id
        }
        other => panic!("expected peer, got {other:?}"),
    }
}

/// Sends `request` for `doc` as `me`; returns the answer.
async fn request(socket: &mut Socket, me: &str, server: &str, doc: DocumentId) -> Message {
    let data = Automerge::new().generate_sync_message(&mut State::new()).unwrap().encode();
    send(socket, &Message::Request { sender_id: me.into(), target_id: server.into(), document_id: repo_document_id(&doc), data }).await;
    next(socket, WAIT).await.expect("open").expect("an answer")
}

/// A live server (its database poll and membership recheck a minute away), a document of
/// `owner` with one change shared with `member` as `role`, and `member`'s socket joined as
/// `<member>-peer` with the document requested. Returns the server's address, the document,
/// the socket, the server's peer id and its answer to the request.
async fn member_socket(app: &TestApp, owner: &str, member: &str, role: &str) -> (String, DocumentId, Socket, String, Message) {
    let (addr, _) = common::serve_live(app, 60_000, Duration::from_secs(60)).await;
    let doc = document(app, owner).await;
    app.add_member(owner, &doc.to_string(), member, role).await;
    let mut socket = connect(&addr, app, member).await;
    let me = format!("{member}-peer");
    let server = join(&mut socket, &me).await;
    let answer = request(&mut socket, &me, &server, doc).await;
    (addr, doc, socket, server, answer)
}

/// A document owned by `owner` with one change, made over HTTP.
async fn document(app: &TestApp, owner: &str) -> DocumentId {
    let id: DocumentId = app.create_doc(owner).await.parse().unwrap();
    edit(app, owner, id, "k").await;
    id
}

/// One change to `id` over HTTP, through the test router (no socket is woken).
async fn edit(app: &TestApp, user: &str, id: DocumentId, key: &str) {
    let mut replica = Automerge::new();
    let mut tx = replica.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
    let request = SyncRequest { docs: vec![client::build_request(id, &replica, &Heads::empty())] };
    assert_eq!(app.sync_at("/v1/sync", &app.token(user), &request).await.status, 200);
}

#[tokio::test]
async fn hostile_frames_close_only_their_own_socket() {
    let app = TestApp::with(|c| c.sync_limits.max_message_bytes = 64 * 1024).await;
    let (addr, _) = common::serve_live(&app, 60_000, Duration::from_secs(30)).await;
    let doc = document(&app, "alice").await;
    for user in ["bob", "eve"] {
        app.add_member("alice", &doc.to_string(), user, "editor").await;
    }
    let mut bob = connect(&addr, &app, "bob").await;
    let server = join(&mut bob, "bob-peer").await;
    assert!(matches!(request(&mut bob, "bob-peer", &server, doc).await, Message::Sync { .. }));

    // A bloom filter with entries and no bits (automerge divides by zero answering it).
    let mut eve = connect(&addr, &app, "eve").await;
    join(&mut eve, "eve-peer").await;
    let hostile = vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
    send(&mut eve, &Message::Sync { sender_id: "eve-peer".into(), target_id: server.clone(), document_id: repo_document_id(&doc), data: hostile }).await;
    assert!(matches!(next(&mut eve, WAIT).await, Ok(Some(Message::Error { ref message, .. })) if message.contains("bloom")));
    assert_eq!(next(&mut eve, WAIT).await.unwrap_err(), Some(CloseCode::Policy));

    // A text frame; a sync before joining; a frame over the limit.
    let mut eve = connect(&addr, &app, "eve").await;
    eve.send(Frame::Text("{\"type\":\"join\"}".into())).await.unwrap();
    assert_eq!(next(&mut eve, WAIT).await.unwrap_err(), Some(CloseCode::Policy));
    let mut eve = connect(&addr, &app, "eve").await;
    send(
        &mut eve,
        &Message::Sync { sender_id: "eve-peer".into(), target_id: server.clone(), document_id: repo_document_id(&doc), data: vec![0x42, 0, 0, 0, 0] },
    )
    .await;
    assert!(matches!(next(&mut eve, WAIT).await, Ok(Some(Message::Error { .. }))));
    assert_eq!(next(&mut eve, WAIT).await.unwrap_err(), Some(CloseCode::Policy));
    let mut eve = connect(&addr, &app, "eve").await;
    join(&mut eve, "eve-peer").await;
    let _ = eve.send(Frame::Binary(vec![0u8; 100 * 1024].into())).await;
    assert!(!matches!(next(&mut eve, WAIT).await, Ok(Some(_))), "a frame over the limit ends the connection");

    // Bob's socket is untouched: a commit is pushed to it.
    common::edit_over_http(&addr, &app, "alice", doc, "after", "1").await;
    match next(&mut bob, WAIT).await {
        Ok(Some(Message::Sync { document_id, .. })) => assert_eq!(document_id, repo_document_id(&doc)),
        other => panic!("expected a pushed sync, got {other:?}"),
    }
}

#[tokio::test]
async fn ephemeral_messages_reach_the_other_readers_once_and_never_a_non_member() {
    let app = TestApp::new().await;
    let (addr, doc, mut vic, server, _) = member_socket(&app, "alice", "vic", "viewer").await;
    let mut alice = connect(&addr, &app, "alice").await;
    join(&mut alice, "alice-peer").await;
    request(&mut alice, "alice-peer", &server, doc).await;
    let mut mallory = connect(&addr, &app, "mallory").await;
    join(&mut mallory, "mallory-peer").await;
    assert!(matches!(request(&mut mallory, "mallory-peer", &server, doc).await, Message::DocUnavailable { .. }));

    let ephemeral = |sender: &str, count| Message::Ephemeral {
        sender_id: "alice-peer".into(),
        target_id: server.clone(),
        count,
        session_id: format!("{sender}-session"),
        document_id: repo_document_id(&doc),
        data: vec![0xa1, 0x61, 0x63, 0x01],
    };
    let cursor = |count| ephemeral("alice", count);
    send(&mut alice, &cursor(1)).await;
    match next(&mut vic, WAIT).await {
        Ok(Some(Message::Ephemeral { sender_id, target_id, count, data, .. })) => {
            assert_eq!((sender_id.as_str(), target_id.as_str(), count, data.as_slice()), ("alice-peer", "vic-peer", 1, &[0xa1, 0x61, 0x63, 0x01][..]));
        }
        other => panic!("expected the relayed message, got {other:?}"),
    }
    assert!(matches!(next(&mut mallory, Duration::from_millis(300)).await, Ok(None)), "a non-member gets nothing");
    // Clients relay what they receive: the echo is not sent again.
    send(&mut vic, &cursor(1)).await;
    assert!(matches!(next(&mut alice, Duration::from_millis(300)).await, Ok(None)), "no echo");
    // A non-member's ephemeral message for the document goes nowhere.
    send(&mut mallory, &ephemeral("mallory", 1)).await;
    assert!(matches!(next(&mut alice, Duration::from_millis(300)).await, Ok(None)));
    send(&mut alice, &cursor(2)).await;
    assert!(matches!(next(&mut vic, WAIT).await, Ok(Some(Message::Ephemeral { count: 2, .. }))));
}

/// A change pushed through one automerge-repo socket reaches a collaborator's socket at once:
/// the database poll is a minute away, so only the commit's own announcement can deliver it.
#[tokio::test]
async fn a_change_pushed_through_one_socket_reaches_a_collaborators_socket_without_the_poll() {
    let app = TestApp::new().await;
    let (addr, doc, mut bob, server, answer) = member_socket(&app, "alice", "bob", "editor").await;
    let Message::Sync { data, .. } = answer else { panic!("expected the document") };
    let (mut bob_doc, mut bob_state) = (Automerge::new(), State::new());
    bob_doc.receive_sync_message(&mut bob_state, automerge::sync::Message::decode(&data).unwrap()).unwrap();

    // Alice, on her own socket, syncs the document and writes `pushed`.
    let mut alice = connect(&addr, &app, "alice").await;
    join(&mut alice, "alice-peer").await;
    let (mut alice_doc, mut alice_state) = (Automerge::new(), State::new());
    let mut written = false;
    for _ in 0..10 {
        if automerge::ReadDoc::get(&alice_doc, ROOT, "k").unwrap().is_some() && !written {
            let mut tx = alice_doc.transaction();
            tx.put(ROOT, "pushed", 1).unwrap();
            tx.commit();
            written = true;
        }
        if let Some(message) = alice_doc.generate_sync_message(&mut alice_state) {
            let data = message.encode();
            send(&mut alice, &Message::Sync { sender_id: "alice-peer".into(), target_id: server.clone(), document_id: repo_document_id(&doc), data }).await;
        }
        match next(&mut alice, Duration::from_millis(300)).await.expect("open") {
            Some(Message::Sync { data, .. }) => alice_doc.receive_sync_message(&mut alice_state, automerge::sync::Message::decode(&data).unwrap()).unwrap(),
            Some(other) => panic!("unexpected {other:?}"),
            None if written => break,
            None => {}
        }
    }
    assert!(automerge::ReadDoc::get(&common::stored(&app, doc).await, ROOT, "pushed").unwrap().is_some(), "alice's change is stored");

    // Bob's socket is pushed it (and acknowledges each message, as automerge-repo does).
    for _ in 0..10 {
        if automerge::ReadDoc::get(&bob_doc, ROOT, "pushed").unwrap().is_some() {
            return;
        }
        match next(&mut bob, WAIT).await.expect("open") {
            Some(Message::Sync { data, .. }) => bob_doc.receive_sync_message(&mut bob_state, automerge::sync::Message::decode(&data).unwrap()).unwrap(),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
        if let Some(message) = bob_doc.generate_sync_message(&mut bob_state) {
            let data = message.encode();
            send(&mut bob, &Message::Sync { sender_id: "bob-peer".into(), target_id: server.clone(), document_id: repo_document_id(&doc), data }).await;
        }
    }
    panic!("alice's change never reached bob's socket (the poll is a minute away)");
}

#[tokio::test]
async fn a_removed_member_is_never_pushed_a_later_change() {
    let app = TestApp::new().await;
    // The periodic recheck is a minute away: only the removal's own notice can stop the push.
    let (addr, _) = common::serve_live(&app, 60_000, Duration::from_secs(60)).await;
    let doc = document(&app, "alice").await;
    app.add_member("alice", &doc.to_string(), "bob", "editor").await;
    let mut bob = connect(&addr, &app, "bob").await;
    let server = join(&mut bob, "bob-peer").await;
    assert!(matches!(request(&mut bob, "bob-peer", &server, doc).await, Message::Sync { .. }));
    common::edit_over_http(&addr, &app, "alice", doc, "before", "1").await;
    assert!(matches!(next(&mut bob, WAIT).await, Ok(Some(Message::Sync { .. }))), "a member is pushed changes");

    let removed = reqwest::Client::new().delete(format!("http://{addr}/v1/docs/{doc}/members/bob")).bearer_auth(app.token("alice")).send().await.unwrap();
    assert!(removed.status().is_success(), "{}", removed.status());
    common::edit_over_http(&addr, &app, "alice", doc, "secret", "after removal").await;
    assert!(matches!(next(&mut bob, Duration::from_millis(500)).await, Ok(None)), "nothing after the removal");
    assert!(matches!(request(&mut bob, "bob-peer", &server, doc).await, Message::DocUnavailable { .. }));
}

#[tokio::test]
async fn a_viewer_promoted_while_connected_has_its_changes_asked_for() {
    let app = TestApp::new().await;
    // The periodic recheck is a minute away: only the role change's own notice can do it.
    let (addr, _) = common::serve_live(&app, 60_000, Duration::from_secs(60)).await;
    let doc = document(&app, "olga").await;
    app.add_member("olga", &doc.to_string(), "vic", "viewer").await;
    let mut socket = connect(&addr, &app, "vic").await;
    let server = join(&mut socket, "vic-peer").await;
    let (mut vic, mut state) = (Automerge::new(), State::new());
    let mut tx = vic.transaction();
    tx.put(ROOT, "v", 1).unwrap();
    tx.commit();
    // Runs automerge's sync with the server until it stops answering; whether `v` is stored.
    let exchange = async |socket: &mut Socket, vic: &mut Automerge, state: &mut State| {
        for _ in 0..10 {
            if let Some(message) = vic.generate_sync_message(state) {
                let data = message.encode();
                send(socket, &Message::Sync { sender_id: "vic-peer".into(), target_id: server.clone(), document_id: repo_document_id(&doc), data }).await;
            }
            match next(socket, Duration::from_millis(300)).await.expect("open") {
                Some(Message::Sync { data, .. }) => vic.receive_sync_message(state, automerge::sync::Message::decode(&data).unwrap()).unwrap(),
                Some(other) => panic!("unexpected {other:?}"),
                None => break,
            }
        }
        automerge::ReadDoc::get(&common::stored(&app, doc).await, ROOT, "v").unwrap().is_some()
    };
    assert!(!exchange(&mut socket, &mut vic, &mut state).await, "a viewer's change is not stored");

    let promoted = reqwest::Client::new()
        .put(format!("http://{addr}/v1/docs/{doc}/members/vic"))
        .bearer_auth(app.token("olga"))
        .json(&serde_json::json!({"role": "editor"}))
        .send()
        .await
        .unwrap();
    assert!(promoted.status().is_success(), "{}", promoted.status());
    // The client resends its heads (automerge-repo does on its next change or reconnect).
    state = State::new();
    let mut stored = false;
    for _ in 0..10 {
        stored = exchange(&mut socket, &mut vic, &mut state).await;
        if stored {
            break;
        }
        state = State::new();
    }
    assert!(stored, "the promoted editor's change is asked for and stored");
}

#[tokio::test]
async fn a_socket_at_its_document_limit_syncs_a_new_one_in_place_of_the_least_recently_synced() {
    let app = TestApp::new().await;
    let (addr, _) = common::serve_live(&app, 60_000, Duration::from_secs(60)).await;
    let (first, second) = (document(&app, "alice").await, document(&app, "alice").await);
    let mut socket = connect(&addr, &app, "alice").await;
    let server = join(&mut socket, "alice-peer").await;
    assert!(matches!(request(&mut socket, "alice-peer", &server, first).await, Message::Sync { .. }));
    assert!(matches!(request(&mut socket, "alice-peer", &server, second).await, Message::Sync { .. }));
    // Up to the limit with ids nobody created (answered as unavailable: still synced, since
    // they may appear), then `first` again, so `second` is the least recently synced.
    for n in 2..edge_app::live::MAX_SUBSCRIPTIONS {
        let unknown = DocumentId::from_bytes((n as u128 + (1 << 100)).to_be_bytes());
        assert!(matches!(request(&mut socket, "alice-peer", &server, unknown).await, Message::DocUnavailable { .. }), "document {n}");
    }
    assert!(matches!(request(&mut socket, "alice-peer", &server, first).await, Message::Sync { .. }));
    common::edit_over_http(&addr, &app, "alice", second, "k2", "1").await;
    assert!(matches!(next(&mut socket, WAIT).await, Ok(Some(Message::Sync { .. }))), "pushed while synced");

    // One more: answered like the others (it used to be ignored), and `second` makes room.
    let new = document(&app, "alice").await;
    assert!(matches!(request(&mut socket, "alice-peer", &server, new).await, Message::Sync { .. }), "the new document is synced");
    common::edit_over_http(&addr, &app, "alice", second, "k3", "1").await;
    assert!(matches!(next(&mut socket, Duration::from_millis(500)).await, Ok(None)), "the evicted document is no longer pushed");
    for (doc, what) in [(new, "the new one"), (first, "the one synced again")] {
        common::edit_over_http(&addr, &app, "alice", doc, "k3", "1").await;
        assert!(matches!(next(&mut socket, WAIT).await, Ok(Some(Message::Sync { .. }))), "{what} is pushed");
    }
    // A message for the evicted one syncs it afresh (in place of the next least recent).
    assert!(matches!(request(&mut socket, "alice-peer", &server, second).await, Message::Sync { .. }));
}
