//! Change chunks: type 1 as sent, type 2 inflated (bounded) into the type-1 chunk automerge
//! would build itself.

use super::columns::{DEFLATE_BIT, Val, bad, delta_u32_step, read_column_metadata, scan_column, scan_op_columns, total_column_len};
use super::spec::{self, change_chunk_role};
use super::inflate::inflate_capped;
use super::reader::{Reader, leb_err, len_prefixed, skip_hashes, strict_u, write_uleb};
use super::{Budget, ChunkHeader, InspectError, Inspected, MAGIC, MAX_HEADER_LEN, Spend, TYPE_CHANGE};


/// Type 2: inflate (bounded), rebuild the type-1 chunk exactly as automerge does, inspect it.
pub(super) fn inspect_compressed(
    header: &ChunkHeader<'_>,
    budget: &Budget,
    spend: &mut Spend,
) -> Result<(Inspected, Option<Vec<u8>>), InspectError> {
    // Inflate after a MAX_HEADER_LEN gap so the header can be written in place (no second
    // buffer of the inflated size).
    let mut out = inflate_capped(
        header.body,
        MAX_HEADER_LEN,
        budget.max_inflated_bytes,
        spend,
    )?;
    let body_len = out
        .len()
        .checked_sub(MAX_HEADER_LEN)
        .ok_or(InspectError::AllocFailed)?;

    // automerge: `header.with_data(ChunkType::Change, &decompressed)` keeps the checksum,
    // `Header::write` emits MAGIC, checksum, type byte, minimal uLEB128 length.
    let mut head = Vec::with_capacity(MAX_HEADER_LEN);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&header.checksum);
    head.push(TYPE_CHANGE);
    write_uleb(
        &mut head,
        u64::try_from(body_len).map_err(|_| InspectError::AllocFailed)?,
    );
    let start = MAX_HEADER_LEN
        .checked_sub(head.len())
        .ok_or(InspectError::AllocFailed)?;
    let slot = out
        .get_mut(start..MAX_HEADER_LEN)
        .ok_or(InspectError::AllocFailed)?;
    if slot.len() != head.len() {
        return Err(InspectError::AllocFailed);
    }
    slot.copy_from_slice(&head);
    out.drain(..start);

    let ops = {
        let body = out.get(head.len()..).ok_or(InspectError::AllocFailed)?;
        inspect_body(body, budget, spend)?
    };
    Ok((Inspected::Change { ops }, Some(out)))
}

/// Change chunk body (`storage/change.rs:100-156`):
/// deps (uLEB count + 32-byte hashes), actor (uLEB len + bytes), seq (uLEB), start_op (uLEB,
/// nonzero), time (sLEB), message (uLEB len + UTF-8), other actors (uLEB count + uLEB-len
/// prefixed), op column metadata, op column data, extra bytes (everything left; allowed).
pub(super) fn inspect_body(
    body: &[u8],
    budget: &Budget,
    spend: &mut Spend,
) -> Result<u64, InspectError> {
    if budget.max_changes == 0 {
        return Err(InspectError::TooManyChanges { limit: 0 });
    }
    let mut r = Reader::new(body);
    skip_hashes(&mut r, "dependency count", "dependencies")?;
    len_prefixed(&mut r, "actor id length", "actor id")?;
    strict_u(&mut r, "seq")?;
    if strict_u(&mut r, "start_op")? == 0 {
        return Err(InspectError::ZeroStartOp);
    }
    r.sleb_strict().map_err(|e| leb_err(e, "timestamp"))?;
    let msg = len_prefixed(&mut r, "message length", "message")?;
    std::str::from_utf8(msg).map_err(|_| InspectError::InvalidUtf8("message"))?;
    let n_other = strict_u(&mut r, "other actor count")?;
    let n_actors = n_other.saturating_add(1);
    if n_actors > budget.max_actors {
        return Err(InspectError::TooManyActors {
            count: n_actors,
            limit: budget.max_actors,
        });
    }
    for _ in 0..n_other {
        len_prefixed(&mut r, "other actor id length", "other actor id")?;
    }

    let cols = read_column_metadata(&mut r)?;
    // automerge rejects DEFLATE-flagged columns in change chunks
    // (`storage/change.rs:127-129`), without inflating them.
    if let Some(&(spec, _)) = cols.iter().find(|(s, _)| s & DEFLATE_BIT != 0) {
        return Err(InspectError::CompressedColumnInChange { spec });
    }
    let total = total_column_len(&cols)?;
    let data = r
        .take(total)
        .ok_or(InspectError::Truncated("column data"))?;
    // Whatever remains is the change's "extra bytes" (e.g. an author footer); automerge keeps
    // it verbatim and never decodes it as columns.

    let mut columns = Vec::with_capacity(cols.len());
    let mut offset: usize = 0;
    for &(s, len) in &cols {
        let end = offset.checked_add(len).ok_or(InspectError::ColumnLengthOverflow)?;
        columns.push((s, data.get(offset..end).ok_or(InspectError::Truncated("column data"))?));
        offset = end;
    }
    // `ChangeOpsIter::done()` is `action.done()` (`change_op_columns.rs:394-397`): the action
    // column alone decides how many ops automerge iterates.
    let ops = scan_op_columns(columns.iter().copied(), change_chunk_role, spec::ACTION, budget.max_ops)?;
    check_op_ids(&columns, n_actors)?;

    spend.ops = ops;
    spend.changes = 1;
    Ok(ops)
}


/// The op ids a change refers to (object, element key, preds) as automerge decodes them:
/// an actor index into the change's actor list, and a counter that automerge turns into a
/// `u32` with `try_into().unwrap()` (`types.rs:463-465`). Parsing panics on a counter above
/// `u32::MAX`, and expanding or applying the change panics on an actor index past the list, so
/// both are refused here. Run over columns [`scan_op_columns`] has already bounded.
fn check_op_ids(columns: &[(u32, &[u8])], n_actors: u64) -> Result<(), InspectError> {
    for &(s, data) in columns {
        match s {
            spec::OBJ_ACTOR | spec::KEY_ACTOR | spec::PRED_ACTOR => scan_column(data, s, u64::MAX, |_, v| match v {
                Some(Val::Uint(actor)) if actor >= n_actors => Err(bad(s, "actor index past the change's actors")),
                _ => Ok(()),
            }),
            spec::OBJ_CTR => scan_column(data, s, u64::MAX, |_, v| match v {
                Some(Val::Uint(counter)) if counter > u64::from(u32::MAX) => Err(bad(s, "counter above u32::MAX")),
                _ => Ok(()),
            }),
            spec::KEY_CTR | spec::PRED_CTR => {
                // Delta-encoded; a null row (a map key) leaves the running value unchanged.
                let mut running = 0;
                scan_column(data, s, u64::MAX, |count, v| match v {
                    None => Ok(()),
                    v => delta_u32_step(&mut running, count, v, s),
                })
            }
            _ => Ok(0),
        }?;
    }
    Ok(())
}
