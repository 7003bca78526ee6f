//! Size limits enforced while decoding and merging.

/// Upper bounds on what one sync message may contain, and on what its pushed chunks may cost
/// once automerge reads them.
///
/// Decoding checks every length field against these limits *and* against the bytes actually
/// left in the message before allocating, so a forged length can never make a peer allocate
/// more than the message's own size. Pushed automerge chunks can still expand far beyond their
/// size (DEFLATE, run-length encoded columns), so before automerge sees them they are inspected
/// against the `max_inflated_bytes`, `max_ops` and `max_actors` budgets ([`crate::inspect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one encoded message.
    pub max_message_bytes: usize,
    /// Documents in one batch.
    pub max_docs: usize,
    /// Chunks (changes or document snapshots) for one document in one message; also the
    /// changes one document's pushed chunks may expand to.
    pub max_chunks_per_doc: usize,
    /// Bytes in one chunk.
    pub max_chunk_bytes: usize,
    /// Hashes in one set of heads or list of missing dependencies.
    pub max_heads: usize,
    /// Heads a stored document may have. A push that would leave more (and more than before)
    /// is refused: each concurrent change without a merge adds a head, and a document's heads
    /// travel in every response, so they must stay well below `max_heads`, leaving clients room
    /// for their own concurrent heads.
    pub max_doc_heads: usize,
    /// Bytes the pushed chunks of one whole request may inflate to (compressed changes,
    /// DEFLATE-compressed document columns).
    pub max_inflated_bytes: usize,
    /// Operations the pushed chunks of one whole request may hold, counted without expanding
    /// them; changes count against the same number (a change with no ops still costs work).
    pub max_ops: u64,
    /// Actor ids in one pushed chunk (a document's memory while loading grows with actors
    /// times changes).
    pub max_actors: u64,
}

impl Limits {
    /// The limits the edge and the SDK use unless configured otherwise.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 32 * 1024 * 1024,
        max_docs: 1_000,
        max_chunks_per_doc: 100_000,
        max_chunk_bytes: 16 * 1024 * 1024,
        max_heads: 1_024,
        max_doc_heads: 256,
        max_inflated_bytes: 32 * 1024 * 1024,
        max_ops: 1_000_000,
        max_actors: 1_024,
    };

    /// A fresh budget for the pushed chunks of one request.
    pub fn push_budget(&self) -> crate::inspect::Budget {
        crate::inspect::Budget {
            max_inflated_bytes: self.max_inflated_bytes,
            max_ops: self.max_ops,
            max_changes: self.max_ops,
            max_actors: self.max_actors,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
