//! Plain values crossing the boundary: sync status, sync reports, events, document summaries.
//! Document ids are the SDK's 32-character lowercase hex strings; heads are change hashes in hex.

use edgesync_client as sdk;

use crate::error::DocumentSyncError;

/// The state of synchronisation with the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncStatus {
    /// No sync attempted yet.
    Idle,
    /// A sync is in flight.
    Syncing,
    /// The last sync completed (single documents may still have failed: see their errors).
    Synced,
    /// The last sync could not reach the server.
    Offline,
    /// The last sync failed for another reason (auth, server error, rate limit, local store).
    Error { message: String },
}

impl From<sdk::SyncStatus> for SyncStatus {
    fn from(s: sdk::SyncStatus) -> Self {
        match s {
            sdk::SyncStatus::Idle => SyncStatus::Idle,
            sdk::SyncStatus::Syncing => SyncStatus::Syncing,
            sdk::SyncStatus::Synced => SyncStatus::Synced,
            sdk::SyncStatus::Offline => SyncStatus::Offline,
            sdk::SyncStatus::Error(message) => SyncStatus::Error { message },
        }
    }
}

/// A document that did not sync in a run, and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentFailure {
    pub doc_id: String,
    pub error: DocumentSyncError,
}

/// What `Client.syncNow()` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Request rounds sent (usually 1).
    pub rounds: u32,
    /// Documents that synced.
    pub synced: u32,
    /// Documents that did not, and why. Their local edits are kept.
    pub errors: Vec<DocumentFailure>,
    /// Local changes the server still lacks, over all documents.
    pub pending: u64,
}

impl From<sdk::SyncReport> for SyncReport {
    fn from(r: sdk::SyncReport) -> Self {
        SyncReport {
            rounds: count(r.rounds),
            synced: count(r.synced),
            errors: r.errors.into_iter().map(|(id, e)| DocumentFailure { doc_id: id.to_string(), error: e.into() }).collect(),
            pending: r.pending as u64,
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOrigin {
    /// Made on this device.
    Local,
    /// Received from the server.
    Remote,
}

/// Something that happened in the client, delivered to an [`EventListener`](crate::EventListener).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ClientEvent {
    /// A document was created or opened locally.
    DocumentAdded { doc_id: String },
    /// A document's content changed; re-read it (`toJson()`), or apply `patches_json`: what a
    /// remote change did, as JSON (`[{ "action": "put" | "insert" | "splice" | "del" | "inc" |
    /// "conflict" | "mark", "path": [...], ... }]`, docs/sdk-rust.md "Events"; `[]` for local
    /// changes).
    DocumentChanged { doc_id: String, origin: ChangeOrigin, heads: Vec<String>, patches_json: String },
    /// A document did not sync; its local edits are kept.
    SyncFailed { doc_id: String, error: DocumentSyncError },
    /// The sync status changed; `pending` is the number of local changes the server lacks.
    StatusChanged { status: SyncStatus, pending: u64 },
}

impl From<sdk::Event> for ClientEvent {
    fn from(e: sdk::Event) -> Self {
        match e {
            sdk::Event::DocumentAdded { doc_id } => ClientEvent::DocumentAdded { doc_id: doc_id.to_string() },
            sdk::Event::Changed { doc_id, origin, heads, patches } => ClientEvent::DocumentChanged {
                doc_id: doc_id.to_string(),
                patches_json: sdk::patches::to_json(&patches).to_string(),
                origin: match origin {
                    sdk::ChangeOrigin::Local => ChangeOrigin::Local,
                    sdk::ChangeOrigin::Remote => ChangeOrigin::Remote,
                },
                heads: heads_hex(&heads),
            },
            sdk::Event::SyncFailed { doc_id, error } => ClientEvent::SyncFailed { doc_id: doc_id.to_string(), error: error.into() },
            sdk::Event::Status { status, pending } => ClientEvent::StatusChanged { status: status.into(), pending: pending as u64 },
        }
    }
}

/// A document the user is a member of, as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SharedDocument {
    pub id: String,
    pub title: String,
    /// The owner's user id.
    pub owner: String,
    /// `owner`, `editor` or `viewer`.
    pub role: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<sdk::SharedDocument> for SharedDocument {
    fn from(d: sdk::SharedDocument) -> Self {
        SharedDocument { id: d.id.to_string(), title: d.title, owner: d.owner, role: d.role, created_at: d.created_at, updated_at: d.updated_at }
    }
}

/// A local document's summary.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentInfo {
    pub id: String,
    pub title: String,
    /// The server is known to have the document.
    pub registered: bool,
    /// Local changes the server has not acknowledged yet.
    pub pending: u64,
    /// Why the document's last sync failed, if it did.
    pub sync_error: Option<DocumentSyncError>,
}

impl From<sdk::DocumentInfo> for DocumentInfo {
    fn from(i: sdk::DocumentInfo) -> Self {
        DocumentInfo {
            id: i.id.to_string(),
            title: i.title,
            registered: i.registered,
            pending: i.pending as u64,
            sync_error: i.last_error.map(Into::into),
        }
    }
}

pub(crate) fn heads_hex(heads: &sdk::Heads) -> Vec<String> {
    heads.as_slice().iter().map(ToString::to_string).collect()
}
