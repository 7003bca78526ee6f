//! The live channel (docs/protocol.md §11) on tokio: one WebSocket to `/v1/live`, subscribed
//! to every document the server knows, and a sync whenever the server announces heads this
//! client has not acknowledged. Idle, it sends no request at all.
//!
//! A server without the channel (Workers and Spin answer the upgrade `404`) ends this loop
//! with [`Ended::Unsupported`], and the caller keeps waiting syncs instead. Any other failure
//! — no network, a close, a refused token — is retried with backoff; after every (re)connect
//! the `subscribed` heads say which documents changed meanwhile.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sync_core::{DocumentId, Heads};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

use std::sync::atomic::Ordering;

use super::NativeEngine;
use super::presence::{Presence, PresenceLink};
use super::background::BackgroundSync;
use crate::backoff::random_jitter;
use crate::events::Subscription;
use crate::ports::TokenProvider;

/// Documents one connection may subscribe to (the server's limit).
const MAX_SUBSCRIPTIONS: usize = 1000;

/// Why the loop stopped.
pub(super) enum Ended {
    /// The server has no live channel: fall back to waiting syncs.
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

/// Runs until the engine is gone, or returns at once when the server has no live channel.
pub(super) async fn run(engine: &NativeEngine, settings: &BackgroundSync, presence: &mut PresenceLink) -> Ended {
    let mut events = engine.subscribe();
    let mut failures: u32 = 0;
    let mut refresh = false;
    loop {
        let ended = session(engine, &mut events, presence, refresh).await;
        presence.connected.store(false, Ordering::SeqCst);
        match ended {
            Session::Unsupported => return Ended::Unsupported,
            Session::Gone => return Ended::Gone,
            Session::Unauthorized => (refresh, failures) = (true, failures + 1),
            Session::Dropped(was_open) => (refresh, failures) = (false, if was_open { 1 } else { failures + 1 }),
        }
        tokio::time::sleep(settings.backoff.delay(failures, None, random_jitter())).await;
    }
}

/// One connection, from the handshake to its end.
async fn session(engine: &NativeEngine, events: &mut Subscription, presence: &mut PresenceLink, refresh: bool) -> Session {
    let Ok(token) = engine.tokens().token(refresh).await else { return Session::Dropped(false) };
    let url = format!("{}/v1/live", engine.transport().base_url().replacen("http", "ws", 1));
    let Ok(mut request) = url.as_str().into_client_request() else { return Session::Unsupported };
    let Ok(bearer) = format!("Bearer {token}").parse() else { return Session::Unauthorized };
    request.headers_mut().insert("authorization", bearer);
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(response)) => {
            return match response.status().as_u16() {
                404 => Session::Unsupported,
                401 => Session::Unauthorized,
                _ => Session::Dropped(false),
            };
        }
        Err(_) => return Session::Dropped(false),
    };
    let mut subscribed: HashSet<DocumentId> = HashSet::new();
    presence.connected.store(true, Ordering::SeqCst);
    loop {
        // Documents the server learned of (created, or shared with us) since the last look.
        // (At most MAX_SUBSCRIPTIONS per connection: documents past it are pulled by the
        // interval syncs.)
        let room = MAX_SUBSCRIPTIONS.saturating_sub(subscribed.len());
        let new: Vec<DocumentId> = engine.live_documents().into_iter().filter(|d| !subscribed.contains(d)).take(room).collect();
        if !new.is_empty() {
            let ids: Vec<String> = new.iter().map(|d| d.to_string()).collect();
            let message = serde_json::json!({"type": "subscribe", "docs": ids}).to_string();
            if socket.send(Message::Text(message.into())).await.is_err() {
                return Session::Dropped(true);
            }
            subscribed.extend(new);
        }
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    relay_presence(presence, text.as_str());
                    if announces_news(engine, text.as_str()) {
                        // Several announcements in a row share one sync.
                        let _ = engine.sync_now().await;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Session::Dropped(true),
                Some(Ok(_)) => {}
            },
            outgoing = presence.outgoing.recv() => if let Some((doc, data)) = outgoing
                && subscribed.contains(&doc)
            {
                let message = serde_json::json!({"type": "presence", "doc": doc.to_string(), "data": data}).to_string();
                if socket.send(Message::Text(message.into())).await.is_err() {
                    return Session::Dropped(true);
                }
            },
            // Any event (a sync run that registered documents, a document added) is a reason
            // to look for new documents on the next turn.
            event = events.next() => if event.is_none() { return Session::Gone },
            // Documents may be registered without an event reaching here first.
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Hands another client's presence message to the app.
fn relay_presence(presence: &PresenceLink, text: &str) {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else { return };
    if message["type"] != "presence" {
        return;
    }
    let (Some(doc), Some(from)) = (message["doc"].as_str().and_then(|d| d.parse().ok()), message["from"].as_str()) else { return };
    let _ = presence.incoming.send(Presence { doc_id: doc, from: from.to_owned(), data: message["data"].clone() });
}

/// Whether a server message names heads of a document that this client lacks.
fn announces_news(engine: &NativeEngine, text: &str) -> bool {
    let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else { return false };
    let heads_of = |entry: &serde_json::Value| -> Option<(DocumentId, Heads)> {
        let id = entry["doc"].as_str()?.parse().ok()?;
        let list: Vec<&str> = entry["heads"].as_array()?.iter().filter_map(|h| h.as_str()).collect();
        Some((id, Heads::parse_list(&list.join(","), usize::MAX).ok()?))
    };
    let entries: Vec<&serde_json::Value> = match message["type"].as_str() {
        Some("changed") => vec![&message],
        Some("subscribed") => message["docs"].as_array().map(|d| d.iter().collect()).unwrap_or_default(),
        _ => return false,
    };
    entries.into_iter().filter_map(heads_of).any(|(id, heads)| engine.is_news(id, &heads))
}
