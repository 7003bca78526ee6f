//! Real automerge chunks: what the inspector counts is what automerge reports.

use super::*;

#[test]
fn checksum_rule_matches_automerge() {
    assert_eq!(
        sha256(b"abc"),
        [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d,
            0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10,
            0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
        ]
    );
    let doc = sample_doc();
    for change in doc.get_changes(&[]) {
        let raw = change.raw_bytes().to_vec();
        let header = parse_header(&raw).unwrap();
        let rebuilt = chunk_checksummed(TYPE_CHANGE, header.body);
        assert_eq!(rebuilt, raw, "checksum rule reproduces automerge's change chunk");
        let mut pre = vec![TYPE_CHANGE];
        uleb(&mut pre, header.body.len() as u64);
        pre.extend_from_slice(header.body);
        assert_eq!(sha256(&pre), change.hash().0, "change hash = SHA-256 of type||len||body");
    }
    let saved = doc.save();
    let header = parse_header(&saved).unwrap();
    assert_eq!(chunk_checksummed(TYPE_DOCUMENT, header.body), saved);
}

#[test]
fn real_change_chunks_match_change_len() {
    let doc = sample_doc();
    let changes = doc.get_changes(&[]);
    assert_eq!(changes.len(), 3);
    for change in changes {
        let raw = change.raw_bytes().to_vec();
        let mut b = budget();
        let (ins, rewritten) = inspect_chunk(&raw, &mut b).unwrap();
        assert_eq!(
            ins,
            Inspected::Change {
                ops: change.len() as u64
            }
        );
        assert!(rewritten.is_none());
        assert_eq!(b.max_ops, budget().max_ops - change.len() as u64);
        assert_eq!(b.max_changes, budget().max_changes - 1);
        assert_eq!(b.max_inflated_bytes, budget().max_inflated_bytes);
    }
}

#[test]
fn compressed_change_is_rewritten_to_automerges_raw_bytes() {
    let doc = sample_doc();
    let mut found = false;
    for mut change in doc.get_changes(&[]) {
        let raw = change.raw_bytes().to_vec();
        let stored = change.bytes().into_owned();
        if stored.get(8) != Some(&TYPE_COMPRESSED) {
            continue;
        }
        found = true;
        let mut b = budget();
        let (ins, rewritten) = inspect_chunk(&stored, &mut b).unwrap();
        assert_eq!(
            ins,
            Inspected::Change {
                ops: change.len() as u64
            }
        );
        let rewritten = rewritten.expect("type 2 chunks are rewritten");
        assert_eq!(rewritten, raw, "rewritten chunk == Change::raw_bytes()");
        let reparsed = Change::try_from(&rewritten[..]).unwrap();
        assert_eq!(reparsed.hash(), change.hash());
        assert_eq!(reparsed.len(), change.len());
        let header = parse_header(&raw).unwrap();
        assert_eq!(
            b.max_inflated_bytes,
            budget().max_inflated_bytes - header.body.len()
        );
    }
    assert!(found, "expected a change large enough for Change::bytes() to compress");
}

#[test]
fn manually_compressed_change_and_trailing_deflate_data() {
    let doc = sample_doc();
    let change = doc.get_changes(&[]).into_iter().next().unwrap();
    let raw = change.raw_bytes().to_vec();
    let header = parse_header(&raw).unwrap();
    let checksum = header.checksum;
    let compressed = deflate(header.body);

    let (ins, rewritten) =
        inspect_chunk(&chunk(TYPE_COMPRESSED, checksum, &compressed), &mut budget()).unwrap();
    assert_eq!(
        ins,
        Inspected::Change {
            ops: change.len() as u64
        }
    );
    assert_eq!(rewritten.as_deref(), Some(&raw[..]));

    let mut with_tail = compressed.clone();
    with_tail.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(
        inspect_chunk(&chunk(TYPE_COMPRESSED, checksum, &with_tail), &mut budget()),
        Err(InspectError::DeflateTrailingData)
    );
    assert_eq!(
        inspect_chunk(&chunk(TYPE_COMPRESSED, checksum, b"not deflate"), &mut budget()),
        Err(InspectError::Deflate)
    );
}

#[test]
fn real_documents_match_stats() {
    let doc = sample_doc();
    let stats = doc.stats();
    let total_change_ops: u64 = doc.get_changes(&[]).iter().map(|c| c.len() as u64).sum();
    let compressed = doc.save();
    let uncompressed = doc.save_nocompress();
    assert_ne!(compressed, uncompressed, "sample doc should have DEFLATE columns");
    for bytes in [&compressed, &uncompressed] {
        let mut b = budget();
        let (ins, rewritten) = inspect_chunk(bytes, &mut b).unwrap();
        assert_eq!(
            ins,
            Inspected::Document {
                changes: stats.num_changes,
                ops: stats.num_ops
            }
        );
        assert!(rewritten.is_none());
        assert_eq!(b.max_changes, budget().max_changes - stats.num_changes);
        assert_eq!(
            b.max_ops,
            budget().max_ops - stats.num_ops.max(total_change_ops)
        );
    }
    let mut b = budget();
    inspect_chunk(&compressed, &mut b).unwrap();
    assert!(b.max_inflated_bytes < budget().max_inflated_bytes);
}

#[test]
fn empty_document() {
    let bytes = Automerge::new().save();
    let (ins, _) = inspect_chunk(&bytes, &mut budget()).unwrap();
    assert_eq!(ins, Inspected::Document { changes: 0, ops: 0 });
}
