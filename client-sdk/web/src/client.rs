//! `Client`: one local IndexedDB database of documents, synced with one edge API.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgesync_client::{DocumentId, DocumentInfo, Engine, EngineConfig, SyncReport, new_document_id};
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::background::Background;
use crate::socket::PresenceHub;
use crate::document::Document;
use crate::error::{WebError, doc_sync_error};
use crate::events::{Callbacks, heads_to_js, pump, status_name};
use crate::lock::DbLock;
use crate::options::ClientOptions;
use crate::store::{IdbStore, StoreCloser};
use crate::tokens::JsTokenProvider;
use crate::transport::FetchTransport;

/// The engine as the web client runs it.
pub type WebEngine = Engine<IdbStore, FetchTransport, JsTokenProvider>;

/// What a `Client` and its `Document`s share.
pub(crate) struct Inner {
    pub(crate) engine: Rc<WebEngine>,
    pub(crate) callbacks: Rc<Callbacks>,
    presence: Rc<PresenceHub>,
    background: RefCell<Option<Background>>,
    store: RefCell<Option<StoreCloser>>,
    lock: RefCell<Option<DbLock>>,
    closed: Cell<bool>,
}

impl Inner {
    /// The engine, unless the client was closed.
    pub(crate) fn engine(&self) -> Result<&WebEngine, WebError> {
        if self.closed.get() { Err(WebError::closed()) } else { Ok(&self.engine) }
    }
}

/// An offline-first edgesync client over IndexedDB.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// A document's summary as JS.
pub(crate) fn info_to_js(info: &DocumentInfo) -> JsValue {
    let obj = Object::new();
    set(&obj, "id", info.id.to_string());
    set(&obj, "title", info.title.as_str());
    set(&obj, "origin", info.origin.as_str());
    set(&obj, "registered", info.registered);
    set(&obj, "heads", heads_to_js(&info.heads));
    set(&obj, "pendingChanges", info.pending as f64);
    if let Some(error) = &info.last_error {
        set(&obj, "syncError", doc_sync_error(info.id, error).to_js());
    }
    obj.into()
}

fn report_to_js(report: &SyncReport) -> JsValue {
    let obj = Object::new();
    set(&obj, "rounds", report.rounds as f64);
    set(&obj, "synced", report.synced as f64);
    set(&obj, "pending", report.pending as f64);
    let errors = Object::new();
    for (id, error) in &report.errors {
        set(&errors, &id.to_string(), doc_sync_error(*id, error).to_js());
    }
    set(&obj, "errors", errors);
    obj.into()
}

pub(crate) fn parse_doc_id(id: &str) -> Result<DocumentId, WebError> {
    id.parse::<DocumentId>().map_err(|e| WebError::new("invalidId", format!("document id {id:?}: {e}")))
}

impl Client {
    fn promise<F>(&self, f: impl FnOnce(Rc<Inner>) -> F) -> Promise
    where
        F: std::future::Future<Output = Result<JsValue, WebError>> + 'static,
    {
        let fut = f(self.inner.clone());
        future_to_promise(async move { fut.await.map_err(JsValue::from) })
    }
}

#[wasm_bindgen]
impl Client {
    /// Opens (creating if needed) the IndexedDB database `dbName`, loads every document and,
    /// unless `backgroundSync: false`, starts syncing with the API at `url`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Client>")]
    pub fn open(#[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: JsValue) -> Promise {
        future_to_promise(async move { Self::open_inner(options).await.map(JsValue::from).map_err(JsValue::from) })
    }

    async fn open_inner(options: JsValue) -> Result<Client, WebError> {
        let options = ClientOptions::from_js(&options)?;
        let config = EngineConfig::default();
        let transport = FetchTransport::new(&options.url, config.limits.max_message_bytes).map_err(WebError::invalid_config)?;
        let lock = DbLock::acquire(&options.db_name).await?;
        let store = IdbStore::open(&options.db_name).await?;
        let closer = store.closer();
        let closer_kept = store.closer();
        let engine = match Engine::open(store, transport, JsTokenProvider::new(options.get_token), config).await {
            Ok(engine) => Rc::new(engine),
            Err(e) => {
                closer.close();
                return Err(e.into());
            }
        };
        let callbacks = Rc::new(Callbacks::default());
        pump(engine.subscribe(), callbacks.clone());
        let (presence, input) = PresenceHub::new();
        let background = options.background.map(|settings| Background::start(engine.clone(), settings, (presence.clone(), input)));
        let inner = Inner {
            engine,
            callbacks,
            presence,
            background: RefCell::new(background),
            store: RefCell::new(Some(closer_kept)),
            lock: RefCell::new(Some(lock)),
            closed: Cell::new(false),
        };
        Ok(Client { inner: Rc::new(inner) })
    }

    /// Creates a document with a fresh random id. Works offline; durable when the Promise
    /// resolves; registered on the server by the next sync.
    #[wasm_bindgen(js_name = createDocument, unchecked_return_type = "Promise<Document>")]
    pub fn create_document(&self, title: Option<String>) -> Promise {
        self.promise(|inner| async move {
            let id = new_document_id().map_err(|e| WebError::new("noRandomness", e.to_string()))?;
            inner.engine()?.create_document(id, title.as_deref().unwrap_or("")).await?;
            Ok(Document::new(inner, id).into())
        })
    }

    /// A document that exists on the server (shared with this user, or created on another
    /// device), added locally if needed; its content arrives with the next sync.
    #[wasm_bindgen(js_name = openDocument, unchecked_return_type = "Promise<Document>")]
    pub fn open_document(&self, id: String) -> Promise {
        self.promise(|inner| async move {
            let id = parse_doc_id(&id)?;
            inner.engine()?.open_document(id).await?;
            Ok(Document::new(inner, id).into())
        })
    }

    /// A local document, or `undefined`.
    pub fn document(&self, id: String) -> Result<Option<Document>, JsValue> {
        let id = parse_doc_id(&id)?;
        let engine = self.inner.engine()?;
        Ok(engine.contains(id).then(|| Document::new(self.inner.clone(), id)))
    }

    /// Summaries of every local document.
    #[wasm_bindgen(unchecked_return_type = "DocumentInfo[]")]
    pub fn documents(&self) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine()?;
        Ok(engine.documents().iter().map(info_to_js).collect::<Array>().into())
    }

    /// The documents the user is a member of, from the server (`GET /v1/docs`): owned and
    /// shared ones, opened on this device or not ("shared with me"). Needs the network
    /// (`offline` otherwise); `openDocument(id)` brings one here.
    #[wasm_bindgen(js_name = sharedDocuments, unchecked_return_type = "Promise<SharedDocument[]>")]
    pub fn shared_documents(&self) -> Promise {
        self.promise(|inner| async move {
            let list = inner.engine()?.shared_documents().await?;
            Ok(list
                .iter()
                .map(|d| {
                    let obj = Object::new();
                    set(&obj, "id", d.id.to_string());
                    set(&obj, "title", d.title.as_str());
                    set(&obj, "owner", d.owner.as_str());
                    set(&obj, "role", d.role.as_str());
                    set(&obj, "createdAt", d.created_at as f64);
                    set(&obj, "updatedAt", d.updated_at as f64);
                    JsValue::from(obj)
                })
                .collect::<Array>()
                .into())
        })
    }

    /// Syncs every document now (also while the background loop runs; runs never overlap).
    /// Rejects when the server cannot be reached (`offline`) or refuses the request
    /// (`unauthorized`, `rateLimited`, ...); per-document failures are in `errors`.
    #[wasm_bindgen(js_name = syncNow, unchecked_return_type = "Promise<SyncReport>")]
    pub fn sync_now(&self) -> Promise {
        self.promise(|inner| async move {
            let report = inner.engine()?.sync_now().await?;
            Ok(report_to_js(&report))
        })
    }

    /// `"idle"`, `"syncing"`, `"synced"`, `"offline"` or `"error"`.
    #[wasm_bindgen(getter, unchecked_return_type = "SyncStatus")]
    pub fn status(&self) -> String {
        status_name(&self.inner.engine.status()).0.to_owned()
    }

    /// Why the last sync failed, when `status` is `"error"`.
    #[wasm_bindgen(getter, js_name = statusMessage)]
    pub fn status_message(&self) -> Option<String> {
        status_name(&self.inner.engine.status()).1.map(str::to_owned)
    }

    /// Local changes the server does not have yet, over all documents.
    #[wasm_bindgen(getter, js_name = pendingChanges)]
    pub fn pending_changes(&self) -> f64 {
        self.inner.engine.pending_changes() as f64
    }

    /// Calls `callback` with every event; returns a function that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(&self, #[wasm_bindgen(unchecked_param_type = "(event: ClientEvent) => void")] callback: js_sys::Function) -> JsValue {
        let id = self.inner.callbacks.add(None, callback);
        self.inner.callbacks.unsubscriber(id)
    }

    /// Stops background sync, drops every subscription and closes the database. Edits
    /// already made are durable; pending ones sync after the next `open`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.promise(|inner| async move {
            if !inner.closed.replace(true) {
                drop(inner.background.borrow_mut().take());
                inner.callbacks.clear();
                inner.presence.clear();
                if let Some(store) = inner.store.borrow_mut().take() {
                    store.close();
                }
                drop(inner.lock.borrow_mut().take());
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Sends `data` (any JSON value, at most 1 KiB as JSON) to the other clients that have the
    /// document open: a cursor, a selection. Over the live socket, or over HTTP where the
    /// server has none. False when it cannot go now (`backgroundSync: false`, offline,
    /// connecting).
    #[wasm_bindgen(js_name = setPresence)]
    pub fn set_presence(&self, #[wasm_bindgen(js_name = docId)] doc_id: String, data: JsValue) -> Result<bool, JsValue> {
        let id = parse_doc_id(&doc_id)?;
        if data.is_undefined() {
            return Err(WebError::invalid_value("presence data must be a JSON value").into());
        }
        let json = js_sys::JSON::stringify(&data).map_err(|_| WebError::invalid_value("presence data must be JSON"))?;
        Ok(self.inner.presence.send(id, String::from(json)))
    }

    /// Calls `callback` with other clients' presence messages (`{ docId, from, data }`, `from`
    /// being the sender's user id as the server read it from their token); returns a function
    /// that unsubscribes.
    #[wasm_bindgen(js_name = onPresence, unchecked_return_type = "() => void")]
    pub fn on_presence(&self, #[wasm_bindgen(unchecked_param_type = "(presence: Presence) => void")] callback: js_sys::Function) -> JsValue {
        let id = self.inner.presence.listen(callback);
        let presence = Rc::downgrade(&self.inner.presence);
        Closure::once_into_js(move || {
            if let Some(p) = presence.upgrade() {
                p.unlisten(id);
            }
        })
    }

    /// How collaborators' changes reach this client now: `"channel"` (one socket),
    /// `"document-sockets"` (a socket per document), `"waiting-syncs"` (no sockets on this
    /// server) or `"off"` (manual sync, offline, connecting).
    #[wasm_bindgen(getter, js_name = liveMode)]
    pub fn live_mode(&self) -> String {
        self.inner.presence.mode.get().as_str().to_owned()
    }

    /// True after `close()`.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.closed.get()
    }
}
