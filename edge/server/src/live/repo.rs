//! `GET /v1/automerge-repo`: automerge-repo's WebSocket protocol (docs/protocol.md §12), so
//! unchanged `@automerge/automerge-repo` clients sync through edgesync with its tokens and roles.
//!
//! The protocol state is sync-core's sans-IO [`Session`]; each document's sync goes through
//! [`edge_app::service::repo`] (the store, its defences, the answer) with one
//! `automerge::sync::State` per document of this connection, which lives exactly as long as the
//! connection (a client that reconnects starts afresh, as automerge-repo expects). Pushes to
//! the other connections come from the live hub: a commit anywhere moves the document's heads,
//! and each automerge-repo subscriber generates its own message from the stored document.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State, ws::rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use edge_app::ApiError;
use edge_app::live::{self, CLOSE_TOKEN_EXPIRED, DocHeads, MAX_PRESENCE_BYTES, MAX_SUBSCRIPTIONS, Opener};
use edge_app::service::repo::{self as service, Answer, DocSync};
use sync_core::DocumentId;
use sync_core::automerge_repo::{Event, Message, Session, SessionLimits};

use super::hub::{self, Queued, Refused};
use super::{GOING_AWAY, Live, TOO_SLOW};

/// The server's peer id (automerge-repo's own servers call themselves `sync-server…`).
pub const SERVER_PEER_ID: &str = "sync-server-edgesync";
/// Messages one connection has processed per second at most; more wait (the connection is
/// read one message at a time, so a client cannot make the server work faster than this).
pub const MESSAGES_PER_SECOND: u32 = 200;
/// Close code for a message that broke the protocol or was refused.
const POLICY: u16 = 1008;
/// Close code when the server could not answer (the database, a damaged document).
const SERVER_ERROR: u16 = 1011;

#[derive(serde::Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// `GET /v1/automerge-repo[?token=…]`.
pub(super) async fn upgrade(
    State(live): State<Live>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    open(live, query, headers, ws).await.unwrap_or_else(IntoResponse::into_response)
}

async fn open(live: Live, query: TokenQuery, headers: HeaderMap, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<Response, ApiError> {
    let opener = live::authenticate_with_query(&live.state, &headers, query.token.as_deref()).await?;
    let admitted = match live.hub.admit(opener.principal.subject.as_str(), true) {
        Ok(admitted) => admitted,
        Err(Refused::ServerFull) => return Err(ApiError::Unavailable { cause: "live connections at their limit".into(), retry_after_secs: 5 }),
        Err(Refused::UserFull) => return Err(ApiError::RateLimited { retry_after_secs: 5 }),
    };
    let ws = ws.map_err(|e| ApiError::Invalid(format!("automerge-repo's protocol runs over a WebSocket: {e}")))?;
    let ws = if opener.via_protocol { ws.protocols([live::PROTOCOL]) } else { ws };
    // A frame carries at most one sync message, bounded like an HTTP sync body.
    let max = live.state.config.sync_limits.max_message_bytes;
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| connection(live, socket, opener, admitted)))
}

/// One connection's documents: their sync states, and which the user may read (relays go
/// only to and from those).
#[derive(Default)]
struct Docs {
    states: HashMap<DocumentId, DocSync>,
    readable: HashSet<DocumentId>,
    repo_ids: HashMap<DocumentId, String>,
}

enum Step {
    Continue,
    Close(u16, String),
}

async fn connection(live: Live, mut socket: WebSocket, opener: Opener, mut admitted: hub::Admitted) {
    let user = opener.principal.subject.as_str().to_owned();
    let (conn, access_changed) = (admitted.conn.id, admitted.conn.recheck.clone());
    let queue = &mut admitted.conn.queue;
    let limits = SessionLimits { max_documents: MAX_SUBSCRIPTIONS, max_ephemeral_bytes: MAX_PRESENCE_BYTES };
    let mut session = Session::new(SERVER_PEER_ID, limits);
    let mut docs = Docs::default();
    let closing = live.hub.closing();
    tokio::pin!(closing);
    let mut recheck = tokio::time::interval(live.recheck);
    recheck.tick().await;
    let now = live.state.now().0;
    let left = opener.expires_at.map_or(Duration::MAX, |exp| Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now).max(0) as u64));
    let expiry = tokio::time::sleep(left.min(Duration::from_secs(365 * 24 * 3600)));
    tokio::pin!(expiry);
    let mut pace = Pace::default();
    let close = loop {
        let step = tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Frame::Binary(bytes))) => {
                    pace.wait().await;
                    received(&live, conn, &user, &mut session, &mut docs, &mut socket, &bytes).await
                }
                Some(Ok(Frame::Text(_))) => Step::Close(POLICY, "automerge-repo messages are binary CBOR frames".into()),
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => Step::Continue,
            },
            queued = queue.recv() => match queued {
                Some(Queued::Changed(doc)) => match live.hub.take_changed(conn, &doc) {
                    // Answered at these heads already (its own commit, say): the answer would
                    // be nothing, and a later commit announces itself again.
                    Some(heads) if doc.parse().ok().and_then(|d| docs.states.get(&d)).is_some_and(|s| s.answered_at(&heads)) => Step::Continue,
                    _ => changed(&live, &user, &session, &mut docs, &mut socket, &doc).await,
                },
                Some(Queued::Ephemeral(message)) => relayed(&session, &docs, &mut socket, &message).await,
                Some(Queued::Text(_)) => Step::Continue,
                None => Step::Close(TOO_SLOW, "too slow to keep up: reconnect".into()),
            },
            _ = async { tokio::select! { _ = recheck.tick() => {}, () = access_changed.notified() => {} } } => {
                // A role may have changed too: every document's next message reads it again.
                docs.states.values_mut().for_each(DocSync::recheck);
                let readable: Vec<String> = docs.readable.iter().map(DocumentId::to_string).collect();
                if let Ok((_, gone)) = live::authorize(&live.state, &user, &readable).await {
                    for id in gone.iter().filter_map(|g| g.parse::<DocumentId>().ok()) {
                        docs.readable.remove(&id);
                        docs.states.remove(&id);
                    }
                }
                Step::Continue
            },
            () = &mut expiry => Step::Close(CLOSE_TOKEN_EXPIRED, "token expired: reconnect with a fresh one".into()),
            () = &mut closing => Step::Close(GOING_AWAY, "the server is shutting down: reconnect".into()),
        };
        match step {
            Step::Continue => {}
            Step::Close(code, reason) => break Some((code, reason)),
        }
    };
    drop(admitted);
    if let Some((code, reason)) = close {
        let _ = socket.send(Frame::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// One frame from the client.
async fn received(live: &Live, conn: u64, user: &str, session: &mut Session, docs: &mut Docs, socket: &mut WebSocket, bytes: &[u8]) -> Step {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(e) => return refuse(session, socket, POLICY, format!("not an automerge-repo message: {e}")).await,
    };
    if matches!(message, Message::Join { .. }) {
        // A fresh start: automerge-repo resyncs everything after a join.
        live.hub.unsubscribe(conn, &docs.repo_ids.keys().map(DocumentId::to_string).collect::<Vec<_>>());
        *docs = Docs::default();
    }
    match session.receive(message) {
        Event::Reply(reply) => send(socket, &reply).await,
        Event::Close(reply) => {
            let _ = send(socket, &reply).await;
            Step::Close(POLICY, "protocol error".into())
        }
        Event::Sync { document, repo_id, data, request, evicted } => {
            if let Some(gone) = evicted {
                // Its place went to this one: no more pushes until the client syncs it again.
                docs.states.remove(&gone);
                docs.readable.remove(&gone);
                docs.repo_ids.remove(&gone);
                live.hub.unsubscribe(conn, &[gone.to_string()]);
            }
            if docs.repo_ids.insert(document, repo_id.clone()).is_none() {
                // Subscribed even while unavailable: the document may appear, or be shared.
                live.hub.subscribe(conn, &[DocHeads { doc: document.to_string(), heads: Vec::new() }]);
            }
            let state = docs.states.entry(document).or_default();
            let answer = service::receive(&live.state, user, document, state, &data, request).await;
            answered(session, docs, socket, document, &repo_id, answer).await
        }
        Event::Relay { document, message } => {
            if docs.readable.contains(&document) {
                live.hub.relay(conn, &document.to_string(), message);
            }
            Step::Continue
        }
        Event::Ignore => Step::Continue,
    }
}

/// Another connection (or node) moved `doc`'s heads: send this client what it lacks.
async fn changed(live: &Live, user: &str, session: &Session, docs: &mut Docs, socket: &mut WebSocket, doc: &str) -> Step {
    let Ok(document) = doc.parse::<DocumentId>() else { return Step::Continue };
    let Some(repo_id) = docs.repo_ids.get(&document).cloned() else { return Step::Continue };
    let state_of = docs.states.entry(document).or_default();
    // Read with the other connections the same commit woke (one statement for all).
    let store = &live.state.store;
    let membership = live.push_reads.read(doc, user, |users| async move { Ok(store.roles_of_users_and_tip(doc, &users).await?) }).await;
    let answer = match membership {
        Ok(membership) => service::announce_read(&live.state, document, membership, state_of).await,
        Err(e) => Err(e),
    };
    answered(session, docs, socket, document, &repo_id, answer).await
}

async fn answered(session: &Session, docs: &mut Docs, socket: &mut WebSocket, document: DocumentId, repo_id: &str, answer: Result<Answer, ApiError>) -> Step {
    match answer {
        Ok(Answer::Reply(reply)) => {
            docs.readable.insert(document);
            match reply {
                Some(data) => send(socket, &session.sync(repo_id, data)).await,
                None => Step::Continue,
            }
        }
        Ok(Answer::AsMissing(reply)) => {
            docs.readable.remove(&document);
            match reply {
                Some(data) => send(socket, &session.sync(repo_id, data)).await,
                None => Step::Continue,
            }
        }
        Ok(Answer::Unavailable) => {
            docs.readable.remove(&document);
            send(socket, &session.unavailable(repo_id)).await
        }
        Ok(Answer::Refused(reason)) => refuse(session, socket, POLICY, reason).await,
        Err(e) => {
            tracing::warn!(doc = %document, error = %e, "automerge-repo sync failed");
            refuse(session, socket, SERVER_ERROR, "the server could not answer: reconnect later".into()).await
        }
    }
}

/// Relays another client's ephemeral message, addressed to this one.
async fn relayed(session: &Session, docs: &Docs, socket: &mut WebSocket, message: &Message) -> Step {
    let Message::Ephemeral { document_id, .. } = message else { return Step::Continue };
    let readable = sync_core::automerge_repo::from_repo_document_id(document_id).is_ok_and(|d| docs.readable.contains(&d));
    match session.readdressed(message) {
        Some(message) if readable => send(socket, &message).await,
        _ => Step::Continue,
    }
}

async fn send(socket: &mut WebSocket, message: &Message) -> Step {
    match socket.send(Frame::Binary(message.encode().into())).await {
        Ok(()) => Step::Continue,
        Err(_) => Step::Close(GOING_AWAY, String::new()),
    }
}

/// Tells the client why (automerge-repo's `error`), then closes.
async fn refuse(session: &Session, socket: &mut WebSocket, code: u16, reason: String) -> Step {
    let error = Message::Error { sender_id: Some(SERVER_PEER_ID.to_owned()), message: reason.clone(), target_id: session.client().map(str::to_owned) };
    let _ = send(socket, &error).await;
    // A close frame's reason is at most 123 bytes.
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Step::Close(code, reason[..end].to_owned())
}

/// At most [`MESSAGES_PER_SECOND`] messages per one-second window; the next one waits for
/// the window to end.
#[derive(Default)]
struct Pace {
    window: Option<tokio::time::Instant>,
    count: u32,
}

impl Pace {
    async fn wait(&mut self) {
        let now = tokio::time::Instant::now();
        let start = *self.window.get_or_insert(now);
        if now.duration_since(start) >= Duration::from_secs(1) {
            self.window = Some(now);
            self.count = 0;
        } else if self.count >= MESSAGES_PER_SECOND {
            tokio::time::sleep_until(start + Duration::from_secs(1)).await;
            self.window = Some(tokio::time::Instant::now());
            self.count = 0;
        }
        self.count += 1;
    }
}
