//! Engine events as plain JS objects, delivered to subscriber callbacks.
//!
//! | `type`           | fields                                                        |
//! |------------------|---------------------------------------------------------------|
//! | `"documentAdded"`| `docId`                                                       |
//! | `"changed"`      | `docId`, `origin` (`"local"` \| `"remote"`), `heads` (hex)     |
//! | `"syncFailed"`   | `docId`, `error` (an `EdgesyncError`; local edits are kept)    |
//! | `"status"`       | `status`, `pending` (changes the server lacks), `message`?    |
//!
//! One task per client pumps the engine's event stream and calls every matching callback;
//! a callback that throws is reported on the console and does not affect the others.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgesync_client::{ChangeOrigin, DocumentId, Event, Heads, Subscription, SyncStatus};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::doc_sync_error;

/// The status name JS sees, and the message of an error status.
pub fn status_name(status: &SyncStatus) -> (&'static str, Option<&str>) {
    match status {
        SyncStatus::Idle => ("idle", None),
        SyncStatus::Syncing => ("syncing", None),
        SyncStatus::Synced => ("synced", None),
        SyncStatus::Offline => ("offline", None),
        SyncStatus::Error(message) => ("error", Some(message)),
    }
}

pub fn heads_to_js(heads: &Heads) -> JsValue {
    heads.as_slice().iter().map(|h| JsValue::from_str(&h.to_string())).collect::<Array>().into()
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// An event as a JS object.
pub fn event_to_js(event: &Event) -> JsValue {
    let obj = Object::new();
    match event {
        Event::DocumentAdded { doc_id } => {
            set(&obj, "type", "documentAdded");
            set(&obj, "docId", doc_id.to_string());
        }
        Event::Changed { doc_id, origin, heads, patches } => {
            set(&obj, "type", "changed");
            set(&obj, "docId", doc_id.to_string());
            set(&obj, "origin", if *origin == ChangeOrigin::Local { "local" } else { "remote" });
            set(&obj, "heads", heads_to_js(heads));
            let patches = js_sys::JSON::parse(&edgesync_client::patches::to_json(patches).to_string()).unwrap_or_else(|_| js_sys::Array::new().into());
            set(&obj, "patches", patches);
        }
        Event::SyncFailed { doc_id, error } => {
            set(&obj, "type", "syncFailed");
            set(&obj, "docId", doc_id.to_string());
            set(&obj, "error", doc_sync_error(*doc_id, error).to_js());
        }
        Event::Status { status, pending } => {
            let (name, message) = status_name(status);
            set(&obj, "type", "status");
            set(&obj, "status", name);
            set(&obj, "pending", *pending as f64);
            if let Some(message) = message {
                set(&obj, "message", message);
            }
        }
    }
    obj.into()
}

struct Entry {
    id: u32,
    /// Only this document's events (and status events).
    doc: Option<DocumentId>,
    callback: Function,
}

/// The JS callbacks subscribed to one client.
#[derive(Default)]
pub struct Callbacks {
    next_id: Cell<u32>,
    entries: RefCell<Vec<Entry>>,
}

impl Callbacks {
    /// Adds a callback; returns the id to remove it with.
    pub fn add(&self, doc: Option<DocumentId>, callback: Function) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        self.entries.borrow_mut().push(Entry { id, doc, callback });
        id
    }

    pub fn remove(&self, id: u32) {
        self.entries.borrow_mut().retain(|e| e.id != id);
    }

    pub fn clear(&self) {
        self.entries.borrow_mut().clear();
    }

    /// Calls every interested callback with `event`.
    pub fn dispatch(&self, event: &Event) {
        let about = event.doc_id();
        // Callbacks may subscribe or unsubscribe while we iterate: call a snapshot.
        let targets: Vec<Function> = self
            .entries
            .borrow()
            .iter()
            .filter(|e| match (e.doc, about) {
                (Some(doc), Some(about)) => doc == about,
                _ => true,
            })
            .map(|e| e.callback.clone())
            .collect();
        if targets.is_empty() {
            return;
        }
        let js = event_to_js(event);
        for callback in targets {
            if let Err(thrown) = callback.call1(&JsValue::UNDEFINED, &js) {
                web_sys::console::error_2(&"edgesync: an event callback threw".into(), &thrown);
            }
        }
    }

    /// A JS function that removes callback `id` (safe to call more than once).
    pub fn unsubscriber(self: &Rc<Self>, id: u32) -> JsValue {
        let callbacks = Rc::downgrade(self);
        Closure::<dyn FnMut()>::new(move || {
            if let Some(callbacks) = callbacks.upgrade() {
                callbacks.remove(id);
            }
        })
        .into_js_value()
    }
}

/// Delivers the engine's events to `callbacks` until the engine is dropped.
pub fn pump(mut events: Subscription, callbacks: Rc<Callbacks>) {
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(event) = events.next().await {
            callbacks.dispatch(&event);
        }
    });
}
