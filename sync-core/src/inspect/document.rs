//! Document chunks: every column automerge decodes is inflated (bounded) and walked, and the
//! shapes that make automerge 0.12 panic while loading are refused.

use std::borrow::Cow;
use std::ops::Range;

use super::columns::{
    Cursor, DEFLATE_BIT, Enc, GROUPED_ITEMS_FACTOR, NORMALIZE_MASK, Val, add_meta_len, bad, check_meta_vs_raw,
    delta_u32_step, null_err, promote, read_column_metadata, scan_column, scan_op_columns, total_column_len,
};
use super::spec::{self, Role, doc_change_role, doc_op_role};
use super::inflate::inflate_capped;
use super::reader::{Reader, len_prefixed, skip_hashes, strict_u};
use super::{Budget, InspectError, Spend};


#[derive(Debug, Clone)]
pub(super) struct ColRef {
    /// The spec as stored (before automerge's post-inflation rewrite).
    pub(super) spec: u32,
    /// Location of the (possibly compressed) column data in the chunk body.
    pub(super) range: Range<usize>,
}

#[derive(Debug)]
pub(super) struct DocLayout {
    n_actors: u64,
    pub(super) change_cols: Vec<ColRef>,
    op_cols: Vec<ColRef>,
}

/// Document chunk body (`storage/document.rs:65-184`): actors (uLEB count + uLEB-len prefixed),
/// heads (uLEB count + 32-byte hashes), change column metadata, op column metadata, change
/// column data, op column data, then either nothing or exactly one uLEB128 head index per
/// head. Anything after that is `LeftoverData` in automerge (`storage/chunk.rs:75-77`).
pub(super) fn parse_doc_layout(body: &[u8], max_actors: u64) -> Result<DocLayout, InspectError> {
    let mut r = Reader::new(body);
    let n_actors = strict_u(&mut r, "actor count")?;
    if n_actors > max_actors {
        return Err(InspectError::TooManyActors {
            count: n_actors,
            limit: max_actors,
        });
    }
    for _ in 0..n_actors {
        len_prefixed(&mut r, "actor id length", "actor id")?;
    }
    let n_heads = skip_hashes(&mut r, "head count", "heads")?;
    let change_meta = read_column_metadata(&mut r)?;
    let op_meta = read_column_metadata(&mut r)?;

    let change_start = r.pos();
    let change_total = total_column_len(&change_meta)?;
    r.take(change_total)
        .ok_or(InspectError::Truncated("change column data"))?;
    let op_start = r.pos();
    let op_total = total_column_len(&op_meta)?;
    r.take(op_total)
        .ok_or(InspectError::Truncated("op column data"))?;

    if !r.is_empty() {
        for _ in 0..n_heads {
            strict_u(&mut r, "head index")?;
        }
        if !r.is_empty() {
            return Err(InspectError::LeftoverData("document head indexes"));
        }
    }

    Ok(DocLayout {
        n_actors,
        change_cols: col_refs(&change_meta, change_start)?,
        op_cols: col_refs(&op_meta, op_start)?,
    })
}

pub(super) fn col_refs(meta: &[(u32, usize)], start: usize) -> Result<Vec<ColRef>, InspectError> {
    let mut out = Vec::new();
    out.try_reserve_exact(meta.len())
        .map_err(|_| InspectError::AllocFailed)?;
    let mut offset = start;
    for &(spec, len) in meta {
        let end = offset
            .checked_add(len)
            .ok_or(InspectError::ColumnLengthOverflow)?;
        out.push(ColRef {
            spec,
            range: offset..end,
        });
        offset = end;
    }
    Ok(out)
}

/// Inflate DEFLATE-flagged columns (all of them, known or not, because automerge inflates all
/// of them) and return the columns automerge will decode, keyed by the spec automerge will
/// *see*: `raw & 0xF7` for inflated columns, the raw spec otherwise
/// (`raw_column.rs:89-102`, `:156-178`). Normalized specs are unique (checked in
/// `read_column_metadata`), so these effective specs are unique too.
pub(super) fn load_doc_columns<'a>(
    body: &'a [u8],
    cols: &[ColRef],
    budget: &Budget,
    spend: &mut Spend,
    role: fn(u32) -> Option<Role>,
) -> Result<Vec<(u32, Cow<'a, [u8]>)>, InspectError> {
    let mut out = Vec::new();
    out.try_reserve_exact(cols.len())
        .map_err(|_| InspectError::AllocFailed)?;
    for c in cols {
        let raw = body
            .get(c.range.clone())
            .ok_or(InspectError::Truncated("column data"))?;
        let deflated = c.spec & DEFLATE_BIT != 0;
        let effective = if deflated {
            c.spec & NORMALIZE_MASK
        } else {
            c.spec
        };
        let data: Cow<'a, [u8]> = if deflated {
            Cow::Owned(inflate_capped(
                raw,
                0,
                budget.max_inflated_bytes,
                spend,
            )?)
        } else {
            Cow::Borrowed(raw)
        };
        if role(effective).is_some() {
            out.push((effective, data));
        }
    }
    Ok(out)
}

pub(super) fn inspect_body(
    body: &[u8],
    budget: &Budget,
    spend: &mut Spend,
) -> Result<(u64, u64), InspectError> {
    let layout = parse_doc_layout(body, budget.max_actors)?;
    let change_cols = load_doc_columns(body, &layout.change_cols, budget, spend, doc_change_role)?;
    let op_cols = load_doc_columns(body, &layout.op_cols, budget, spend, doc_op_role)?;

    let (changes, claimed) = check_doc_changes(&change_cols, layout.n_actors, budget)?;
    let ops = check_doc_ops(&op_cols, budget)?;

    let charged = ops.max(claimed);
    if charged > budget.max_ops {
        return Err(InspectError::TooManyOps {
            limit: budget.max_ops,
        });
    }
    spend.ops = charged;
    spend.changes = changes;
    Ok((changes, ops))
}

/// The data of column `s`, or an empty slice if the column is absent (automerge treats an
/// absent column exactly like an empty one).
pub(super) fn find_col<'c>(cols: &'c [(u32, Cow<'_, [u8]>)], s: u32) -> &'c [u8] {
    cols.iter()
        .find(|(sp, _)| *sp == s)
        .map(|(_, d)| &**d)
        .unwrap_or(&[])
}

/// Change metadata columns. automerge 0.12 decodes actor, seq, max_op, deps-count and deps
/// with hexane's *streaming* decoders and `collect()`s them into `Vec`s before comparing their
/// lengths (`change_graph.rs:944-975`, `:986-1014`), so each one is a separate allocation bomb,
/// and those decoders `unwrap()` on malformed data. Hence every one is bounded here and the
/// five streaming-decoded columns are checked strictly.
///
/// Returns `(changes, claimed op slots)`.
pub(super) fn check_doc_changes(
    cols: &[(u32, Cow<'_, [u8]>)],
    n_actors: u64,
    budget: &Budget,
) -> Result<(u64, u64), InspectError> {
    use spec::*;
    let limit = budget.max_changes;
    let grouped = limit.saturating_mul(GROUPED_ITEMS_FACTOR);
    let find = |s: u32| find_col(cols, s);

    // The change count is the row count of the actor column (`change_graph.rs:955`).
    let changes = scan_column(find(CHG_ACTOR), CHG_ACTOR, limit, |_, v| match v {
        Some(Val::Uint(a)) if a < n_actors => Ok(()),
        Some(_) => Err(InspectError::BadActorIndex),
        None => Err(null_err(CHG_ACTOR)),
    })
    .map_err(|e| promote(e, CHG_ACTOR, InspectError::TooManyChanges { limit }))?;

    for s in [CHG_SEQ, CHG_MAX_OP] {
        let mut running: i64 = 0;
        let items = scan_column(find(s), s, limit, |count, v| {
            delta_u32_step(&mut running, count, v, s)
        })?;
        if items != changes {
            return Err(InspectError::ColumnLengthMismatch {
                spec: s,
                expected: changes,
                found: items,
            });
        }
    }

    // `max_ops[i]` is indexed by position in the deps-count column before its length is
    // compared (`change_graph.rs:990-993`), so it must match exactly.
    let deps_count_items = scan_column(
        find(CHG_DEPS_COUNT),
        CHG_DEPS_COUNT,
        limit,
        |_, v| match v {
            Some(Val::Uint(n)) if n <= u64::from(u32::MAX) => Ok(()),
            Some(_) => Err(bad(CHG_DEPS_COUNT, "dependency count exceeds u32")),
            None => Err(null_err(CHG_DEPS_COUNT)),
        },
    )?;
    if deps_count_items != changes {
        return Err(InspectError::ColumnLengthMismatch {
            spec: CHG_DEPS_COUNT,
            expected: changes,
            found: deps_count_items,
        });
    }

    let mut running: i64 = 0;
    scan_column(find(CHG_DEPS_VAL), CHG_DEPS_VAL, grouped, |count, v| {
        delta_u32_step(&mut running, count, v, CHG_DEPS_VAL)
    })?;

    for s in [CHG_TIME, CHG_MESSAGE] {
        scan_column(find(s), s, limit, |_, _| Ok(()))?;
    }
    let mut meta_sum: u128 = 0;
    scan_column(find(CHG_EXTRA_META), CHG_EXTRA_META, limit, |c, v| {
        add_meta_len(&mut meta_sum, c, v)
    })?;
    check_meta_vs_raw(meta_sum, find(CHG_EXTRA_RAW).len(), CHG_EXTRA_META)?;

    let claimed = claimed_op_slots(
        find(CHG_MAX_OP),
        find(CHG_DEPS_COUNT),
        find(CHG_DEPS_VAL),
        changes,
        budget.max_ops,
    )?;
    Ok((changes, claimed))
}

/// Mirror of the dependency loop in `ChangeGraphCols::load` (`change_graph.rs:986-1014`): each
/// change's op count is taken to be `max_op - max(max_op of its deps)`. Those counts size
/// per-change buffers during load (`op_set2/change/collector.rs:139-158`, `:280-292`), so their
/// sum is charged against the op budget. Dependencies must point at *earlier* changes: an index
/// past the end panics at `change_graph.rs:1007`, and a self/forward reference panics at
/// `op_set2/change/collector.rs:211-215` (`get_hash(..).unwrap()`).
///
/// Allocates `4 * changes` bytes (changes is already bounded by the budget); everything else
/// streams.
pub(super) fn claimed_op_slots(
    max_op: &[u8],
    deps_count: &[u8],
    deps_val: &[u8],
    changes: u64,
    ops_limit: u64,
) -> Result<u64, InspectError> {
    use spec::*;
    let n = usize::try_from(changes).map_err(|_| InspectError::AllocFailed)?;
    let mut max_ops: Vec<u32> = Vec::new();
    max_ops
        .try_reserve_exact(n)
        .map_err(|_| InspectError::AllocFailed)?;
    let mut cur = Cursor::new(max_op, Enc::Int, CHG_MAX_OP);
    let mut running: i64 = 0;
    for _ in 0..n {
        let d = cur.next_int()?;
        running = running
            .checked_add(d)
            .ok_or(bad(CHG_MAX_OP, "delta overflow"))?;
        max_ops.push(
            u32::try_from(running).map_err(|_| bad(CHG_MAX_OP, "max_op outside u32"))?,
        );
    }

    let mut counts = Cursor::new(deps_count, Enc::Uint, CHG_DEPS_COUNT);
    let mut vals = Cursor::new(deps_val, Enc::Int, CHG_DEPS_VAL);
    let mut dep_running: i64 = 0;
    let mut claimed: u64 = 0;
    for (i, &mine) in max_ops.iter().enumerate() {
        let k = counts.next_uint()?;
        let mut last: u32 = 0;
        // Bounded: every iteration consumes a row of the (already bounded) deps column, and
        // running out of rows is an error.
        for _ in 0..k {
            let d = vals.next_int()?;
            dep_running = dep_running
                .checked_add(d)
                .ok_or(InspectError::BadDependency)?;
            let dep = usize::try_from(dep_running).map_err(|_| InspectError::BadDependency)?;
            if dep >= i {
                return Err(InspectError::BadDependency);
            }
            let m = *max_ops.get(dep).ok_or(InspectError::BadDependency)?;
            last = last.max(m);
        }
        if last > mine {
            return Err(InspectError::MaxOpBelowDeps);
        }
        claimed = claimed
            .checked_add(u64::from(mine - last))
            .filter(|&c| c <= ops_limit)
            .ok_or(InspectError::TooManyOps { limit: ops_limit })?;
    }
    Ok(claimed)
}

/// Op columns. hexane loads these in O(bytes) and validates them, but the row count
/// (`id_actor.len()`, `op_set2/columns.rs:259-262`) then drives per-op work, `Column::fill`
/// asserts it is `<= i64::MAX`, and every other op column must have that many rows. We bound
/// every column and report the ID-actor column's row count (which is `doc.stats().num_ops`).
pub(super) fn check_doc_ops(cols: &[(u32, Cow<'_, [u8]>)], budget: &Budget) -> Result<u64, InspectError> {
    scan_op_columns(cols.iter().map(|(s, d)| (*s, &**d)), doc_op_role, spec::ID_ACTOR, budget.max_ops)
}

