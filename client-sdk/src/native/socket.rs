//! The live channel (docs/protocol.md §11) on tokio, and a sync whenever the server announces
//! heads this client has not acknowledged. Idle, it sends no request at all.
//!
//! First `/v1/live`: one WebSocket subscribed to every document the server knows (the native
//! server, Workers). Where that is `404` (a Worker without its channel binding), one socket
//! per document, `/v1/docs/{id}/live`, for
//! up to [`MAX_DOCUMENT_SOCKETS`] documents (the others are pulled by the interval syncs).
//! Where those are `404` too (Spin), this loop ends with [`Ended::Unsupported`] and the caller
//! keeps waiting syncs instead. Any other failure — no network, a close, a refused token — is
//! retried with backoff; after every (re)connect the `subscribed` heads say which documents
//! changed meanwhile.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, SelectAll, SplitSink};
use futures_util::{SinkExt, StreamExt};
use sync_core::DocumentId;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use super::NativeEngine;
use super::background::BackgroundSync;
use super::presence::{LiveMode, PresenceLink};
use crate::engine::Heard;
use crate::backoff::random_jitter;
use crate::events::Subscription;
use crate::ports::TokenProvider;

/// Documents one connection may subscribe to (the server's limit).
const MAX_SUBSCRIPTIONS: usize = 1000;
/// Per-document sockets one client keeps open at most.
pub const MAX_DOCUMENT_SOCKETS: usize = 32;
/// The close code of a per-document socket whose access ended: do not reopen it.
const ACCESS_LOST: u16 = 4003;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
/// A per-document socket's frames tagged with its document, then `None` when it ends.
type Frames = BoxStream<'static, (DocumentId, Option<Result<Message, tungstenite::Error>>)>;

/// Why the loop stopped.
pub(super) enum Ended {
    /// The server has no live sockets: fall back to waiting syncs.
    Unsupported,
    /// The engine is gone.
    Gone,
}

enum Session {
    Unsupported,
    Gone,
    /// The token was refused: ask the provider for a fresh one.
    Unauthorized,
    /// Connected and later lost (`true`), or never connected (`false`).
    Dropped(bool),
}

/// Runs until the engine is gone, or returns once the server turns out to have no sockets.
pub(super) async fn run(engine: &NativeEngine, settings: &BackgroundSync, presence: &mut PresenceLink) -> Ended {
    let mut events = engine.subscribe();
    let mut failures: u32 = 0;
    let mut refresh = false;
    let mut per_document = false;
    loop {
        let ended = if per_document {
            documents_session(engine, &mut events, presence, refresh).await
        } else {
            session(engine, &mut events, presence, refresh).await
        };
        presence.mode.set(LiveMode::Off);
        match ended {
            Session::Unsupported if !per_document => {
                per_document = true;
                continue;
            }
            Session::Unsupported => return Ended::Unsupported,
            Session::Gone => return Ended::Gone,
            Session::Unauthorized => (refresh, failures) = (true, failures + 1),
            Session::Dropped(was_open) => (refresh, failures) = (false, if was_open { 1 } else { failures + 1 }),
        }
        tokio::time::sleep(settings.backoff.delay(failures, None, random_jitter())).await;
    }
}

enum Opened {
    Open(Box<Socket>),
    NotFound,
    Unauthorized,
    Failed,
}

/// Opens the socket at `path` with `token`.
async fn open(engine: &NativeEngine, path: &str, token: &str) -> Opened {
    let url = format!("{}{path}", engine.transport().base_url().replacen("http", "ws", 1));
    let Ok(mut request) = url.as_str().into_client_request() else { return Opened::NotFound };
    let Ok(bearer) = format!("Bearer {token}").parse() else { return Opened::Unauthorized };
    request.headers_mut().insert("authorization", bearer);
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Opened::Open(Box::new(socket)),
        Err(tungstenite::Error::Http(response)) => match response.status().as_u16() {
            404 => Opened::NotFound,
            401 => Opened::Unauthorized,
            _ => Opened::Failed,
        },
        Err(_) => Opened::Failed,
    }
}

/// One `/v1/live` connection, from the handshake to its end.
async fn session(engine: &NativeEngine, events: &mut Subscription, presence: &mut PresenceLink, refresh: bool) -> Session {
    let Ok(token) = engine.tokens().token(refresh).await else { return Session::Dropped(false) };
    let mut socket = match open(engine, "/v1/live", &token).await {
        Opened::Open(socket) => *socket,
        Opened::NotFound => return Session::Unsupported,
        Opened::Unauthorized => return Session::Unauthorized,
        Opened::Failed => return Session::Dropped(false),
    };
    let mut subscribed: HashSet<DocumentId> = HashSet::new();
    presence.mode.set(LiveMode::Channel);
    loop {
        // Documents the server learned of (created, or shared with us) since the last look.
        // (At most MAX_SUBSCRIPTIONS per connection: documents past it are pulled by the
        // interval syncs.)
        let known: HashSet<DocumentId> = engine.live_documents().into_iter().collect();
        // Documents the server said are unavailable left the list: subscribed again once a
        // sync finds them.
        subscribed.retain(|d| known.contains(d));
        let room = MAX_SUBSCRIPTIONS.saturating_sub(subscribed.len());
        let new: Vec<DocumentId> = known.into_iter().filter(|d| !subscribed.contains(d)).take(room).collect();
        if !new.is_empty() {
            let ids: Vec<String> = new.iter().map(|d| d.to_string()).collect();
            let message = serde_json::json!({"type": "subscribe", "docs": ids}).to_string();
            if socket.send(Message::Text(message.into())).await.is_err() {
                return Session::Dropped(true);
            }
            subscribed.extend(new);
        }
        presence.mode.set_watching_all(engine.watches_all(|d| subscribed.contains(d)));
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => heard(engine, presence, text.as_str()).await,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Session::Dropped(true),
                Some(Ok(_)) => {}
            },
            outgoing = presence.outgoing.recv() => if let Some((doc, data)) = outgoing
                && subscribed.contains(&doc)
                && socket.send(presence_message(doc, data)).await.is_err()
            {
                return Session::Dropped(true);
            },
            // Any event (a sync run that registered documents, a document added) is a reason
            // to look for new documents on the next turn.
            event = events.next() => if event.is_none() { return Session::Gone },
            // Documents may be registered without an event reaching here first.
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Per-document sockets, until one of them drops (all are then reopened with backoff).
async fn documents_session(engine: &NativeEngine, events: &mut Subscription, presence: &mut PresenceLink, refresh: bool) -> Session {
    let Ok(token) = engine.tokens().token(refresh).await else { return Session::Dropped(false) };
    let mut sinks: HashMap<DocumentId, SplitSink<Socket, Message>> = HashMap::new();
    let mut frames: SelectAll<Frames> = SelectAll::new();
    // Documents whose socket was refused (404). While no socket opened, a 404 may just mean
    // the server has no such sockets (Spin): then the session ends as unsupported and nothing
    // is marked. Once one opened, a refused document (or one whose access ended, 4003) is
    // left to interval syncs until one of them finds it (Engine::mark_unreachable).
    let mut refused: Vec<DocumentId> = Vec::new();
    let mut opened = false;
    loop {
        let mut wanted: Vec<DocumentId> = engine.live_documents().into_iter().filter(|d| !sinks.contains_key(d)).collect();
        wanted.sort();
        for doc in wanted.into_iter().take(MAX_DOCUMENT_SOCKETS.saturating_sub(sinks.len())) {
            match open(engine, &format!("/v1/docs/{doc}/live"), &token).await {
                Opened::Open(socket) => {
                    let (sink, read) = (*socket).split();
                    sinks.insert(doc, sink);
                    frames.push(read.map(move |frame| (doc, Some(frame))).chain(stream::once(async move { (doc, None) })).boxed());
                    opened = true;
                    presence.mode.set(LiveMode::DocumentSockets);
                }
                Opened::NotFound => refused.push(doc),
                Opened::Unauthorized => return Session::Unauthorized,
                Opened::Failed => return Session::Dropped(opened),
            }
        }
        // Every document the server acknowledged answers 404: the server has no such sockets.
        if !opened && !refused.is_empty() {
            return Session::Unsupported;
        }
        for doc in refused.drain(..) {
            engine.mark_unreachable(doc);
        }
        presence.mode.set_watching_all(opened && engine.watches_all(|d| sinks.contains_key(d)));
        tokio::select! {
            frame = frames.next(), if !frames.is_empty() => match frame {
                Some((_, Some(Ok(Message::Text(text))))) => heard(engine, presence, text.as_str()).await,
                Some((doc, Some(Ok(Message::Close(Some(close)))))) if u16::from(close.code) == ACCESS_LOST => {
                    sinks.remove(&doc);
                    engine.mark_unreachable(doc);
                }
                Some((doc, None | Some(Err(_)) | Some(Ok(Message::Close(_))))) if sinks.contains_key(&doc) => return Session::Dropped(true),
                _ => {}
            },
            outgoing = presence.outgoing.recv() => if let Some((doc, data)) = outgoing
                && let Some(sink) = sinks.get_mut(&doc)
                && sink.send(presence_message(doc, data)).await.is_err()
            {
                return Session::Dropped(true);
            },
            event = events.next() => if event.is_none() { return Session::Gone },
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

fn presence_message(doc: DocumentId, data: serde_json::Value) -> Message {
    Message::Text(serde_json::json!({"type": "presence", "doc": doc.to_string(), "data": data}).to_string().into())
}

/// A server message: presence goes to the app; heads this client lacks start a sync.
async fn heard(engine: &NativeEngine, presence: &PresenceLink, text: &str) {
    match engine.hear(text) {
        // Several announcements in a row share one sync.
        Heard::News => drop(engine.sync_now().await),
        Heard::Presence(p) => drop(presence.incoming.send(p)),
        Heard::Nothing => {}
    }
}
