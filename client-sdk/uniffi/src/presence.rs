//! Presence and the live mode (docs/sdk-rust.md "Presence"): small JSON messages — a cursor, a
//! selection — exchanged with the other clients that have a document open, over the live
//! sockets; never stored. Data crosses the boundary as JSON text, which every platform parses.

use std::sync::Arc;

use edgesync_client as sdk;

use crate::callbacks::{EventSubscription, Stop};
use crate::client::{Client, parse_id};
use crate::error::EdgesyncError;

/// How the client hears of collaborators' changes right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LiveMode {
    /// Not connected: manual sync, offline, or (re)connecting.
    Off,
    /// One socket for every document (the native server).
    Channel,
    /// One socket per document (Workers).
    DocumentSockets,
    /// No sockets on this server (Spin): waiting syncs; presence over HTTP.
    WaitingSyncs,
}

impl From<sdk::LiveMode> for LiveMode {
    fn from(mode: sdk::LiveMode) -> Self {
        match mode {
            sdk::LiveMode::Off => LiveMode::Off,
            sdk::LiveMode::Channel => LiveMode::Channel,
            sdk::LiveMode::DocumentSockets => LiveMode::DocumentSockets,
            sdk::LiveMode::WaitingSyncs => LiveMode::WaitingSyncs,
        }
    }
}

/// Another client's presence message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresenceMessage {
    pub doc_id: String,
    /// The sender's user id, as the server read it from the sender's token (`from` in the
    /// protocol; a keyword in Python).
    pub sender: String,
    /// The sender's JSON value, as JSON text.
    pub data_json: String,
}

/// Receives other clients' presence messages (implemented by the app); called on a background
/// thread, one message at a time.
#[uniffi::export(with_foreign)]
pub trait PresenceListener: Send + Sync {
    fn on_presence(&self, message: PresenceMessage);
}

#[uniffi::export]
impl Client {
    /// Sends `data_json` (JSON text, at most 1 KiB) to the other clients that have the
    /// document open, over the live socket or over HTTP where the server has none. False when
    /// it cannot go now (manual sync, offline, connecting) or too many are queued. Throws
    /// `InvalidInput` for text that is not JSON or a malformed id.
    pub fn set_presence(&self, doc_id: String, data_json: String) -> Result<bool, EdgesyncError> {
        let id = parse_id(&doc_id)?;
        let data: serde_json::Value = serde_json::from_str(&data_json).map_err(|e| EdgesyncError::invalid(format!("presence data: {e}")))?;
        Ok(self.sdk()?.set_presence(id, data))
    }

    /// Delivers other clients' presence messages to `listener` until the subscription is
    /// cancelled or the client closed.
    pub fn subscribe_presence(&self, listener: Arc<dyn PresenceListener>) -> Result<Arc<EventSubscription>, EdgesyncError> {
        let mut messages = self.sdk()?.subscribe_presence();
        let own = Arc::new(Stop::default());
        let (stop, closed) = (own.clone(), self.closed());
        self.runtime().spawn(async move {
            loop {
                let message = tokio::select! {
                    biased;
                    _ = own.wait() => break,
                    _ = closed.wait() => break,
                    message = messages.next() => match message {
                        Some(m) => PresenceMessage { doc_id: m.doc_id.to_string(), sender: m.from, data_json: m.data.to_string() },
                        None => break,
                    },
                };
                let listener = listener.clone();
                let _ = tokio::task::spawn_blocking(move || listener.on_presence(message)).await;
            }
            own.stop();
        });
        Ok(EventSubscription::new(stop))
    }

    /// Which live channel is in use right now.
    pub fn live_mode(&self) -> Result<LiveMode, EdgesyncError> {
        Ok(self.sdk()?.live_mode().into())
    }
}
