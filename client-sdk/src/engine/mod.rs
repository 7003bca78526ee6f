//! The engine: local documents, durable changes and the sync round, written once over the
//! ports and used unchanged by every host (the native [`Client`](crate::Client), a web or a
//! mobile binding).
//!
//! Concurrency: the in-memory state sits behind one `std` mutex that is never held across an
//! `await`; writes to the store are serialised by an async mutex (so they happen in the order
//! changes were made and the store stays causally closed); sync runs are serialised by a
//! second one. None of these depends on an async runtime.

mod doc;
mod http;
mod live;
mod presence;
mod shared;
mod sync;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use automerge::transaction::Transaction;
use automerge::{Automerge, AutomergeError};
use futures_util::lock::Mutex as AsyncMutex;
use sync_core::{DocumentId, Heads, Limits};

use crate::error::{DocSyncError, DocumentError, OpenError, StoreError};
use crate::events::{ChangeOrigin, Event, Listeners, Subscription, SyncStatus};
use crate::patches::Patches;
use crate::ports::{DocRecord, LocalStore, LocalTokenProvider, LocalTransport, Origin};
use doc::DocState;

pub use live::{Heard, Presence, Waited};
pub use presence::{LatestPresence, PresenceCursor, PresenceRead};
pub use shared::SharedDocument;
pub use sync::SyncReport;

/// Longest document title the edge accepts.
pub const MAX_TITLE_CHARS: usize = 200;

/// Tuning of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Protocol limits for decoding responses and batching documents.
    pub limits: Limits,
    /// Upper bound on request rounds in one [`Engine::sync_now`] (resends after the server
    /// reported missing dependencies, re-registering documents it does not know).
    pub max_rounds: usize,
    /// Change rows per document after which the store folds them into a snapshot.
    pub snapshot_after_rows: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { limits: Limits::DEFAULT, max_rounds: 4, snapshot_after_rows: 1_000 }
    }
}

/// A local document's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    pub id: DocumentId,
    pub title: String,
    pub origin: Origin,
    /// The server is known to have the document.
    pub registered: bool,
    pub heads: Heads,
    /// Local changes the server has not acknowledged yet.
    pub pending: usize,
    /// Why the document's last sync failed, if it did.
    pub last_error: Option<DocSyncError>,
}

struct State {
    docs: BTreeMap<DocumentId, DocState>,
    status: SyncStatus,
    /// Locally created documents whose id the server gave to another document (this session).
    conflicted: HashSet<DocumentId>,
    /// Documents the server answered "not found" for (a sync, a live subscription or socket)
    /// since their last successful sync: no live channel or waiting sync can watch them, so
    /// only interval syncs look for them (this session).
    unreachable: HashSet<DocumentId>,
}

impl State {
    /// Whether a live channel or a waiting sync can watch `d`: the server has it and this
    /// client may read it, as far as the client knows.
    fn watchable(&self, d: &DocState) -> bool {
        d.record.registered && !self.conflicted.contains(&d.id()) && !self.unreachable.contains(&d.id())
    }
}

/// The client engine over a store `S`, a transport `T` and a token provider `A`.
pub struct Engine<S, T, A> {
    store: S,
    transport: T,
    tokens: A,
    config: EngineConfig,
    state: Mutex<State>,
    writes: AsyncMutex<()>,
    syncing: AsyncMutex<()>,
    listeners: Listeners,
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Loads every document from `store`.
    pub async fn open(store: S, transport: T, tokens: A, config: EngineConfig) -> Result<Self, OpenError> {
        let mut docs = BTreeMap::new();
        for stored in store.load().await? {
            let state = DocState::from_stored(stored)?;
            docs.insert(state.id(), state);
        }
        Ok(Self {
            store,
            transport,
            tokens,
            config,
            state: Mutex::new(State { docs, status: SyncStatus::Idle, conflicted: HashSet::new(), unreachable: HashSet::new() }),
            writes: AsyncMutex::new(()),
            syncing: AsyncMutex::new(()),
            listeners: Listeners::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a caller's change closure leaves automerge's transaction rolled back; the
        // state is still consistent, so a poisoned lock is not an error.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Creates a document with a caller-chosen id (works offline; the server learns about it
    /// on the next sync). Durable when this returns.
    pub async fn create_document(&self, id: DocumentId, title: &str) -> Result<(), DocumentError> {
        validate_title(title)?;
        let record = DocRecord { id, title: title.to_owned(), origin: Origin::Local, registered: false, acked: Heads::empty() };
        self.add(record).await
    }

    /// Adds a document that exists on the server (shared with this user, or created on another
    /// device) by id; its content arrives with the next sync. Returns false if it was already
    /// local.
    pub async fn open_document(&self, id: DocumentId) -> Result<bool, DocumentError> {
        if self.contains(id) {
            return Ok(false);
        }
        let record = DocRecord { id, title: String::new(), origin: Origin::Remote, registered: true, acked: Heads::empty() };
        match self.add(record).await {
            Ok(()) => Ok(true),
            Err(DocumentError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn add(&self, record: DocRecord) -> Result<(), DocumentError> {
        let id = record.id;
        {
            let mut st = self.lock();
            if st.docs.contains_key(&id) {
                return Err(DocumentError::AlreadyExists(id));
            }
            st.docs.insert(id, DocState::new(record));
        }
        if let Err(e) = self.persist(&[id]).await {
            // Not durable: forget it, so the caller can simply try again.
            self.lock().docs.remove(&id);
            return Err(e.into());
        }
        self.listeners.emit(Event::DocumentAdded { doc_id: id });
        Ok(())
    }

    pub fn contains(&self, id: DocumentId) -> bool {
        self.lock().docs.contains_key(&id)
    }

    /// Every local document.
    pub fn documents(&self) -> Vec<DocumentInfo> {
        self.lock().docs.values().map(info).collect()
    }

    pub fn document(&self, id: DocumentId) -> Option<DocumentInfo> {
        self.lock().docs.get(&id).map(info)
    }

    /// Changes a document in one automerge transaction. The change is durable in the local
    /// store when this returns `Ok`; if the closure fails, the transaction is rolled back and
    /// nothing is written. The closure runs under the engine's lock: do not call back into
    /// the engine from it.
    pub async fn change<R>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, AutomergeError>,
    ) -> Result<R, DocumentError> {
        let (result, heads) = {
            let mut st = self.lock();
            let d = st.docs.get_mut(&id).ok_or(DocumentError::UnknownDocument(id))?;
            let done = d.doc.transact(f).map_err(|failure| DocumentError::Transaction(failure.error))?;
            let heads = done.hash.map(|hash| {
                d.track_local(hash);
                d.heads()
            });
            (done.result, heads)
        };
        let Some(heads) = heads else {
            return Ok(result); // no operations, no change
        };
        let written = self.persist(&[id]).await;
        // In memory the document changed either way; readers and subscribers see it.
        self.listeners.emit(Event::Changed { doc_id: id, origin: ChangeOrigin::Local, heads, patches: Patches::default() });
        written?;
        Ok(result)
    }

    /// Reads a document.
    pub fn read<R>(&self, id: DocumentId, f: impl FnOnce(&Automerge) -> R) -> Result<R, DocumentError> {
        let st = self.lock();
        let d = st.docs.get(&id).ok_or(DocumentError::UnknownDocument(id))?;
        Ok(f(&d.doc))
    }

    /// Local changes not yet acknowledged by the server, over all documents.
    pub fn pending_changes(&self) -> usize {
        self.lock().docs.values().map(DocState::pending).sum()
    }

    pub fn status(&self) -> SyncStatus {
        self.lock().status.clone()
    }

    /// Every event.
    pub fn subscribe(&self) -> Subscription {
        self.listeners.subscribe(None)
    }

    /// One document's events, plus status events.
    pub fn subscribe_document(&self, id: DocumentId) -> Subscription {
        self.listeners.subscribe(Some(id))
    }

    fn set_status(&self, status: SyncStatus) {
        let pending = {
            let mut st = self.lock();
            if st.status == status {
                return;
            }
            st.status = status.clone();
            st.docs.values().map(DocState::pending).sum()
        };
        self.listeners.emit(Event::Status { status, pending });
    }

    /// Writes everything unwritten of the given documents in one store transaction. Writes
    /// are serialised, so they reach the store in the order the changes were made. Safe to
    /// cancel: what was not marked written is written again, and rewriting is idempotent.
    async fn persist(&self, ids: &[DocumentId]) -> Result<(), StoreError> {
        let _writer = self.writes.lock().await;
        let (commits, written): (Vec<_>, Vec<_>) = {
            let st = self.lock();
            ids.iter()
                .filter_map(|id| st.docs.get(id))
                .filter_map(|d| d.pending_write(self.config.snapshot_after_rows).map(|(c, w)| (c, (d.id(), w))))
                .unzip()
        };
        if commits.is_empty() {
            return Ok(());
        }
        self.store.commit(commits).await?;
        let mut st = self.lock();
        for (id, w) in written {
            if let Some(d) = st.docs.get_mut(&id) {
                d.mark_written(w);
            }
        }
        Ok(())
    }
}

fn info(d: &DocState) -> DocumentInfo {
    DocumentInfo {
        id: d.id(),
        title: d.record.title.clone(),
        origin: d.record.origin,
        registered: d.record.registered,
        heads: d.heads(),
        pending: d.pending(),
        last_error: d.last_error.clone(),
    }
}

fn validate_title(title: &str) -> Result<(), DocumentError> {
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(DocumentError::InvalidTitle("at most 200 characters"));
    }
    if title.chars().any(char::is_control) {
        return Err(DocumentError::InvalidTitle("no control characters"));
    }
    Ok(())
}

/// A fresh random document id (from the platform's secure random source).
pub fn new_document_id() -> Result<DocumentId, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(DocumentId::from_bytes(bytes))
}
