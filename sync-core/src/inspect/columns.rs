//! Column specs and walking run-length encoded columns in O(bytes) without expanding runs.

use super::InspectError;
use super::spec::{self, Role};
use super::reader::{Reader, strict_u};

/// Grouped sub-columns (a change's `pred` actor/counter, a document's `succ` actor/counter and
/// dependency list) have one row per *reference*, not per op/change. A legitimate op can have
/// several preds (conflicting writes) and a merge change several deps, so these columns may
/// exceed the row budget; they may have at most this many times the row limit.
pub(super) const GROUPED_ITEMS_FACTOR: u64 = 4;

/// Bit 3 of a column spec: the column data is raw DEFLATE (`column_specification.rs:72-74`).
pub(super) const DEFLATE_BIT: u32 = 0b0000_1000;

/// automerge's `ColumnSpec::normalize()` mask (`column_specification.rs:84-86`). Note that it is
/// the literal `0b11110111`, so it also clears every bit above bit 7. `ColumnSpec::inflated()`
/// (`:80-82`, via `new()` at `:21-30`) has the same effect: a DEFLATE-flagged column's spec
/// becomes `raw & 0xF7` after inflation, so e.g. spec 297 (id 18, actor, deflate) turns into
/// spec 33, the document op-ID actor column. We mirror that exactly.
pub(super) const NORMALIZE_MASK: u32 = 0b1111_0111;



/// Value encoding of a column, from its type bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Enc {
    /// RLE of uLEB128 values (group, actor, integer, value-metadata columns).
    Uint,
    /// RLE of sLEB128 values (delta columns; the deltas themselves).
    Int,
    /// RLE of uLEB128-length-prefixed UTF-8 strings.
    Str,
    /// Alternating uLEB128 run lengths, starting with `false`.
    Bool,
    /// Uninterpreted bytes (raw value column).
    Raw,
}

pub(super) fn encoding_of(spec: u32) -> Enc {
    match spec & 0b111 {
        3 => Enc::Int,
        4 => Enc::Bool,
        5 => Enc::Str,
        7 => Enc::Raw,
        _ => Enc::Uint,
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Val<'a> {
    Uint(u64),
    Int(i64),
    #[allow(dead_code)]
    Str(&'a str),
}


pub(super) fn bad(spec: u32, reason: &'static str) -> InspectError {
    InspectError::BadColumnData { spec, reason }
}

pub(super) fn null_err(spec: u32) -> InspectError {
    bad(spec, "null run in a column automerge decodes as non-nullable")
}

pub(super) fn add_items(items: u64, n: u64, spec: u32, limit: u64) -> Result<u64, InspectError> {
    match items.checked_add(n) {
        Some(t) if t <= limit => Ok(t),
        _ => Err(InspectError::TooManyItems { spec, limit }),
    }
}

/// Replace a `TooManyItems` error for column `spec` with `to`.
pub(super) fn promote(e: InspectError, spec: u32, to: InspectError) -> InspectError {
    match e {
        InspectError::TooManyItems { spec: s, .. } if s == spec => to,
        other => other,
    }
}

pub(super) fn read_val<'a>(r: &mut Reader<'a>, enc: Enc, spec: u32) -> Result<Val<'a>, InspectError> {
    match enc {
        Enc::Uint => r
            .uleb_col()
            .map(Val::Uint)
            .ok_or(bad(spec, "malformed unsigned value")),
        Enc::Int => r
            .sleb_col()
            .map(Val::Int)
            .ok_or(bad(spec, "malformed signed value")),
        Enc::Str => {
            let len = r.uleb_col().ok_or(bad(spec, "malformed string length"))?;
            // Checking the length against the column *before* anything is allocated also
            // defuses automerge's `vec![0; len]` (up to 1e9 bytes) in
            // `columnar/encoding/decodable_impls.rs:98-117`.
            let bytes = r
                .take_u64(len)
                .ok_or(bad(spec, "string longer than its column"))?;
            let s = std::str::from_utf8(bytes).map_err(|_| bad(spec, "string is not UTF-8"))?;
            Ok(Val::Str(s))
        }
        Enc::Bool | Enc::Raw => Err(bad(spec, "column type has no RLE values")),
    }
}

/// Walk a column run by run in O(bytes), never expanding runs, and return its row count.
///
/// RLE format (automerge `columnar/encoding/rle.rs:8-211`, hexane `rle/decoder.rs`): a sequence
/// of runs, each starting with an sLEB128 header `h`:
/// * `h > 0`: `h` copies of the single value that follows;
/// * `h < 0`: `-h` literal values follow;
/// * `h == 0`: a null run whose uLEB128 length follows.
///
/// `visit(count, value)` is called once per run (literal values one at a time with count 1,
/// null runs with `None`). Rows are counted as they are seen, and the walk stops with
/// `TooManyItems` the moment the total exceeds `limit`. A literal header of `i64::MIN`
/// (automerge computes `count.abs()`, which overflows) and literal runs longer than the
/// remaining bytes are rejected before any looping.
pub(super) fn scan_column<'a, F>(data: &'a [u8], spec: u32, limit: u64, visit: F) -> Result<u64, InspectError>
where
    F: FnMut(u64, Option<Val<'a>>) -> Result<(), InspectError>,
{
    match encoding_of(spec) {
        Enc::Bool => scan_bool(data, spec, limit),
        Enc::Raw => Ok(0),
        enc => scan_rle(data, enc, spec, limit, visit),
    }
}

pub(super) fn scan_rle<'a, F>(
    data: &'a [u8],
    enc: Enc,
    spec: u32,
    limit: u64,
    mut visit: F,
) -> Result<u64, InspectError>
where
    F: FnMut(u64, Option<Val<'a>>) -> Result<(), InspectError>,
{
    let mut r = Reader::new(data);
    let mut items: u64 = 0;
    while !r.is_empty() {
        let header = r.sleb_col().ok_or(bad(spec, "malformed run header"))?;
        if header > 0 {
            let count = u64::try_from(header).map_err(|_| bad(spec, "bad run length"))?;
            items = add_items(items, count, spec, limit)?;
            let v = read_val(&mut r, enc, spec)?;
            visit(count, Some(v))?;
        } else if header < 0 {
            if header == i64::MIN {
                return Err(bad(spec, "literal run length overflows"));
            }
            let n = header.unsigned_abs();
            let room = u64::try_from(r.remaining()).unwrap_or(u64::MAX);
            if n > room {
                return Err(bad(spec, "literal run longer than its column"));
            }
            items = add_items(items, n, spec, limit)?;
            for _ in 0..n {
                let v = read_val(&mut r, enc, spec)?;
                visit(1, Some(v))?;
            }
        } else {
            let n = r.uleb_col().ok_or(bad(spec, "malformed null run length"))?;
            items = add_items(items, n, spec, limit)?;
            visit(n, None)?;
        }
    }
    Ok(items)
}

/// Boolean columns: alternating uLEB128 run lengths, first run `false`
/// (`columnar/encoding/boolean.rs:84-101`, hexane `bool.rs`).
pub(super) fn scan_bool(data: &[u8], spec: u32, limit: u64) -> Result<u64, InspectError> {
    let mut r = Reader::new(data);
    let mut items: u64 = 0;
    while !r.is_empty() {
        let n = r
            .uleb_col()
            .ok_or(bad(spec, "malformed boolean run length"))?;
        items = add_items(items, n, spec, limit)?;
    }
    Ok(items)
}

/// Item-at-a-time cursor over an RLE column. Only used on columns that `scan_column` has
/// already bounded, so the number of calls is bounded by the budget.
pub(super) struct Cursor<'a> {
    r: Reader<'a>,
    enc: Enc,
    spec: u32,
    left: u64,
    literal: bool,
    value: Option<Val<'a>>,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(data: &'a [u8], enc: Enc, spec: u32) -> Self {
        Cursor {
            r: Reader::new(data),
            enc,
            spec,
            left: 0,
            literal: false,
            value: None,
        }
    }

    /// `Ok(None)` at the end of the column, `Ok(Some(None))` for a null row.
    pub(super) fn next_item(&mut self) -> Result<Option<Option<Val<'a>>>, InspectError> {
        while self.left == 0 {
            if self.r.is_empty() {
                return Ok(None);
            }
            let h = self
                .r
                .sleb_col()
                .ok_or(bad(self.spec, "malformed run header"))?;
            if h > 0 {
                self.left = u64::try_from(h).map_err(|_| bad(self.spec, "bad run length"))?;
                self.value = Some(read_val(&mut self.r, self.enc, self.spec)?);
                self.literal = false;
            } else if h < 0 {
                if h == i64::MIN {
                    return Err(bad(self.spec, "literal run length overflows"));
                }
                self.left = h.unsigned_abs();
                self.literal = true;
            } else {
                self.left = self
                    .r
                    .uleb_col()
                    .ok_or(bad(self.spec, "malformed null run length"))?;
                self.value = None;
                self.literal = false;
            }
        }
        self.left = self.left.saturating_sub(1);
        if self.literal {
            Ok(Some(Some(read_val(&mut self.r, self.enc, self.spec)?)))
        } else {
            Ok(Some(self.value))
        }
    }

    pub(super) fn next_uint(&mut self) -> Result<u64, InspectError> {
        match self.next_item()? {
            Some(Some(Val::Uint(v))) => Ok(v),
            Some(None) => Err(null_err(self.spec)),
            None => Err(bad(self.spec, "column has fewer rows than required")),
            Some(Some(_)) => Err(bad(self.spec, "unexpected value type")),
        }
    }

    pub(super) fn next_int(&mut self) -> Result<i64, InspectError> {
        match self.next_item()? {
            Some(Some(Val::Int(v))) => Ok(v),
            Some(None) => Err(null_err(self.spec)),
            None => Err(bad(self.spec, "column has fewer rows than required")),
            Some(Some(_)) => Err(bad(self.spec, "unexpected value type")),
        }
    }
}

/// Visitor for delta columns hexane decodes as `DeltaDecoder<u32>` (`change_graph.rs:945-947`,
/// `:987`): no nulls (the null getter panics), and every running sum must stay in
/// `0..=u32::MAX` (the running `i64 +=` can overflow, and the u32 values are used as indexes).
/// A repeat run of delta `d` visits `running + d`, ..., `running + count*d`, which is monotonic,
/// so checking both ends checks every value.
pub(super) fn delta_u32_step(
    running: &mut i64,
    count: u64,
    v: Option<Val<'_>>,
    spec: u32,
) -> Result<(), InspectError> {
    let d = match v {
        Some(Val::Int(d)) => d,
        None => return Err(null_err(spec)),
        Some(_) => return Err(bad(spec, "unexpected value type")),
    };
    let out_of_range = bad(spec, "delta-decoded value outside 0..=u32::MAX");
    let start = i128::from(*running);
    let first = start
        .checked_add(i128::from(d))
        .ok_or(out_of_range.clone())?;
    let last = i128::from(d)
        .checked_mul(i128::from(count))
        .and_then(|x| x.checked_add(start))
        .ok_or(out_of_range.clone())?;
    let max = i128::from(u32::MAX);
    if first < 0 || first > max || last < 0 || last > max {
        return Err(out_of_range);
    }
    *running = i64::try_from(last).map_err(|_| out_of_range)?;
    Ok(())
}

/// Visitor for value-metadata columns: sums the byte lengths (`meta >> 4`) the column claims
/// from its raw-value column. automerge slices the raw column with these lengths without a
/// bounds check in places (`change_graph.rs:1671-1673`).
pub(super) fn add_meta_len(sum: &mut u128, count: u64, v: Option<Val<'_>>) -> Result<(), InspectError> {
    if let Some(Val::Uint(m)) = v {
        let add = u128::from(m >> 4)
            .checked_mul(u128::from(count))
            .ok_or(bad(spec::VALUE_META, "value lengths overflow"))?;
        *sum = sum
            .checked_add(add)
            .ok_or(bad(spec::VALUE_META, "value lengths overflow"))?;
    }
    Ok(())
}

pub(super) fn check_meta_vs_raw(meta_sum: u128, raw_len: usize, spec: u32) -> Result<(), InspectError> {
    let raw = u128::try_from(raw_len).unwrap_or(u128::MAX);
    if meta_sum > raw {
        return Err(bad(spec, "value lengths exceed the raw value column"));
    }
    Ok(())
}

/// Read a column-metadata block: uLEB128 count, then `(uLEB128 u32 spec, uLEB128 length)` pairs
/// (`storage/columns/raw_column.rs:218-255`). Specs must be sorted by `spec & 0xF7`; automerge
/// allows equal normalized specs here and rejects most duplicates later, we reject them all.
pub(super) fn read_column_metadata(r: &mut Reader<'_>) -> Result<Vec<(u32, usize)>, InspectError> {
    let n = strict_u(r, "column count")?;
    // Each entry takes at least two bytes, so a larger count cannot be satisfied.
    let max_possible = u64::try_from(r.remaining() / 2).unwrap_or(u64::MAX);
    if n > max_possible {
        return Err(InspectError::Truncated("column metadata"));
    }
    let n = usize::try_from(n).map_err(|_| InspectError::Truncated("column metadata"))?;
    let mut cols = Vec::new();
    cols.try_reserve_exact(n)
        .map_err(|_| InspectError::AllocFailed)?;
    let mut prev: Option<u32> = None;
    for _ in 0..n {
        let spec64 = strict_u(r, "column spec")?;
        let spec = u32::try_from(spec64).map_err(|_| InspectError::BadLeb128("column spec"))?;
        let len64 = strict_u(r, "column length")?;
        let len = usize::try_from(len64).map_err(|_| InspectError::ColumnLengthOverflow)?;
        let norm = spec & NORMALIZE_MASK;
        if let Some(p) = prev {
            if norm < p {
                return Err(InspectError::ColumnsOutOfOrder { spec });
            }
            if norm == p {
                return Err(InspectError::DuplicateColumn { spec });
            }
        }
        prev = Some(norm);
        cols.push((spec, len));
    }
    Ok(cols)
}

pub(super) fn total_column_len(cols: &[(u32, usize)]) -> Result<usize, InspectError> {
    cols.iter().try_fold(0usize, |acc, &(_, len)| {
        acc.checked_add(len)
            .ok_or(InspectError::ColumnLengthOverflow)
    })
}

/// Walks the op columns of a chunk (`role` says which ones automerge decodes and how each is
/// bounded) and returns the row count of `count_spec`, the column whose length is the number
/// of ops automerge iterates. Value lengths must fit the raw value column.
pub(super) fn scan_op_columns<'a>(
    cols: impl IntoIterator<Item = (u32, &'a [u8])>,
    role: fn(u32) -> Option<Role>,
    count_spec: u32,
    limit: u64,
) -> Result<u64, InspectError> {
    let grouped = limit.saturating_mul(GROUPED_ITEMS_FACTOR);
    let (mut ops, mut meta_sum, mut raw_len) = (0u64, 0u128, 0usize);
    for (s, data) in cols {
        let lim = match role(s) {
            None => continue,
            Some(Role::Raw) => {
                raw_len = data.len();
                continue;
            }
            Some(Role::Row) => limit,
            Some(Role::Grouped) => grouped,
        };
        let scanned = if s == spec::VALUE_META {
            scan_column(data, s, lim, |c, v| add_meta_len(&mut meta_sum, c, v))
        } else {
            scan_column(data, s, lim, |_, _| Ok(()))
        };
        let items = scanned.map_err(|e| promote(e, count_spec, InspectError::TooManyOps { limit }))?;
        if s == count_spec {
            ops = items;
        }
    }
    check_meta_vs_raw(meta_sum, raw_len, spec::VALUE_META)?;
    Ok(ops)
}
