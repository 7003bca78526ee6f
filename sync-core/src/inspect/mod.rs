//! Pre-flight inspection of untrusted automerge (0.12.x) chunks.
//!
//! Everything in this module runs *before* a single byte is handed to automerge. Its job is to
//! turn "hostile bytes that make automerge allocate or iterate without bound" into a cheap,
//! early `Err`. It is written against automerge 0.12.0 (and hexane 1.0.0-alpha.5, which 0.12
//! uses to load document chunks); file:line references are to those crates' sources (see `docs/architecture.md`,
//! "Hostile input").
//!
//! What is checked, and why:
//!
//! * **Exactly one chunk.** `Automerge::load` and `load_incremental` parse a *sequence* of
//!   chunks (`automerge.rs:916-990`, `storage/load.rs:75-97`), so a "document" could smuggle
//!   compressed changes or bundles after it. We require magic + checksum + type + uLEB128 length
//!   and that the declared length equals the bytes that follow. Nothing else is accepted.
//! * **No bundles (type 3), no unknown types.** Bundle parsing inflates columns and runs loops
//!   driven by attacker-controlled counters *inside* `Chunk::parse`, i.e. even
//!   `Change::try_from` (which rejects bundles) does that work before saying no.
//! * **Bounded inflation.** Type-2 chunks and DEFLATE-flagged document columns are inflated by
//!   automerge with an unbounded `read_to_end` (`storage/chunk.rs:82-86`,
//!   `storage/columns/raw_column.rs:95-96`); nothing records the inflated size. We inflate with a
//!   hard cap taken from [`Budget::max_inflated_bytes`]. Our buffer never grows past the
//!   remaining budget (plus a 19-byte header reserve for type-2 chunks).
//! * **Bounded run lengths.** Columns are run-length encoded; a 12-byte run can claim 2^62 rows.
//!   We walk every column automerge will decode, summing run lengths in O(bytes) without
//!   expanding runs, and refuse as soon as a column claims more rows than the budget allows.
//! * **Panic paths in automerge 0.12 / hexane.** Some document columns are decoded with
//!   `unwrap()`s and unchecked indexing (see `notes.md`). For those columns we additionally
//!   reject nulls, truncated values, out-of-range deltas and out-of-range dependency indexes.
//!
//! What is *not* checked: chunk checksums (needs SHA-256; `Automerge::load` verifies them, but
//! `Change::try_from` does **not**), semantic validity of ops, and anything automerge rejects
//! cheaply on its own. This is a resource-exhaustion filter, not a validator; automerge 0.12
//! still contains `assert!`s reachable from well-formed-but-inconsistent documents, so the
//! caller should additionally treat a panic inside `Automerge::load` as a rejection
//! (`std::panic::catch_unwind`, or load in a separate process).
//!
//! The module depends on `std` and `flate2` only, never indexes a slice without a bounds
//! check, and uses checked/saturating arithmetic for every quantity derived from the input.
//! It is written by hand because no crate validates automerge's binary format without
//! expanding it: automerge itself is the only parser, and it is the one being protected.
//!
//! Files: [`reader`] (bounds-checked bytes and LEB128), [`inflate`] (capped DEFLATE),
//! [`spec`] (which column is which), [`columns`] (column metadata, run-length walking),
//! [`change`] and [`document`] (the two chunk bodies).

mod change;
mod columns;
mod document;
mod inflate;
mod reader;
mod spec;
#[cfg(test)]
mod tests;

use reader::{Reader, strict_u};

/// The four magic bytes every automerge chunk starts with (`storage.rs:26`).
pub const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Longest possible chunk header: magic (4) + checksum (4) + type (1) + uLEB128 u64 (≤ 10).
pub const MAX_HEADER_LEN: usize = 4 + 4 + 1 + 10;

const TYPE_DOCUMENT: u8 = 0;
const TYPE_CHANGE: u8 = 1;
const TYPE_COMPRESSED: u8 = 2;
const TYPE_BUNDLE: u8 = 3;

/// Remaining resource allowance. Pass the same `Budget` to successive calls to cap a whole
/// request/session; each successful call subtracts what the chunk will cost automerge.
///
/// Choose finite, modest values: the inspector itself does at most O(input bytes + limits) work
/// and allocates at most `max_inflated_bytes` plus `4 * max_changes` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Total bytes we (and therefore automerge) may produce by inflating DEFLATE data. Charged
    /// even when the chunk is rejected, since the inflation work was done.
    pub max_inflated_bytes: usize,
    /// Ops automerge may decode. A change chunk costs its action-column row count. A document
    /// costs `max(stored op rows, op slots claimed by its change metadata)`; the latter equals
    /// the sum of all change lengths including deletes, which automerge uses to size per-change
    /// buffers while loading.
    pub max_ops: u64,
    /// Changes automerge may decode (a change chunk costs 1).
    pub max_changes: u64,
    /// Per-chunk cap on actor IDs (not consumed). automerge 0.12 caches a vector clock with one
    /// slot per actor for every 16th change (`change_graph.rs:51`, `:729-743`, `:915-919`), so
    /// document-load memory is roughly `changes / 16 * actors * 4` bytes. Zero-length actor IDs
    /// cost one byte each in the input.
    pub max_actors: u64,
}

/// What the chunk contains, as automerge will see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspected {
    /// A change chunk (type 1, or a type 2 chunk that we rewrote to type 1). `ops` equals
    /// `Change::len()` for a valid change.
    Change { ops: u64 },
    /// A document chunk. `changes` equals `doc.stats().num_changes` and `ops` equals
    /// `doc.stats().num_ops` (stored op rows; deletes are stored as successors, not ops).
    Document { changes: u64, ops: u64 },
}

/// Why a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Input ended inside the named field.
    #[error("input truncated in {0}")]
    Truncated(&'static str),
    /// First four bytes are not `85 6f 4a 83`.
    #[error("not an automerge chunk (bad magic bytes)")]
    BadMagic,
    /// Chunk type byte other than 0, 1, 2, 3.
    #[error("unknown chunk type {0}")]
    UnknownChunkType(u8),
    /// Chunk type 3 (bundle) is never accepted.
    #[error("bundle chunks are not accepted")]
    BundleRejected,
    /// The header's length does not match the bytes after the header (trailing data, a second
    /// chunk, or a truncated body).
    #[error("chunk header declares {declared} body bytes but {available} follow")]
    LengthMismatch { declared: u64, available: usize },
    /// An overlong or out-of-range LEB128 in a header/metadata field (automerge rejects these).
    #[error("malformed LEB128 in {0}")]
    BadLeb128(&'static str),
    /// A string field that automerge requires to be UTF-8 is not.
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A change's `start_op` is zero (automerge rejects this).
    #[error("change start_op is zero")]
    ZeroStartOp,
    /// A change chunk column carries the DEFLATE flag (automerge rejects these).
    #[error("change chunk column {spec} is DEFLATE-compressed")]
    CompressedColumnInChange { spec: u32 },
    /// Column metadata is not sorted by normalized spec.
    #[error("column {spec} is out of order")]
    ColumnsOutOfOrder { spec: u32 },
    /// Two columns share a normalized spec (`spec & 0xF7`).
    #[error("duplicate column {spec}")]
    DuplicateColumn { spec: u32 },
    /// Column lengths overflow.
    #[error("column lengths overflow")]
    ColumnLengthOverflow,
    /// Corrupt DEFLATE stream.
    #[error("corrupt DEFLATE stream")]
    Deflate,
    /// Bytes follow the end of a DEFLATE stream.
    #[error("data after the end of a DEFLATE stream")]
    DeflateTrailingData,
    /// Inflating would exceed [`Budget::max_inflated_bytes`].
    #[error("inflated data exceeds the {limit}-byte budget")]
    InflateLimit { limit: usize },
    /// Memory reservation failed.
    #[error("memory reservation failed")]
    AllocFailed,
    /// A column automerge will decode is malformed.
    #[error("column {spec}: {reason}")]
    BadColumnData { spec: u32, reason: &'static str },
    /// The chunk holds more ops than [`Budget::max_ops`] allows.
    #[error("chunk exceeds the op budget ({limit})")]
    TooManyOps { limit: u64 },
    /// The chunk holds more changes than [`Budget::max_changes`] allows.
    #[error("chunk exceeds the change budget ({limit})")]
    TooManyChanges { limit: u64 },
    /// Some other column claims more rows than allowed.
    #[error("column {spec} exceeds {limit} rows")]
    TooManyItems { spec: u32, limit: u64 },
    /// More actor IDs than [`Budget::max_actors`].
    #[error("chunk has {count} actors, more than {limit}")]
    TooManyActors { count: u64, limit: u64 },
    /// A document change column has a different row count from the change-actor column.
    #[error("column {spec} has {found} rows, expected {expected}")]
    ColumnLengthMismatch { spec: u32, expected: u64, found: u64 },
    /// A document change refers to an actor index that does not exist.
    #[error("change refers to a nonexistent actor")]
    BadActorIndex,
    /// A document change depends on itself, a later change, or an index out of range (automerge
    /// 0.12 panics on these: `change_graph.rs:1007`, `op_set2/change/collector.rs:211-215`).
    #[error("change dependency is not an earlier change")]
    BadDependency,
    /// A document change's max_op is below one of its dependencies' (automerge rejects).
    #[error("change max_op is below a dependency's max_op")]
    MaxOpBelowDeps,
    /// Bytes remain after the last field of the named structure.
    #[error("unexpected bytes after {0}")]
    LeftoverData(&'static str),
}

/// Inspect one untrusted chunk.
///
/// On success returns what the chunk contains and, for a type-2 (compressed change) chunk, the
/// equivalent type-1 chunk: same magic and checksum, type byte 1, uLEB128 length, inflated body.
/// That is byte-for-byte what automerge builds internally before parsing a compressed change
/// (`storage/chunk.rs:80-92`, `Header::with_data` `:214-226`, `Header::write` `:232-237`); it
/// is also what `Change::raw_bytes()` returns for the parsed change. Passing the returned bytes
/// to `Change::try_from` spares automerge the (unbounded) inflation. Document chunks whose
/// columns are DEFLATE-flagged are not rewritten (their checksum covers the compressed bytes);
/// automerge will inflate them again, and since DEFLATE is deterministic it gets the same
/// bounded output we measured.
///
/// Budget: `max_inflated_bytes` is charged for every byte inflated, even on error;
/// `max_ops` / `max_changes` are charged only on success.
pub fn inspect_chunk(
    bytes: &[u8],
    budget: &mut Budget,
) -> Result<(Inspected, Option<Vec<u8>>), InspectError> {
    let mut spend = Spend::default();
    let result = inspect_inner(bytes, budget, &mut spend);
    budget.max_inflated_bytes = budget.max_inflated_bytes.saturating_sub(spend.inflated);
    if result.is_ok() {
        budget.max_ops = budget.max_ops.saturating_sub(spend.ops);
        budget.max_changes = budget.max_changes.saturating_sub(spend.changes);
    }
    result
}

/// What one chunk cost: filled in by the inspectors, charged to the [`Budget`] by
/// [`inspect_chunk`].
#[derive(Debug, Default)]
struct Spend {
    inflated: usize,
    ops: u64,
    changes: u64,
}

fn inspect_inner(
    bytes: &[u8],
    budget: &Budget,
    spend: &mut Spend,
) -> Result<(Inspected, Option<Vec<u8>>), InspectError> {
    let header = parse_header(bytes)?;
    match header.chunk_type {
        TYPE_CHANGE => {
            let ops = change::inspect_body(header.body, budget, spend)?;
            Ok((Inspected::Change { ops }, None))
        }
        TYPE_COMPRESSED => change::inspect_compressed(&header, budget, spend),
        TYPE_DOCUMENT => {
            let (changes, ops) = document::inspect_body(header.body, budget, spend)?;
            Ok((Inspected::Document { changes, ops }, None))
        }
        TYPE_BUNDLE => Err(InspectError::BundleRejected),
        other => Err(InspectError::UnknownChunkType(other)),
    }
}


struct ChunkHeader<'a> {
    checksum: [u8; 4],
    chunk_type: u8,
    body: &'a [u8],
}

/// Frames `body` as one automerge chunk: magic bytes, `checksum`, `chunk_type`, the uLEB128
/// length, the body (the inverse of the header parsing here; tests and tools build chunks with
/// it).
pub fn frame_chunk(chunk_type: u8, checksum: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&checksum);
    out.push(chunk_type);
    reader::write_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// The length of the first chunk of `bytes` (its header and the body it declares) when more
/// bytes follow it: automerge's V2 sync message carries all its changes concatenated in one
/// entry. `None` when `bytes` is at most one chunk, or its header cannot be read (then the
/// whole is inspected as one chunk, and refused unless it is one).
pub fn first_chunk_len(bytes: &[u8]) -> Option<usize> {
    let mut r = Reader::new(bytes);
    if r.take(4)? != &MAGIC[..] {
        return None;
    }
    r.take(5)?;
    let declared = strict_u(&mut r, "chunk length").ok()?;
    let end = r.pos().checked_add(usize::try_from(declared).ok()?)?;
    (end < bytes.len()).then_some(end)
}

/// Parse `magic | checksum(4) | type(1) | uLEB128 length | body` and require the body to be
/// exactly the rest of the input. automerge's own `Header::parse` (`storage/chunk.rs:239-282`)
/// only requires *at least* `length` bytes and leaves the rest for the next chunk; requiring
/// equality is what stops trailing chunks.
fn parse_header(bytes: &[u8]) -> Result<ChunkHeader<'_>, InspectError> {
    let mut r = Reader::new(bytes);
    let magic = r.take(4).ok_or(InspectError::Truncated("magic bytes"))?;
    if magic != &MAGIC[..] {
        return Err(InspectError::BadMagic);
    }
    let checksum_bytes = r.take(4).ok_or(InspectError::Truncated("checksum"))?;
    let checksum = <[u8; 4]>::try_from(checksum_bytes)
        .map_err(|_| InspectError::Truncated("checksum"))?;
    let chunk_type = r.byte().ok_or(InspectError::Truncated("chunk type"))?;
    match chunk_type {
        TYPE_DOCUMENT | TYPE_CHANGE | TYPE_COMPRESSED => {}
        TYPE_BUNDLE => return Err(InspectError::BundleRejected),
        other => return Err(InspectError::UnknownChunkType(other)),
    }
    let declared = strict_u(&mut r, "chunk length")?;
    let available = r.remaining();
    if u64::try_from(available) != Ok(declared) {
        return Err(InspectError::LengthMismatch {
            declared,
            available,
        });
    }
    Ok(ChunkHeader {
        checksum,
        chunk_type,
        body: r.rest(),
    })
}

