//! automerge-repo's document sync (docs/protocol.md §12), for one document of one connection,
//! independent of the transport: the runtime keeps an `automerge::sync::State` per (connection,
//! document), passes each `request`/`sync` here, and sends what comes back.
//!
//! A received message is checked ([`decode_sync_message`]); its changes are pushed through
//! [`sync::sync`] as an ordinary sync of the user's, so roles, quotas, the heads limit, the
//! inflation budget and every other defence of the store apply, and what was acknowledged is
//! committed before the answer is generated. The answer comes from the stored document: the
//! changes are stripped from the message before automerge sees it (they are stored already,
//! or refused), the message is applied to the connection's state without walking the
//! document's history ([`receive_kept_without_changes`]), then `generate_sync_message` runs. The
//! document is loaded once per stored heads and kept
//! ([`LoadedDocs`](crate::service::loaded::LoadedDocs)): the answer to the writer and the
//! pushes to every other connection share one load.
//!
//! The store keeps no half-applied changes: a pushed change whose dependencies it lacks is not
//! stored (automerge would queue it). The client believes it sent it, so the answer asks for
//! the missing dependencies and tells the client to forget what it sent (automerge's
//! sync-reset), and the next message brings both.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sync_core::automerge::sync::{ChunkList, Message, State, SyncDoc};
use sync_core::automerge::{Automerge, Change, ChangeHash};
use sync_core::automerge_repo::{decode_sync_message, generate_kept_sync_message, receive_kept_without_changes};
use sync_core::{DocRequest, DocStatus, DocumentId, Heads, SyncRequest};

use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::ports::compute::offload_if;
use crate::service::loaded::{self, Fresh, Shared, Stale};
use crate::service::sync::Creating;
use crate::service::{documents, load, sync};
use crate::state::AppState;
use crate::store::Tip;

/// Kept documents of at most this many stored bytes are answered on the calling task: every
/// step of an answer (the message's bloom filter against the document's changes, the changes
/// sent) is then bounded by a small document, and costs less than handing it to the compute
/// pool (two thread switches per message, most of the server's time per message in a profile).
/// Larger ones, and loads, go to the pool.
const INLINE_BYTES: u64 = 64 << 10;

/// What to tell the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send this automerge sync message (`None`: nothing to say now).
    Reply(Option<Vec<u8>>),
    /// Send this automerge sync message, as for a document that does not exist: the user may
    /// not read it (relay nothing to or from this connection for it).
    AsMissing(Option<Vec<u8>>),
    /// The document does not exist or the user may not read it (the two look the same):
    /// answer `doc-unavailable`.
    Unavailable,
    /// The message or its changes were refused: send `error` with this reason and close.
    Refused(String),
}

/// One connection's sync of one document: automerge's sync state, and the heads of the copy
/// the connection was last answered from, just after its membership was read.
#[derive(Default)]
pub struct DocSync {
    pub state: State,
    answered: Option<String>,
}

impl DocSync {
    /// The user's memberships may have changed (a role, or access): the next message reads
    /// the membership again.
    pub fn recheck(&mut self) {
        self.answered = None;
    }

    /// Whether the connection was last answered at exactly `heads` (comma-separated, as
    /// [`Heads`] prints them): then an announcement of those heads would send nothing.
    pub fn answered_at(&self, heads: &str) -> bool {
        self.answered.as_deref() == Some(heads)
    }
}

/// Handles a client's sync message `data` for `doc` (`request`: the client has nothing).
/// A `sync` carrying changes for a document that does not exist creates it, owned by `user`.
///
/// A message without changes (the acknowledgement a client sends for every message it
/// receives) from a connection last answered at heads still kept is answered from that copy
/// without reading the membership again: such an answer holds nothing the connection was not
/// already allowed to read when it was last answered, and anything committed since reaches it
/// only through [`announce`], which reads the membership.
pub async fn receive(state: &AppState, user: &str, doc: DocumentId, peer: &mut DocSync, data: &[u8], request: bool) -> ApiResult<Answer> {
    let mut message = match decode_sync_message(data, &state.config.sync_limits) {
        Ok(message) => message,
        Err(e) => return Ok(Answer::Refused(e.to_string())),
    };
    let id = doc.to_string();
    if !request
        && message.changes.is_empty()
        && let Some(heads) = peer.answered.clone()
        && let Some(kept) = state.loaded.get(&id, &heads)
    {
        match answer_from(state, &id, kept, &heads, true, peer, Some(Received { message, carried_changes: false }), Vec::new()).await? {
            Ok(answer) => return Ok(answer),
            // The copy moved on in between: read the membership as for any other message.
            Err(Some(unused)) => message = unused,
            Err(None) => return Err(ApiError::Internal("the sync message was lost".into())),
        }
    }
    // Answered from here on only after the membership read below.
    peer.answered = None;
    let mut tips = state.store.roles_and_tips(user, std::slice::from_ref(&id)).await?;
    let mut creating = None;
    let (role, mut stored_heads) = match tips.get(&id) {
        Some((role, tip)) => (*role, tip.heads.clone()),
        None if request || message.changes.is_empty() => {
            // Remember what the client has, so that the document's first push (once it exists
            // and the user may read it) carries its changes at once.
            let mut empty = Automerge::new();
            let _ = empty.receive_sync_message(&mut peer.state, message.clone());
            if request {
                return Ok(Answer::Unavailable);
            }
            // A creator's first `sync` announces its heads: ask for the changes.
            return Ok(Answer::AsMissing(empty.generate_sync_message(&mut peer.state).map(Message::encode)));
        }
        None => {
            // Created with its first changes, in their commit, its owner its only member.
            creating = Some(Creating { id: id.clone(), statements: documents::creation(state, user, &id, "", state.now()).await? });
            tips.insert(id.clone(), (Role::Owner, Tip { heads: String::new(), stored_bytes: 0 }));
            (Role::Owner, String::new())
        }
    };
    peer.state.set_read_only(!role.can_write());
    let changes = std::mem::replace(&mut message.changes, ChunkList::empty());
    let mut missing = Vec::new();
    if role.can_write() && !changes.is_empty() {
        let have = Heads::parse_list(&stored_heads, usize::MAX).map_err(|e| ApiError::Internal(format!("stored heads of {id}: {e}")))?;
        let chunks = changes.iter().map(<[u8]>::to_vec).collect();
        let mut request = SyncRequest { docs: vec![DocRequest { doc_id: doc, have, heads: Heads::new(message.heads.clone()), chunks }] };
        let creates = creating.is_some();
        let synced = sync::sync_with_tips(state, &request, std::slice::from_ref(&id), &tips, sync::Pull::HeadsOnly, creating).await;
        let (mut response, _, mut read) = match synced {
            // The id was taken meanwhile, by a document the user may not read.
            Err(ApiError::Conflict(_)) if creates => return Ok(Answer::Unavailable),
            synced => synced?,
        };
        let Some(pushed) = response.docs.pop() else { return Err(ApiError::Internal("sync answered no document".into())) };
        match pushed.status {
            DocStatus::Ok => {
                missing = pushed.missing.into_vec();
                let before = std::mem::replace(&mut stored_heads, pushed.heads.to_string());
                if before != stored_heads {
                    if missing.is_empty() {
                        let chunks = std::mem::take(&mut request.docs[0].chunks);
                        let changes = match read.pop() {
                            Some((read_id, read)) if read_id == id => Changes::Read(read),
                            _ => Changes::Chunks(chunks),
                        };
                        advance(state, &id, &before, &stored_heads, changes).await;
                    }
                    // Committed: the document's other connections answer from the copy just
                    // advanced.
                    state.wakeups.announce_moved(&id, &before, &stored_heads);
                }
            }
            // Deleted, or the membership ended, since the roles were read.
            DocStatus::NotFound => return Ok(Answer::Unavailable),
            DocStatus::Forbidden => peer.state.set_read_only(true),
            DocStatus::InvalidChanges => return Ok(Answer::Refused("the changes are not valid automerge changes; nothing was stored".into())),
            DocStatus::TooLarge => {
                return Ok(Answer::Refused("the changes are over the document's limits (size, changes or heads); nothing was stored".into()));
            }
            DocStatus::Unavailable => return Err(ApiError::DocumentUnavailable(id)),
        }
    }
    answer(state, &id, &stored_heads, peer, Some(Received { message, carried_changes: !changes.is_empty() }), missing).await
}

/// The message to send a connection subscribed to `doc` after its heads moved (`None` inside
/// the reply when the connection already has everything, or may no longer read it).
pub async fn announce(state: &AppState, user: &str, doc: DocumentId, peer: &mut DocSync) -> ApiResult<Answer> {
    let id = doc.to_string();
    let membership = state.store.roles_and_tips(user, std::slice::from_ref(&id)).await?.remove(&id);
    announce_read(state, doc, membership, peer).await
}

/// [`announce`] with the user's role and the document's tip already read, after the heads
/// moved (`None`: the user may not read it): a host answering several connections woken by one
/// commit reads their memberships together
/// ([`Store::roles_of_users_and_tip`](crate::store::Store::roles_of_users_and_tip)).
pub async fn announce_read(state: &AppState, doc: DocumentId, membership: Option<(Role, Tip)>, peer: &mut DocSync) -> ApiResult<Answer> {
    let id = doc.to_string();
    let Some((role, tip)) = membership else {
        peer.answered = None;
        return Ok(Answer::Reply(None));
    };
    if peer.answered.as_deref() == Some(tip.heads.as_str()) {
        // Answered at these heads already (its own commit, or an earlier announcement): the
        // same state would generate the same message.
        return Ok(Answer::Reply(None));
    }
    peer.state.set_read_only(!role.can_write());
    answer(state, &id, &tip.heads, peer, None, Vec::new()).await
}

/// Brings a kept copy of `id` from `before` to `after` with `changes`, just committed (so
/// already checked by the store): applying them costs far less than loading the document
/// again for the answer and every push. A copy that does not end at `after` (another commit
/// came in between) is dropped, and the next answer loads it.
async fn advance(state: &AppState, id: &str, before: &str, after: &str, changes: Changes) {
    let doc = match state.loaded.get(id, before) {
        Some(doc) => doc,
        // Nothing was stored before (a document just created): it was the empty document.
        // (Unless the cache keeps nothing: then there is nothing to advance.)
        None if before.is_empty() => match state.loaded.put(id, String::new(), 0, Automerge::new(), 0) {
            seeded if state.loaded.bytes(id).is_some() => seeded,
            _ => return,
        },
        None => return,
    };
    let added = changes.bytes();
    match apply(state, id, doc.clone(), changes, added, after.to_owned()).await {
        Some(memory) => state.loaded.advanced(id, &doc, before, after, added, memory),
        None => state.loaded.forget(id),
    }
}

/// The stored document `id` as loaded at `heads` (just read from the database) or later:
/// kept, caught up from a kept copy with the change rows it lacks, or loaded whole (and kept).
/// `None`: the document is gone.
async fn loaded(state: &AppState, id: &str, heads: &str) -> ApiResult<Option<Shared>> {
    state
        .loaded
        .get_or_load(id, heads, |stale| async move {
            if let Some(stale) = stale
                && let Some(caught_up) = catch_up(state, id, stale).await?
            {
                return Ok(Some(caught_up));
            }
            let Some(stored) = state.store.load_states(&[id]).await?.remove(id) else { return Ok(None) };
            let (heads, seq) = (stored.heads.clone(), stored.max_seq);
            let bytes = stored.changes.iter().map(Vec::len).chain(stored.snapshot.as_ref().map(Vec::len)).sum::<usize>() as u64;
            let doc = load::with_document(state, id, stored, |doc, _| doc).await?;
            Ok(Some(Fresh::Loaded { heads, seq, doc: Box::new(doc), bytes }))
        })
        .await
}

/// Applies the change rows committed after `stale`'s to it, if that brings it exactly to the
/// stored heads (they were read in the same statement); `None`: load the document whole.
async fn catch_up(state: &AppState, id: &str, stale: Stale) -> ApiResult<Option<Fresh>> {
    let Some(after) = state.store.changes_after(id, stale.seq).await? else { return Ok(None) };
    let added = after.changes.iter().map(Vec::len).sum::<usize>() as u64;
    let applied = apply(state, id, stale.doc.clone(), Changes::Chunks(after.changes), added, after.heads.clone()).await;
    Ok(applied.map(|memory| Fresh::CaughtUp { doc: stale.doc, heads: after.heads, seq: after.max_seq, added, memory }))
}

/// Applies stored `changes` (`added` bytes, already checked by the store) to a kept copy; if
/// it then stands exactly at `expected` (the stored heads' text form), the memory it takes
/// ([`loaded::memory`]).
async fn apply(state: &AppState, id: &str, doc: Shared, changes: Changes, added: u64, expected: String) -> Option<u64> {
    let applied = run(state, &doc.clone(), heavy(state, id, added), move || {
        let mut doc = doc.lock().unwrap_or_else(|e| e.into_inner());
        catch_unwind(AssertUnwindSafe(|| {
            let applied = match changes {
                Changes::Chunks(chunks) => doc.apply(&chunks),
                Changes::Read(read) => doc.apply_changes(read),
            };
            let applied = applied.is_ok() && Heads::new(doc.get_heads()).to_string() == expected;
            applied.then(|| loaded::memory(&doc))
        }))
        .unwrap_or(None)
    })
    .await;
    applied.flatten()
}

/// Changes committed to a document, for its kept copy: as stored (chunks), or as the push's
/// check read them (then not parsed again).
enum Changes {
    Chunks(Vec<Vec<u8>>),
    Read(Vec<Change>),
}

impl Changes {
    fn bytes(&self) -> u64 {
        match self {
            Changes::Chunks(chunks) => chunks.iter().map(Vec::len).sum::<usize>() as u64,
            Changes::Read(read) => read.iter().map(|c| c.raw_bytes().len()).sum::<usize>() as u64,
        }
    }
}

/// A client's sync message with its changes stripped (stored already, or refused).
struct Received {
    message: Message,
    /// It carried changes. Without them automerge would take a message whose heads are the
    /// document's for one saying the client holds exactly what it was last sent, and answer
    /// nothing; a writer is owed the acknowledgement automerge sends after applying changes.
    carried_changes: bool,
}

/// Applies `received` to the connection's state on the stored document at `heads` and
/// generates the answer. `missing`: dependencies of pushed changes the store lacked.
async fn answer(state: &AppState, id: &str, heads: &str, peer: &mut DocSync, received: Option<Received>, missing: Vec<ChangeHash>) -> ApiResult<Answer> {
    let Some(doc) = loaded(state, id, heads).await? else {
        peer.answered = None;
        return Ok(Answer::Unavailable);
    };
    Ok(answer_from(state, id, doc, heads, false, peer, received, missing).await?.unwrap_or(Answer::Reply(None)))
}

/// [`answer`] from the kept copy `doc`; `heads`: the stored heads read with the user's
/// membership (or, `pinned`, those the connection was last answered at: then only if the copy
/// still stands at exactly those heads, else `Err` hands the message back, unused). The
/// connection counts as answered at the heads the copy stood at, which may be later than
/// `heads` (a commit applied to the copy since): those are what it was sent, so answering
/// its acknowledgements from that copy sends nothing it did not already receive.
#[allow(clippy::too_many_arguments)]
async fn answer_from(
    state: &AppState,
    id: &str,
    doc: Shared,
    heads: &str,
    pinned: bool,
    peer: &mut DocSync,
    received: Option<Received>,
    missing: Vec<ChangeHash>,
) -> ApiResult<Result<Answer, Option<Message>>> {
    let mut st = std::mem::take(&mut peer.state);
    let read = heads.to_owned();
    let done = run(state, &doc.clone(), heavy(state, id, 0), move || {
        let mut doc = doc.lock().unwrap_or_else(|e| e.into_inner());
        let at = Heads::new(doc.get_heads()).to_string();
        if pinned && at != read {
            return (st, at, Err(received.map(|r| r.message)));
        }
        // Only the message is hostile here (the document loaded): a panic it causes refuses
        // the message, and never marks the document damaged for its other members.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Some(Received { message, carried_changes }) = received {
                let sent = carried_changes.then(|| st.last_sent_heads.clone());
                // Without walking the document's history (the changes were stripped above).
                if let Err(message) = receive_kept_without_changes(&doc, &mut st, message) {
                    doc.receive_sync_message(&mut st, message).map_err(|e| e.to_string())?;
                }
                if let Some(sent) = sent {
                    // As automerge leaves it after applying changes.
                    st.last_sent_heads = sent;
                }
            }
            if !missing.is_empty() {
                st.needs_reset = true;
            }
            Ok::<_, String>(generate_kept_sync_message(&doc, &mut st).map(|mut reply| {
                // automerge encodes a sorted list of hashes.
                reply.need.extend(missing);
                reply.need.sort_unstable();
                reply.need.dedup();
                reply.encode()
            }))
        }));
        (st, at, Ok(outcome))
    })
    .await;
    let Some((st, at, outcome)) = done else { return Err(ApiError::Internal("the sync answer's job was lost".into())) };
    peer.state = st;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(unused) => return Ok(Err(unused)),
    };
    peer.answered = matches!(outcome, Ok(Ok(_))).then_some(at);
    Ok(Ok(match outcome {
        Ok(Ok(reply)) => Answer::Reply(reply),
        Ok(Err(e)) => Answer::Refused(format!("automerge refused the sync message: {e}")),
        Err(_) => {
            // The shared copy may be half-updated: the next answer loads it again.
            state.loaded.forget(id);
            Answer::Refused("automerge could not answer this sync message".into())
        }
    }))
}

/// Whether work on the kept copy of `id` plus `added` bytes of changes is too large to run on
/// the calling task (a copy not kept counts as large).
pub(crate) fn heavy(state: &AppState, id: &str, added: u64) -> bool {
    state.loaded.bytes(id).is_none_or(|bytes| heavy_bytes(bytes.saturating_add(added)))
}

/// Whether work on a copy of this many bytes is too large to run on the calling task.
pub(crate) fn heavy_bytes(bytes: u64) -> bool {
    bytes > INLINE_BYTES
}

/// Runs `f` (work on the kept copy `doc`) on the calling task, or on the compute pool when it
/// is `heavy` or a pool job holds `doc` now (a long wait for its lock belongs on the pool, not
/// on an async worker; work on the calling task holds it only briefly, so only pool jobs are
/// checked for).
pub(crate) async fn run<T: Send + 'static>(state: &AppState, doc: &Shared, heavy: bool, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let pool = heavy || (state.loaded.pool_busy() && matches!(doc.try_lock(), Err(std::sync::TryLockError::WouldBlock)));
    let _job = pool.then(|| state.loaded.pool_job());
    offload_if(state.compute.as_ref(), pool, f).await
}
