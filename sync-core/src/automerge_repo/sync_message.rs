//! An automerge sync message from a client (the `data` of automerge-repo's `request` and
//! `sync`), checked before the server acts on it.
//!
//! automerge's own decoder is bounded by the message's bytes, but what it decodes is trusted
//! afterwards: a bloom filter's probe count sizes a vector on every lookup (four billion probes
//! allocate 16 GiB), a filter with entries and no bits divides by zero, and every further
//! `have` multiplies the work of each answer. automerge exposes no bounded
//! decoding, so the fields are checked here, against the same [`Limits`] as edgesync's own
//! sync. Pushed changes are not inspected here: they go through [`crate::chunk`] with the rest
//! of the store's defences.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::sync::{ChunkList, Message};

use crate::Limits;
use crate::inspect::first_chunk_len;

/// `have` entries one message may carry: automerge sends at most one, and each costs a pass
/// over the changes since its `lastSync`.
pub const MAX_HAVES: usize = 1;
/// Probes a bloom filter may ask for per hash (automerge uses 7).
pub const MAX_BLOOM_PROBES: u64 = 32;
/// Bits per entry a bloom filter may have (automerge uses 10).
pub const MAX_BLOOM_BITS_PER_ENTRY: u64 = 64;

/// Why a client's sync message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncMessageError {
    #[error("the sync message is {bytes} bytes, more than {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("not an automerge sync message: {0}")]
    Malformed(String),
    #[error("the sync message has {count} {what}, more than {limit}")]
    TooMany { what: &'static str, count: usize, limit: usize },
    #[error("the sync message's bloom filter is out of bounds: {0}")]
    Bloom(&'static str),
}

/// Decodes a client's sync message and checks every count in it.
pub fn decode_sync_message(data: &[u8], limits: &Limits) -> Result<Message, SyncMessageError> {
    if data.len() > limits.max_message_bytes {
        return Err(SyncMessageError::TooLarge { bytes: data.len(), limit: limits.max_message_bytes });
    }
    let mut message = match catch_unwind(AssertUnwindSafe(|| Message::decode(data))) {
        Ok(Ok(message)) => message,
        Ok(Err(e)) => return Err(SyncMessageError::Malformed(e.to_string())),
        Err(_) => return Err(SyncMessageError::Malformed("automerge could not decode it".into())),
    };
    let count = |what, count, limit| if count > limit { Err(SyncMessageError::TooMany { what, count, limit }) } else { Ok(()) };
    count("heads", message.heads.len(), limits.max_heads)?;
    count("needed hashes", message.need.len(), limits.max_heads)?;
    count("have entries", message.have.len(), MAX_HAVES)?;
    count("changes", message.changes.len(), limits.max_chunks_per_doc)?;
    message.changes = split_concatenated(&message.changes, limits.max_chunks_per_doc)?;
    for have in &message.have {
        count("last-sync hashes", have.last_sync.len(), limits.max_heads)?;
        check_bloom(&have.bloom.to_bytes())?;
    }
    Ok(message)
}

/// One chunk per entry: automerge's V2 message carries the changes it sends concatenated in one
/// entry (a few edits made between two syncs), where the store takes one change per chunk
/// (and refuses a chunk with bytes after it, which is how it stops trailing data). Splitting
/// copies no more than the message's bytes, and stops at `limit` chunks.
fn split_concatenated(changes: &ChunkList, limit: usize) -> Result<ChunkList, SyncMessageError> {
    let mut chunks = Vec::with_capacity(changes.len());
    for entry in changes.iter() {
        let mut rest = entry;
        loop {
            if chunks.len() >= limit {
                return Err(SyncMessageError::TooMany { what: "changes", count: chunks.len() + 1, limit });
            }
            let Some(len) = first_chunk_len(rest) else {
                chunks.push(rest.to_vec());
                break;
            };
            let (chunk, tail) = rest.split_at(len);
            chunks.push(chunk.to_vec());
            rest = tail;
        }
    }
    Ok(ChunkList::from(chunks))
}

/// Checks an encoded bloom filter's header: entries, bits per entry, probes, then the bits
/// (empty when it has no entries, which automerge never probes).
fn check_bloom(mut encoded: &[u8]) -> Result<(), SyncMessageError> {
    if encoded.is_empty() {
        return Ok(());
    }
    let mut field = || uleb(&mut encoded).ok_or(SyncMessageError::Bloom("unreadable header"));
    let (entries, bits_per_entry, probes) = (field()?, field()?, field()?);
    if probes > MAX_BLOOM_PROBES {
        return Err(SyncMessageError::Bloom("too many probes"));
    }
    if bits_per_entry > MAX_BLOOM_BITS_PER_ENTRY {
        return Err(SyncMessageError::Bloom("too many bits per entry"));
    }
    if entries > 0 && encoded.is_empty() {
        return Err(SyncMessageError::Bloom("entries without bits"));
    }
    Ok(())
}

/// One unsigned LEB128 value of at most 64 bits. (The crate's chunk reader is private to
/// `inspect`; a header of three numbers does not justify exposing it.)
fn uleb(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}
