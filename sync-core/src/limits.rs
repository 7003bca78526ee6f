//! Size limits enforced while decoding and merging.

/// Upper bounds on what one sync message may contain.
///
/// Decoding checks every length field against these limits *and* against the bytes actually
/// left in the message before allocating, so a forged length can never make a peer allocate
/// more than the message's own size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one encoded message.
    pub max_message_bytes: usize,
    /// Documents in one batch.
    pub max_docs: usize,
    /// Chunks (changes or document snapshots) for one document in one message.
    pub max_chunks_per_doc: usize,
    /// Bytes in one chunk.
    pub max_chunk_bytes: usize,
    /// Hashes in one set of heads or list of missing dependencies.
    pub max_heads: usize,
}

impl Limits {
    /// The limits the edge and the SDK use unless configured otherwise.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 32 * 1024 * 1024,
        max_docs: 1_000,
        max_chunks_per_doc: 100_000,
        max_chunk_bytes: 16 * 1024 * 1024,
        max_heads: 1_024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
