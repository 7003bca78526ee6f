//! automerge's `generate_sync_message`, without its work when the answer is "nothing".
//!
//! Every message a client sends is answered, and most are acknowledgements of a message the
//! server just sent, naming the heads the server has. For those automerge 0.12 still builds a
//! bloom filter of the changes since the last sync and lists the changes the peer's filter
//! lacks (each a walk of the change graph from the heads to cached vector clocks) before it
//! decides there is nothing to say. [`generate_sync_message`] decides that first, from the
//! state alone, and leaves the rest to automerge; `tests/automerge_repo_generate.rs` checks
//! that it answers as automerge does.

use automerge::sync::{Message, State, SyncDoc};
use automerge::{Automerge, ChangeHash};

/// [`SyncDoc::generate_sync_message`], returning `None` at once when the peer has the
/// document's heads exactly, was already sent them, and asked for nothing: automerge then
/// sends nothing either: a peer that holds the heads holds every change it could be sent. (A
/// peer naming the heads with a bloom filter that leaves some of them out would be sent those
/// by automerge; here it is taken at its word, which withholds nothing from anyone else.)
pub fn generate_sync_message(doc: &Automerge, state: &mut State) -> Option<Message> {
    let heads = doc.get_heads();
    if nothing_to_send(doc, state, &heads) {
        return None;
    }
    doc.generate_sync_message(state)
}

fn nothing_to_send(doc: &Automerge, state: &State, heads: &[ChangeHash]) -> bool {
    // automerge's own early return: answered before, the heads unchanged since, the peer at
    // them, and nothing to send: a peer asking for changes gets them, and a peer whose last
    // sync names a change the document lacks is told to reset.
    state.have_responded
        && state.last_sent_heads == heads
        && state.their_heads.as_deref() == Some(heads)
        && state.their_need.as_ref().is_none_or(Vec::is_empty)
        && state.their_have.as_ref().and_then(|have| have.first()).is_none_or(|have| have.last_sync.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()))
}
