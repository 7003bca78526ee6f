//! Decoding never panics and never trusts a length field; valid messages round-trip.

use proptest::prelude::*;
use sync_core::{
    ChangeHash, DecodeError, DocRequest, DocResponse, DocStatus, DocumentId, Heads, Limits, SyncRequest, SyncResponse,
};

fn heads() -> impl Strategy<Value = Heads> {
    prop::collection::vec(any::<[u8; 32]>().prop_map(ChangeHash), 0..4).prop_map(Heads::new)
}

fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4)
}

fn request() -> impl Strategy<Value = SyncRequest> {
    prop::collection::vec((any::<[u8; 16]>(), heads(), heads(), chunks()), 0..4).prop_map(|docs| {
        let mut seen = std::collections::HashSet::new();
        SyncRequest {
            docs: docs
                .into_iter()
                .filter(|(id, ..)| seen.insert(*id))
                .map(|(id, have, heads, chunks)| DocRequest { doc_id: DocumentId::from_bytes(id), have, heads, chunks })
                .collect(),
        }
    })
}

fn response() -> impl Strategy<Value = SyncResponse> {
    prop::collection::vec((any::<[u8; 16]>(), 0u8..6, heads(), heads(), chunks()), 0..4).prop_map(|docs| {
        let mut seen = std::collections::HashSet::new();
        SyncResponse {
        docs: docs
            .into_iter()
            .filter(|(id, ..)| seen.insert(*id))
            .map(|(id, status, heads, missing, chunks)| DocResponse {
                doc_id: DocumentId::from_bytes(id),
                status: DocStatus::from_code(status).unwrap(),
                heads,
                missing,
                chunks,
            })
            .collect(),
    }})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SyncRequest::decode(&bytes, &Limits::DEFAULT);
        let _ = SyncResponse::decode(&bytes, &Limits::DEFAULT);
    }

    #[test]
    fn requests_round_trip(req in request()) {
        prop_assert_eq!(SyncRequest::decode(&req.encode(), &Limits::DEFAULT).unwrap(), req);
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        prop_assert_eq!(SyncResponse::decode(&resp.encode(), &Limits::DEFAULT).unwrap(), resp);
    }

    #[test]
    fn mutated_messages_never_panic(req in request(), resp in response(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        for mut bytes in [req.encode(), resp.encode()] {
            for (at, value) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *value;
            }
            let _ = SyncRequest::decode(&bytes, &Limits::DEFAULT);
            let _ = SyncResponse::decode(&bytes, &Limits::DEFAULT);
            let truncated = &bytes[..cut.index(bytes.len() + 1)];
            let _ = SyncRequest::decode(truncated, &Limits::DEFAULT);
            let _ = SyncResponse::decode(truncated, &Limits::DEFAULT);
        }
    }
}

#[test]
fn unknown_versions_and_types_are_typed_errors() {
    assert_eq!(SyncRequest::decode(&[], &Limits::DEFAULT), Err(DecodeError::Empty));
    assert_eq!(SyncRequest::decode(&[2, 1, 0], &Limits::DEFAULT), Err(DecodeError::UnsupportedVersion(2)));
    assert!(matches!(SyncRequest::decode(&[1, 2, 0], &Limits::DEFAULT), Err(DecodeError::WrongMessageType { .. })));
    assert_eq!(SyncRequest::decode(&[1, 1, 0, 0], &Limits::DEFAULT), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn limits_are_enforced() {
    let doc = DocRequest {
        doc_id: DocumentId::from_bytes([1; 16]),
        have: Heads::empty(),
        heads: Heads::empty(),
        chunks: vec![vec![0; 10]; 3],
    };
    let bytes = SyncRequest { docs: vec![doc.clone(), DocRequest { doc_id: DocumentId::from_bytes([2; 16]), ..doc }] }.encode();
    let tight = |f: fn(&mut Limits)| {
        let mut l = Limits::DEFAULT;
        f(&mut l);
        SyncRequest::decode(&bytes, &l).unwrap_err()
    };
    assert!(matches!(tight(|l| l.max_docs = 1), DecodeError::TooMany { what: "documents", .. }));
    assert!(matches!(tight(|l| l.max_chunks_per_doc = 2), DecodeError::TooMany { what: "chunks", .. }));
    assert!(matches!(tight(|l| l.max_chunk_bytes = 9), DecodeError::TooMany { what: "chunk", .. }));
    assert!(matches!(tight(|l| l.max_message_bytes = 10), DecodeError::MessageTooLarge { .. }));
}

#[test]
fn a_huge_count_with_no_bytes_behind_it_fails_fast() {
    // version, type, then a count of 2^63 documents.
    let mut bytes = vec![1, 1];
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    let unlimited = Limits { max_docs: usize::MAX, ..Limits::DEFAULT };
    assert!(matches!(SyncRequest::decode(&bytes, &unlimited), Err(DecodeError::Truncated("documents"))));
}

#[test]
fn duplicate_documents_and_unsorted_heads_are_rejected() {
    let doc = DocRequest { doc_id: DocumentId::from_bytes([1; 16]), have: Heads::empty(), heads: Heads::empty(), chunks: vec![] };
    let bytes = SyncRequest { docs: vec![doc.clone(), doc] }.encode();
    assert!(matches!(SyncRequest::decode(&bytes, &Limits::DEFAULT), Err(DecodeError::DuplicateDocument(_))));
    let mut bytes = vec![1, 1, 1];
    bytes.extend([1; 16]);
    bytes.push(2);
    bytes.extend([2; 32]);
    bytes.extend([1; 32]);
    bytes.extend([0, 0]);
    assert_eq!(SyncRequest::decode(&bytes, &Limits::DEFAULT), Err(DecodeError::UnsortedHashes));
}

mod merge_input {
    use super::*;
    use automerge::{Automerge, transaction::Transactable};
    use sync_core::document::StoredDoc;
    use sync_core::server::{self, Access};

    fn valid_change() -> Vec<u8> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "key", "a value long enough to matter").unwrap();
        tx.commit();
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    /// Every single-byte corruption of a change is refused before automerge applies it
    /// (automerge does not verify a change's checksum, and applies some corrupt changes only to
    /// panic on them).
    #[test]
    fn every_single_byte_corruption_is_an_invalid_change() {
        let valid = valid_change();
        for i in 0..valid.len() {
            for value in [0u8, 1, 2, 3, 0x7f, 0x80, 0xff] {
                if valid[i] == value {
                    continue;
                }
                let mut chunk = valid.clone();
                chunk[i] = value;
                let request = DocRequest { doc_id: DocumentId::from_bytes([3; 16]), have: Heads::empty(), heads: Heads::empty(), chunks: vec![chunk] };
                let merged = server::merge(StoredDoc::default(), &request, Access::ReadWrite, &Limits::DEFAULT).unwrap();
                assert_eq!(merged.response.status, DocStatus::InvalidChanges, "byte {i} set to {value}");
                assert!(merged.new_changes.is_empty());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Pushed chunks are untrusted too: corrupt changes give a status, never a panic
        /// (`TooLarge` when the corrupt bytes claim more than a limit allows, e.g. thousands of
        /// actors), and nothing is stored unless the change is still valid.
        #[test]
        fn corrupt_changes_never_panic_the_merge(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6), cut in any::<prop::sample::Index>()) {
            let mut chunk = valid_change();
            for (at, value) in &edits {
                let i = at.index(chunk.len());
                chunk[i] = *value;
            }
            chunk.truncate(cut.index(chunk.len() + 1).max(1));
            let request = DocRequest { doc_id: DocumentId::from_bytes([3; 16]), have: Heads::empty(), heads: Heads::empty(), chunks: vec![chunk] };
            let merged = server::merge(StoredDoc::default(), &request, Access::ReadWrite, &Limits::DEFAULT).unwrap();
            let status = merged.response.status;
            prop_assert!(matches!(status, DocStatus::Ok | DocStatus::InvalidChanges | DocStatus::TooLarge), "{:?} {:?}", status, merged.rejection);
            prop_assert!(status == DocStatus::Ok || merged.new_changes.is_empty());
        }
    }
}
