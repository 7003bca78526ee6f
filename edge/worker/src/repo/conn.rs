//! One automerge-repo connection's protocol state on Workers, and how its answers go out
//! (the same steps as the native server's `edge/server/src/live/repo.rs`).

use std::collections::{HashMap, HashSet};

use edge_app::ApiError;
use edge_app::service::repo::{Answer, DocSync};
use sync_core::DocumentId;
use sync_core::automerge_repo::{Message, Session};
use worker::WebSocket;

use super::{POLICY, SERVER_ERROR, SERVER_PEER_ID};

/// One connection's protocol state.
pub(super) struct Conn {
    pub session: Session,
    pub states: HashMap<DocumentId, DocSync>,
    pub readable: HashSet<DocumentId>,
    pub repo_ids: HashMap<DocumentId, String>,
    /// Messages in the current second: (second, count).
    pub pace: (i64, u32),
}

pub(super) enum Step {
    Continue,
    Close(u16, String),
}

pub(super) fn answered(ws: &WebSocket, conn: &mut Conn, document: DocumentId, repo_id: &str, answer: Result<Answer, ApiError>) -> Step {
    match answer {
        Ok(Answer::Reply(reply)) => {
            conn.readable.insert(document);
            reply.map_or(Step::Continue, |data| send(ws, &conn.session.sync(repo_id, data)))
        }
        Ok(Answer::AsMissing(reply)) => {
            conn.readable.remove(&document);
            reply.map_or(Step::Continue, |data| send(ws, &conn.session.sync(repo_id, data)))
        }
        Ok(Answer::Unavailable) => {
            conn.readable.remove(&document);
            send(ws, &conn.session.unavailable(repo_id))
        }
        Ok(Answer::Refused(reason)) => refuse(ws, &conn.session, POLICY, reason),
        Err(e) => {
            tracing::warn!(doc = %document, error = %e, "automerge-repo sync failed");
            refuse(ws, &conn.session, SERVER_ERROR, "the server could not answer: reconnect later".into())
        }
    }
}

/// Another connection's ephemeral message, readdressed to this one's client if it may read
/// the document.
pub(super) fn relayed(ws: &WebSocket, conn: &Conn, message: &Message) -> Step {
    let Message::Ephemeral { document_id, .. } = message else { return Step::Continue };
    let readable = sync_core::automerge_repo::from_repo_document_id(document_id).is_ok_and(|d| conn.readable.contains(&d));
    match conn.session.readdressed(message) {
        Some(message) if readable => send(ws, &message),
        _ => Step::Continue,
    }
}

pub(super) fn send(ws: &WebSocket, message: &Message) -> Step {
    match ws.send_with_bytes(message.encode()) {
        Ok(()) => Step::Continue,
        Err(_) => Step::Close(1001, String::new()),
    }
}

/// Tells the client why (automerge-repo's `error`), then closes.
pub(super) fn refuse(ws: &WebSocket, session: &Session, code: u16, reason: String) -> Step {
    let error = Message::Error { sender_id: Some(SERVER_PEER_ID.to_owned()), message: reason.clone(), target_id: session.client().map(str::to_owned) };
    let _ = send(ws, &error);
    // A close frame's reason is at most 123 bytes.
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Step::Close(code, reason[..end].to_owned())
}
