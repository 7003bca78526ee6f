//! `sync_core::automerge_repo::generate_sync_message` answers as automerge's own and leaves the
//! same sync state, on random histories and sync states: answered or not, with the heads
//! last sent and the peer's heads at, near or away from the document's, with and without a
//! need or a `have`, whose last sync the document may lack.

mod forks;

use automerge::sync::{BloomFilter, Have, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ChangeHash, ROOT};
use forks::history;
use proptest::prelude::*;
use sync_core::automerge_repo::generate_sync_message;

/// Heads a replica had, the document's own (`pick` even), or with a hash the document lacks.
fn heads(doc: &Automerge, seen: &[Vec<ChangeHash>], pick: u16, unknown: bool) -> Vec<ChangeHash> {
    let mut heads = if pick.is_multiple_of(2) { doc.get_heads() } else { seen[usize::from(pick) % seen.len()].clone() };
    if unknown {
        heads.push(ChangeHash([0xab; 32]));
        heads.sort_unstable();
    }
    heads
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

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
    ) {
        // One run in eight on the empty document, whose heads are the empty list.
        let (doc, mut seen) = history(if empty.is_multiple_of(8) { &[] } else { &steps });
        seen.insert(0, Vec::new());
        // The peer's have, as an honest peer builds it: the changes since its last sync.
        let last_sync = heads(&doc, &seen, picks[2], unknown[2]);
        let known: Vec<ChangeHash> = last_sync.iter().filter(|h| doc.get_change_meta_by_hash(h).is_some()).copied().collect();
        let bloom = BloomFilter::from_hashes(doc.get_changes(&known).iter().map(|c| c.hash()).collect::<Vec<_>>().iter());
        let mut capabilities = Vec::new();
        if v2 {
            capabilities.push(automerge::sync::Capability::MessageV2);
        }
        let state = State {
            have_responded,
            in_flight,
            last_sent_heads: heads(&doc, &seen, picks[0], false),
            their_heads: Some(heads(&doc, &seen, picks[1], unknown[0])),
            their_need: Some(if need { doc.get_changes(&[]).iter().take(1).map(|c| c.hash()).collect() } else { Vec::new() }),
            their_have: Some(with_have.then_some(Have { last_sync, bloom }).into_iter().collect()),
            shared_heads: heads(&doc, &seen, picks[3], unknown[1]),
            their_capabilities: Some(capabilities),
            ..State::default()
        };
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
