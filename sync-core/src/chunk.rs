//! Turning received chunks (single changes or whole documents) into automerge changes.

use automerge::{Automerge, Change, ChangeHash};

use crate::id::Heads;

/// Why pushed chunks could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk {index} is not a valid automerge change: {reason}")]
    InvalidChange { index: usize, reason: String },
    #[error("chunk {index} is not a valid automerge document: {reason}")]
    InvalidDocument { index: usize, reason: String },
    #[error("chunks hold more than {limit} changes")]
    TooManyChanges { limit: usize },
}

/// automerge's chunk header: 4 magic bytes, a 4-byte checksum, then the chunk type.
const CHUNK_TYPE_OFFSET: usize = 8;
const CHUNK_TYPE_DOCUMENT: u8 = 0;

/// Expands chunks into individual changes, in order, at most `limit` of them.
pub fn changes_from_chunks(chunks: &[Vec<u8>], limit: usize) -> Result<Vec<Change>, ChunkError> {
    let mut out = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        if chunk.get(CHUNK_TYPE_OFFSET) == Some(&CHUNK_TYPE_DOCUMENT) {
            let doc = Automerge::load(chunk)
                .map_err(|e| ChunkError::InvalidDocument { index, reason: e.to_string() })?;
            out.extend(doc.get_changes(&[]));
        } else {
            let change = Change::try_from(chunk.as_slice())
                .map_err(|e| ChunkError::InvalidChange { index, reason: e.to_string() })?;
            // automerge does not check a change chunk's checksum (the first 4 bytes of the
            // change hash, stored after the magic bytes); a corrupted change can parse and
            // then panic inside automerge when applied, so the check is done here.
            if chunk.get(4..8) != Some(&change.hash().0[..4]) {
                return Err(ChunkError::InvalidChange { index, reason: "checksum does not match the contents".into() });
            }
            out.push(change);
        }
        if out.len() > limit {
            return Err(ChunkError::TooManyChanges { limit });
        }
    }
    Ok(out)
}

/// The subset of `hashes` that `doc` has applied (queued changes do not count).
pub fn present_in(doc: &Automerge, hashes: &[ChangeHash]) -> Vec<ChangeHash> {
    hashes.iter().filter(|h| doc.get_change_meta_by_hash(h).is_some()).copied().collect()
}

/// The heads of `doc` as canonical [`Heads`].
pub fn heads_of(doc: &Automerge) -> Heads {
    Heads::new(doc.get_heads())
}

/// The chunks that bring a peer who has `base` up to `doc`: individual changes, or the whole
/// document when more than a third of it would be sent (the same trade automerge's own sync
/// makes), because the document encoding is far more compact than many changes.
pub fn chunks_since(doc: &Automerge, base: &[ChangeHash]) -> Vec<Vec<u8>> {
    let changes = doc.get_changes(base);
    if changes.is_empty() {
        return Vec::new();
    }
    let total = change_count(doc);
    if changes.len() > 1 && changes.len() * 3 > total {
        return vec![doc.save()];
    }
    changes.iter().map(|c| c.raw_bytes().to_vec()).collect()
}

/// How many changes `doc` holds.
pub fn change_count(doc: &Automerge) -> usize {
    use automerge::ReadDoc;
    doc.stats().num_changes as usize
}
