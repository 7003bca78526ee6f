//! automerge-repo's network protocol, the parts a server speaks (docs/automerge-repo-wire.md):
//! its messages, one CBOR map per binary WebSocket frame ([`Message`]), and its document ids,
//! bs58check of 16 bytes, mapped 1:1 to edgesync's ([`repo_document_id`], [`from_repo_document_id`]),
//! so one document is reachable through both protocols; and one connection's protocol state
//! ([`Session`]: handshake, subscriptions; [`EphemeralFilter`]: relaying each ephemeral
//! message once); and the automerge sync messages inside `request` and `sync`, whose counts are
//! checked before the server acts on them ([`decode_sync_message`]), and received without
//! walking the document's history ([`receive_without_changes`]).
//!
//! Decoding is lenient where automerge-repo's encoder (cbor-x) differs from minimal CBOR —
//! non-minimal map headers, `undefined` for absent values, integers above 2³² as floats,
//! unknown keys — and strict everywhere else: a frame is one map, every field has its type,
//! and a frame with bytes after its map is refused. Every length is bounded by the frame's own
//! bytes (nothing is allocated from a declared count), so the caller bounds a message by
//! bounding the frame. Encoding writes minimal CBOR, which cbor-x reads.
//!
//! The codec is `minicbor`'s, as in samod (the Rust implementation of this protocol); only the
//! mapping between its values and these messages is written here.

mod codec;
mod generate;
mod ids;
mod receive;
mod session;
mod sync_message;

pub use codec::DecodeError;
pub use generate::{generate_kept_sync_message, generate_sync_message};
pub use ids::{ParseRepoIdError, from_repo_document_id, repo_document_id};
pub use receive::{receive_kept_without_changes, receive_without_changes};
pub use session::{EphemeralFilter, Event, Session, SessionLimits};
pub use sync_message::{MAX_BLOOM_BITS_PER_ENTRY, MAX_BLOOM_PROBES, MAX_HAVES, SyncMessageError, decode_sync_message};

/// The protocol version this side speaks (`supportedProtocolVersions`,
/// `selectedProtocolVersion`).
pub const PROTOCOL_VERSION: &str = "1";

/// What a peer says about itself in `join` and `peer`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMetadata {
    /// Stable id of the peer's storage, when it keeps documents.
    pub storage_id: Option<String>,
    /// A peer that keeps nothing (its sync states need not be remembered).
    pub is_ephemeral: bool,
}

/// One message of automerge-repo's network protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A client's first frame.
    Join { sender_id: String, peer_metadata: Option<PeerMetadata>, supported_protocol_versions: Vec<String> },
    /// The server's answer to `join`.
    Peer { sender_id: String, peer_metadata: Option<PeerMetadata>, selected_protocol_version: String, target_id: String },
    /// Sent before closing (for example on an unsupported protocol version).
    Error { sender_id: Option<String>, message: String, target_id: Option<String> },
    /// The first sync message for a document the sender does not have.
    Request { sender_id: String, target_id: String, document_id: String, data: Vec<u8> },
    /// An automerge sync message for a document.
    Sync { sender_id: String, target_id: String, document_id: String, data: Vec<u8> },
    /// The answer to a `request` for a document the receiver cannot provide.
    DocUnavailable { sender_id: String, target_id: String, document_id: String },
    /// A message for a document's other peers, never stored (`count` rises per `session_id`).
    Ephemeral { sender_id: String, target_id: String, count: u64, session_id: String, document_id: String, data: Vec<u8> },
    /// `remote-subscription-change`, `remote-heads-changed`, `leave` and types this side does
    /// not know: a server ignores them (and keeps the connection).
    Other { kind: String },
}

impl Message {
    /// Decodes one frame.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        codec::decode(frame)
    }

    /// Encodes the message as one frame. `Other` encodes as a map holding only its type.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
}
