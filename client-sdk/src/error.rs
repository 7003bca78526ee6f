//! Errors, one enum per operation. Nothing in this crate panics on what a server or a local
//! store hands it; every failure is one of these.

use std::time::Duration;

use sync_core::{DecodeError, DocumentId};

/// Why the local store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be read or written right now (IO error, disk full, locked).
    #[error("local store unavailable: {0}")]
    Unavailable(String),
    /// Another client (in this or another process) has the store open.
    #[error("local store is in use by another client: {0}")]
    InUse(String),
    /// The store holds data this SDK cannot read.
    #[error("local store holds invalid data: {0}")]
    Corrupt(String),
    /// The store was written by a newer SDK with a schema this one does not know.
    #[error("local store schema version {found} is newer than this SDK's ({supported})")]
    NewerSchema { found: i64, supported: i64 },
}

/// What kind of network failure a [`TransportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The server could not be reached (DNS, refused, reset, TLS).
    Connect,
    /// The request or response took too long.
    Timeout,
    /// The response body was larger than the protocol allows.
    TooLarge,
    /// Anything else that happened on the wire.
    Other,
}

/// The HTTP request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

/// The token provider could not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token provider failed: {0}")]
pub struct TokenError(pub String);

impl TokenError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// Why a client could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document in the store does not load (its bytes are not valid automerge data).
    #[error("stored document {doc_id} does not load: {reason}")]
    CorruptDocument { doc_id: DocumentId, reason: String },
    /// A configuration value is unusable (e.g. the server URL).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Why a document could not be created, opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("no local document {0}")]
    UnknownDocument(DocumentId),
    #[error("document {0} already exists locally")]
    AlreadyExists(DocumentId),
    #[error("invalid title: {0}")]
    InvalidTitle(&'static str),
    /// The platform's random source failed (no document id could be drawn).
    #[error("no random source: {0}")]
    NoRandomness(String),
    /// The change closure failed; the transaction was rolled back and nothing was written.
    #[error("the change failed and was rolled back: {0}")]
    Transaction(automerge::AutomergeError),
    /// The change is applied in memory but could not be made durable. It is written with the
    /// next successful write and synced as usual, but a crash before then loses it.
    #[error("the change could not be made durable: {0}")]
    Store(#[from] StoreError),
}

/// Why a sync request as a whole failed. Per-document outcomes are [`DocSyncError`]s in the
/// [`SyncReport`](crate::SyncReport); local data is never dropped on any error.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The server could not be reached.
    #[error("offline: {0}")]
    Offline(TransportError),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The server refused the token, and again after one refresh.
    #[error("the server refused the token after a refresh: {detail}")]
    Unauthorized { detail: String },
    /// HTTP 429.
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// HTTP 503 or another 5xx: try again later.
    #[error("server unavailable: HTTP {status} (retry after {retry_after:?})")]
    Unavailable { status: u16, retry_after: Option<Duration> },
    /// Another 4xx: the request itself was refused.
    #[error("server rejected the request: HTTP {status}: {detail}")]
    Rejected { status: u16, detail: String },
    /// The response is not what the protocol allows (wrong media type, wrong documents).
    #[error("invalid server response: {0}")]
    BadResponse(String),
    #[error("undecodable sync response: {0}")]
    Decode(#[from] DecodeError),
    #[error("local store: {0}")]
    Store(#[from] StoreError),
}

impl SyncError {
    /// How long the server asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SyncError::RateLimited { retry_after } | SyncError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the failure is the network: the status becomes
    /// [`SyncStatus::Offline`](crate::SyncStatus::Offline).
    pub fn is_offline(&self) -> bool {
        matches!(self, SyncError::Offline(_))
    }
}

/// Why one document did not sync. Its local edits stay in the store and are sent again on
/// the next sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocSyncError {
    /// The caller may read but not write this document (a viewer). Remote changes were
    /// still pulled; local edits stay pending until write access is granted.
    #[error("read-only access: local edits were not accepted and stay pending")]
    Forbidden,
    /// No such document on the server, or the caller is not a member.
    #[error("document not found on the server, or no access")]
    NotFound,
    /// The document was created here, but the server holds another document with this id
    /// that the caller cannot see.
    #[error("the server holds another document with this id")]
    IdTaken,
    /// Registering a locally created document was refused.
    #[error("creating the document on the server failed: HTTP {status}: {detail}")]
    CreateRejected { status: u16, detail: String },
    /// The server rejected the pushed changes as invalid (a client bug or local corruption).
    #[error("the server rejected the pushed changes as invalid")]
    InvalidChanges,
    /// Too many changes for one request.
    #[error("too many pending changes for one request")]
    TooLarge,
    /// The server could not store the changes now; retried later.
    #[error("the server could not store the changes now")]
    Unavailable,
    /// The server sent data that does not apply (nothing of it was acknowledged).
    #[error("the server sent invalid data: {0}")]
    BadServerData(String),
    /// A request holding only this document failed as a whole (the other documents of the
    /// batch were synced without it).
    #[error("the server could not process this document's request: {0}")]
    RequestFailed(String),
}

impl DocSyncError {
    /// True for failures that a later retry may fix without anyone acting.
    pub fn is_transient(&self) -> bool {
        matches!(self, DocSyncError::Unavailable)
    }
}
