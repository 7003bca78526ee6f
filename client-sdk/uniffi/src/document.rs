//! `Document`: JSON-path edits and JSON reads of one local automerge document.
//!
//! Every edit method is one automerge transaction, written durably to the local store before
//! it returns (so it is `async`: it waits for an fsync). `apply` makes several edits in one
//! transaction and one write. Reads are synchronous and served from memory.

use std::sync::Arc;

use edgesync_client as sdk;
use sdk::DocumentId;
use sdk::automerge::AutomergeError;
use sdk::automerge::transaction::Transactable;

use crate::callbacks::{EventListener, EventSubscription, forward};
use crate::client::Shared;
use crate::error::{DocumentSyncError, EdgesyncError};
use crate::json;
use crate::types::{DocumentInfo, heads_hex};

/// One edit, addressed by a JSON Pointer path (`/todos/0/title`, see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Edit {
    /// Sets a map key or replaces a list item with a JSON value.
    Put { path: String, json: String },
    /// Sets a map key or list item to a collaborative text object holding `text`.
    PutText { path: String, text: String },
    /// Inserts a JSON value into a list at an index (`-` appends).
    Insert { path: String, json: String },
    /// Removes a map key or a list item.
    Delete { path: String },
    /// Deletes `delete` characters at `index` of a text object and inserts `text` there
    /// (indexes count Unicode code points).
    SpliceText { path: String, index: u64, delete: u64, text: String },
}

fn apply_edit<T: Transactable>(tx: &mut T, edit: &Edit) -> Result<(), EdgesyncError> {
    match edit {
        Edit::Put { path, json } => json::put(tx, path, &json::parse_json(json)?),
        Edit::PutText { path, text } => json::put_text(tx, path, text),
        Edit::Insert { path, json } => json::insert(tx, path, &json::parse_json(json)?),
        Edit::Delete { path } => json::delete(tx, path),
        Edit::SpliceText { path, index, delete, text } => json::splice_text(tx, path, *index, *delete, text),
    }
}

/// A local document. Cheap to keep; it stays usable until its client is closed.
#[derive(uniffi::Object)]
pub struct Document {
    shared: Arc<Shared>,
    id: DocumentId,
}

impl Document {
    pub(crate) fn new(shared: Arc<Shared>, id: DocumentId) -> Arc<Self> {
        Arc::new(Document { shared, id })
    }

    fn handle(&self) -> Result<sdk::DocHandle, EdgesyncError> {
        self.shared.client()?.document(self.id).ok_or_else(|| EdgesyncError::NotFound { message: format!("no local document {}", self.id) })
    }

    fn info_now(&self) -> Result<sdk::DocumentInfo, EdgesyncError> {
        self.handle()?.info().ok_or_else(|| EdgesyncError::NotFound { message: format!("no local document {}", self.id) })
    }
}

#[uniffi::export]
impl Document {
    /// The document id (32 hex characters): share it so others can `openDocument` it.
    pub fn id(&self) -> String {
        self.id.to_string()
    }

    /// The title given at creation (empty for documents opened by id).
    pub fn title(&self) -> Result<String, EdgesyncError> {
        Ok(self.info_now()?.title)
    }

    pub fn info(&self) -> Result<DocumentInfo, EdgesyncError> {
        Ok(self.info_now()?.into())
    }

    /// The whole document as a JSON object.
    pub fn to_json(&self) -> Result<String, EdgesyncError> {
        self.get("".into()).map(|json| json.unwrap_or_else(|| "{}".into()))
    }

    /// The value at `path` as JSON, or `null` when nothing is there.
    pub fn get(&self, path: String) -> Result<Option<String>, EdgesyncError> {
        let found = self.handle()?.read(|doc| json::get(doc, &path))??;
        Ok(found.map(|value| value.to_string()))
    }

    /// The current heads (change hashes, hex).
    pub fn heads(&self) -> Result<Vec<String>, EdgesyncError> {
        Ok(heads_hex(&self.handle()?.heads()))
    }

    /// Local changes of this document the server does not have yet.
    pub fn pending_changes(&self) -> Result<u64, EdgesyncError> {
        Ok(self.info_now()?.pending as u64)
    }

    /// Why this document's last sync failed, if it did.
    pub fn sync_error(&self) -> Result<Option<DocumentSyncError>, EdgesyncError> {
        Ok(self.info_now()?.last_error.map(Into::into))
    }

    /// Makes `edits` in one transaction: all of them or, if one fails, none. Durable when
    /// this returns.
    pub async fn apply(&self, edits: Vec<Edit>) -> Result<(), EdgesyncError> {
        let handle = self.handle()?;
        self.shared
            .spawn(async move {
                let mut failure = None;
                let changed = handle
                    .change(|tx| {
                        for edit in &edits {
                            if let Err(e) = apply_edit(tx, edit) {
                                failure = Some(e);
                                return Err(AutomergeError::Fail); // rolls the transaction back
                            }
                        }
                        Ok(())
                    })
                    .await;
                match (failure, changed) {
                    (Some(e), _) => Err(e),
                    (None, result) => Ok(result?),
                }
            })
            .await
    }

    /// Sets `path` (a map key, or an existing list index) to a JSON value: `put("/title", "\"Trip\"")`.
    pub async fn put(&self, path: String, json: String) -> Result<(), EdgesyncError> {
        self.apply(vec![Edit::Put { path, json }]).await
    }

    /// Sets `path` to a collaborative text object holding `text`.
    pub async fn put_text(&self, path: String, text: String) -> Result<(), EdgesyncError> {
        self.apply(vec![Edit::PutText { path, text }]).await
    }

    /// Inserts a JSON value into a list: `insert("/todos/-", "{\"done\":false}")` appends.
    pub async fn insert(&self, path: String, json: String) -> Result<(), EdgesyncError> {
        self.apply(vec![Edit::Insert { path, json }]).await
    }

    /// Removes a map key or a list item.
    pub async fn delete(&self, path: String) -> Result<(), EdgesyncError> {
        self.apply(vec![Edit::Delete { path }]).await
    }

    /// Edits the text object at `path`: deletes `delete` code points at `index`, inserts `text`.
    pub async fn splice_text(&self, path: String, index: u64, delete: u64, text: String) -> Result<(), EdgesyncError> {
        self.apply(vec![Edit::SpliceText { path, index, delete, text }]).await
    }

    /// Delivers this document's events (and status events) to `listener` until the
    /// subscription is cancelled or the client closed.
    pub fn subscribe(&self, listener: Arc<dyn EventListener>) -> Result<Arc<EventSubscription>, EdgesyncError> {
        let events = self.handle()?.subscribe();
        Ok(forward(self.shared.handle(), events, listener, self.shared.closed()))
    }
}
