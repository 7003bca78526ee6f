//! automerge's `receive_sync_message` for a message without changes, in time bounded by what
//! the peer lacks rather than by the document's history.
//!
//! The server strips a client's changes from its sync message before automerge sees it (they
//! are stored, or refused, first), and every other message a connection sends is an
//! acknowledgement without changes. For each one, automerge 0.12 drops from the sync state the
//! hashes it sent that the peer now has by walking *every* ancestor of the peer's heads
//! (`filter_changes`), one B-tree insert per change of the document: on one document written
//! by 8 clients, 35% of the server's CPU at 800 changes, and growing with every edit. Here the
//! same hashes are found among the changes outside the past of the peer's heads, which
//! automerge lists from its cached vector clocks (a peer that is up to date lacks few); and not
//! at all when nothing was sent, or when everything sent starts after the heads named.
//! automerge has no public entry point for that, so the rest of its receive is repeated here,
//! field by field; `tests/automerge_repo_receive.rs` checks that the state it leaves is
//! automerge's on random documents, states and messages.

use std::collections::HashSet;

use automerge::sync::{Capability, Message, MessageFlags, State};
use automerge::{Automerge, ChangeHash};

use crate::chunk::has_change;
use crate::server::KeptDoc;
use crate::server::recent::Recent;

/// Applies `message` (which carries no changes: `Err` gives it back otherwise) to `state` as
/// [`automerge::sync::SyncDoc::receive_sync_message`] does, without changing `doc`.
pub fn receive_without_changes(doc: &Automerge, state: &mut State, message: Message) -> Result<(), Message> {
    receive_with(doc, None, state, message)
}

/// [`receive_without_changes`] on a kept copy: the changes outside the past of the peer's
/// heads come from its log of the changes it applied last when the heads reach into it (a
/// peer kept in sync names heads a few changes old), without automerge's walk to its vector
/// clocks.
pub fn receive_kept_without_changes(kept: &KeptDoc, state: &mut State, message: Message) -> Result<(), Message> {
    receive_with(kept, kept.recent_at(&kept.get_heads()), state, message)
}

fn receive_with(doc: &Automerge, recent: Option<&Recent>, state: &mut State, message: Message) -> Result<(), Message> {
    if !message.changes.is_empty() {
        return Err(message);
    }
    let Message { heads, need, have, flags, .. } = message;
    state.in_flight = false;
    if let Some(flags) = flags {
        let mut capabilities = vec![Capability::MessageV2];
        if flags.contains(MessageFlags::SUPPORTS_SYNC_RESET) {
            capabilities.push(Capability::SyncReset);
        }
        state.their_capabilities = Some(capabilities);
        if flags.contains(MessageFlags::SYNC_RESET) {
            state.sent_hashes.clear();
        }
        state.peer_read_only = flags.contains(MessageFlags::READ_ONLY);
    }
    // The heads the document knows.
    let known: Vec<ChangeHash> = heads.iter().filter(|head| has_change(doc, head)).copied().collect();
    // The peer has what was sent in the past of the heads it names (those the document knows):
    // a change of the document outside that past, or one it does not hold, is still owed. An
    // acknowledgement usually names what was sent among its heads: those go without a look at
    // the history (or at where the heads start).
    state.sent_hashes.retain(|h| !known.contains(h));
    if !state.sent_hashes.is_empty()
        && let Some(newest_start) = known.iter().filter_map(|head| doc.get_change_meta_by_hash(head)).map(|meta| meta.start_op).max()
        && !all_after(doc, &state.sent_hashes, newest_start)
    {
        let logged = recent.and_then(|recent| recent.since_in(doc, &known));
        let outside: HashSet<ChangeHash> = match logged {
            Some(hashes) => hashes.into_iter().collect(),
            None => doc.get_changes_meta(&known).into_iter().map(|c| c.hash).collect(),
        };
        state.sent_hashes.retain(|h| outside.contains(h) || !has_change(doc, h));
    }
    if heads == doc.get_heads() {
        state.last_sent_heads.clone_from(&heads);
    }
    if known.len() == heads.len() {
        state.shared_heads.clone_from(&heads);
        if heads.is_empty() {
            state.last_sent_heads = Vec::new();
            state.sent_hashes.clear();
        }
    } else {
        state.shared_heads.extend(known);
        state.shared_heads.sort_unstable();
        state.shared_heads.dedup();
    }
    state.their_have = Some(have);
    state.their_heads = Some(heads);
    state.their_need = Some(need);
    Ok(())
}

/// Whether every change of `doc` among `sent` starts after `newest_start`, where the newest of
/// the peer's heads starts: then none is in their past, and all are still owed, without listing
/// the history. (A change's ops are numbered above its dependencies' last op, so an ancestor of
/// a head starts no later than the head does.) An acknowledgement that crossed a newer message
/// on the wire names heads older than what that message sent, which is exactly this case.
fn all_after(doc: &Automerge, sent: &std::collections::BTreeSet<ChangeHash>, newest_start: u64) -> bool {
    sent.iter().all(|h| doc.get_change_meta_by_hash(h).is_none_or(|m| m.start_op > newest_start))
}
