//! `Document`: a handle to one local document.
//!
//! Every write is one automerge transaction, durable in IndexedDB when its Promise resolves
//! and then synced by the background loop. `change(fn)` groups operations into one
//! transaction; `put`, `insert`, `push`, `delete` and `spliceText` are one-operation
//! shorthands.

use std::rc::Rc;

use edgesync_client::DocumentId;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::changes::{self, ChangeSet, Op};
use crate::client::{Inner, info_to_js};
use crate::error::{WebError, doc_sync_error};
use crate::events::heads_to_js;
use crate::json::{self, path_from_js};

/// A handle to one local document.
#[wasm_bindgen]
pub struct Document {
    inner: Rc<Inner>,
    id: DocumentId,
}

impl Document {
    pub(crate) fn new(inner: Rc<Inner>, id: DocumentId) -> Self {
        Self { inner, id }
    }

    /// Applies `ops` in one transaction; nothing is written if any of them fails.
    async fn apply(inner: Rc<Inner>, id: DocumentId, ops: Vec<Op>) -> Result<JsValue, WebError> {
        if ops.is_empty() {
            return Ok(JsValue::UNDEFINED);
        }
        let mut failure = None;
        let result = inner
            .engine()?
            .change(id, |tx| {
                changes::apply(tx, &ops).map_err(|e| {
                    failure = Some(e);
                    automerge::AutomergeError::Fail
                })
            })
            .await;
        match (result, failure) {
            (Ok(()), _) => Ok(JsValue::UNDEFINED),
            (Err(_), Some(e)) => Err(e.for_doc(id)),
            (Err(e), None) => Err(WebError::from(e).for_doc(id)),
        }
    }

    fn run(&self, op: Result<Op, WebError>) -> Promise {
        let (inner, id) = (self.inner.clone(), self.id);
        future_to_promise(async move {
            let op = op?;
            Self::apply(inner, id, vec![op]).await.map_err(JsValue::from)
        })
    }

    fn read<R>(&self, f: impl FnOnce(&automerge::Automerge) -> R) -> Result<R, WebError> {
        self.inner.engine()?.read(self.id, f).map_err(|e| WebError::from(e).for_doc(self.id))
    }
}

#[wasm_bindgen]
impl Document {
    /// The document id (32 hex characters).
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.id.to_string()
    }

    /// The title given at creation (empty for documents opened by id).
    #[wasm_bindgen(getter)]
    pub fn title(&self) -> String {
        self.inner.engine.document(self.id).map(|i| i.title).unwrap_or_default()
    }

    /// Records operations with `fn(changeSet)` (which may be async) and applies them in one
    /// transaction. Resolves once the change is durable; rejects without writing anything if
    /// `fn` throws or an operation does not apply.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn change(&self, #[wasm_bindgen(unchecked_param_type = "(changes: ChangeSet) => void | Promise<void>")] f: Function) -> Promise {
        let (inner, id) = (self.inner.clone(), self.id);
        future_to_promise(async move {
            let (set, handle) = ChangeSet::new();
            let returned = f.call1(&JsValue::UNDEFINED, &JsValue::from(set));
            let finished = match returned {
                Ok(value) => JsFuture::from(Promise::resolve(&value)).await,
                Err(thrown) => Err(thrown),
            };
            let ops = handle.take();
            finished?;
            Self::apply(inner, id, ops).await.map_err(JsValue::from)
        })
    }

    /// Sets the map key or list element at `path` to `value`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Promise {
        self.run(Op::put_js(&path, &value))
    }

    /// Inserts `value` into the list at `path` before `index`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn insert(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Promise {
        self.run(Op::insert_js(&path, Some(&index), &value))
    }

    /// Appends `value` to the list at `path`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn push(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Promise {
        self.run(Op::insert_js(&path, None, &value))
    }

    /// Deletes the map key or list element at `path`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn delete(&self, #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue) -> Promise {
        self.run(Op::delete_js(&path))
    }

    /// Edits the text at `path` (indices in UTF-16 code units, like JS strings).
    #[wasm_bindgen(js_name = spliceText, unchecked_return_type = "Promise<void>")]
    pub fn splice_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
        #[wasm_bindgen(js_name = deleteCount, unchecked_param_type = "number")] delete_count: JsValue,
        text: String,
    ) -> Promise {
        self.run(Op::splice_text_js(&path, &index, &delete_count, text))
    }

    /// The value at `path` (`undefined` if there is none); the whole document for `[]`.
    pub fn get(&self, #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue) -> Result<JsValue, JsValue> {
        let path = path_from_js(&path)?;
        Ok(self.read(|doc| json::get(doc, &path))??)
    }

    /// The whole document as a plain JS object (also what `JSON.stringify(doc)` writes).
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "Record<string, unknown>")]
    pub fn to_json(&self) -> Result<JsValue, JsValue> {
        Ok(self.read(|doc| json::get(doc, &[]))??)
    }

    /// The document's current heads (hex change hashes).
    #[wasm_bindgen(getter, unchecked_return_type = "string[]")]
    pub fn heads(&self) -> Result<JsValue, JsValue> {
        Ok(self.read(|doc| heads_to_js(&edgesync_client::Heads::new(doc.get_heads())))?)
    }

    /// Local changes of this document the server does not have yet.
    #[wasm_bindgen(getter, js_name = pendingChanges)]
    pub fn pending_changes(&self) -> f64 {
        self.inner.engine.document(self.id).map_or(0.0, |i| i.pending as f64)
    }

    /// Why the last sync of this document failed (`forbidden`, `notFound`, ...), if it did.
    #[wasm_bindgen(getter, js_name = syncError, unchecked_return_type = "EdgesyncError | undefined")]
    pub fn sync_error(&self) -> JsValue {
        self.inner.engine.document(self.id).and_then(|i| i.last_error).map_or(JsValue::UNDEFINED, |e| doc_sync_error(self.id, &e).to_js())
    }

    /// The document's summary (title, origin, heads, pending changes, sync error).
    #[wasm_bindgen(unchecked_return_type = "DocumentInfo")]
    pub fn info(&self) -> JsValue {
        self.inner.engine.document(self.id).as_ref().map_or(JsValue::UNDEFINED, info_to_js)
    }

    /// Calls `callback` with this document's events (and status events); returns a function
    /// that unsubscribes.
    #[wasm_bindgen(unchecked_return_type = "() => void")]
    pub fn subscribe(&self, #[wasm_bindgen(unchecked_param_type = "(event: ClientEvent) => void")] callback: Function) -> JsValue {
        let id = self.inner.callbacks.add(Some(self.id), callback);
        self.inner.callbacks.unsubscriber(id)
    }
}
