//! automerge's `generate_sync_message`, without its work when the answer is "nothing".
//!
//! Every message a client sends is answered, and most are acknowledgements of a message the
//! server just sent, naming the heads the server has. For those automerge 0.12 still builds a
//! bloom filter of the changes since the last sync and lists the changes the peer's filter
//! lacks (each a walk of the change graph from the heads to cached vector clocks) before it
//! decides there is nothing to say. [`generate_sync_message`] decides that first, from the
//! state alone, and leaves the rest to automerge.
//!
//! On a document kept loaded, [`generate_kept_sync_message`] also builds the message itself
//! when the peer is a few changes behind: the changes since its last sync (for the bloom
//! filter) and those its filter lacks are then all among the changes the copy applied last
//! ([`KeptDoc`]'s log), and are listed without the two walks; those changes' bytes come from
//! the log too instead of automerge encoding them again. automerge has no entry point taking
//! those lists, so its message building is repeated here, step by step; anything the log
//! cannot answer (a peer further behind, a last sync naming changes the document lacks, a
//! reset, the whole document to send) goes to automerge. `tests/automerge_repo_generate.rs` checks both
//! against automerge's answer and the state it leaves, on random histories and states.

use std::collections::{HashMap, HashSet};

use automerge::sync::{BloomFilter, Capability, ChunkList, Have, Message, MessageFlags, MessageVersion, State, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};

use crate::chunk::has_change;
use crate::server::KeptDoc;
use crate::server::recent::Recent;

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
        && state.their_have.as_ref().and_then(|have| have.first()).is_none_or(|have| have.last_sync.iter().all(|h| has_change(doc, h)))
}

/// [`generate_sync_message`] on a kept document: built from the copy's log of recent changes
/// when it holds everything the message needs (see the module docs), by automerge otherwise.
pub fn generate_kept_sync_message(kept: &KeptDoc, state: &mut State) -> Option<Message> {
    let doc: &Automerge = kept;
    let heads = doc.get_heads();
    if nothing_to_send(doc, state, &heads) {
        return None;
    }
    match kept.recent_at(&heads).and_then(|recent| plan(doc, recent, state)) {
        Some(plan) => build(state, heads, plan),
        None => doc.generate_sync_message(state),
    }
}

/// What automerge would put in the message before its last checks: our `have`, and the
/// changes to send (their hashes and bytes).
struct Plan {
    /// Their heads that the document lacks (what automerge asks for).
    need: Vec<ChangeHash>,
    have: Vec<Have>,
    hashes: Vec<ChangeHash>,
    changes: Vec<Vec<u8>>,
}

/// automerge's `generate_sync_message` up to the message's contents, from `recent`; `None`
/// where that would need more than the log.
fn plan(doc: &Automerge, recent: &Recent, state: &State) -> Option<Plan> {
    let known = |hash: &ChangeHash| recent.contains(hash) || has_change(doc, hash);
    // We ask for their heads that we lack (automerge's `missing_deps_from`, which also follows
    // queued changes: a document with a log has none), and send our filter of what we added
    // since the last sync.
    let mut need: Vec<ChangeHash> =
        if state.read_only { Vec::new() } else { state.their_heads.iter().flatten().filter(|hash| !known(hash)).copied().collect() };
    need.sort_unstable();
    need.dedup();
    let since_shared = recent.since(&state.shared_heads, known)?;
    let have = vec![Have { last_sync: state.shared_heads.clone(), bloom: BloomFilter::from_hashes(since_shared.iter()) }];
    // A last sync naming a change we lack: automerge answers with a reset.
    if let Some(first) = state.their_have.as_ref().and_then(|have| have.first())
        && !first.last_sync.iter().all(known)
    {
        return None;
    }
    let v2 = supports(state, Capability::MessageV2);
    let mut hashes = Vec::new();
    if !state.is_peer_read_only()
        && let (Some(their_have), Some(their_need)) = (&state.their_have, &state.their_need)
    {
        if state.their_heads.as_deref() == Some(&[]) && v2 {
            // They have nothing: automerge sends the whole document.
            return None;
        }
        hashes = to_send(recent, their_have, their_need, known)?;
        hashes.retain(|hash| !state.sent_hashes.contains(hash));
        if hashes.len() as u64 > doc.stats().num_changes / 3 && v2 {
            // automerge sends the whole document instead.
            return None;
        }
    }
    let changes = hashes
        .iter()
        .map(|hash| recent.bytes(hash).map(<[u8]>::to_vec).or_else(|| Some(doc.get_change_by_hash(hash)?.raw_bytes().to_vec())))
        .collect::<Option<_>>()?;
    Some(Plan { need, have, hashes, changes })
}

/// automerge's `get_hashes_to_send`: what they asked for, then our changes since their last
/// sync that their filters lack, with every change depending on one of those.
fn to_send(recent: &Recent, have: &[Have], need: &[ChangeHash], known: impl Fn(&ChangeHash) -> bool + Copy) -> Option<Vec<ChangeHash>> {
    let need: Vec<ChangeHash> = need.iter().filter(|hash| known(hash)).copied().collect();
    if have.is_empty() {
        return Some(need);
    }
    let last_sync: Vec<ChangeHash> = have.iter().flat_map(|h| h.last_sync.iter().copied()).collect::<HashSet<_>>().into_iter().collect();
    let since = recent.since(&last_sync, known)?;
    let mut dependents: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    let mut sending = HashSet::new();
    for hash in &since {
        for dep in recent.deps(hash)? {
            dependents.entry(*dep).or_default().push(*hash);
        }
        if have.iter().all(|h| !h.bloom.contains_hash(hash)) {
            sending.insert(*hash);
        }
    }
    let mut stack: Vec<ChangeHash> = sending.iter().copied().collect();
    while let Some(hash) = stack.pop() {
        for dependent in dependents.get(&hash).into_iter().flatten() {
            if sending.insert(*dependent) {
                stack.push(*dependent);
            }
        }
    }
    let asked = need.into_iter().filter(|hash| !sending.contains(hash));
    Some(asked.chain(since.into_iter().filter(|hash| sending.contains(hash))).collect())
}

/// The rest of automerge's `generate_sync_message`: whether to say anything, the state's
/// bookkeeping, the flags and the message.
fn build(state: &mut State, heads: Vec<ChangeHash>, Plan { need, have, hashes, changes }: Plan) -> Option<Message> {
    if state.last_sent_heads == heads && state.have_responded {
        if (state.their_heads.as_ref() == Some(&heads) || state.read_only) && hashes.is_empty() {
            return None;
        }
        if state.in_flight {
            return None;
        }
    }
    state.have_responded = true;
    state.last_sent_heads.clone_from(&heads);
    state.sent_hashes.extend(hashes.iter().copied());
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    if state.read_only {
        flags.set(MessageFlags::READ_ONLY);
    }
    let heads = if state.needs_reset {
        state.needs_reset = false;
        if supports(state, Capability::SyncReset) {
            flags.set(MessageFlags::SYNC_RESET);
            heads
        } else {
            Vec::new()
        }
    } else {
        heads
    };
    // As automerge's message builder: one chunk per change in version 1, one chunk of them
    // all in version 2.
    let (version, changes) = if supports(state, Capability::MessageV2) {
        (MessageVersion::V2, if changes.is_empty() { Vec::new() } else { vec![changes.concat()] })
    } else {
        (MessageVersion::V1, changes)
    };
    state.in_flight = true;
    Some(Message { heads, need, have, changes: ChunkList::from(changes), flags: Some(flags), version })
}

fn supports(state: &State, capability: Capability) -> bool {
    state.their_capabilities.as_ref().is_some_and(|caps| caps.contains(&capability))
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    /// The server's usual case: a peer in sync, then a commit by someone else.
    #[test]
    fn a_peer_in_sync_is_sent_a_new_change_from_the_log() {
        let mut doc = AutoCommit::new();
        for i in 0..50 {
            doc.put(ROOT, "k", i).unwrap();
            doc.commit();
        }
        let mut kept = KeptDoc::new(doc.document().clone());
        let mut state = State::new();
        let mut peer = doc.fork();
        let mut peer_state = State::new();
        for _ in 0..10 {
            if let Some(m) = generate_kept_sync_message(&kept, &mut state) {
                peer.sync().receive_sync_message(&mut peer_state, m).unwrap();
            }
            match peer.sync().generate_sync_message(&mut peer_state) {
                Some(m) => crate::automerge_repo::receive_without_changes(&kept, &mut state, m).unwrap(),
                None => break,
            }
        }
        let before = doc.get_heads();
        doc.put(ROOT, "k", "new").unwrap();
        doc.commit();
        let change = doc.get_changes(&before).into_iter().next().unwrap();
        kept.apply(&[change.raw_bytes().to_vec()]).unwrap();
        let plan = plan(&kept, kept.recent_at(&kept.get_heads()).unwrap(), &state).expect("answered from the log");
        assert_eq!(plan.hashes, vec![change.hash()]);
        let message = generate_kept_sync_message(&kept, &mut state).unwrap();
        peer.sync().receive_sync_message(&mut peer_state, message).unwrap();
        assert_eq!(peer.get_heads(), doc.get_heads());
    }
}
