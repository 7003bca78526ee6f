//! The wire protocol between clients and the edge: message types and their binary encoding.
//!
//! # Layout (version 1)
//!
//! Every message starts with a version byte and a message-type byte. Integers are unsigned
//! LEB128 (strict: no overlong forms); `hashes` is a count followed by that many 32-byte change
//! hashes in ascending order without duplicates; `bytes` is a length followed by that many bytes.
//!
//! ```text
//! request  := 0x01 0x01 count(docs) doc_request*
//! doc_request  := doc_id[16] have:hashes heads:hashes count(chunks) chunk:bytes*
//! response := 0x01 0x02 count(docs) doc_response*
//! doc_response := doc_id[16] status:u8 heads:hashes missing:hashes count(chunks) chunk:bytes*
//! ```
//!
//! A chunk is anything automerge's `load_incremental` accepts: one change, or a whole document
//! (sent instead of many changes when that is smaller). See `docs/protocol.md` for the rules.
//!
//! ```
//! use sync_core::{DocRequest, DocumentId, Heads, Limits, SyncRequest};
//! let request = SyncRequest {
//!     docs: vec![DocRequest {
//!         doc_id: DocumentId::from_bytes([7; 16]),
//!         have: Heads::empty(),
//!         heads: Heads::empty(),
//!         chunks: vec![],
//!     }],
//! };
//! let bytes = request.encode();
//! assert_eq!(bytes[0], sync_core::PROTOCOL_VERSION);
//! assert_eq!(SyncRequest::decode(&bytes, &Limits::DEFAULT).unwrap(), request);
//! ```

mod codec;
mod error;

use std::collections::HashSet;

pub use error::DecodeError;

use crate::id::{DOCUMENT_ID_LEN, DocumentId, Heads};
use crate::limits::Limits;
use codec::{Reader, Writer};

/// The protocol version this crate speaks; the first byte of every message.
pub const PROTOCOL_VERSION: u8 = 1;
/// The HTTP media type of encoded messages.
pub const MEDIA_TYPE: &str = "application/vnd.edgesync.sync.v1";

const TYPE_REQUEST: u8 = 1;
const TYPE_RESPONSE: u8 = 2;
/// Smallest encoded document entry: doc id + two empty hash lists + empty chunk list (a
/// response entry also has a status byte, so this bound is safe for both).
const MIN_DOC_BYTES: usize = DOCUMENT_ID_LEN + 3;

/// A client's sync request: one entry per document it wants to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRequest {
    pub docs: Vec<DocRequest>,
}

/// One document in a [`SyncRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRequest {
    pub doc_id: DocumentId,
    /// The server heads the client last had acknowledged: what it believes the server has.
    pub have: Heads,
    /// The client's current heads: everything the client has.
    pub heads: Heads,
    /// The changes (or a whole document) the server may lack: everything not covered by `have`.
    pub chunks: Vec<Vec<u8>>,
}

/// The edge's answer: one entry per requested document, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    pub docs: Vec<DocResponse>,
}

/// One document in a [`SyncResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocResponse {
    pub doc_id: DocumentId,
    pub status: DocStatus,
    /// The server's heads after this request's changes were durably stored.
    pub heads: Heads,
    /// Dependencies the server lacked, so some pushed changes were not applied: resend from
    /// `heads` (the next request's `have`) and they will be.
    pub missing: Heads,
    /// What the client lacks: changes, or a whole document when that is smaller.
    pub chunks: Vec<Vec<u8>>,
}

/// The outcome for one document. Codes are stable wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DocStatus {
    /// Merged; `heads`, `missing` and `chunks` are meaningful.
    Ok = 0,
    /// No such document, or the caller may not see it (the two are indistinguishable).
    NotFound = 1,
    /// The caller may read but not write: the pushed changes were rejected and nothing of them
    /// was stored. `heads` and `chunks` still carry what the caller may pull.
    Forbidden = 2,
    /// A pushed chunk is not a valid automerge change or document; nothing was stored.
    InvalidChanges = 3,
    /// The pushed chunks expand to more changes than `Limits::max_chunks_per_doc`; nothing
    /// was stored. Push in smaller batches.
    TooLarge = 4,
    /// The server could not store the changes right now; retry later.
    Unavailable = 5,
}

impl DocStatus {
    pub fn from_code(code: u8) -> Result<Self, DecodeError> {
        Ok(match code {
            0 => Self::Ok,
            1 => Self::NotFound,
            2 => Self::Forbidden,
            3 => Self::InvalidChanges,
            4 => Self::TooLarge,
            5 => Self::Unavailable,
            other => return Err(DecodeError::UnknownStatus(other)),
        })
    }
}

impl SyncRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(PROTOCOL_VERSION, TYPE_REQUEST);
        w.uint(self.docs.len() as u64);
        for d in &self.docs {
            w.doc_id(&d.doc_id);
            w.hashes(d.have.as_slice());
            w.hashes(d.heads.as_slice());
            write_chunks(&mut w, &d.chunks);
        }
        w.finish()
    }

    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = open(input, TYPE_REQUEST, "request", limits)?;
        let n = r.count("documents", limits.max_docs, MIN_DOC_BYTES)?;
        let mut docs = Vec::with_capacity(n);
        let mut seen = HashSet::with_capacity(n);
        for _ in 0..n {
            let doc_id = r.doc_id()?;
            if !seen.insert(doc_id) {
                return Err(DecodeError::DuplicateDocument(doc_id));
            }
            let have = r.hashes("have", limits.max_heads)?;
            let heads = r.hashes("heads", limits.max_heads)?;
            let chunks = read_chunks(&mut r, limits)?;
            docs.push(DocRequest { doc_id, have, heads, chunks });
        }
        close(&r)?;
        Ok(Self { docs })
    }
}

impl SyncResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(PROTOCOL_VERSION, TYPE_RESPONSE);
        w.uint(self.docs.len() as u64);
        for d in &self.docs {
            w.doc_id(&d.doc_id);
            w.byte(d.status as u8);
            w.hashes(d.heads.as_slice());
            w.hashes(d.missing.as_slice());
            write_chunks(&mut w, &d.chunks);
        }
        w.finish()
    }

    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut r = open(input, TYPE_RESPONSE, "response", limits)?;
        let n = r.count("documents", limits.max_docs, MIN_DOC_BYTES)?;
        let mut docs = Vec::with_capacity(n);
        let mut seen = HashSet::with_capacity(n);
        for _ in 0..n {
            let doc_id = r.doc_id()?;
            if !seen.insert(doc_id) {
                return Err(DecodeError::DuplicateDocument(doc_id));
            }
            let status = DocStatus::from_code(r.byte("status")?)?;
            let heads = r.hashes("heads", limits.max_heads)?;
            let missing = r.hashes("missing", limits.max_heads)?;
            let chunks = read_chunks(&mut r, limits)?;
            docs.push(DocResponse { doc_id, status, heads, missing, chunks });
        }
        close(&r)?;
        Ok(Self { docs })
    }
}

fn open<'a>(
    input: &'a [u8],
    expected: u8,
    name: &'static str,
    limits: &Limits,
) -> Result<Reader<'a>, DecodeError> {
    if input.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge { size: input.len(), limit: limits.max_message_bytes });
    }
    let mut r = Reader::new(input);
    let version = r.byte("version").map_err(|_| DecodeError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let actual = r.byte("message type")?;
    if actual != expected {
        return Err(DecodeError::WrongMessageType { expected: name, actual });
    }
    Ok(r)
}

fn close(r: &Reader<'_>) -> Result<(), DecodeError> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

fn write_chunks(w: &mut Writer, chunks: &[Vec<u8>]) {
    w.uint(chunks.len() as u64);
    for c in chunks {
        w.bytes(c);
    }
}

fn read_chunks(r: &mut Reader<'_>, limits: &Limits) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = r.count("chunks", limits.max_chunks_per_doc, 1)?;
    let mut chunks = Vec::with_capacity(n);
    for _ in 0..n {
        chunks.push(r.bytes("chunk", limits.max_chunk_bytes)?.to_vec());
    }
    Ok(chunks)
}
