//! `sync_core::automerge_repo::generate_sync_message` answers as automerge's own and leaves the
//! same sync state, on random histories and sync states: answered or not, with the heads
//! last sent and the peer's heads at, near or away from the document's, with and without a
//! need or a `have`, whose last sync the document may lack; and so does
//! `generate_kept_sync_message` on a kept copy that applied the newer part of the history (in
//! batches of random sizes, past what its log keeps) after loading the older part.

mod forks;

use automerge::sync::{BloomFilter, Have, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ChangeHash, ROOT};
use forks::history;
use proptest::prelude::*;
use sync_core::automerge_repo::{generate_kept_sync_message, generate_sync_message};
use sync_core::server::KeptDoc;

/// Heads a replica had, the document's own (`pick` even), or with a hash the document lacks.
fn heads(doc: &Automerge, seen: &[Vec<ChangeHash>], pick: u16, unknown: bool) -> Vec<ChangeHash> {
    let mut heads = if pick.is_multiple_of(2) { doc.get_heads() } else { seen[usize::from(pick) % seen.len()].clone() };
    if unknown {
        heads.push(ChangeHash([0xab; 32]));
        heads.sort_unstable();
    }
    heads
}

/// A random sync state of a peer of `doc`, which had the heads in `seen` at some point.
/// `odd`: the peer's filter also matches some changes it lacks (as a bloom filter may), and
/// the state says some changes were sent already.
fn state(doc: &Automerge, seen: &[Vec<ChangeHash>], picks: [u16; 4], unknown: [bool; 3], flags: [bool; 5], odd: bool) -> State {
    let [have_responded, in_flight, need, with_have, v2] = flags;
    // The peer's have, as an honest peer at its heads builds it: the changes since its last
    // sync that it has.
    let known = |heads: &[ChangeHash]| heads.iter().filter(|h| doc.get_change_meta_by_hash(h).is_some()).copied().collect::<Vec<_>>();
    let last_sync = heads(doc, seen, picks[2], unknown[2]);
    let their_heads = heads(doc, seen, picks[1], unknown[0]);
    let lacks: Vec<ChangeHash> = doc.get_changes(&known(&their_heads)).iter().map(|c| c.hash()).collect();
    let mut has: Vec<ChangeHash> = doc.get_changes(&known(&last_sync)).iter().map(|c| c.hash()).filter(|h| !lacks.contains(h)).collect();
    if odd {
        has.extend(lacks.iter().step_by(3));
    }
    let bloom = BloomFilter::from_hashes(has.iter());
    let sent = if odd { lacks.iter().skip(1).step_by(2).copied().collect() } else { Default::default() };
    let mut capabilities = Vec::new();
    if v2 {
        capabilities.push(automerge::sync::Capability::MessageV2);
    }
    State {
        have_responded,
        in_flight,
        last_sent_heads: heads(doc, seen, picks[0], false),
        their_heads: Some(their_heads),
        their_need: Some(if need { doc.get_changes(&[]).iter().take(1).map(|c| c.hash()).collect() } else { Vec::new() }),
        their_have: Some(with_have.then_some(Have { last_sync, bloom }).into_iter().collect()),
        shared_heads: heads(doc, seen, picks[3], unknown[1]),
        their_capabilities: Some(capabilities),
        sent_hashes: sent,
        ..State::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn a_kept_copy_answers_as_automerge_does(
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..60),
        loaded in any::<u8>(),
        batches in prop::collection::vec(1..4usize, 60),
        picks in any::<[u16; 4]>(),
        unknown in any::<[u8; 3]>(),
        flags in any::<[bool; 5]>(),
        rounds in 1..4usize,
        recent in any::<bool>(),
        odd in any::<bool>(),
    ) {
        let (doc, mut seen) = history(&steps);
        seen.insert(0, Vec::new());
        // Half the runs name only heads of the last steps (most within the copy's log).
        if recent {
            seen.drain(..seen.len().saturating_sub(8));
        }
        let unknown = unknown.map(|u| u % 8 == 0);
        let changes: Vec<Vec<u8>> = doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
        let split = usize::from(loaded) % (changes.len() + 1);
        let mut older = Automerge::new();
        for bytes in &changes[..split] {
            older.load_incremental(bytes).unwrap();
        }
        let mut kept = KeptDoc::new(older);
        let mut rest = &changes[split..];
        for n in batches.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at((*n).min(rest.len()));
            kept.apply(batch).unwrap();
            rest = tail;
        }
        prop_assert_eq!(kept.get_heads(), doc.get_heads());
        let mut theirs = state(&doc, &seen, picks, unknown, flags, odd);
        let mut ours = theirs.clone();
        // Several messages in a row, as to a peer that does not answer.
        for _ in 0..rounds {
            let expected = kept.generate_sync_message(&mut theirs).map(|m| m.encode());
            let answered = generate_kept_sync_message(&kept, &mut ours).map(|m| m.encode());
            prop_assert_eq!(answered, expected);
            prop_assert_eq!(&ours, &theirs);
        }
    }

    #[test]
    fn answers_as_automerge_does(
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 0..30),
        picks in any::<[u16; 4]>(),
        unknown in any::<[bool; 3]>(),
        have_responded in any::<bool>(),
        in_flight in any::<bool>(),
        need in any::<bool>(),
        with_have in any::<bool>(),
        v2 in any::<bool>(),
        empty in any::<u8>(),
        odd in any::<bool>(),
    ) {
        // One run in eight on the empty document, whose heads are the empty list.
        let (doc, mut seen) = history(if empty.is_multiple_of(8) { &[] } else { &steps });
        seen.insert(0, Vec::new());
        let state = state(&doc, &seen, picks, unknown, [have_responded, in_flight, need, with_have, v2], odd);
        let (mut theirs, mut ours) = (state.clone(), state);
        let expected = doc.generate_sync_message(&mut theirs).map(|m| m.encode());
        let answered = generate_sync_message(&doc, &mut ours).map(|m| m.encode());
        prop_assert_eq!(answered, expected);
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn an_acknowledged_answer_is_nothing() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "a", 1).unwrap();
    doc.commit();
    let mut client = AutoCommit::new();
    let (mut server_state, mut client_state) = (State::new(), State::new());
    // Sync until neither side has anything to say: the server's last answer is then nothing.
    for _ in 0..10 {
        let from_server = generate_sync_message(doc.document(), &mut server_state);
        if let Some(m) = from_server.clone() {
            client.sync().receive_sync_message(&mut client_state, m).unwrap();
        }
        let from_client = client.sync().generate_sync_message(&mut client_state);
        if let Some(m) = from_client.clone() {
            doc.sync().receive_sync_message(&mut server_state, m).unwrap();
        }
        if from_server.is_none() && from_client.is_none() {
            break;
        }
    }
    assert_eq!(client.get_heads(), doc.get_heads());
    assert!(server_state.have_responded && server_state.their_heads.as_deref() == Some(&doc.get_heads()[..]));
    assert_eq!(generate_sync_message(doc.document(), &mut server_state), None);
}
