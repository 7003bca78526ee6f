//! Presence over plain HTTP (docs/protocol.md §10.1), for servers without sockets (Spin): a
//! send is a `POST`, hearing is a waiting `GET` from a cursor. Written once here for every
//! host; each host runs the two as loops while it has no live socket.

use std::time::Duration;

use http::Method;
use serde::Deserialize;
use sync_core::DocumentId;

use super::Engine;
use super::live::Presence;
use crate::error::SyncError;
use crate::ports::{LocalStore, LocalTokenProvider, LocalTransport};

/// Documents one read names at most (the server's limit).
const MAX_DOCS: usize = 100;

/// Where a client's presence reads are: the cursor, the documents it covers, and the session
/// its sends carry, so its reads skip its own messages.
#[derive(Debug, Clone)]
pub struct PresenceCursor {
    session: String,
    after: Option<i64>,
    docs: Vec<String>,
}

impl PresenceCursor {
    /// A new session id (random): a client's reads skip only what this client sent.
    pub fn new() -> Self {
        let mut bytes = [0u8; 12];
        // Without a random source the session is empty: the client then hears itself too.
        let session = if getrandom::fill(&mut bytes).is_ok() { bytes.iter().map(|b| format!("{b:02x}")).collect() } else { String::new() };
        Self { session, after: None, docs: Vec::new() }
    }
}

impl Default for PresenceCursor {
    fn default() -> Self {
        Self::new()
    }
}

/// What the app set since the last send, the latest value per document, in the order the
/// documents were first set: presence is only ever the latest, so the values a slow send kept
/// waiting collapse into one per document.
#[derive(Debug)]
pub struct LatestPresence<T>(Vec<(DocumentId, T)>);

impl<T> Default for LatestPresence<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> LatestPresence<T> {
    pub fn keep(&mut self, doc: DocumentId, data: T) {
        match self.0.iter_mut().find(|(d, _)| *d == doc) {
            Some(entry) => entry.1 = data,
            None => self.0.push((doc, data)),
        }
    }

    pub fn into_sends(self) -> Vec<(DocumentId, T)> {
        self.0
    }
}

/// What a presence read brought.
#[derive(Debug, Default)]
pub struct PresenceRead {
    pub heard: Vec<Presence>,
    /// The server shows none of the documents read (not pushed yet, not shared yet): reading
    /// again soon tells nothing new.
    pub all_unavailable: bool,
}

#[derive(Deserialize)]
struct Page {
    cursor: i64,
    presence: Vec<Entry>,
    unavailable: Vec<String>,
}

#[derive(Deserialize)]
struct Entry {
    doc: String,
    from: String,
    data: serde_json::Value,
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Sends `data` (JSON text) to the other clients that have `doc` open
    /// (`POST /v1/docs/{id}/presence`).
    pub async fn send_presence(&self, cursor: &PresenceCursor, doc: DocumentId, data: &str) -> Result<(), SyncError> {
        let data: serde_json::Value = serde_json::from_str(data).map_err(|e| SyncError::BadResponse(format!("presence data is not JSON: {e}")))?;
        let body = serde_json::json!({ "data": data, "session": cursor.session }).to_string().into_bytes();
        self.call_json(Method::POST, &format!("/v1/docs/{doc}/presence"), body).await.map(drop)
    }

    /// Other clients' presence on the documents a live channel would watch (the first 100),
    /// waiting up to `wait` for the first message. `None` when there is nothing to watch. When
    /// the documents change, the next read starts over with the last 10 seconds' messages.
    pub async fn read_presence(&self, cursor: &mut PresenceCursor, wait: Duration) -> Result<Option<PresenceRead>, SyncError> {
        let docs: Vec<String> = self.live_documents().iter().take(MAX_DOCS).map(DocumentId::to_string).collect();
        if docs.is_empty() {
            return Ok(None);
        }
        if docs != cursor.docs {
            (cursor.after, cursor.docs) = (None, docs);
        }
        let mut path = format!("/v1/presence?docs={}&session={}&wait_ms={}", cursor.docs.join(","), cursor.session, wait.as_millis().min(u128::from(u32::MAX)));
        if let Some(after) = cursor.after {
            path.push_str(&format!("&after={after}"));
        }
        let page: Page = serde_json::from_slice(&self.get_json(&path).await?).map_err(|e| SyncError::BadResponse(format!("presence: {e}")))?;
        cursor.after = Some(cursor.after.map_or(page.cursor, |a| a.max(page.cursor)));
        let heard = page.presence.into_iter().filter_map(|e| Some(Presence { doc_id: e.doc.parse().ok()?, from: e.from, data: e.data })).collect();
        Ok(Some(PresenceRead { heard, all_unavailable: page.unavailable.len() >= cursor.docs.len() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_value_per_document_goes_out_in_first_set_order() {
        let (a, b) = (DocumentId::from_bytes([1; 16]), DocumentId::from_bytes([2; 16]));
        let mut latest = LatestPresence::default();
        for (doc, n) in [(a, 1), (b, 2), (a, 3), (a, 4)] {
            latest.keep(doc, n);
        }
        assert_eq!(latest.into_sends(), [(a, 4), (b, 2)]);
    }
}
