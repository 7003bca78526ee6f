//! `Client`: opens the store, owns the tokio runtime every call runs on, hands out documents.

use std::future::Future;
use std::sync::{Arc, Mutex};

use edgesync_client as sdk;
use sdk::DocumentId;
use tokio::runtime::{Handle, Runtime};

use crate::callbacks::{EventListener, EventSubscription, Stop, TokenProvider, forward, token_closure};
use crate::document::Document;
use crate::error::EdgesyncError;
use crate::types::{DocumentInfo, SharedDocument, SyncReport, SyncStatus};

/// How to open a [`Client`].
#[derive(uniffi::Record)]
pub struct ClientConfig {
    /// The edge API, e.g. `https://sync.example.com` (a path prefix is allowed).
    pub server_url: String,
    /// The local database file (created if missing), e.g. in the app's files directory. One
    /// client per file at a time.
    pub store_path: String,
    /// Where bearer tokens come from.
    pub token_provider: Arc<dyn TokenProvider>,
    /// Sync automatically: at start, shortly after local edits, every 30 s, with backoff after
    /// failures. Off: only `syncNow()` syncs.
    #[uniffi(default = true)]
    pub background_sync: bool,
}

/// What every object of one client shares: the runtime, the SDK client (gone once closed) and
/// the close signal.
pub(crate) struct Shared {
    runtime: Option<Runtime>,
    client: Mutex<Option<sdk::Client>>,
    closed: Arc<Stop>,
}

impl Shared {
    pub(crate) fn handle(&self) -> &Handle {
        self.runtime.as_ref().expect("the runtime lives as long as Shared").handle()
    }

    /// The SDK client, unless closed.
    pub(crate) fn client(&self) -> Result<sdk::Client, EdgesyncError> {
        self.client.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or(EdgesyncError::Closed)
    }

    pub(crate) fn closed(&self) -> Arc<Stop> {
        self.closed.clone()
    }

    /// Runs `work` on the client's runtime; the returned future can be awaited on any
    /// executor (the foreign language's). Dropping that future does not cancel the work, so
    /// an edit whose caller was cancelled is still made durable.
    pub(crate) fn spawn<T, F>(&self, work: F) -> impl Future<Output = Result<T, EdgesyncError>> + Send + 'static
    where
        T: Send + 'static,
        F: Future<Output = Result<T, EdgesyncError>> + Send + 'static,
    {
        let task = self.handle().spawn(work);
        async move { task.await.map_err(|e| EdgesyncError::Internal { message: format!("SDK task failed: {e}") })? }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last reference may go away on one of the runtime's own threads (a task that
        // outlived every foreign reference); a plain drop would block there and panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// An offline-first edgesync client: a local store of documents, synced with the edge.
#[derive(uniffi::Object)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    pub(crate) fn sdk(&self) -> Result<sdk::Client, EdgesyncError> {
        self.shared.client()
    }

    pub(crate) fn runtime(&self) -> &Handle {
        self.shared.handle()
    }

    pub(crate) fn closed(&self) -> Arc<Stop> {
        self.shared.closed()
    }
}

pub(crate) fn parse_id(id: &str) -> Result<DocumentId, EdgesyncError> {
    id.parse().map_err(|e| EdgesyncError::invalid(format!("document id {id:?}: {e}")))
}

#[uniffi::export]
impl Client {
    /// Opens the store (loading every document into memory) and starts background sync.
    #[uniffi::constructor]
    pub async fn open(config: ClientConfig) -> Result<Arc<Self>, EdgesyncError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("edgesync")
            .enable_all()
            .build()
            .map_err(|e| EdgesyncError::Internal { message: format!("starting the runtime: {e}") })?;
        let builder = sdk::Client::builder(config.server_url)
            .store_path(config.store_path)
            .token_provider(token_closure(config.token_provider));
        let builder = if config.background_sync { builder } else { builder.manual_sync() };
        let opened = runtime.spawn(builder.open()).await;
        let client = match opened {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                runtime.shutdown_background();
                return Err(e.into());
            }
            Err(e) => {
                runtime.shutdown_background();
                return Err(EdgesyncError::Internal { message: format!("opening the client: {e}") });
            }
        };
        let shared = Shared { runtime: Some(runtime), client: Mutex::new(Some(client)), closed: Arc::new(Stop::default()) };
        Ok(Arc::new(Client { shared: Arc::new(shared) }))
    }

    /// Creates a document with a fresh random id. Works offline; durable when this returns;
    /// the server learns about it with the next sync.
    pub async fn create_document(&self, title: String) -> Result<Arc<Document>, EdgesyncError> {
        let client = self.shared.client()?;
        let handle = self.shared.spawn(async move { Ok(client.create_document(&title).await?) }).await?;
        Ok(Document::new(self.shared.clone(), handle.id()))
    }

    /// A document that exists on the server (shared with this user, or created on another
    /// device), added locally if needed; its content arrives with the next sync.
    pub async fn open_document(&self, id: String) -> Result<Arc<Document>, EdgesyncError> {
        let id = parse_id(&id)?;
        let client = self.shared.client()?;
        let handle = self.shared.spawn(async move { Ok(client.open_document(id).await?) }).await?;
        Ok(Document::new(self.shared.clone(), handle.id()))
    }

    /// A local document, or `null` if there is none with this id.
    pub fn document(&self, id: String) -> Result<Option<Arc<Document>>, EdgesyncError> {
        let id = parse_id(&id)?;
        Ok(self.shared.client()?.document(id).map(|h| Document::new(self.shared.clone(), h.id())))
    }

    /// Every local document.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>, EdgesyncError> {
        Ok(self.shared.client()?.documents().into_iter().map(Into::into).collect())
    }

    /// The documents the user is a member of, from the server: owned and shared ones,
    /// opened on this device or not ("shared with me"). Throws `Offline` without a network.
    pub async fn shared_documents(&self) -> Result<Vec<SharedDocument>, EdgesyncError> {
        let client = self.shared.client()?;
        self.shared.spawn(async move { Ok(client.shared_documents().await?.into_iter().map(Into::into).collect()) }).await
    }

    /// Syncs every document now and reports per document. Throws when the run as a whole
    /// failed (offline, unauthorized, server unavailable); local edits are kept either way.
    pub async fn sync_now(&self) -> Result<SyncReport, EdgesyncError> {
        let client = self.shared.client()?;
        self.shared.spawn(async move { Ok(client.sync_now().await?.into()) }).await
    }

    pub fn status(&self) -> Result<SyncStatus, EdgesyncError> {
        Ok(self.shared.client()?.status().into())
    }

    /// Local changes the server does not have yet, over all documents.
    pub fn pending_changes(&self) -> Result<u64, EdgesyncError> {
        Ok(self.shared.client()?.pending_changes() as u64)
    }

    /// Delivers every event (status, document changes, per-document sync failures) to
    /// `listener` until the subscription is cancelled or the client closed. Events from before
    /// the call are not replayed: read `status()` after subscribing.
    pub fn subscribe(&self, listener: Arc<dyn EventListener>) -> Result<Arc<EventSubscription>, EdgesyncError> {
        let events = self.shared.client()?.subscribe();
        Ok(forward(self.shared.handle(), events, listener, self.shared.closed()))
    }

    /// Stops background sync and every subscription, and releases the store once in-flight
    /// calls have finished. Later calls throw `Closed`. Calling it again does nothing.
    ///
    /// (Not `close()`: the generated Kotlin classes are `AutoCloseable`, whose `close()` frees
    /// the native handle, and a suspend `close()` would clash with it.)
    pub async fn shutdown(&self) -> Result<(), EdgesyncError> {
        let client = self.shared.client.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.shared.closed.stop();
        match client {
            Some(client) => {
                self.shared
                    .spawn(async move {
                        client.close().await;
                        Ok(())
                    })
                    .await
            }
            None => Ok(()),
        }
    }

    /// False once `shutdown()` was called.
    pub fn is_open(&self) -> bool {
        self.shared.client().is_ok()
    }
}
