//! The native client: the engine over a libSQL file, reqwest and a tokio sync loop.

mod background;
mod presence;
mod socket;
mod store;
mod transport;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use automerge::transaction::Transaction;
use automerge::{Automerge, AutomergeError};
use futures_util::future::BoxFuture;
use sync_core::{DocumentId, Heads};
use tokio::task::JoinHandle;

pub use background::BackgroundSync;
pub use presence::{LiveMode, PresenceStream};
pub use store::LibsqlStore;
pub use transport::HttpTransport;

use crate::engine::{DocumentInfo, Engine, EngineConfig, SyncReport, new_document_id};
use crate::error::{DocSyncError, DocumentError, OpenError, SyncError, TokenError};
use crate::events::{Subscription, SyncStatus};
use crate::ports::TokenProvider;

/// A boxed token-provider closure, so [`Client`] is one concrete type.
pub struct BoxedTokenProvider(Box<dyn Fn(bool) -> BoxFuture<'static, Result<String, TokenError>> + Send + Sync>);

impl TokenProvider for BoxedTokenProvider {
    fn token(&self, refresh: bool) -> impl Future<Output = Result<String, TokenError>> + Send {
        (self.0)(refresh)
    }
}

/// The engine as the native client runs it.
pub type NativeEngine = Engine<LibsqlStore, HttpTransport, BoxedTokenProvider>;

/// Configures and opens a [`Client`].
pub struct ClientBuilder {
    server_url: String,
    store_path: Option<PathBuf>,
    tokens: Option<BoxedTokenProvider>,
    background: Option<BackgroundSync>,
    config: EngineConfig,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The libSQL file holding this client's documents (created if missing).
    pub fn store_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.store_path = Some(path.into());
        self
    }

    /// Where bearer tokens come from; see [`TokenProvider`].
    pub fn token_provider<F, Fut>(mut self, provider: F) -> Self
    where
        F: Fn(bool) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
    {
        self.tokens = Some(BoxedTokenProvider(Box::new(move |refresh| Box::pin(provider(refresh)))));
        self
    }

    /// Settings of the background sync loop (on by default).
    pub fn background_sync(mut self, settings: BackgroundSync) -> Self {
        self.background = Some(settings);
        self
    }

    /// No background loop: sync only through [`Client::sync_now`].
    pub fn manual_sync(mut self) -> Self {
        self.background = None;
        self
    }

    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Use this reqwest client (proxies, custom roots, timeouts).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Opens the store, loads every document and starts the background loop. Must be called
    /// inside a tokio runtime.
    pub async fn open(self) -> Result<Client, OpenError> {
        let path = self.store_path.ok_or_else(|| OpenError::Config("a store path is required".into()))?;
        let tokens = self.tokens.ok_or_else(|| OpenError::Config("a token provider is required".into()))?;
        let max_body = self.config.limits.max_message_bytes;
        let transport = match self.http {
            Some(http) => HttpTransport::with_client(http, &self.server_url, max_body)?,
            None => HttpTransport::new(&self.server_url, max_body)?,
        };
        let store = LibsqlStore::open(&path).await?;
        let engine = Arc::new(Engine::open(store, transport, tokens, self.config).await?);
        let (presence, link) = presence::channel();
        let background = self.background.map(|settings| background::spawn(engine.clone(), settings, link));
        Ok(Client { inner: Arc::new(Inner { engine, background: Mutex::new(background), presence }) })
    }
}

struct Inner {
    engine: Arc<NativeEngine>,
    background: Mutex<Option<JoinHandle<()>>>,
    presence: presence::PresenceChannel,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.background.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// An offline-first edgesync client. Cheap to clone; the background loop stops when the last
/// clone (and every [`DocHandle`]) is dropped, or on [`Client::close`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Starts configuring a client for the edge API at `server_url`.
    pub fn builder(server_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            server_url: server_url.into(),
            store_path: None,
            tokens: None,
            background: Some(BackgroundSync::default()),
            config: EngineConfig::default(),
            http: None,
        }
    }

    /// The engine, for what this wrapper does not expose.
    pub fn engine(&self) -> &NativeEngine {
        &self.inner.engine
    }

    /// Creates a document with a fresh random id. Works offline; durable when this returns.
    pub async fn create_document(&self, title: &str) -> Result<DocHandle, DocumentError> {
        let id = new_document_id().map_err(|e| DocumentError::NoRandomness(e.to_string()))?;
        self.create_document_with_id(id, title).await
    }

    /// Creates a document with a caller-chosen id.
    pub async fn create_document_with_id(&self, id: DocumentId, title: &str) -> Result<DocHandle, DocumentError> {
        self.engine().create_document(id, title).await?;
        Ok(self.handle(id))
    }

    /// A handle to a document, adding it locally if it is not there yet (for documents shared
    /// with this user or created on another device; content arrives with the next sync).
    pub async fn open_document(&self, id: DocumentId) -> Result<DocHandle, DocumentError> {
        self.engine().open_document(id).await?;
        Ok(self.handle(id))
    }

    /// A handle to a local document.
    pub fn document(&self, id: DocumentId) -> Option<DocHandle> {
        self.engine().contains(id).then(|| self.handle(id))
    }

    fn handle(&self, id: DocumentId) -> DocHandle {
        DocHandle { client: self.clone(), id }
    }

    /// Sends a presence message (a cursor, a selection: at most 1 KiB of JSON) to the other
    /// clients that have `doc` open, through the live channel, or over HTTP where the server
    /// has no sockets (Spin). False when it cannot go now (manual sync, offline, connecting)
    /// or too many are queued.
    pub fn set_presence(&self, doc: DocumentId, data: serde_json::Value) -> bool {
        self.inner.presence.send(doc, data)
    }

    /// How this client hears of collaborators' changes right now: a socket for every document,
    /// a socket per document, waiting syncs, or nothing (offline, manual sync).
    pub fn live_mode(&self) -> LiveMode {
        self.inner.presence.mode.get()
    }

    /// Other clients' presence messages on the documents this client watches.
    pub fn subscribe_presence(&self) -> PresenceStream {
        self.inner.presence.subscribe()
    }

    /// Every local document.
    pub fn documents(&self) -> Vec<DocumentInfo> {
        self.engine().documents()
    }

    /// The documents the user is a member of, from the server (`GET /v1/docs`): owned and
    /// shared ones, opened on this device or not. Needs the network.
    pub async fn shared_documents(&self) -> Result<Vec<crate::SharedDocument>, SyncError> {
        self.engine().shared_documents().await
    }

    /// Syncs every document now (also while the background loop runs; runs never overlap).
    pub async fn sync_now(&self) -> Result<SyncReport, SyncError> {
        self.engine().sync_now().await
    }

    pub fn status(&self) -> SyncStatus {
        self.engine().status()
    }

    /// Local changes the server does not have yet, over all documents.
    pub fn pending_changes(&self) -> usize {
        self.engine().pending_changes()
    }

    /// Every event: changes, per-document sync failures, status.
    pub fn subscribe(&self) -> Subscription {
        self.engine().subscribe()
    }

    /// Stops the background loop and waits until it has stopped. The store stays open until
    /// every clone and handle is dropped.
    pub async fn close(self) {
        let task = self.inner.background.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

/// A handle to one local document.
#[derive(Clone)]
pub struct DocHandle {
    client: Client,
    id: DocumentId,
}

impl DocHandle {
    pub fn id(&self) -> DocumentId {
        self.id
    }

    /// Changes the document in one transaction; durable in the local store when this returns
    /// `Ok`, then synced in the background. See [`Engine::change`].
    pub async fn change<R>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<R, AutomergeError>) -> Result<R, DocumentError> {
        self.client.engine().change(self.id, f).await
    }

    /// Reads the document.
    pub fn read<R>(&self, f: impl FnOnce(&Automerge) -> R) -> Result<R, DocumentError> {
        self.client.engine().read(self.id, f)
    }

    pub fn heads(&self) -> Heads {
        self.read(|doc| Heads::new(doc.get_heads())).unwrap_or_default()
    }

    pub fn info(&self) -> Option<DocumentInfo> {
        self.client.engine().document(self.id)
    }

    /// Local changes of this document the server does not have yet.
    pub fn pending_changes(&self) -> usize {
        self.info().map_or(0, |i| i.pending)
    }

    /// Why the last sync of this document failed, if it did.
    pub fn sync_error(&self) -> Option<DocSyncError> {
        self.info().and_then(|i| i.last_error)
    }

    /// This document's events (and status events).
    pub fn subscribe(&self) -> Subscription {
        self.client.engine().subscribe_document(self.id)
    }
}
