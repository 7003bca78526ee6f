//! Hand-built hostile chunks: bombs, disguised columns, malformed and truncated input, shapes
//! that make automerge 0.12 panic, and random mutations.

use super::*;

#[test]
fn type2_zero_bomb_is_refused_within_budget() {
    let bomb = chunk(TYPE_COMPRESSED, [0; 4], &deflate_zeros(64 << 20));
    let mut b = Budget {
        max_inflated_bytes: 8 << 20,
        ..budget()
    };
    reset_peak();
    let err = inspect_chunk(&bomb, &mut b).unwrap_err();
    assert!(matches!(err, InspectError::InflateLimit { .. }), "{err:?}");
    assert!(peak() <= (8 << 20) + MAX_HEADER_LEN, "peak {}", peak());
    assert_eq!(b.max_inflated_bytes, 0);
    assert_eq!(b.max_ops, budget().max_ops);
}

#[test]
fn deflated_document_column_bomb_is_refused() {
    let body = doc_body(1, &[], &[(spec::ACTION | DEFLATE_BIT, deflate_zeros(64 << 20))]);
    let mut b = Budget {
        max_inflated_bytes: 8 << 20,
        ..budget()
    };
    reset_peak();
    let err = inspect_chunk(&chunk(TYPE_DOCUMENT, [0; 4], &body), &mut b).unwrap_err();
    assert!(matches!(err, InspectError::InflateLimit { .. }), "{err:?}");
    assert!(peak() <= 8 << 20, "peak {}", peak());
}

#[test]
fn rle_action_bomb_is_refused() {
    let mut action = Vec::new();
    sleb(&mut action, 1 << 40);
    uleb(&mut action, 1);
    let bomb = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION, action)]));
    assert_eq!(
        inspect_chunk(&bomb, &mut budget()),
        Err(InspectError::TooManyOps {
            limit: budget().max_ops
        })
    );
    // a null run is a run too
    let mut nulls = Vec::new();
    sleb(&mut nulls, 0);
    uleb(&mut nulls, 1 << 40);
    let bomb = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION, nulls)]));
    assert!(matches!(
        inspect_chunk(&bomb, &mut budget()),
        Err(InspectError::TooManyOps { .. })
    ));
}

#[test]
fn grouped_and_overflowing_runs_are_refused() {
    let mut preds = Vec::new();
    sleb(&mut preds, 1 << 40);
    uleb(&mut preds, 0);
    let bomb = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::PRED_ACTOR, preds)]));
    assert!(matches!(
        inspect_chunk(&bomb, &mut budget()),
        Err(InspectError::TooManyItems { spec: 113, .. })
    ));

    let mut min = Vec::new();
    sleb(&mut min, i64::MIN);
    let bomb = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION, min)]));
    assert!(matches!(
        inspect_chunk(&bomb, &mut budget()),
        Err(InspectError::BadColumnData { spec: 66, .. })
    ));

    // a string claiming ~1 GB (automerge would `vec![0; len]` before reading it)
    let mut s = Vec::new();
    sleb(&mut s, 1);
    uleb(&mut s, 999_999_999);
    let bomb = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::KEY_STR, s)]));
    assert!(matches!(
        inspect_chunk(&bomb, &mut budget()),
        Err(InspectError::BadColumnData { spec: 21, .. })
    ));
}

#[test]
fn disguised_deflated_column_counts_as_id_actor() {
    // id 18, actor, DEFLATE: automerge rewrites it to spec 33 (op-ID actor) after inflation.
    let disguised = (18u32 << 4) | DEFLATE_BIT | 1;
    assert_eq!(disguised & NORMALIZE_MASK, spec::ID_ACTOR);
    let mut payload = Vec::new();
    sleb(&mut payload, 1 << 40);
    uleb(&mut payload, 0);
    let body = doc_body(1, &[], &[(disguised, deflate(&payload))]);
    assert_eq!(
        inspect_chunk(&chunk(TYPE_DOCUMENT, [0; 4], &body), &mut budget()),
        Err(InspectError::TooManyOps {
            limit: budget().max_ops
        })
    );
}

#[test]
fn change_count_bomb_in_document_is_refused() {
    let mut actors = Vec::new();
    sleb(&mut actors, 1 << 40);
    uleb(&mut actors, 0);
    let body = doc_body(1, &[(spec::CHG_ACTOR, actors)], &[]);
    assert!(matches!(
        inspect_chunk(&chunk(TYPE_DOCUMENT, [0; 4], &body), &mut budget()),
        Err(InspectError::TooManyChanges { .. })
    ));
    // max_op column is expanded by automerge independently of the actor column
    let mut max_op = Vec::new();
    sleb(&mut max_op, 1 << 40);
    sleb(&mut max_op, 0);
    let body = doc_body(1, &[(spec::CHG_MAX_OP, max_op)], &[]);
    assert!(matches!(
        inspect_chunk(&chunk(TYPE_DOCUMENT, [0; 4], &body), &mut budget()),
        Err(InspectError::TooManyItems { spec: 19, .. })
    ));
}

#[test]
fn structural_rejections() {
    assert_eq!(
        inspect_chunk(&chunk(TYPE_BUNDLE, [0; 4], &[]), &mut budget()),
        Err(InspectError::BundleRejected)
    );
    assert_eq!(
        inspect_chunk(&chunk(4, [0; 4], &[]), &mut budget()),
        Err(InspectError::UnknownChunkType(4))
    );
    assert_eq!(
        inspect_chunk(b"\x00\x01\x02\x03abcd\x01\x00", &mut budget()),
        Err(InspectError::BadMagic)
    );
    assert_eq!(
        inspect_chunk(&[], &mut budget()),
        Err(InspectError::Truncated("magic bytes"))
    );
    let mut action = Vec::new();
    sleb(&mut action, 1);
    uleb(&mut action, 1);
    assert!(matches!(
        inspect_chunk(
            &chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION | DEFLATE_BIT, deflate(&action))])),
            &mut budget()
        ),
        Err(InspectError::CompressedColumnInChange { .. })
    ));
    assert!(matches!(
        inspect_chunk(
            &chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION, action.clone()), (spec::OBJ_ACTOR, vec![])])),
            &mut budget()
        ),
        Err(InspectError::ColumnsOutOfOrder { .. })
    ));
    let ok = chunk(TYPE_CHANGE, [0; 4], &change_body(&[(spec::ACTION, action)]));
    assert_eq!(
        inspect_chunk(&ok, &mut budget()).unwrap().0,
        Inspected::Change { ops: 1 }
    );
    let doc = sample_doc();
    let raw = doc.get_changes(&[])[0].raw_bytes().to_vec();
    let mut b = Budget {
        max_actors: 0,
        ..budget()
    };
    assert!(matches!(
        inspect_chunk(&raw, &mut b),
        Err(InspectError::TooManyActors { .. })
    ));
    let mut b = Budget {
        max_changes: 0,
        ..budget()
    };
    assert!(matches!(
        inspect_chunk(&raw, &mut b),
        Err(InspectError::TooManyChanges { .. })
    ));
}

#[test]
fn truncated_and_trailing_inputs_are_errors() {
    let doc = sample_doc();
    let mut changes = doc.get_changes(&[]);
    let raw_change = changes[0].raw_bytes().to_vec();
    let compressed_change = changes
        .iter_mut()
        .map(|c| c.bytes().into_owned())
        .find(|b| b.get(8) == Some(&TYPE_COMPRESSED))
        .unwrap();
    let saved = doc.save();
    for bytes in [&raw_change, &compressed_change, &saved] {
        for cut in 0..bytes.len() {
            assert!(inspect_chunk(&bytes[..cut], &mut budget()).is_err(), "cut {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            inspect_chunk(&trailing, &mut budget()),
            Err(InspectError::LengthMismatch { .. })
        ));
        let mut two_chunks = bytes.clone();
        two_chunks.extend_from_slice(&raw_change);
        assert!(matches!(
            inspect_chunk(&two_chunks, &mut budget()),
            Err(InspectError::LengthMismatch { .. })
        ));
    }
    // truncated change *bodies* with a consistent header: all errors
    let header = parse_header(&raw_change).unwrap();
    for cut in 0..header.body.len() {
        let c = chunk(TYPE_CHANGE, header.checksum, &header.body[..cut]);
        assert!(inspect_chunk(&c, &mut budget()).is_err(), "body cut {cut}");
    }
    // document bodies: cutting exactly after the op data is legal (no head indexes), so
    // only require "no panic"; a byte after the head indexes is an error.
    let header = parse_header(&saved).unwrap();
    for cut in 0..header.body.len() {
        let c = chunk(TYPE_DOCUMENT, header.checksum, &header.body[..cut]);
        let _ = inspect_chunk(&c, &mut budget());
    }
    let mut body = header.body.to_vec();
    body.push(0);
    assert!(matches!(
        inspect_chunk(&chunk(TYPE_DOCUMENT, header.checksum, &body), &mut budget()),
        Err(InspectError::LeftoverData(_))
    ));
}

/// Returns (original saved doc, body, range of column `spec` in the change section).
fn change_column(doc: &Automerge, s: u32) -> (Vec<u8>, Vec<u8>, Range<usize>) {
    let saved = doc.save_nocompress();
    let header = parse_header(&saved).unwrap();
    let layout = parse_doc_layout(header.body, u64::MAX).unwrap();
    let range = layout
        .change_cols
        .iter()
        .find(|c| c.spec == s)
        .unwrap()
        .range
        .clone();
    let body = header.body.to_vec();
    (saved, body, range)
}

/// Document whose second change depends on change index 50 (there are two changes).
fn forged_bad_dependency() -> Vec<u8> {
    let (saved, mut body, range) = change_column(&two_change_doc(), spec::CHG_DEPS_VAL);
    assert_eq!(chunk_checksummed(TYPE_DOCUMENT, &body), saved);
    assert_eq!(range.len(), 2, "deps column: {:?}", &body[range.clone()]);
    assert_eq!(body[range.end - 1], 0, "deps column: {:?}", &body[range.clone()]);
    body[range.end - 1] = 50;
    chunk_checksummed(TYPE_DOCUMENT, &body)
}

/// Document whose change-actor column is a null run of 2.
fn forged_null_actor() -> Vec<u8> {
    let (_, mut body, range) = change_column(&two_change_doc(), spec::CHG_ACTOR);
    assert_eq!(&body[range.clone()], &[2, 0], "actor column");
    body[range.start] = 0;
    body[range.start + 1] = 2;
    chunk_checksummed(TYPE_DOCUMENT, &body)
}

#[test]
fn documents_that_would_panic_automerge_are_refused() {
    let good = two_change_doc().save_nocompress();
    assert!(inspect_chunk(&good, &mut budget()).is_ok());
    assert_eq!(
        inspect_chunk(&forged_bad_dependency(), &mut budget()),
        Err(InspectError::BadDependency)
    );
    assert!(matches!(
        inspect_chunk(&forged_null_actor(), &mut budget()),
        Err(InspectError::BadColumnData { spec: 1, .. })
    ));
}

/// Evidence for notes.md: automerge 0.12 panics (index out of bounds at
/// change_graph.rs:1007) instead of returning an error.
#[test]
#[ignore = "demonstrates a panic inside automerge 0.12; run with --ignored"]
fn automerge_panics_on_out_of_range_dependency() {
    let forged = forged_bad_dependency();
    match std::panic::catch_unwind(|| Automerge::load(&forged)) {
        Err(_) => {}
        Ok(r) => panic!("automerge did not panic: {:?}", r.map(|_| ())),
    }
}

/// Evidence for notes.md: hexane's streaming decoder panics on a null in a non-nullable
/// column (hexane lib.rs:363-365), reached from change_graph.rs:944.
#[test]
#[ignore = "demonstrates a panic inside automerge 0.12; run with --ignored"]
fn automerge_panics_on_null_change_actor() {
    let forged = forged_null_actor();
    match std::panic::catch_unwind(|| Automerge::load(&forged)) {
        Err(_) => {}
        Ok(r) => panic!("automerge did not panic: {:?}", r.map(|_| ())),
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let doc = sample_doc();
    let mut seeds: Vec<Vec<u8>> = vec![doc.save(), doc.save_nocompress()];
    for mut c in doc.get_changes(&[]) {
        seeds.push(c.raw_bytes().to_vec());
        seeds.push(c.bytes().into_owned());
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let seed = &seeds[(next() as usize) % seeds.len()];
        let header = parse_header(seed).unwrap();
        let mut body = header.body.to_vec();
        let flips = 1 + next() % 4;
        for _ in 0..flips {
            if body.is_empty() {
                break;
            }
            let i = (next() as usize) % body.len();
            body[i] ^= 1u8 << (next() % 8);
        }
        if next() % 5 == 0 {
            let keep = (next() as usize) % (body.len() + 1);
            body.truncate(keep);
        }
        let mut b = Budget {
            max_inflated_bytes: 1 << 20,
            ..budget()
        };
        // consistent header: exercises the body parsers
        let _ = inspect_chunk(&chunk(header.chunk_type, header.checksum, &body), &mut b);
        // raw mutation of the whole chunk: exercises the header parser
        let mut whole = seed.clone();
        let i = (next() as usize) % whole.len();
        whole[i] ^= 1u8 << (next() % 8);
        let _ = inspect_chunk(&whole, &mut b);
    }
}

#[test]
fn op_id_counters_automerge_would_panic_on_are_refused() {
    // automerge's parser turns these counters into u32 with `try_into().unwrap()`.
    use automerge::legacy::{ObjectId, Op, OpId};
    let honest = sample_doc().get_changes(&[])[1].decode();
    let huge = OpId(u64::from(u32::MAX) + 5, honest.actor_id.clone());
    let bends: [fn(&mut Op, OpId); 2] = [|op, id| op.obj = ObjectId::Id(id), |op, id| op.pred = vec![id].into()];
    for bend in bends {
        let mut bent = honest.clone();
        bend(&mut bent.operations[0], huge.clone());
        bent.hash = None;
        let raw = Change::from(bent).raw_bytes().to_vec();
        let refused = inspect_chunk(&raw, &mut budget());
        assert!(matches!(refused, Err(InspectError::BadColumnData { .. })), "{refused:?}");
    }
}
