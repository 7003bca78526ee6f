//! `receive_without_changes` leaves a sync state exactly as automerge's `receive_sync_message`
//! does, on random histories (several actors forking and merging), sync states and messages:
//! heads the document knows, does not know, or lacks in part; sent hashes inside and outside
//! their past; every flag; with and without a `have`. The same on a kept copy, whose log of the
//! changes it applied last answers for heads that reach into it.

mod forks;

use automerge::sync::{BloomFilter, ChunkList, Have, Message, MessageFlags, MessageVersion, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use forks::history;
use proptest::prelude::*;
use sync_core::automerge_repo::{receive_kept_without_changes, receive_without_changes};
use sync_core::server::KeptDoc;

fn pick(all: &[ChangeHash], mask: u64) -> Vec<ChangeHash> {
    let mut picked: Vec<ChangeHash> = all.iter().enumerate().filter(|(i, _)| mask >> (i % 64) & 1 == 1).map(|(_, h)| *h).collect();
    picked.sort_unstable();
    picked
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn leaves_the_state_automerge_leaves(
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<bool>()), 1..40),
        heads_from in any::<u16>(),
        unknown_head in any::<bool>(),
        masks in any::<[u64; 5]>(),
        flags in prop::option::of(0u8..8),
        with_have in any::<bool>(),
        in_flight in any::<bool>(),
        v2 in any::<bool>(),
    ) {
        let (doc, seen) = history(&steps);
        let all: Vec<ChangeHash> = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let unknown = ChangeHash([0xab; 32]);
        // The peer's heads: ones a replica had (all known), none, or with one the server lacks.
        let mut heads = if heads_from % 5 == 0 { Vec::new() } else { seen[usize::from(heads_from) % seen.len()].clone() };
        if unknown_head {
            heads.push(unknown);
            heads.sort_unstable();
        }
        let mut sent = pick(&all, masks[0]);
        if masks[0] & 1 == 1 {
            sent.push(unknown);
        }
        let state = State {
            shared_heads: pick(&all, masks[1]),
            last_sent_heads: pick(&all, masks[2]),
            sent_hashes: sent.into_iter().collect(),
            in_flight,
            their_heads: Some(pick(&all, masks[3])),
            ..State::default()
        };
        let have = with_have.then(|| {
            let last_sync = pick(&all, masks[4]);
            Have { bloom: BloomFilter::from_hashes(pick(&all, masks[3]).iter()), last_sync }
        });
        let flags = flags.map(|bits| {
            let mut f = MessageFlags::new();
            f.set(bits);
            f
        });
        let message = Message {
            heads,
            need: pick(&all, masks[4] >> 3),
            have: have.into_iter().collect(),
            changes: ChunkList::empty(),
            flags,
            version: if v2 { MessageVersion::V2 } else { MessageVersion::V1 },
        };

        let (mut theirs, mut ours, mut kept_ours) = (state.clone(), state.clone(), state);
        doc.clone().receive_sync_message(&mut theirs, message.clone()).unwrap();
        receive_without_changes(&doc, &mut ours, message.clone()).unwrap();
        prop_assert_eq!(&ours, &theirs);
        // A kept copy that applied the history change by change: its log holds the newest
        // changes, and answers for heads that reach into it.
        let mut kept = KeptDoc::new(automerge::Automerge::new());
        for change in doc.get_changes(&[]) {
            kept.apply(&[change.raw_bytes().to_vec()]).unwrap();
        }
        receive_kept_without_changes(&kept, &mut kept_ours, message).unwrap();
        prop_assert_eq!(kept_ours, theirs);
    }
}

#[test]
fn a_message_with_changes_is_handed_back() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "a", 1).unwrap();
    doc.commit();
    let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
    let message = Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::from(vec![change]),
        flags: None,
        version: MessageVersion::V1,
    };
    let mut state = State::new();
    let before = state.clone();
    assert_eq!(receive_without_changes(doc.document(), &mut state, message.clone()), Err(message));
    assert_eq!(state, before, "a refused message changes nothing");
}
