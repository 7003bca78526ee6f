//! Errors as JS values.
//!
//! Every failure reaches JS as an `EdgesyncError`: a subclass of `Error` (defined by the
//! package entry point, `js/errors.js`, and registered here with `__setErrorClass`) with a
//! stable `code` and, where they apply, `docId`, `status`, `retryAfter` (seconds) and
//! `detail`. Without the entry point (raw wasm-bindgen output) it is a plain `Error` with
//! the same fields and `name = "EdgesyncError"`.

use std::cell::RefCell;
use std::time::Duration;

use edgesync_client::{DocSyncError, DocumentError, DocumentId, OpenError, StoreError, SyncError};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

thread_local! {
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers the JS class errors are constructed with: `new Class(code, message, details)`.
#[wasm_bindgen(js_name = "__setErrorClass")]
pub fn set_error_class(class: Function) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
}

/// A failure with a stable code, as JS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebError {
    pub code: &'static str,
    pub message: String,
    pub doc_id: Option<DocumentId>,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub detail: Option<String>,
}

impl WebError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), doc_id: None, status: None, retry_after: None, detail: None }
    }

    pub fn for_doc(mut self, doc_id: DocumentId) -> Self {
        self.doc_id = Some(doc_id);
        self
    }

    /// The client was closed.
    pub fn closed() -> Self {
        Self::new("closed", "the client is closed")
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new("invalidConfig", message)
    }

    pub fn invalid_path(message: impl Into<String>) -> Self {
        Self::new("invalidPath", message)
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("invalidValue", message)
    }

    /// The error as a JS `EdgesyncError`.
    pub fn to_js(&self) -> JsValue {
        let details = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&details, &JsValue::from_str(key), &value);
        };
        if let Some(id) = self.doc_id {
            set("docId", id.to_string().into());
        }
        if let Some(status) = self.status {
            set("status", status.into());
        }
        if let Some(wait) = self.retry_after {
            set("retryAfter", wait.as_secs_f64().into());
        }
        if let Some(detail) = &self.detail {
            set("detail", detail.into());
        }
        let class = ERROR_CLASS.with(|c| c.borrow().clone());
        if let Some(class) = class {
            let args = Array::of3(&self.code.into(), &self.message.as_str().into(), &details);
            if let Ok(error) = Reflect::construct(&class, &args) {
                return error;
            }
        }
        let error = js_sys::Error::new(&self.message);
        error.set_name("EdgesyncError");
        let _ = Reflect::set(&error, &"code".into(), &self.code.into());
        let _ = Object::assign(&error, &details);
        error.into()
    }
}

impl From<WebError> for JsValue {
    fn from(e: WebError) -> Self {
        e.to_js()
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::Unavailable(_) => "storeUnavailable",
            StoreError::InUse(_) => "storeInUse",
            StoreError::Corrupt(_) => "storeCorrupt",
            StoreError::NewerSchema { .. } => "storeNewerSchema",
        };
        Self::new(code, e.to_string())
    }
}

impl From<OpenError> for WebError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Store(e) => e.into(),
            OpenError::CorruptDocument { doc_id, .. } => Self::new("corruptDocument", e.to_string()).for_doc(doc_id),
            OpenError::Config(_) => Self::invalid_config(e.to_string()),
        }
    }
}

impl From<DocumentError> for WebError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::UnknownDocument(id) => Self::new("unknownDocument", e.to_string()).for_doc(id),
            DocumentError::AlreadyExists(id) => Self::new("alreadyExists", e.to_string()).for_doc(id),
            DocumentError::InvalidTitle(_) => Self::new("invalidTitle", e.to_string()),
            DocumentError::NoRandomness(_) => Self::new("noRandomness", e.to_string()),
            DocumentError::Transaction(_) => Self::new("invalidChange", e.to_string()),
            // Applied in memory, written with the next successful write.
            DocumentError::Store(_) => Self::new("notDurable", e.to_string()),
        }
    }
}

impl From<SyncError> for WebError {
    fn from(e: SyncError) -> Self {
        let message = e.to_string();
        let retry_after = e.retry_after();
        let mut error = match e {
            SyncError::Offline(_) => Self::new("offline", message),
            SyncError::Token(_) => Self::new("token", message),
            SyncError::Unauthorized { detail } => Self { detail: Some(detail), ..Self::new("unauthorized", message) },
            SyncError::RateLimited { .. } => Self { status: Some(429), ..Self::new("rateLimited", message) },
            SyncError::Unavailable { status, .. } => Self { status: Some(status), ..Self::new("serverUnavailable", message) },
            SyncError::Rejected { status, detail } => Self { status: Some(status), detail: Some(detail), ..Self::new("rejected", message) },
            SyncError::BadResponse(_) | SyncError::Decode(_) => Self::new("badResponse", message),
            SyncError::Store(e) => e.into(),
        };
        error.retry_after = retry_after;
        error
    }
}

/// One document's sync failure.
pub fn doc_sync_error(doc_id: DocumentId, e: &DocSyncError) -> WebError {
    let message = e.to_string();
    let error = match e {
        DocSyncError::Forbidden => WebError::new("forbidden", message),
        DocSyncError::NotFound => WebError::new("notFound", message),
        DocSyncError::IdTaken => WebError::new("idTaken", message),
        DocSyncError::CreateRejected { status, detail } => {
            WebError { status: Some(*status), detail: Some(detail.clone()), ..WebError::new("createRejected", message) }
        }
        DocSyncError::InvalidChanges => WebError::new("invalidChanges", message),
        DocSyncError::TooLarge => WebError::new("tooLarge", message),
        DocSyncError::Unavailable => WebError::new("unavailable", message),
        DocSyncError::BadServerData(_) => WebError::new("badServerData", message),
        DocSyncError::RequestFailed(_) => WebError::new("requestFailed", message),
    };
    error.for_doc(doc_id)
}

/// The message of a thrown JS value (an `Error`'s message, a string, or a description).
pub fn js_message(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
