//! The live channel's contract (docs/protocol.md §11), shared by every transport: the JSON
//! messages, their limits, and who may subscribe to what. A transport (the native server's
//! WebSocket) only moves these messages and tells subscribers when a document's heads move.
//!
//! Two shapes share these messages: `GET /v1/live`, one socket subscribed to many documents
//! (the native server), and `GET /v1/docs/{id}/live`, one socket per document, subscribed
//! when it opens (every runtime with inbound WebSockets: native, and Workers, where each
//! document's sockets live in one Durable Object and hibernate while idle).
//!
//! The channel never carries changes from a client: edits go through sync, which checks the
//! role, so a viewer cannot write through it. It carries heads (the client then syncs) and
//! presence: small, never stored messages relayed to the document's other subscribers, whose
//! sender is the token's subject, never a claim inside the message.

use axum::http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{AuthError, Principal};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::Authentication;
use crate::state::AppState;

/// The subprotocol of this channel's messages.
pub const PROTOCOL: &str = "edgesync.live.v1";
/// Close code for an expired token: reconnect with a fresh one.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;
/// Close code of a per-document socket whose subscriber lost access (after `unavailable`).
pub const CLOSE_ACCESS_LOST: u16 = 4003;
/// Live connections one user may hold (per server on native, per document on Workers).
pub const MAX_CONNECTIONS_PER_USER: usize = 32;

/// Largest frame a client may send; a larger one closes the connection.
pub const MAX_CLIENT_FRAME_BYTES: usize = 8 * 1024;
/// Largest presence payload (its JSON text).
pub const MAX_PRESENCE_BYTES: usize = 1024;
/// Documents one connection may be subscribed to.
pub const MAX_SUBSCRIPTIONS: usize = 1000;
/// Presence messages one connection may send per second; more are refused.
pub const PRESENCE_PER_SECOND: u32 = 20;
/// Messages of any kind one connection may send per second (a `subscribe` costs a database
/// read); more are refused unread.
pub const MESSAGES_PER_SECOND: u32 = 50;
/// How often a connection's memberships are checked again (a member removed, a document
/// deleted: its subscription ends with `unavailable`).
pub const RECHECK_SECS: u64 = 30;

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe { docs: Vec<String> },
    Unsubscribe { docs: Vec<String> },
    Presence { doc: String, data: Value },
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The answer to `subscribe`: each granted document with its current heads, and the ids
    /// that are not (missing, or not the caller's: the two look the same).
    Subscribed { docs: Vec<DocHeads>, unavailable: Vec<String> },
    /// A document's heads moved: sync it to get the changes.
    Changed { doc: &'a str, heads: Vec<String> },
    /// Another subscriber's presence message.
    Presence { doc: &'a str, from: &'a str, data: &'a Value },
    /// Subscriptions that ended: access lost, or the document deleted.
    Unavailable { docs: Vec<String> },
    /// A message that was refused; the connection stays open.
    Error { code: &'static str, detail: String },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DocHeads {
    pub doc: String,
    pub heads: Vec<String>,
}

impl ServerMessage<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn error(code: &'static str, detail: impl Into<String>) -> String {
        ServerMessage::Error { code, detail: detail.into() }.to_json()
    }
}

/// A client frame, or the error message to answer it with.
pub fn parse(frame: &str) -> Result<ClientMessage, String> {
    let message: ClientMessage = serde_json::from_str(frame).map_err(|e| ServerMessage::error("invalid-message", e.to_string()))?;
    let ids = match &message {
        ClientMessage::Subscribe { docs } | ClientMessage::Unsubscribe { docs } => docs.as_slice(),
        ClientMessage::Presence { doc, data } => {
            if data.to_string().len() > MAX_PRESENCE_BYTES {
                return Err(ServerMessage::error("presence-too-large", format!("presence data is over {MAX_PRESENCE_BYTES} bytes")));
            }
            std::slice::from_ref(doc)
        }
    };
    if ids.len() > MAX_SUBSCRIPTIONS {
        return Err(ServerMessage::error("too-many-documents", format!("at most {MAX_SUBSCRIPTIONS} documents per connection")));
    }
    if let Some(bad) = ids.iter().find(|id| id.parse::<sync_core::DocumentId>().is_err()) {
        return Err(ServerMessage::error("invalid-message", format!("{bad:?} is not a document id (32 lowercase hex digits)")));
    }
    Ok(message)
}

/// Which of `ids` `user` may read, with their heads, and which not (one statement).
pub async fn authorize(state: &AppState, user: &str, ids: &[String]) -> ApiResult<(Vec<DocHeads>, Vec<String>)> {
    let tips = state.store.roles_and_tips(user, ids).await?;
    let (mut granted, mut refused) = (Vec::new(), Vec::new());
    for id in ids {
        match tips.get(id) {
            Some((_, tip)) => granted.push(DocHeads { doc: id.clone(), heads: split_heads(&tip.heads) }),
            None => refused.push(id.clone()),
        }
    }
    Ok((granted, refused))
}

/// Who opens a socket: the verified principal, the token's expiry (seconds), and whether the
/// token came as the `bearer.<token>` subprotocol (the answer must then name [`PROTOCOL`]).
pub struct Opener {
    pub principal: Principal,
    pub expires_at: Option<i64>,
    pub via_protocol: bool,
}

/// Verifies a socket's token exactly like the HTTP API's, from `Authorization` or — browsers
/// cannot set headers on a WebSocket — the subprotocol `bearer.<token>` offered next to
/// [`PROTOCOL`] (never logged).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Opener> {
    let (token, via_protocol) = bearer_token(headers).ok_or(ApiError::Unauthorized(AuthError::Missing))?;
    verify(state, token, via_protocol).await
}

/// [`authenticate`], or the token from the URL's `?token=` when there is one: for clients that
/// can set neither a header nor a subprotocol (automerge-repo's WebSocket adapters take only a
/// URL). The query string is never logged (request logs carry the path alone).
pub async fn authenticate_with_query(state: &AppState, headers: &HeaderMap, query_token: Option<&str>) -> ApiResult<Opener> {
    match query_token {
        Some(token) => verify(state, token, false).await,
        None => authenticate(state, headers).await,
    }
}

async fn verify(state: &AppState, token: &str, via_protocol: bool) -> ApiResult<Opener> {
    let mut auth = HeaderMap::new();
    auth.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ApiError::Unauthorized(AuthError::Malformed))?);
    let principal = match Authentication::of(&auth, state).await.0 {
        Ok(p) => p,
        Err(AuthError::KeysUnavailable) => return Err(ApiError::KeysUnavailable),
        Err(e) => return Err(ApiError::Unauthorized(e)),
    };
    Ok(Opener { principal, expires_at: crate::auth::verified_expiry(token), via_protocol })
}

/// The bearer token, from `Authorization` or the `bearer.` subprotocol (then `true`).
fn bearer_token(headers: &HeaderMap) -> Option<(&str, bool)> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| (rest.trim(), false));
    }
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok())?;
    let mut protocols = offered.split(',').map(str::trim);
    protocols.clone().any(|p| p == PROTOCOL).then_some(())?;
    protocols.find_map(|p| p.strip_prefix("bearer.")).map(|t| (t, true))
}

/// The heads of document `id` if `user` may read it; 404 otherwise, exactly as for a
/// document that does not exist (a per-document socket is refused before it opens).
pub async fn open_document(state: &AppState, user: &str, id: &str) -> ApiResult<Vec<String>> {
    if id.parse::<sync_core::DocumentId>().is_err() {
        return Err(ApiError::NotFound);
    }
    let (mut granted, _) = authorize(state, user, &[id.to_owned()]).await?;
    granted.pop().map(|d| d.heads).ok_or(ApiError::NotFound)
}

/// A frame on a per-document socket: the presence data to relay, or the error to answer.
/// Such a socket is subscribed to its document alone, from the moment it opens.
pub fn document_frame(doc: &str, frame: &str) -> Result<Value, String> {
    match parse(frame)? {
        ClientMessage::Presence { doc: to, data } if to == doc => Ok(data),
        ClientMessage::Presence { doc: to, .. } => Err(ServerMessage::error("not-subscribed", format!("this socket is subscribed to {doc} only, not {to}"))),
        ClientMessage::Subscribe { .. } | ClientMessage::Unsubscribe { .. } => {
            Err(ServerMessage::error("single-document", "a per-document socket cannot change its subscription: open /v1/live or another socket"))
        }
    }
}

/// A connection's message budget: at most [`MESSAGES_PER_SECOND`] messages, of which
/// [`PRESENCE_PER_SECOND`] presence, per one-second window of wall-clock time. Serializable:
/// on Workers it travels with the hibernating socket.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Budget {
    window: i64,
    messages: u32,
    presence: u32,
}

impl Budget {
    /// Counts a message at `now_ms`; the error to answer if it is over budget.
    pub fn admit(&mut self, now_ms: i64, presence: bool) -> Result<(), String> {
        let window = now_ms.div_euclid(1000);
        if window != self.window {
            *self = Budget { window, ..Budget::default() };
        }
        self.messages = self.messages.saturating_add(1);
        if self.messages > MESSAGES_PER_SECOND {
            return Err(ServerMessage::error("rate-limited", format!("at most {MESSAGES_PER_SECOND} messages per second")));
        }
        if presence {
            self.presence = self.presence.saturating_add(1);
            if self.presence > PRESENCE_PER_SECOND {
                return Err(ServerMessage::error("rate-limited", format!("at most {PRESENCE_PER_SECOND} presence messages per second")));
            }
        }
        Ok(())
    }
}

/// Stored heads (comma-separated hex) as a list.
pub fn split_heads(heads: &str) -> Vec<String> {
    heads.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn client_messages_are_checked_before_anything_reads_them() {
        assert!(matches!(parse(&format!(r#"{{"type":"subscribe","docs":["{ID}"]}}"#)), Ok(ClientMessage::Subscribe { docs }) if docs == [ID]));
        let presence = parse(&format!(r#"{{"type":"presence","doc":"{ID}","data":{{"cursor":3}}}}"#)).unwrap();
        assert!(matches!(presence, ClientMessage::Presence { data, .. } if data == serde_json::json!({"cursor": 3})));
        for (frame, code) in [
            ("not json".to_owned(), "invalid-message"),
            (r#"{"type":"changes","doc":"x"}"#.to_owned(), "invalid-message"),
            (r#"{"type":"subscribe","docs":["ABC"]}"#.to_owned(), "invalid-message"),
            (format!(r#"{{"type":"subscribe","docs":["{ID}"],"as":"admin"}}"#), "invalid-message"),
            (format!(r#"{{"type":"presence","doc":"{ID}","data":"{}"}}"#, "x".repeat(MAX_PRESENCE_BYTES)), "presence-too-large"),
            (format!(r#"{{"type":"subscribe","docs":[{}]}}"#, vec![format!("\"{ID}\""); MAX_SUBSCRIPTIONS + 1].join(",")), "too-many-documents"),
        ] {
            let err = parse(&frame).unwrap_err();
            assert!(err.contains(&format!(r#""code":"{code}""#)), "{frame:.80}: {err}");
        }
    }

    #[test]
    fn a_per_document_socket_relays_presence_for_its_document_only() {
        let other = "f".repeat(32);
        assert_eq!(document_frame(ID, &format!(r#"{{"type":"presence","doc":"{ID}","data":[1]}}"#)), Ok(serde_json::json!([1])));
        for (frame, code) in [
            (format!(r#"{{"type":"presence","doc":"{other}","data":1}}"#), "not-subscribed"),
            (format!(r#"{{"type":"subscribe","docs":["{other}"]}}"#), "single-document"),
            (format!(r#"{{"type":"unsubscribe","docs":["{ID}"]}}"#), "single-document"),
            (r#"{"type":"changes","doc":"x","bytes":"AAAA"}"#.to_owned(), "invalid-message"),
        ] {
            assert!(document_frame(ID, &frame).unwrap_err().contains(&format!(r#""code":"{code}""#)), "{frame}");
        }
    }

    #[test]
    fn the_budget_refuses_past_its_limits_and_refills_each_second() {
        let mut budget = Budget::default();
        let presence_ok = (0..PRESENCE_PER_SECOND + 5).filter(|_| budget.admit(10_000, true).is_ok()).count();
        assert_eq!(presence_ok as u32, PRESENCE_PER_SECOND);
        let others_ok = (0..MESSAGES_PER_SECOND).filter(|_| budget.admit(10_500, false).is_ok()).count() as u32;
        assert_eq!(others_ok, MESSAGES_PER_SECOND - PRESENCE_PER_SECOND - 5, "every message counts, refused ones too");
        assert!(budget.admit(11_000, true).is_ok(), "a new second, a new budget");
    }

    #[test]
    fn tokens_come_from_the_header_or_the_subprotocol_next_to_ours() {
        let mut h = HeaderMap::new();
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("bearer.abc, edgesync.live.v1"));
        assert_eq!(bearer_token(&h), Some(("abc", true)));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("bearer.abc, chat"));
        assert_eq!(bearer_token(&h), None, "only next to our protocol");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(bearer_token(&h), Some(("xyz", false)), "the header wins");
    }

    #[test]
    fn the_sender_of_presence_is_whoever_the_server_says() {
        let data = serde_json::json!({"from": "someone-else"});
        let json = ServerMessage::Presence { doc: ID, from: "alice", data: &data }.to_json();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!((value["type"].as_str(), value["from"].as_str()), (Some("presence"), Some("alice")));
        assert_eq!(value["data"]["from"], "someone-else", "the claim stays inside data, where it is only data");
    }
}
