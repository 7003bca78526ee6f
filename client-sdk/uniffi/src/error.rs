//! The one error type every throwing call uses ([`EdgesyncError`]), and the per-document sync
//! failures ([`DocumentSyncError`]) that a sync reports without throwing.
//!
//! The cases are stable: apps switch on them (`when (e) { is EdgesyncException.Offline -> … }`
//! in Kotlin, `catch EdgesyncError.Offline` in Swift). Messages are for logs, not for parsing.

use edgesync_client::{DocSyncError, DocumentError, OpenError, StoreError, SyncError};

/// Why a call failed. Local edits are never lost because of one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum EdgesyncError {
    /// The server refused the token, and again after one refresh (`token(refresh = true)`).
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// The server refused the request for this user (HTTP 403).
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// The server could not be reached. Edits stay local and sync later.
    #[error("offline: {message}")]
    Offline { message: String },
    /// No such local document, or the server does not know it (HTTP 404).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// An argument is unusable: a document id, a path, a JSON value, a title, the server URL,
    /// or an edit that does not fit the document (e.g. a text splice on a number).
    #[error("invalid input: {message}")]
    InvalidInput { message: String },
    /// The local store failed (disk full, IO error, unreadable data). An edit that failed
    /// with this is applied in memory and written with the next successful write.
    #[error("local storage: {message}")]
    Storage { message: String },
    /// Another client (in this or another process) has the store file open.
    #[error("the local store is in use by another client: {message}")]
    StoreInUse { message: String },
    /// The token provider failed (threw, or returned an error).
    #[error("token provider: {message}")]
    TokenProvider { message: String },
    /// HTTP 429: try again after `retry_after_ms` (when the server said).
    #[error("rate limited (retry after {retry_after_ms:?} ms)")]
    RateLimited { retry_after_ms: Option<u64> },
    /// HTTP 5xx: try again later.
    #[error("server unavailable: HTTP {status} (retry after {retry_after_ms:?} ms)")]
    ServerUnavailable { status: u16, retry_after_ms: Option<u64> },
    /// Another 4xx: the server refused the request itself.
    #[error("server rejected the request: HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The server answered something the protocol does not allow.
    #[error("invalid server response: {message}")]
    BadResponse { message: String },
    /// The client was shut down (`shutdown()`); open a new one.
    #[error("the client is closed")]
    Closed,
    /// A failure of the platform or a bug (no random source, a panic inside the SDK).
    #[error("internal error: {message}")]
    Internal { message: String },
}

/// Foreign callbacks that throw something other than [`EdgesyncError`] (an `IOException` in a
/// Kotlin token provider, any Python exception) arrive as this.
impl From<uniffi::UnexpectedUniFFICallbackError> for EdgesyncError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        EdgesyncError::TokenProvider { message: e.reason }
    }
}

impl EdgesyncError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        EdgesyncError::InvalidInput { message: message.into() }
    }
}

impl From<StoreError> for EdgesyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InUse(path) => EdgesyncError::StoreInUse { message: path },
            other => EdgesyncError::Storage { message: other.to_string() },
        }
    }
}

impl From<OpenError> for EdgesyncError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Store(e) => e.into(),
            e @ OpenError::CorruptDocument { .. } => EdgesyncError::Storage { message: e.to_string() },
            OpenError::Config(message) => EdgesyncError::InvalidInput { message },
        }
    }
}

impl From<DocumentError> for EdgesyncError {
    fn from(e: DocumentError) -> Self {
        let message = e.to_string();
        match e {
            DocumentError::UnknownDocument(_) => EdgesyncError::NotFound { message },
            DocumentError::AlreadyExists(_) | DocumentError::InvalidTitle(_) | DocumentError::Transaction(_) => {
                EdgesyncError::InvalidInput { message }
            }
            DocumentError::NoRandomness(_) => EdgesyncError::Internal { message },
            DocumentError::Store(e) => e.into(),
        }
    }
}

fn millis(d: Option<std::time::Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl From<SyncError> for EdgesyncError {
    fn from(e: SyncError) -> Self {
        let message = e.to_string();
        match e {
            SyncError::Offline(t) => EdgesyncError::Offline { message: t.to_string() },
            SyncError::Token(t) => EdgesyncError::TokenProvider { message: t.0 },
            SyncError::Unauthorized { detail } => EdgesyncError::Unauthorized { message: detail },
            SyncError::RateLimited { retry_after } => EdgesyncError::RateLimited { retry_after_ms: millis(retry_after) },
            SyncError::Unavailable { status, retry_after } => {
                EdgesyncError::ServerUnavailable { status, retry_after_ms: millis(retry_after) }
            }
            SyncError::Rejected { status: 403, detail } => EdgesyncError::Forbidden { message: detail },
            SyncError::Rejected { status: 404, detail } => EdgesyncError::NotFound { message: detail },
            SyncError::Rejected { status, detail } => EdgesyncError::Rejected { status, message: detail },
            SyncError::BadResponse(_) | SyncError::Decode(_) => EdgesyncError::BadResponse { message },
            SyncError::Store(e) => e.into(),
        }
    }
}

/// Why one document did not sync (in [`SyncReport`](crate::SyncReport), in
/// [`ClientEvent::SyncFailed`](crate::ClientEvent) and from `Document.syncError()`). Its
/// local edits stay and are sent again by the next sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum DocumentSyncError {
    /// Read-only access (a viewer): remote changes were pulled, local edits stay pending until
    /// write access is granted.
    Forbidden,
    /// No such document on the server, or this user is not a member.
    NotFound,
    /// Created here, but the server holds another document with this id.
    IdTaken,
    /// Registering the locally created document was refused.
    CreateRejected { status: u16, message: String },
    /// The server rejected the pushed changes as invalid.
    InvalidChanges,
    /// Too many pending changes for one request.
    TooLarge,
    /// The server could not store the changes now; retried later.
    Unavailable,
    /// The server sent data that does not apply.
    BadServerData { message: String },
    /// A request holding only this document failed as a whole; the others synced.
    RequestFailed { message: String },
}

impl From<DocSyncError> for DocumentSyncError {
    fn from(e: DocSyncError) -> Self {
        match e {
            DocSyncError::Forbidden => DocumentSyncError::Forbidden,
            DocSyncError::NotFound => DocumentSyncError::NotFound,
            DocSyncError::IdTaken => DocumentSyncError::IdTaken,
            DocSyncError::CreateRejected { status, detail } => DocumentSyncError::CreateRejected { status, message: detail },
            DocSyncError::InvalidChanges => DocumentSyncError::InvalidChanges,
            DocSyncError::TooLarge => DocumentSyncError::TooLarge,
            DocSyncError::Unavailable => DocumentSyncError::Unavailable,
            DocSyncError::BadServerData(message) => DocumentSyncError::BadServerData { message },
            DocSyncError::RequestFailed(message) => DocumentSyncError::RequestFailed { message },
        }
    }
}
