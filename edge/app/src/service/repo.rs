//! automerge-repo's document sync (docs/protocol.md §12), for one document of one connection,
//! independent of the transport: the runtime keeps an `automerge::sync::State` per (connection,
//! document), passes each `request`/`sync` here, and sends what comes back.
//!
//! A received message is checked ([`decode_sync_message`]); its changes are pushed through
//! [`sync::sync`] as an ordinary sync of the user's, so roles, quotas, the heads limit, the
//! inflation budget and every other defence of the store apply, and what was acknowledged is
//! committed before the answer is generated. The answer comes from the stored document: the
//! changes are stripped from the message before automerge sees it (they are stored already,
//! or refused), then `generate_sync_message` runs on the connection's state.
//!
//! The store keeps no half-applied changes: a pushed change whose dependencies it lacks is not
//! stored (automerge would queue it). The client believes it sent it, so the answer asks for
//! the missing dependencies and tells the client to forget what it sent (automerge's
//! sync-reset), and the next message brings both.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sync_core::automerge::sync::{ChunkList, Message, State, SyncDoc};
use sync_core::automerge::{Automerge, ChangeHash};
use sync_core::automerge_repo::decode_sync_message;
use sync_core::{DocRequest, DocStatus, DocumentId, Heads, SyncRequest};

use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::model::dto::CreateDocument;
use crate::service::{documents, load, sync};
use crate::state::AppState;

/// What to tell the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send this automerge sync message (`None`: nothing to say now).
    Reply(Option<Vec<u8>>),
    /// The document does not exist or the user may not read it (the two look the same):
    /// answer `doc-unavailable`.
    Unavailable,
    /// The message or its changes were refused: send `error` with this reason and close.
    Refused(String),
}

/// Handles a client's sync message `data` for `doc` (`request`: the client has nothing).
/// A `sync` carrying changes for a document that does not exist creates it, owned by `user`.
pub async fn receive(state: &AppState, user: &str, doc: DocumentId, sync_state: &mut State, data: &[u8], request: bool) -> ApiResult<Answer> {
    let mut message = match decode_sync_message(data, &state.config.sync_limits) {
        Ok(message) => message,
        Err(e) => return Ok(Answer::Refused(e.to_string())),
    };
    let id = doc.to_string();
    let (role, stored_heads) = match state.store.roles_and_tips(user, std::slice::from_ref(&id)).await?.remove(&id) {
        Some((role, tip)) => (role, tip.heads),
        None if request || message.changes.is_empty() => {
            // Remember what the client has, so that the document's first push (once it exists
            // and the user may read it) carries its changes at once.
            let _ = Automerge::new().receive_sync_message(sync_state, message.clone());
            if request {
                return Ok(Answer::Unavailable);
            }
            // A creator's first `sync` announces its heads: ask for the changes.
            return Ok(Answer::Reply(Automerge::new().generate_sync_message(sync_state).map(Message::encode)));
        }
        None => match create(state, user, doc).await? {
            Some(()) => (Role::Owner, String::new()),
            None => return Ok(Answer::Unavailable),
        },
    };
    sync_state.set_read_only(!role.can_write());
    let changes = std::mem::replace(&mut message.changes, ChunkList::empty());
    let mut missing = Vec::new();
    if role.can_write() && !changes.is_empty() {
        let have = Heads::parse_list(&stored_heads, usize::MAX).map_err(|e| ApiError::Internal(format!("stored heads of {id}: {e}")))?;
        let chunks = changes.iter().map(<[u8]>::to_vec).collect();
        let request = SyncRequest { docs: vec![DocRequest { doc_id: doc, have, heads: Heads::new(message.heads.clone()), chunks }] };
        let (mut response, _) = sync::sync(state, user, &request).await?;
        let Some(pushed) = response.docs.pop() else { return Err(ApiError::Internal("sync answered no document".into())) };
        match pushed.status {
            DocStatus::Ok => missing = pushed.missing.into_vec(),
            // Deleted, or the membership ended, since the roles were read.
            DocStatus::NotFound => return Ok(Answer::Unavailable),
            DocStatus::Forbidden => sync_state.set_read_only(true),
            DocStatus::InvalidChanges => return Ok(Answer::Refused("the changes are not valid automerge changes; nothing was stored".into())),
            DocStatus::TooLarge => {
                return Ok(Answer::Refused("the changes are over the document's limits (size, changes or heads); nothing was stored".into()));
            }
            DocStatus::Unavailable => return Err(ApiError::DocumentUnavailable(id)),
        }
    }
    answer(state, &id, sync_state, Some(message), missing).await
}

/// The message to send a connection subscribed to `doc` after its heads moved (`None` inside
/// the reply when the connection already has everything, or may no longer read it).
pub async fn announce(state: &AppState, user: &str, doc: DocumentId, sync_state: &mut State) -> ApiResult<Answer> {
    let id = doc.to_string();
    let Some((role, _)) = state.store.roles_and_tips(user, std::slice::from_ref(&id)).await?.remove(&id) else {
        return Ok(Answer::Reply(None));
    };
    sync_state.set_read_only(!role.can_write());
    answer(state, &id, sync_state, None, Vec::new()).await
}

/// Creates `doc` for `user`; `None` when the id is taken (by a document the user may not read:
/// answered like a missing one).
async fn create(state: &AppState, user: &str, doc: DocumentId) -> ApiResult<Option<()>> {
    match documents::create(state, user, None, &CreateDocument { id: Some(doc.to_string()), title: None }).await {
        Ok(_) => Ok(Some(())),
        Err(ApiError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies `message` (its changes stripped) to the connection's state on the stored document
/// and generates the answer. `missing`: dependencies of pushed changes the store lacked.
async fn answer(state: &AppState, id: &str, sync_state: &mut State, message: Option<Message>, missing: Vec<ChangeHash>) -> ApiResult<Answer> {
    let Some(stored) = state.store.load_states(&[id]).await?.remove(id) else { return Ok(Answer::Unavailable) };
    let mut st = std::mem::take(sync_state);
    let (st, outcome) = load::with_document(state, id, stored, move |mut doc, _| {
        // Only the message is hostile here (the document loaded): a panic it causes refuses
        // the message, and never marks the document damaged for its other members.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Some(message) = message {
                doc.receive_sync_message(&mut st, message).map_err(|e| e.to_string())?;
            }
            if !missing.is_empty() {
                st.needs_reset = true;
            }
            Ok::<_, String>(doc.generate_sync_message(&mut st).map(|mut reply| {
                // automerge encodes a sorted list of hashes.
                reply.need.extend(missing);
                reply.need.sort_unstable();
                reply.need.dedup();
                reply.encode()
            }))
        }));
        (st, outcome)
    })
    .await?;
    *sync_state = st;
    Ok(match outcome {
        Ok(Ok(reply)) => Answer::Reply(reply),
        Ok(Err(e)) => Answer::Refused(format!("automerge refused the sync message: {e}")),
        Err(_) => Answer::Refused("automerge could not answer this sync message".into()),
    })
}
