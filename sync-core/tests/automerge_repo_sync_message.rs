//! The automerge sync messages inside automerge-repo's `request` and `sync` frames: what real
//! peers send passes, and the messages that would make automerge allocate without bound or
//! panic are refused before it acts on them.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use sync_core::Limits;
use sync_core::automerge_repo::{SyncMessageError, decode_sync_message};

fn doc_with_changes(n: usize) -> Automerge {
    let mut doc = AutoCommit::new();
    for i in 0..n {
        doc.put(ROOT, "n", i as i64).unwrap();
        doc.commit();
    }
    doc.document().clone()
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A v1 sync message with no heads, needs or changes and the given `have` entries, each a
/// `lastSync` list and an encoded bloom filter.
fn message_with_haves(haves: &[(Vec<[u8; 32]>, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x42, 0, 0];
    uleb(&mut out, haves.len() as u64);
    for (last_sync, bloom) in haves {
        uleb(&mut out, last_sync.len() as u64);
        for hash in last_sync {
            out.extend_from_slice(hash);
        }
        uleb(&mut out, bloom.len() as u64);
        out.extend_from_slice(bloom);
    }
    out.push(0);
    out
}

fn bloom(entries: u64, bits_per_entry: u64, probes: u64, bits: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [entries, bits_per_entry, probes] {
        uleb(&mut out, v);
    }
    out.extend(std::iter::repeat_n(0xff, bits));
    out
}

#[test]
fn messages_real_peers_send_pass() {
    // automerge-repo 2.5.6's `request` data: the sync message of an empty document.
    let request = [0x42, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x02, 0x84];
    let decoded = decode_sync_message(&request, &Limits::DEFAULT).expect("a request from automerge-repo");
    assert_eq!(decoded.have.len(), 1);

    let doc = doc_with_changes(50);
    let mut state = State::new();
    let first = doc.generate_sync_message(&mut state).unwrap();
    let mut peer = Automerge::new();
    let mut peer_state = State::new();
    peer.receive_sync_message(&mut peer_state, decode_sync_message(&first.encode(), &Limits::DEFAULT).unwrap()).unwrap();
    let answer = peer.generate_sync_message(&mut peer_state).unwrap();
    doc.clone().receive_sync_message(&mut state, decode_sync_message(&answer.clone().encode(), &Limits::DEFAULT).unwrap()).unwrap();
    let with_changes = doc.generate_sync_message(&mut state).unwrap();
    let decoded = decode_sync_message(&with_changes.encode(), &Limits::DEFAULT).unwrap();
    assert!(!decoded.changes.is_empty(), "the second message carries the document");
}

#[test]
fn a_bloom_filter_without_bits_is_refused_where_automerge_would_divide_by_zero() {
    let hostile = message_with_haves(&[(vec![], bloom(1, 0, 7, 0))]);
    // What automerge does with it: a server generating its answer panics.
    let doc = doc_with_changes(3);
    let parsed = Message::decode(&hostile).expect("automerge decodes it");
    let mut state = State::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut doc = doc.clone();
        doc.receive_sync_message(&mut state, parsed).unwrap();
        doc.generate_sync_message(&mut state)
    }));
    assert!(outcome.is_err(), "automerge panics on a filter with entries and no bits");
    assert_eq!(decode_sync_message(&hostile, &Limits::DEFAULT).unwrap_err(), SyncMessageError::Bloom("entries without bits"));
}

#[test]
fn bloom_filters_asking_for_unbounded_work_are_refused() {
    // Four billion probes per lookup would make automerge allocate 16 GiB per change it checks.
    let probes = message_with_haves(&[(vec![], bloom(1, 10, u64::from(u32::MAX), 2))]);
    assert_eq!(decode_sync_message(&probes, &Limits::DEFAULT).unwrap_err(), SyncMessageError::Bloom("too many probes"));
    let bits = message_with_haves(&[(vec![], bloom(1, 1000, 7, 125))]);
    assert_eq!(decode_sync_message(&bits, &Limits::DEFAULT).unwrap_err(), SyncMessageError::Bloom("too many bits per entry"));
    // automerge's own parameters pass.
    let fine = message_with_haves(&[(vec![], bloom(1, 10, 7, 2))]);
    assert!(decode_sync_message(&fine, &Limits::DEFAULT).is_ok());
}

#[test]
fn counts_over_the_limits_are_refused() {
    let two_haves = message_with_haves(&[(vec![], vec![]), (vec![[7; 32]], vec![])]);
    assert!(matches!(decode_sync_message(&two_haves, &Limits::DEFAULT), Err(SyncMessageError::TooMany { what: "have entries", count: 2, limit: 1 })));

    let limits = Limits { max_heads: 4, ..Limits::DEFAULT };
    let mut many_heads = vec![0x42];
    uleb(&mut many_heads, 5);
    for i in 0..5u8 {
        many_heads.extend_from_slice(&[i; 32]);
    }
    many_heads.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(decode_sync_message(&many_heads, &limits), Err(SyncMessageError::TooMany { what: "heads", count: 5, limit: 4 })));

    let last_sync = message_with_haves(&[((0..5u8).map(|i| [i; 32]).collect(), vec![])]);
    assert!(matches!(decode_sync_message(&last_sync, &limits), Err(SyncMessageError::TooMany { what: "last-sync hashes", .. })));

    let limits = Limits { max_message_bytes: 8, ..Limits::DEFAULT };
    assert!(matches!(decode_sync_message(&two_haves, &limits), Err(SyncMessageError::TooLarge { .. })));
}

#[test]
fn truncated_or_foreign_bytes_are_malformed() {
    let doc = doc_with_changes(2);
    let encoded = doc.generate_sync_message(&mut State::new()).unwrap().encode();
    for cut in [0, 1, encoded.len() / 2] {
        assert!(matches!(decode_sync_message(&encoded[..cut], &Limits::DEFAULT), Err(SyncMessageError::Malformed(_))), "cut at {cut}");
    }
    // A count of 2⁶⁴−1 heads with nothing after it.
    let mut huge = vec![0x42];
    uleb(&mut huge, u64::MAX);
    assert!(matches!(decode_sync_message(&huge, &Limits::DEFAULT), Err(SyncMessageError::Malformed(_))));
    assert!(matches!(decode_sync_message(b"{\"type\":\"sync\"}", &Limits::DEFAULT), Err(SyncMessageError::Malformed(_))));
}

/// A V2 message from a peer that knows the other side reads them: the changes it sends, all in
/// one entry.
fn v2_message_with_changes(doc: &Automerge, n: usize) -> (Message, Vec<Vec<u8>>) {
    let mut state = State::new();
    state.their_capabilities = Some(vec![automerge::sync::Capability::MessageV2]);
    state.their_heads = Some(Vec::new());
    state.their_have = Some(vec![automerge::sync::Have { last_sync: Vec::new(), bloom: automerge::sync::BloomFilter::default() }]);
    state.their_need = Some(Vec::new());
    // The peer has everything but the last `n` changes.
    let all = doc.get_changes(&[]);
    let (had, sent) = all.split_at(all.len() - n);
    state.shared_heads = vec![had.last().unwrap().hash()];
    state.their_have.as_mut().unwrap()[0].last_sync = state.shared_heads.clone();
    state.their_heads = Some(state.shared_heads.clone());
    let message = doc.generate_sync_message(&mut state).unwrap();
    (message, sent.iter().map(|c| c.raw_bytes().to_vec()).collect())
}

#[test]
fn changes_concatenated_in_one_entry_are_split_into_one_chunk_each() {
    let doc = doc_with_changes(30);
    let (message, sent) = v2_message_with_changes(&doc, 4);
    assert_eq!(message.changes.len(), 1, "automerge sends the four changes in one entry");
    let decoded = decode_sync_message(&message.clone().encode(), &Limits::DEFAULT).unwrap();
    assert_eq!(decoded.changes.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), sent, "one chunk per change, in order");

    // Splitting stops at the change limit, not at the message's end.
    let limits = Limits { max_chunks_per_doc: 3, ..Limits::DEFAULT };
    assert!(matches!(decode_sync_message(&message.clone().encode(), &limits), Err(SyncMessageError::TooMany { what: "changes", count: 4, limit: 3 })));

    // Bytes after a chunk that do not make a chunk are handed on as they are (and refused by
    // the store as an invalid change); a length beyond the entry leaves it whole.
    let mut entry = sent[0].clone();
    entry.extend_from_slice(b"trailing");
    let one = Message { changes: automerge::sync::ChunkList::from(vec![entry.clone()]), ..message.clone() };
    let decoded = decode_sync_message(&one.encode(), &Limits::DEFAULT).unwrap();
    assert_eq!(decoded.changes.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(), [sent[0].clone(), b"trailing".to_vec()]);
    let truncated = Message { changes: automerge::sync::ChunkList::from(vec![sent[0][..sent[0].len() - 1].to_vec()]), ..message };
    assert_eq!(decode_sync_message(&truncated.encode(), &Limits::DEFAULT).unwrap().changes.len(), 1);
}
