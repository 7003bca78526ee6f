//! Errors from decoding a sync message.

/// Why a byte string is not a valid sync message. Decoding never panics; every failure is one
/// of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("unsupported protocol version {0} (this peer speaks version {supported})", supported = super::PROTOCOL_VERSION)]
    UnsupportedVersion(u8),
    #[error("expected a {expected} message, got message type {actual}")]
    WrongMessageType { expected: &'static str, actual: u8 },
    #[error("message is {size} bytes, over the limit of {limit}")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("message ended early while reading {0}")]
    Truncated(&'static str),
    #[error("malformed integer in {0}")]
    BadInteger(&'static str),
    #[error("{what} count {count} is over the limit of {limit}")]
    TooMany { what: &'static str, count: u64, limit: usize },
    #[error("a hash list (have, heads or missing) is not sorted and unique")]
    UnsortedHashes,
    #[error("unknown document status code {0}")]
    UnknownStatus(u8),
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("document {0} appears twice in one message")]
    DuplicateDocument(crate::DocumentId),
}

impl DecodeError {
    /// The error's stable, machine-readable name (docs/protocol.md §6): what an HTTP problem
    /// carries as `code`, and what clients may branch on (the message is for people).
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::UnsupportedVersion(_) => "unsupported-version",
            DecodeError::WrongMessageType { .. } => "wrong-message-type",
            DecodeError::MessageTooLarge { .. } => "message-too-large",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::BadInteger(_) => "bad-integer",
            DecodeError::TooMany { .. } => "too-many",
            DecodeError::UnsortedHashes => "unsorted-hashes",
            DecodeError::UnknownStatus(_) => "unknown-status",
            DecodeError::TrailingBytes(_) => "trailing-bytes",
            DecodeError::DuplicateDocument(_) => "duplicate-document",
        }
    }
}
