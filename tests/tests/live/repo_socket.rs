//! automerge-repo's protocol (`GET /v1/automerge-repo`, docs/protocol.md §12) at its limits, on
//! the raw wire. A client that announces hundreds of documents at once (as automerge-repo does
//! when it connects) is answered in full on every runtime with sockets. And against a hostile
//! client on Workers: every document a connection syncs is watched through the document's
//! Durable Object, a request to another object for any id the client names; a user whose
//! connections name thousands of random ids is closed once they registered 2,000 documents in a
//! minute, instead of making the deployment create and call objects without bound. (Unchanged
//! automerge-repo clients are tested in tests/automerge-repo, on the native server and on
//! workerd.)

use std::time::Duration;

use automerge::Automerge;
use automerge::sync::{State, SyncDoc};
use edgesync_blackbox::Target;
use futures_util::{SinkExt, StreamExt};
use sync_core::DocumentId;
use sync_core::automerge_repo::{Message, repo_document_id};
use tokio_tungstenite::tungstenite::Message as Frame;

fn join() -> Message {
    Message::Join { sender_id: "hostile".into(), peer_metadata: None, supported_protocol_versions: vec!["1".into()] }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What sending requests for `n` new random documents on `socket` led to: how many were
/// answered `doc-unavailable`, and the close code if the server closed the connection.
async fn request_new(socket: &mut Socket, n: usize) -> (usize, Option<u16>) {
    let first = Automerge::new().generate_sync_message(&mut State::new()).expect("a first sync message").encode();
    let mut answered = 0;
    // Batches of 100 at most every 0.6 s: below the 200 messages per second a connection may send.
    for batch in (0..n).collect::<Vec<_>>().chunks(100) {
        let started = std::time::Instant::now();
        for _ in batch {
            let id = repo_document_id(&DocumentId::from_bytes(rand::random()));
            let request = Message::Request { sender_id: "hostile".into(), target_id: "sync-server-edgesync".into(), document_id: id, data: first.clone() };
            if socket.send(Frame::Binary(request.encode().into())).await.is_err() {
                return (answered, None);
            }
        }
        let mut pending = batch.len();
        while pending > 0 {
            match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("an answer") {
                Some(Ok(Frame::Binary(bytes))) => match Message::decode(&bytes).expect("a message") {
                    Message::DocUnavailable { .. } => {
                        pending -= 1;
                        answered += 1;
                    }
                    Message::Error { message, .. } => assert!(message.contains("per minute"), "refused for the budget: {message}"),
                    _ => {}
                },
                Some(Ok(Frame::Close(frame))) => return (answered, frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                _ => return (answered, None),
            }
        }
        tokio::time::sleep(Duration::from_millis(600).saturating_sub(started.elapsed())).await;
    }
    (answered, None)
}

#[tokio::test]
async fn a_client_naming_endless_documents_is_closed_past_the_registration_budget() {
    let Some(t) = Target::from_env() else { return };
    if !matches!(std::env::var("EDGESYNC_TARGET").as_deref(), Ok("worker" | "workerd")) {
        return;
    }
    let (_, token) = t.user("repo-hostile");
    let url = format!("{}/v1/automerge-repo?token={token}", t.base.replacen("http", "ws", 1));
    // Four connections of one user, 500 documents each: the budget is the user's.
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("the token opens a connection");
        socket.send(Frame::Binary(join().encode().into())).await.unwrap();
        sockets.push(socket);
    }
    let runs = sockets.into_iter().map(|mut socket| {
        tokio::spawn(async move {
            let outcome = request_new(&mut socket, 500).await;
            (socket, outcome)
        })
    });
    let mut answered = 0;
    let mut open = Vec::new();
    for run in runs {
        let (socket, (n, closed)) = run.await.unwrap();
        answered += n;
        assert_eq!(closed, None, "2,000 documents in all are within the budget");
        open.push(socket);
    }
    assert_eq!(answered, 2_000);
    // One more is over it — unless the minute turned meanwhile: then up to another 2,000, on
    // fresh connections (a session syncs at most 1,000 documents).
    let mut more = 0;
    let mut closed = None;
    for _ in 0..3 {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("a fifth connection");
        socket.send(Frame::Binary(join().encode().into())).await.unwrap();
        let (n, end) = request_new(&mut socket, 1_000).await;
        more += n;
        if end.is_some() {
            closed = end;
            break;
        }
    }
    assert_eq!(closed, Some(1008), "closed by policy after {} documents", answered + more);
    assert!(more <= 2_000, "refused within the next minute's budget ({more} more answered)");
    drop(open);
}

/// The target, if it serves sockets (Spin has no inbound WebSockets).
fn with_sockets() -> Option<Target> {
    Target::from_env().filter(|_| std::env::var("EDGESYNC_TARGET").as_deref() != Ok("spin"))
}

/// A socket of the user `token` names, joined as automerge-repo does.
async fn joined(t: &Target, token: &str) -> Socket {
    let url = format!("{}/v1/automerge-repo?token={token}", t.base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("the token opens a connection");
    socket.send(Frame::Binary(join().encode().into())).await.unwrap();
    socket
}

/// A client announces every document it has when it connects, all at once: on every runtime
/// with sockets, 400 requests sent back to back (twice the per-second pace) are all answered,
/// in time, and the connection stays open.
#[tokio::test]
async fn a_client_announcing_hundreds_of_documents_at_once_is_answered_in_full() {
    let Some(t) = with_sockets() else { return };
    let (_, token) = t.user("repo-many");
    let mut socket = joined(&t, &token).await;
    let first = Automerge::new().generate_sync_message(&mut State::new()).expect("a first sync message").encode();
    for _ in 0..400 {
        let id = repo_document_id(&DocumentId::from_bytes(rand::random()));
        let request = Message::Request { sender_id: "hostile".into(), target_id: "sync-server-edgesync".into(), document_id: id, data: first.clone() };
        socket.send(Frame::Binary(request.encode().into())).await.unwrap();
    }
    let mut unavailable = 0;
    while unavailable < 400 {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("every request answered") {
            Some(Ok(Frame::Binary(bytes))) => unavailable += usize::from(matches!(Message::decode(&bytes), Ok(Message::DocUnavailable { .. }))),
            Some(Ok(Frame::Close(frame))) => panic!("closed after {unavailable} answers: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("the connection ended after {unavailable} answers: {other:?}"),
        }
    }
}

/// A long-lived client that has synced 1,000 documents on one socket (automerge-repo keeps
/// every document it touched) still syncs the next one it creates or opens: it takes the place
/// of the least recently synced, on every runtime with sockets.
#[tokio::test]
async fn a_socket_past_1000_documents_still_syncs_the_next_one() {
    let Some(t) = with_sockets() else { return };
    let (_, token) = t.user("repo-long-lived");
    let id = t.create_doc(&token).await;
    let mut replica = edgesync_blackbox::Replica::new(&id, 1);
    {
        use automerge::transaction::Transactable;
        let mut tx = replica.doc.transaction();
        tx.put(automerge::ROOT, "k", 1).unwrap();
        tx.commit();
    }
    assert_eq!(replica.sync(&t, &token).await, 200);
    let mut socket = joined(&t, &token).await;
    let (answered, closed) = request_new(&mut socket, 1_000).await;
    assert_eq!((answered, closed), (1_000, None), "1,000 documents synced on one socket");

    let first = Automerge::new().generate_sync_message(&mut State::new()).expect("a first sync message").encode();
    let document_id = repo_document_id(&id.parse().unwrap());
    let request = Message::Request { sender_id: "hostile".into(), target_id: "sync-server-edgesync".into(), document_id, data: first };
    socket.send(Frame::Binary(request.encode().into())).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("an answer") {
            Some(Ok(Frame::Binary(bytes))) => match Message::decode(&bytes).expect("a message") {
                Message::Sync { .. } => break,
                other => panic!("the 1,001st document is not synced: {other:?}"),
            },
            Some(Ok(Frame::Close(frame))) => panic!("closed: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("the connection ended: {other:?}"),
        }
    }
}
