//! Presence over the live channel (docs/protocol.md §11): small messages — a cursor, a
//! selection, "typing" — sent to the other clients that have a document open right now. Never
//! stored, never synced; the sender is whoever the server says the token belongs to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use serde_json::Value;
use sync_core::DocumentId;
use tokio::sync::{broadcast, mpsc};

pub use crate::engine::Presence;

/// How this client hears of collaborators' changes right now ([`crate::Client::live_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LiveMode {
    /// Not connected: manual sync, offline, or (re)connecting.
    Off = 0,
    /// One socket for every document (`/v1/live`, the native server).
    Channel = 1,
    /// One socket per open document (`/v1/docs/{id}/live`: a Worker without its channel
    /// binding).
    DocumentSockets = 2,
    /// The server has no sockets (Spin): waiting syncs (docs/protocol.md §10). No presence.
    WaitingSyncs = 3,
}

/// The mode, shared between the socket loop, the push loop and the client; and whether the
/// socket(s) watch every document the server knows (then the interval sync can wait longer).
#[derive(Clone, Default)]
pub(crate) struct ModeCell(Arc<AtomicU8>, Arc<AtomicBool>);

impl ModeCell {
    pub fn set(&self, mode: LiveMode) {
        self.0.store(mode as u8, Ordering::SeqCst);
        if mode == LiveMode::Off {
            self.set_watching_all(false);
        }
    }

    pub fn set_watching_all(&self, all: bool) {
        self.1.store(all, Ordering::SeqCst);
    }

    /// A socket is up and watches every document the server knows.
    pub fn watching_all(&self) -> bool {
        self.1.load(Ordering::SeqCst) && matches!(self.get(), LiveMode::Channel | LiveMode::DocumentSockets)
    }

    pub fn get(&self) -> LiveMode {
        match self.0.load(Ordering::SeqCst) {
            1 => LiveMode::Channel,
            2 => LiveMode::DocumentSockets,
            3 => LiveMode::WaitingSyncs,
            _ => LiveMode::Off,
        }
    }
}

/// Messages waiting for the socket; more are dropped (presence is only ever the latest).
const OUTGOING: usize = 32;
const INCOMING: usize = 256;

/// The client's side of presence: what the app sends and what it hears.
#[derive(Clone)]
pub(crate) struct PresenceChannel {
    outgoing: mpsc::Sender<(DocumentId, Value)>,
    incoming: broadcast::Sender<Presence>,
    pub mode: ModeCell,
}

/// The socket loop's side.
pub(crate) struct PresenceLink {
    pub outgoing: mpsc::Receiver<(DocumentId, Value)>,
    pub incoming: broadcast::Sender<Presence>,
    pub mode: ModeCell,
}

pub(crate) fn channel() -> (PresenceChannel, PresenceLink) {
    let (tx, rx) = mpsc::channel(OUTGOING);
    let incoming = broadcast::channel(INCOMING).0;
    let mode = ModeCell::default();
    (PresenceChannel { outgoing: tx, incoming: incoming.clone(), mode: mode.clone() }, PresenceLink { outgoing: rx, incoming, mode })
}

impl PresenceChannel {
    /// Queues `data` for `doc`'s other subscribers; false when there is no live channel now
    /// (manual sync, a server without one, offline) or too many are queued.
    pub fn send(&self, doc: DocumentId, data: Value) -> bool {
        matches!(self.mode.get(), LiveMode::Channel | LiveMode::DocumentSockets) && self.outgoing.try_send((doc, data)).is_ok()
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
