//! The live channel on the native server (docs/protocol.md §11), speaking the JSON messages of
//! [`edge_app::live`]: `GET /v1/live`, one WebSocket subscribed to many documents, and
//! `GET /v1/docs/{id}/live`, one socket subscribed to one document from the moment it opens
//! (the shape Workers serve too); and `GET /v1/automerge-repo`, automerge-repo's own protocol
//! ([`repo`]), fed by the same hub.
//!
//! The token is verified exactly like the HTTP API's (`edge_app::live::authenticate`). The
//! socket is closed when the token expires (code 4001: reconnect with a fresh one), and each
//! connection's memberships are checked again every [`RECHECK_SECS`].

mod hub;
mod push_reads;
pub mod repo;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State, ws::rejection::WebSocketUpgradeRejection};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use edge_app::live::{
    self, Budget, CLOSE_ACCESS_LOST, CLOSE_TOKEN_EXPIRED, ClientMessage, DocHeads, MAX_CLIENT_FRAME_BYTES, MAX_SUBSCRIPTIONS, Opener, PROTOCOL, RECHECK_SECS,
    ServerMessage,
};
use edge_app::{ApiError, AppState};

pub use hub::{LiveHub, MAX_CONNECTIONS_PER_USER, Queued, Refused, spawn_watcher};

/// Close code for a connection that could not keep up with its messages.
const TOO_SLOW: u16 = 1008;
/// The read buffer of a live socket (tungstenite allocates it when the socket opens).
const READ_BUFFER_BYTES: usize = 1024;
/// Close code when the server shuts down.
const GOING_AWAY: u16 = 1001;

#[derive(Clone)]
pub struct Live {
    pub state: AppState,
    pub hub: Arc<LiveHub>,
    /// How often each connection's memberships are checked again.
    pub recheck: Duration,
    /// The automerge-repo connections' membership reads before a push, shared per commit.
    pub push_reads: Arc<push_reads::PushReads>,
}

impl Live {
    pub fn new(state: AppState, hub: Arc<LiveHub>) -> Self {
        Self { state, hub, recheck: Duration::from_secs(RECHECK_SECS), push_reads: Arc::default() }
    }
}

/// `GET /v1/live`.
async fn upgrade(State(live): State<Live>, headers: HeaderMap, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    open(live, headers, ws, None).await.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /v1/docs/{id}/live`: refused with 404 before the upgrade when the caller may not read
/// the document, exactly as when it does not exist.
async fn upgrade_document(
    State(live): State<Live>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    open(live, headers, ws, Some(id)).await.unwrap_or_else(IntoResponse::into_response)
}

async fn open(live: Live, headers: HeaderMap, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>, doc: Option<String>) -> Result<Response, ApiError> {
    let opener = live::authenticate(&live.state, &headers).await?;
    let only = match doc {
        Some(id) => Some(DocHeads { heads: live::open_document(&live.state, opener.principal.subject.as_str(), &id).await?, doc: id }),
        None => None,
    };
    let admitted = match live.hub.admit(opener.principal.subject.as_str(), false) {
        Ok(admitted) => admitted,
        Err(Refused::ServerFull) => return Err(ApiError::Unavailable { cause: "live connections at their limit".into(), retry_after_secs: 5 }),
        Err(Refused::UserFull) => return Err(ApiError::RateLimited { retry_after_secs: 5 }),
    };
    let ws = ws.map_err(|e| ApiError::Invalid(format!("the live channel is a WebSocket: {e}")))?;
    let ws = if opener.via_protocol { ws.protocols([PROTOCOL]) } else { ws };
    // Small buffers: an idle subscriber should cost little (docs/benchmarks.md). Client frames
    // are rare and small (at most 8 KiB), so reading them in 1 KiB steps costs nothing that
    // matters, while each idle socket keeps its read buffer for as long as it lives.
    Ok(ws
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| connection(live, socket, opener, only, admitted)))
}

/// One connection, until it closes. `only`: the document of a per-document socket.
async fn connection(live: Live, mut socket: WebSocket, opener: Opener, only: Option<DocHeads>, mut admitted: hub::Admitted) {
    let user = opener.principal.subject.as_str().to_owned();
    let (conn, access_changed) = (admitted.conn.id, admitted.conn.recheck.clone());
    let queue = &mut admitted.conn.queue;
    let closing = live.hub.closing();
    tokio::pin!(closing);
    let mut recheck = tokio::time::interval(live.recheck);
    recheck.tick().await;
    let only = match only {
        Some(doc) => {
            live.hub.subscribe(conn, std::slice::from_ref(&doc));
            let greeting = ServerMessage::Subscribed { docs: vec![doc.clone()], unavailable: vec![] }.to_json();
            if socket.send(Message::Text(greeting.into())).await.is_err() {
                return;
            }
            Some(doc.doc)
        }
        None => None,
    };
    let now = live.state.now().0;
    let left = opener.expires_at.map_or(Duration::MAX, |exp| Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now).max(0) as u64));
    let expiry = tokio::time::sleep(left.min(Duration::from_secs(365 * 24 * 3600)));
    tokio::pin!(expiry);
    let mut budget = Budget::default();
    let close = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let reply = handle(&live, conn, &user, only.as_deref(), &mut budget, text.as_str()).await;
                    if let Some(reply) = reply
                        && socket.send(Message::Text(reply.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = ServerMessage::error("invalid-message", "messages are JSON text frames");
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => {}
            },
            queued = queue.recv() => match queued {
                Some(Queued::Text(text)) => if socket.send(Message::Text(text.into())).await.is_err() { break None },
                // Only automerge-repo connections are sent these.
                Some(Queued::Changed(_) | Queued::Ephemeral(_)) => {}
                None => break Some((TOO_SLOW, "too slow to keep up: reconnect and subscribe again")),
            },
            _ = async { tokio::select! { _ = recheck.tick() => {}, () = access_changed.notified() => {} } } => {
                let subscribed = live.hub.subscriptions(conn);
                if let Ok((_, gone)) = live::authorize(&live.state, &user, &subscribed).await
                    && !gone.is_empty() {
                    live.hub.unsubscribe(conn, &gone);
                    if socket.send(Message::Text(ServerMessage::Unavailable { docs: gone }.to_json().into())).await.is_err() {
                        break None;
                    }
                    if only.is_some() {
                        break Some((CLOSE_ACCESS_LOST, "access to the document ended"));
                    }
                }
            },
            () = &mut expiry => break Some((CLOSE_TOKEN_EXPIRED, "token expired: reconnect with a fresh one")),
            () = &mut closing => break Some((GOING_AWAY, "the server is shutting down: reconnect")),
        }
    };
    drop(admitted);
    if let Some((code, reason)) = close {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// One client message; the reply to send back, if any.
async fn handle(live: &Live, conn: u64, user: &str, only: Option<&str>, budget: &mut Budget, frame: &str) -> Option<String> {
    let now = live.state.now().0;
    let message = match only {
        // A per-document socket takes presence for its document, nothing else.
        Some(doc) => live::document_frame(doc, frame).map(|data| ClientMessage::Presence { doc: doc.to_owned(), data }),
        None => live::parse(frame),
    };
    if let Err(e) = budget.admit(now, matches!(message, Ok(ClientMessage::Presence { .. }))) {
        return Some(e);
    }
    match message {
        Err(reply) => Some(reply),
        Ok(ClientMessage::Subscribe { docs }) => {
            let already = live.hub.subscriptions(conn);
            let new: Vec<String> = docs.into_iter().filter(|d| !already.contains(d)).collect();
            if already.len() + new.len() > MAX_SUBSCRIPTIONS {
                return Some(ServerMessage::error("too-many-documents", format!("at most {MAX_SUBSCRIPTIONS} documents per connection")));
            }
            match live::authorize(&live.state, user, &new).await {
                Ok((granted, unavailable)) => {
                    live.hub.subscribe(conn, &granted);
                    Some(ServerMessage::Subscribed { docs: granted, unavailable }.to_json())
                }
                Err(e) => Some(ServerMessage::error("unavailable", e.to_string())),
            }
        }
        Ok(ClientMessage::Unsubscribe { docs }) => {
            live.hub.unsubscribe(conn, &docs);
            None
        }
        Ok(ClientMessage::Presence { doc, data }) => {
            if !live.hub.is_subscribed(conn, &doc) {
                return Some(ServerMessage::error("not-subscribed", format!("subscribe to {doc} before sending presence")));
            }
            live.hub.presence(conn, &doc, user, &data);
            None
        }
    }
}

/// The live channel's routes, served next to the API (see `serve::run`), behind the API's
/// CORS layer: browsers probe them with a preflighted `fetch` before opening a socket.
pub fn routes(live: Live) -> axum::Router {
    let cors = edge_app::http::cors::layer(&live.state.config.cors_origins);
    let routes = axum::Router::new()
        .route("/v1/live", axum::routing::get(upgrade))
        .route("/v1/docs/{id}/live", axum::routing::get(upgrade_document))
        .route("/v1/automerge-repo", axum::routing::get(repo::upgrade))
        .with_state(live);
    match cors {
        Some(cors) => routes.layer(cors),
        None => routes,
    }
}
