//! Events: document changes (local and remote), per-document sync failures and the sync
//! status, delivered to any number of subscribers through runtime-independent channels.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::{Stream, StreamExt};
use sync_core::{DocumentId, Heads};

use crate::error::DocSyncError;
use crate::patches::Patches;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOrigin {
    /// Made on this device through `change`.
    Local,
    /// Received from the server.
    Remote,
}

/// The state of synchronisation with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStatus {
    /// No sync attempted yet.
    Idle,
    /// A sync is in flight.
    Syncing,
    /// The last sync completed. Documents may still have pending changes the server refused
    /// (see [`Event::SyncFailed`]).
    Synced,
    /// The last sync could not reach the server.
    Offline,
    /// The last sync failed for another reason (auth, server error, rate limit, local store).
    Error(String),
}

/// Something that happened in the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A document was created or opened locally.
    DocumentAdded { doc_id: DocumentId },
    /// A document's content changed. `patches`: what a remote change did (automerge patches,
    /// so a UI can update without diffing); empty for local changes.
    Changed { doc_id: DocumentId, origin: ChangeOrigin, heads: Heads, patches: Patches },
    /// A document did not sync; its local edits are kept.
    SyncFailed { doc_id: DocumentId, error: DocSyncError },
    /// The sync status changed; `pending` is the number of local changes the server does not
    /// have yet, over all documents.
    Status { status: SyncStatus, pending: usize },
}

impl Event {
    /// The document this event is about, if any.
    pub fn doc_id(&self) -> Option<DocumentId> {
        match self {
            Event::DocumentAdded { doc_id } | Event::Changed { doc_id, .. } | Event::SyncFailed { doc_id, .. } => Some(*doc_id),
            Event::Status { .. } => None,
        }
    }
}

/// A stream of [`Event`]s: all of them, or one document's. Dropping it unsubscribes.
pub struct Subscription {
    receiver: UnboundedReceiver<Event>,
}

impl Subscription {
    /// The next event; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.receiver.next().await
    }

    /// The next event if one is queued, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.receiver).poll_next(cx)
    }
}

struct Listener {
    doc: Option<DocumentId>,
    sender: UnboundedSender<Event>,
}

/// The subscriber list.
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Listener>>);

impl Listeners {
    pub(crate) fn subscribe(&self, doc: Option<DocumentId>) -> Subscription {
        let (sender, receiver) = unbounded();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(Listener { doc, sender });
        Subscription { receiver }
    }

    /// Delivers `event` to every interested subscriber and forgets the ones that are gone.
    /// Document subscribers get their document's events and status events.
    pub(crate) fn emit(&self, event: Event) {
        let about = event.doc_id();
        let mut listeners = self.0.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|l| {
            let wanted = match (l.doc, about) {
                (Some(doc), Some(about)) => doc == about,
                _ => true,
            };
            !wanted || l.sender.unbounded_send(event.clone()).is_ok()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_subscribers_only_see_their_document() {
        let listeners = Listeners::default();
        let a = DocumentId::from_bytes([1; 16]);
        let b = DocumentId::from_bytes([2; 16]);
        let mut all = listeners.subscribe(None);
        let mut only_a = listeners.subscribe(Some(a));
        listeners.emit(Event::DocumentAdded { doc_id: a });
        listeners.emit(Event::DocumentAdded { doc_id: b });
        listeners.emit(Event::Status { status: SyncStatus::Synced, pending: 0 });
        assert_eq!(all.try_next(), Some(Event::DocumentAdded { doc_id: a }));
        assert_eq!(all.try_next(), Some(Event::DocumentAdded { doc_id: b }));
        assert!(matches!(all.try_next(), Some(Event::Status { .. })));
        assert_eq!(only_a.try_next(), Some(Event::DocumentAdded { doc_id: a }));
        assert!(matches!(only_a.try_next(), Some(Event::Status { .. })));
        assert_eq!(only_a.try_next(), None);
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let listeners = Listeners::default();
        let sub = listeners.subscribe(None);
        drop(sub);
        listeners.emit(Event::Status { status: SyncStatus::Idle, pending: 0 });
        assert!(listeners.0.lock().unwrap().is_empty());
    }
}
