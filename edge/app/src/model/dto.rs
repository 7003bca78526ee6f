//! JSON request and response bodies of the v1 API (documented in the OpenAPI spec).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Role;
use crate::store::DocumentRow;

/// Body of `POST /v1/docs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocument {
    /// Client-chosen id (32 lowercase hex digits), so documents created offline keep their id.
    /// Omitted: the server picks one.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub id: Option<String>,
    /// Display title, at most 200 characters, none of them a control character.
    #[serde(default)]
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub title: Option<String>,
}

/// A document's metadata as seen by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub owner: String,
    /// The caller's role.
    pub role: Role,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// Current heads (hex change hashes).
    pub heads: Vec<String>,
    /// Change rows not yet folded into the snapshot.
    pub change_rows: i64,
    pub change_bytes: i64,
    pub snapshot_bytes: i64,
}

impl From<DocumentRow> for Document {
    fn from(r: DocumentRow) -> Self {
        let heads = if r.heads.is_empty() { Vec::new() } else { r.heads.split(',').map(str::to_owned).collect() };
        Self {
            id: r.id,
            title: r.title,
            owner: r.owner,
            role: r.role,
            created_at: r.created_at,
            updated_at: r.updated_at,
            heads,
            change_rows: r.change_rows,
            change_bytes: r.change_bytes,
            snapshot_bytes: r.snapshot_bytes,
        }
    }
}

/// One page of documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Body of `PUT /v1/docs/{id}/members/{user_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub role: Role,
}

/// One change in a document's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub hash: String,
    pub actor: String,
    pub seq: u64,
    /// The author's clock, milliseconds since the Unix epoch (not verified).
    pub timestamp_ms: i64,
    pub message: Option<String>,
    pub deps: Vec<String>,
    pub ops: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub changes: Vec<HistoryEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
    pub schema_version: i64,
    /// Present when this edge reads from an embedded replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaHealth>,
}

/// Freshness of an embedded replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplicaHealth {
    /// The primary's replication frame the replica has applied.
    pub frame_no: Option<u64>,
    /// Milliseconds since the replica last synced from the primary (how stale reads may be).
    pub lag_ms: i64,
}

/// Pagination query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to the server's maximum (200 unless configured otherwise; default 50).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
}

/// `?wait_ms=` of the sync endpoints (docs/protocol.md "Live updates").
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// When the sync pushes nothing and would learn nothing, wait up to this many
    /// milliseconds (clamped to the server's maximum, 30,000 unless configured otherwise) for
    /// one of the documents to change, then answer with the change. Default 0: answer at once.
    #[param(minimum = 0)]
    pub wait_ms: Option<u32>,
}

/// Body of `POST /v1/docs/{id}/presence` (docs/protocol.md §10.1).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPresence {
    /// Any JSON of at most 1 KiB (a cursor, a selection, "typing").
    pub data: serde_json::Value,
    /// The sending client's session (any id it chose: at most 64 letters, digits, `-`, `_`):
    /// its reads naming the same session skip this message.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub session: Option<String>,
}

/// Answer of `POST /v1/docs/{id}/presence`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PresenceSent {
    /// The message's number.
    pub seq: i64,
}

/// `GET /v1/presence` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PresenceQuery {
    /// 1 to 100 comma-separated document ids.
    pub docs: String,
    /// The `cursor` of the previous answer; omitted: every message of the last 10 s.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Skip the messages sent with this session (the caller's own).
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub session: Option<String>,
    /// When there is no message yet, wait up to this many milliseconds for one (clamped to the
    /// server's maximum, as for a waiting sync). Default 0: answer at once.
    #[param(minimum = 0)]
    pub wait_ms: Option<u32>,
}

/// Answer of `GET /v1/presence`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PresencePage {
    /// Pass as `after` to the next read.
    pub cursor: i64,
    /// Oldest first; every sender's, the caller's other sessions included.
    pub presence: Vec<PresenceEntry>,
    /// Ids of the request that are missing or not shared with the caller (the two look alike).
    pub unavailable: Vec<String>,
}

/// One presence message.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PresenceEntry {
    pub seq: i64,
    pub doc: String,
    /// The sender's user id, as its token says (anything inside `data` is only data).
    pub from: String,
    pub data: serde_json::Value,
}

/// `?heads=` of the snapshot endpoint.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadsQuery {
    /// Comma-separated hex change hashes; omitted: the current state.
    #[param(pattern = "^[0-9a-f]{64}(,[0-9a-f]{64})*$")]
    pub heads: Option<String>,
}

/// A sync protocol message (`application/vnd.edgesync.sync.v1`, docs/protocol.md).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct SyncMessage(pub Vec<u8>);

/// A saved automerge document (`application/octet-stream`).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct AutomergeDocument(pub Vec<u8>);

/// An error (RFC 9457 `application/problem+json`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable, `urn:edgesync:problem:<kind>`: `unauthorized`, `forbidden`, `not-found`,
    /// `conflict`, `invalid-input`, `malformed-body`, `unsupported-media-type`,
    /// `payload-too-large`, `too-many-heads`, `quota-exceeded`, `idempotency-key-reused`, `rate-limited`,
    /// `unavailable`, `document-unavailable`, `misconfigured`, `internal`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong, for humans.
    pub detail: Option<String>,
    /// A stable reason, for programs: for 401, why the token was refused (`token_expired`,
    /// `bad_signature`, …); for `malformed-body` on the sync routes, the decode error
    /// (`truncated`, `unsorted-hashes`, … docs/protocol.md §6) or `invalid-changes`.
    pub code: Option<String>,
}
