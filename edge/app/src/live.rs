//! The live channel's contract (docs/protocol.md §11), shared by every transport: the JSON
//! messages, their limits, and who may subscribe to what. A transport (the native server's
//! WebSocket) only moves these messages and tells subscribers when a document's heads move.
//!
//! The channel never carries changes from a client: edits go through sync, which checks the
//! role, so a viewer cannot write through it. It carries heads (the client then syncs) and
//! presence: small, never stored messages relayed to the document's other subscribers, whose
//! sender is the token's subject, never a claim inside the message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiResult;
use crate::state::AppState;

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
    fn the_sender_of_presence_is_whoever_the_server_says() {
        let data = serde_json::json!({"from": "someone-else"});
        let json = ServerMessage::Presence { doc: ID, from: "alice", data: &data }.to_json();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!((value["type"].as_str(), value["from"].as_str()), (Some("presence"), Some("alice")));
        assert_eq!(value["data"]["from"], "someone-else", "the claim stays inside data, where it is only data");
    }
}
