//! Live updates: a waiting sync (docs/protocol.md §10) over the synced documents. The server
//! holds it until one of them changes and answers with the change, which is applied exactly
//! like a sync's answer. No lock is held while the request waits, so local edits keep
//! syncing meanwhile; the answer is applied under the sync lock, between runs.

use std::time::Duration;

use sync_core::{DocumentId, Heads, SyncRequest, client};

use super::Engine;
use super::sync::Run;
use crate::error::SyncError;
use crate::ports::{LocalStore, LocalTokenProvider, LocalTransport};

/// Another client's presence message, heard on a live socket (docs/protocol.md §11).
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub doc_id: DocumentId,
    /// The sender's user id, as the server read it from the sender's token.
    pub from: String,
    pub data: serde_json::Value,
}

/// What a live socket's message means to this client ([`Engine::hear`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// The server announced heads this client has not acknowledged: sync.
    News,
    Presence(Presence),
    Nothing,
}

/// What a waiting sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// No document is known to the server yet: nothing was sent.
    NothingToWatch,
    /// The server answered with news (remote changes applied, or a document's status changed).
    News,
    /// The wait ended without news.
    Quiet,
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Waits up to `max` on the server for a change to any document the server knows (the
    /// first [`Limits::max_docs`](sync_core::Limits) of them; the others are pulled by
    /// ordinary syncs), then applies what it sends. Pushes nothing: local changes go out
    /// with [`Engine::sync_now`], which may run while this waits.
    pub async fn wait_for_changes(&self, max: Duration) -> Result<Waited, SyncError> {
        let (batch, request, acked) = {
            let st = self.lock();
            let watched: Vec<_> = st
                .docs
                .values()
                .filter(|d| st.watchable(d))
                .take(self.config.limits.max_docs.max(1))
                .collect();
            let docs = watched.iter().map(|d| client::build_wait_request(d.id(), &d.doc, &d.record.acked)).collect();
            let acked: Vec<Heads> = watched.iter().map(|d| d.record.acked.clone()).collect();
            (watched.iter().map(|d| d.id()).collect::<Vec<DocumentId>>(), SyncRequest { docs }, acked)
        };
        if batch.is_empty() {
            return Ok(Waited::NothingToWatch);
        }
        let response = self.post_sync(request.encode(), Some(max)).await?;
        let news = response.docs.iter().zip(&request.docs).any(|(res, req)| {
            res.status != sync_core::DocStatus::Ok || !res.chunks.is_empty() || !res.missing.is_empty() || res.heads != req.have
        });
        if !news {
            return Ok(Waited::Quiet);
        }
        // Between sync runs. A run that finished while this waited has acknowledged heads the
        // answer may predate: its changes are applied, but `acked` stays the run's (moving it
        // back would only make the next run resend what the server has).
        let _one = self.syncing.lock().await;
        let mut response = response;
        {
            let st = self.lock();
            for ((res, id), before) in response.docs.iter_mut().zip(&batch).zip(&acked) {
                match st.docs.get(id) {
                    Some(d) if d.record.acked != *before => res.heads = d.record.acked.clone(),
                    _ => {}
                }
            }
        }
        self.apply_answers(&batch, &request, &response, &mut Run::default()).await?;
        Ok(Waited::News)
    }
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// The documents a live channel (docs/protocol.md §11) should watch: those the server
    /// knows and lets this client read, as for [`Engine::wait_for_changes`]. A host drops
    /// from its subscriptions whatever leaves this list (the server said `unavailable`) and
    /// subscribes again when it comes back (a sync found the document).
    pub fn live_documents(&self) -> Vec<DocumentId> {
        let st = self.lock();
        st.docs.values().filter(|d| st.watchable(d)).map(|d| d.id()).collect()
    }

    /// Whether sockets watching the documents `watched` accepts would hear of every change a
    /// sync could bring, so interval syncs may slow down. A document the server does not
    /// have or show (opened before its creator pushed it, not shared yet, access lost) cannot
    /// be watched: only a sync finds it, so it keeps the normal interval.
    pub fn watches_all(&self, watched: impl Fn(&DocumentId) -> bool) -> bool {
        let st = self.lock();
        st.docs.values().filter(|d| !st.conflicted.contains(&d.id())).all(|d| st.watchable(d) && watched(&d.id()))
    }

    /// Whether every document could be watched at all (see [`Self::watches_all`]). A socket's
    /// "watching everything" was computed when it last looked: a document opened since, that
    /// the server does not have, makes it stale, and the interval syncs must not slow down
    /// for it (they are what finds such a document).
    pub fn all_watchable(&self) -> bool {
        self.watches_all(|_| true)
    }

    /// Records that the server refused to watch `id` (a per-document socket answered `404`
    /// or closed with 4003): it is left to interval syncs until one of them succeeds.
    pub fn mark_unreachable(&self, id: DocumentId) {
        self.lock().unreachable.insert(id);
    }

    /// Whether the server's `heads` of `id` (from the live channel) are news to this client:
    /// not what it last had acknowledged.
    pub fn is_news(&self, id: DocumentId, heads: &Heads) -> bool {
        self.lock().docs.get(&id).is_some_and(|d| d.record.acked != *heads)
    }

    /// Reads a server message of a live socket (`subscribed`, `changed`, `presence`).
    pub fn hear(&self, text: &str) -> Heard {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else { return Heard::Nothing };
        let heads_of = |entry: &serde_json::Value| -> Option<(DocumentId, Heads)> {
            let id = entry["doc"].as_str()?.parse().ok()?;
            let list: Vec<&str> = entry["heads"].as_array()?.iter().filter_map(|h| h.as_str()).collect();
            Some((id, Heads::parse_list(&list.join(","), usize::MAX).ok()?))
        };
        let ids = |list: &serde_json::Value| -> Vec<DocumentId> {
            list.as_array().map(|l| l.iter().filter_map(|id| id.as_str()?.parse().ok()).collect()).unwrap_or_default()
        };
        let refused = match message["type"].as_str() {
            Some("subscribed") => ids(&message["unavailable"]),
            Some("unavailable") => ids(&message["docs"]),
            _ => Vec::new(),
        };
        if !refused.is_empty() {
            self.lock().unreachable.extend(refused);
        }
        let entries: Vec<&serde_json::Value> = match message["type"].as_str() {
            Some("changed") => vec![&message],
            Some("subscribed") => message["docs"].as_array().map(|d| d.iter().collect()).unwrap_or_default(),
            Some("presence") => {
                let (Some(doc_id), Some(from)) = (message["doc"].as_str().and_then(|d| d.parse().ok()), message["from"].as_str()) else { return Heard::Nothing };
                return Heard::Presence(Presence { doc_id, from: from.to_owned(), data: message["data"].clone() });
            }
            _ => return Heard::Nothing,
        };
        if entries.into_iter().filter_map(heads_of).any(|(id, heads)| self.is_news(id, &heads)) { Heard::News } else { Heard::Nothing }
    }

    /// The engine's transport, for a host's live sockets (the native and web SDKs).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The engine's token provider, for a host's live sockets.
    pub fn tokens(&self) -> &A {
        &self.tokens
    }
}
