//! Presence over the live channel (docs/protocol.md §11): small messages — a cursor, a
//! selection, "typing" — sent to the other clients that have a document open right now. Never
//! stored, never synced; the sender is whoever the server says the token belongs to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use sync_core::DocumentId;
use tokio::sync::{broadcast, mpsc};

/// Another client's presence message.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub doc_id: DocumentId,
    /// The sender's user id, as the server read it from the sender's token.
    pub from: String,
    pub data: Value,
}

/// Messages waiting for the socket; more are dropped (presence is only ever the latest).
const OUTGOING: usize = 32;
const INCOMING: usize = 256;

/// The client's side of presence: what the app sends and what it hears.
#[derive(Clone)]
pub(crate) struct PresenceChannel {
    outgoing: mpsc::Sender<(DocumentId, Value)>,
    incoming: broadcast::Sender<Presence>,
    connected: Arc<AtomicBool>,
}

/// The socket loop's side.
pub(crate) struct PresenceLink {
    pub outgoing: mpsc::Receiver<(DocumentId, Value)>,
    pub incoming: broadcast::Sender<Presence>,
    pub connected: Arc<AtomicBool>,
}

pub(crate) fn channel() -> (PresenceChannel, PresenceLink) {
    let (tx, rx) = mpsc::channel(OUTGOING);
    let incoming = broadcast::channel(INCOMING).0;
    let connected = Arc::new(AtomicBool::new(false));
    (
        PresenceChannel { outgoing: tx, incoming: incoming.clone(), connected: connected.clone() },
        PresenceLink { outgoing: rx, incoming, connected },
    )
}

impl PresenceChannel {
    /// Queues `data` for `doc`'s other subscribers; false when there is no live channel now
    /// (manual sync, a server without one, offline) or too many are queued.
    pub fn send(&self, doc: DocumentId, data: Value) -> bool {
        self.connected.load(Ordering::SeqCst) && self.outgoing.try_send((doc, data)).is_ok()
    }

    pub fn subscribe(&self) -> PresenceStream {
        PresenceStream(self.incoming.subscribe())
    }
}

/// Other clients' presence messages, from now on. Dropping it unsubscribes.
pub struct PresenceStream(broadcast::Receiver<Presence>);

impl PresenceStream {
    /// The next message; `None` once the client is gone. A reader too slow to keep up skips
    /// the oldest messages (presence is only ever the latest).
    pub async fn next(&mut self) -> Option<Presence> {
        loop {
            match self.0.recv().await {
                Ok(p) => return Some(p),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
