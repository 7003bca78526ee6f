//! Presence: small messages — a cursor, a selection, "typing" — sent to the other clients that
//! have a document open right now, over the live channel (docs/protocol.md §11) or, where the
//! server has no sockets, over HTTP (§10.1, [`over_http`]). Never synced; the sender is
//! whoever the server says the token belongs to.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sync_core::DocumentId;
use tokio::sync::{broadcast, mpsc};

use crate::backoff::{PRESENCE_IDLE_LOOK, random_jitter};
pub use crate::engine::Presence;
use crate::engine::{LatestPresence, PresenceCursor};

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
    /// The server has no sockets (Spin): waiting syncs (docs/protocol.md §10), presence over
    /// HTTP (§10.1).
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
    /// Queues `data` for `doc`'s other subscribers; false when nothing carries it now (manual
    /// sync, offline, connecting) or too many are queued.
    pub fn send(&self, doc: DocumentId, data: Value) -> bool {
        self.mode.get() != LiveMode::Off && self.outgoing.try_send((doc, data)).is_ok()
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

/// Presence over HTTP while the server has no sockets (docs/protocol.md §10.1): sends the
/// latest value per document, paced; keeps a waiting read open while the app listens (no
/// request otherwise).
pub(super) async fn over_http(engine: &super::NativeEngine, link: &mut PresenceLink, wait: Duration, settings: &super::BackgroundSync) {
    let cursor = PresenceCursor::new();
    let PresenceLink { outgoing, incoming, .. } = link;
    let sending = async {
        while let Some((doc, data)) = outgoing.recv().await {
            let mut latest = LatestPresence::default();
            latest.keep(doc, data);
            while let Ok((doc, data)) = outgoing.try_recv() {
                latest.keep(doc, data);
            }
            for (doc, data) in latest.into_sends() {
                let sent = engine.send_presence(&cursor, doc, &data.to_string()).await;
                tokio::time::sleep(settings.backoff.after_presence_send(&sent, random_jitter())).await;
            }
        }
    };
    let reading = async {
        let mut cursor = cursor.clone();
        let mut failures = 0;
        loop {
            if incoming.receiver_count() == 0 {
                tokio::time::sleep(PRESENCE_IDLE_LOOK).await;
                continue;
            }
            let started = Instant::now();
            let outcome = engine.read_presence(&mut cursor, wait).await;
            if let Ok(Some(read)) = &outcome {
                for p in &read.heard {
                    let _ = incoming.send(p.clone());
                }
            }
            let pause = settings.backoff.after_presence_read(&outcome, started.elapsed(), wait, &mut failures, settings.interval, random_jitter());
            tokio::time::sleep(pause).await;
        }
    };
    tokio::join!(sending, reading);
}
