//! One automerge-repo client connection as the server sees it, sans-IO: the handshake, which
//! messages to answer and how, the documents the client subscribed to, and the ephemeral
//! messages relayed (docs/automerge-repo-wire.md §2–§6). What a document's sync needs —
//! authorizing the user, applying the automerge sync message, the reply — is the caller's,
//! asked for through [`Event::Sync`]; so are relays ([`Event::Relay`]), which the caller passes
//! through one [`EphemeralFilter`] per document shared by all its connections: clients relay
//! each other's ephemeral messages back, so a filter per connection would bounce a message
//! between two clients forever.

use std::collections::HashMap;

use super::{Message, PROTOCOL_VERSION, PeerMetadata, from_repo_document_id};
use crate::id::DocumentId;

/// Bounds on what one connection may make the server hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Documents one connection syncs at once: a `sync` or `request` for another one evicts
    /// the document whose last message (`sync`, `request` or `ephemeral`) is the oldest
    /// ([`Event::Sync`]'s `evicted`).
    pub max_documents: usize,
    /// The largest ephemeral `data` relayed (larger ones are dropped).
    pub max_ephemeral_bytes: usize,
}

/// What the caller does with a received message.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Send this to the client.
    Reply(Message),
    /// Send this to the client, then close the connection.
    Close(Message),
    /// A sync message for `document` (`request`: the client has nothing yet). The caller checks
    /// the user may read it — answering [`Session::unavailable`] exactly as for a document that
    /// does not exist when not — applies `data` if the user may write, and answers with
    /// [`Session::sync`]. `evicted`: the document this one took the place of, whose sync state
    /// and pushes the caller drops (the connection is at [`SessionLimits::max_documents`]; a
    /// later message for it is a fresh start, as after a reconnect).
    Sync { document: DocumentId, repo_id: String, data: Vec<u8>, request: bool, evicted: Option<DocumentId> },
    /// Relay `message` to `document`'s other subscribers (each with its own `targetId`), once the
    /// caller checked the user may read it.
    Relay { document: DocumentId, message: Message },
    /// Nothing to do.
    Ignore,
}

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    server_id: String,
    limits: SessionLimits,
    /// The client's peer id, once it joined.
    client: Option<String>,
    /// The documents synced, each with when its last message came (a count of messages).
    documents: HashMap<DocumentId, u64>,
    messages: u64,
}

impl Session {
    /// A connection to a server whose peer id is `server_id`.
    pub fn new(server_id: impl Into<String>, limits: SessionLimits) -> Self {
        Self { server_id: server_id.into(), limits, client: None, documents: HashMap::new(), messages: 0 }
    }

    /// The client's peer id, once it joined.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// The documents this connection synced, which its relays and pushes go to.
    pub fn documents(&self) -> impl Iterator<Item = &DocumentId> {
        self.documents.keys()
    }

    /// Handles one received message.
    pub fn receive(&mut self, message: Message) -> Event {
        if let Message::Join { sender_id, supported_protocol_versions, .. } = message {
            return self.join(sender_id, &supported_protocol_versions);
        }
        if self.client.is_none() {
            return Event::Close(self.error(None, "join first"));
        }
        match message {
            Message::Request { sender_id, document_id, data, .. } if self.is_client(&sender_id) => self.sync_event(document_id, data, true),
            Message::Sync { sender_id, document_id, data, .. } if self.is_client(&sender_id) => self.sync_event(document_id, data, false),
            // Clients relay each other's ephemeral messages too: any sender (see EphemeralFilter).
            Message::Ephemeral { .. } => self.ephemeral(message),
            // Another peer id than the one that joined, `doc-unavailable` (a server never
            // requests), `remote-*`, `leave`, unknown types.
            _ => Event::Ignore,
        }
    }

    fn sync_event(&mut self, repo_id: String, data: Vec<u8>, request: bool) -> Event {
        let Some(document) = Self::document(&repo_id).filter(|_| self.limits.max_documents > 0) else {
            return if request { Event::Reply(self.unavailable(&repo_id)) } else { Event::Ignore };
        };
        let mut evicted = None;
        if !self.documents.contains_key(&document) && self.documents.len() >= self.limits.max_documents {
            // A scan of at most `max_documents`, only when a new document comes in at the limit.
            evicted = self.documents.iter().min_by_key(|(_, last)| **last).map(|(d, _)| *d);
            if let Some(gone) = evicted {
                self.documents.remove(&gone);
            }
        }
        self.messages += 1;
        self.documents.insert(document, self.messages);
        Event::Sync { document, repo_id, data, request, evicted }
    }

    fn ephemeral(&mut self, message: Message) -> Event {
        let Message::Ephemeral { document_id, data, .. } = &message else {
            return Event::Ignore;
        };
        let Some(document) = Self::document(document_id).filter(|d| self.documents.contains_key(d)) else { return Event::Ignore };
        // In use (presence, say): as recent as a sync.
        self.messages += 1;
        self.documents.insert(document, self.messages);
        if data.len() <= self.limits.max_ephemeral_bytes { Event::Relay { document, message } } else { Event::Ignore }
    }

    fn join(&mut self, sender_id: String, versions: &[String]) -> Event {
        if !versions.iter().any(|v| v == PROTOCOL_VERSION) {
            return Event::Close(self.error(Some(sender_id), "unsupported protocol version"));
        }
        // A join again (the client reconnected on this socket, or restarted): a fresh start.
        self.documents.clear();
        self.client = Some(sender_id.clone());
        Event::Reply(Message::Peer {
            sender_id: self.server_id.clone(),
            peer_metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: false }),
            selected_protocol_version: PROTOCOL_VERSION.to_owned(),
            target_id: sender_id,
        })
    }

    fn error(&self, target_id: Option<String>, message: &str) -> Message {
        Message::Error { sender_id: Some(self.server_id.clone()), message: message.to_owned(), target_id }
    }

    /// The server's sync message `data` for the document automerge-repo calls `repo_id`.
    pub fn sync(&self, repo_id: &str, data: Vec<u8>) -> Message {
        Message::Sync { sender_id: self.server_id.clone(), target_id: self.target(), document_id: repo_id.to_owned(), data }
    }

    /// The answer to a `request` for a document the client may not read or that does not exist.
    pub fn unavailable(&self, repo_id: &str) -> Message {
        Message::DocUnavailable { sender_id: self.server_id.clone(), target_id: self.target(), document_id: repo_id.to_owned() }
    }

    /// Another connection's `ephemeral` message, readdressed to this connection's client;
    /// `None` before the client joined, for anything but `ephemeral`, or for its own message.
    /// (Whether the client may read the document is the caller's check.)
    pub fn readdressed(&self, message: &Message) -> Option<Message> {
        let (Some(client), Message::Ephemeral { sender_id, count, session_id, document_id, data, .. }) = (self.client.as_deref(), message) else { return None };
        (sender_id != client).then(|| Message::Ephemeral {
            sender_id: sender_id.clone(),
            target_id: client.to_owned(),
            count: *count,
            session_id: session_id.clone(),
            document_id: document_id.clone(),
            data: data.clone(),
        })
    }

    fn is_client(&self, sender_id: &str) -> bool {
        self.client.as_deref() == Some(sender_id)
    }

    fn target(&self) -> String {
        self.client.clone().unwrap_or_default()
    }

    /// Parses a document id the client sent (`None`: not an id of 16 bytes).
    fn document(repo_id: &str) -> Option<DocumentId> {
        from_repo_document_id(repo_id).ok()
    }
}

/// Which ephemeral messages of one document to relay: each `(senderId, sessionId)` once per
/// rising `count`, as automerge-repo's own server decides. Remembers at most `max_sessions`
/// senders' sessions; beyond, it starts over (an old message may then pass once more).
#[derive(Debug)]
pub struct EphemeralFilter {
    max_sessions: usize,
    seen: HashMap<(String, String), u64>,
}

impl EphemeralFilter {
    pub fn new(max_sessions: usize) -> Self {
        Self { max_sessions, seen: HashMap::new() }
    }

    /// Whether to relay `message` (an `ephemeral`); records it if so.
    pub fn admit(&mut self, message: &Message) -> bool {
        let Message::Ephemeral { sender_id, session_id, count, .. } = message else {
            return false;
        };
        let key = (sender_id.clone(), session_id.clone());
        match self.seen.get(&key) {
            Some(&last) if *count <= last => return false,
            Some(_) => {}
            None if self.seen.len() >= self.max_sessions => self.seen.clear(),
            None => {}
        }
        self.seen.insert(key, *count);
        true
    }
}
