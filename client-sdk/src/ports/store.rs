//! The local storage port: documents as metadata, an optional snapshot and append-only
//! change rows.
//!
//! The contract the engine's durability rests on:
//! - [`Store::commit`] is atomic and durable: when it returns `Ok`, every commit in the batch
//!   survives a crash or power loss; when it fails, none of them took effect.
//! - Change rows are immutable and keyed by `(document, hash)`; inserting a row that exists is
//!   a no-op.
//! - [`Store::load`] returns exactly what was committed.

use std::future::Future;

use sync_core::{ChangeHash, DocumentId, Heads};

use crate::error::StoreError;

/// Where a local document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Created on this device (possibly offline): the engine registers it on the server.
    Local,
    /// Opened by id: it already exists on the server (shared with us, or from another device).
    Remote,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Remote => "remote",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local" => Some(Origin::Local),
            "remote" => Some(Origin::Remote),
            _ => None,
        }
    }
}

/// A document's metadata, rewritten as a whole whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRecord {
    pub id: DocumentId,
    pub title: String,
    pub origin: Origin,
    /// The server is known to have this document (created there, or synced with status Ok).
    pub registered: bool,
    /// The server heads last acknowledged: every change they cover is durable on the server.
    pub acked: Heads,
}

/// One document as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub record: DocRecord,
    /// A saved automerge document covering older changes, if one was written.
    pub snapshot: Option<Vec<u8>>,
    /// Change rows written after the snapshot, in the order they were written.
    pub changes: Vec<Vec<u8>>,
}

/// One document's part of an atomic [`Store::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub doc_id: DocumentId,
    /// Insert or replace the document's metadata. The first commit of a document carries it.
    pub record: Option<DocRecord>,
    /// Replace the snapshot with this saved document and delete the document's change rows,
    /// which it covers. Applied before `changes`.
    pub snapshot: Option<Vec<u8>>,
    /// Change rows to append: `(hash, raw change bytes)`.
    pub changes: Vec<(ChangeHash, Vec<u8>)>,
}

/// Durable local storage of documents (`Send` futures; see [`LocalStore`]).
pub trait Store: Send + Sync + 'static {
    /// Every document in the store.
    fn load(&self) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>> + Send;
    /// Applies all commits in one durable transaction.
    fn commit(&self, commits: Vec<Commit>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// [`Store`] without the `Send` requirement (e.g. IndexedDB on wasm).
pub trait LocalStore: 'static {
    fn load(&self) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>>;
    fn commit(&self, commits: Vec<Commit>) -> impl Future<Output = Result<(), StoreError>>;
}

impl<S: Store> LocalStore for S {
    fn load(&self) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>> {
        Store::load(self)
    }

    fn commit(&self, commits: Vec<Commit>) -> impl Future<Output = Result<(), StoreError>> {
        Store::commit(self, commits)
    }
}
