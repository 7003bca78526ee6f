//! `GET /v1/automerge-repo` on Workers: automerge-repo's WebSocket protocol (docs/protocol.md
//! §12), so unchanged `@automerge/automerge-repo` clients sync through a Worker deployment.
//!
//! Each user's automerge-repo sockets live in one Durable Object (named by the user), which
//! also enforces the per-user connection cap. The protocol is sync-core's sans-IO `Session`
//! and each document's sync goes through `edge_app::service::repo` — the store, its defences,
//! the answer — exactly as on the native server. A connection's state (the session, one
//! automerge sync state per document) lives in the object's memory for as long as the
//! connection, which is all automerge-repo expects: its clients resync after a reconnect. So
//! when the object was evicted (a hibernated socket woken with no state behind it), the socket
//! is closed with 1012 and the client reconnects and resyncs; nothing is lost, since every
//! acknowledged change is in the database.
//!
//! Each document a connection syncs is watched through the document's object ([`crate::room`],
//! [`crate::relay`]): commits made anywhere are relayed here and answered with what the client
//! lacks, and ephemeral messages travel to the document's other automerge-repo connections.
//! The object handles one connection's work in order (frames, relayed commits and messages):
//! automerge's sync protocol needs it, and handlers may otherwise interleave while one awaits
//! the database. This module holds the object and each connection's queue; `handle` does one
//! item of work; `conn` holds a connection's protocol state.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use edge_app::live::{self, CLOSE_TOKEN_EXPIRED, MAX_PRESENCE_BYTES, MAX_SUBSCRIPTIONS, RECHECK_SECS};
use edge_app::{ApiError, AppState};
use serde::{Deserialize, Serialize};
use sync_core::DocumentId;
use sync_core::automerge_repo::{Message, Session, SessionLimits};
use worker::{DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage, durable_object};

use crate::relay::{Access, Changed, Ephemeral};
use crate::room::{accept_user_socket, at_time, close_back, internal, now_ms, upgrade_with, upgraded};
use conn::{Conn, Step};
use queue::Queue;

mod conn;
mod handle;
mod queue;

/// The binding of the automerge-repo objects' namespace (wrangler.toml), one per user.
/// Without it `/v1/automerge-repo` answers 404.
pub const BINDING: &str = "REPO_CONNECTIONS";
/// The server's peer id, as on the native server.
pub(crate) const SERVER_PEER_ID: &str = "sync-server-edgesync";
/// Messages of one connection handled per second at most; more wait (a client cannot make
/// the deployment work faster than this).
const MESSAGES_PER_SECOND: u32 = 200;
pub(crate) const POLICY: u16 = 1008;
pub(crate) const SERVER_ERROR: u16 = 1011;
/// The object was evicted and its connections' state with it: reconnect and resync.
const RESTART: u16 = 1012;
/// Work one connection may have queued (a client announces up to 1,000 documents at once,
/// plus pushes and messages); more closes it (too slow to keep up).
const MAX_QUEUED: usize = MAX_SUBSCRIPTIONS + 64;
/// Bytes of frames one connection may have queued.
const MAX_QUEUED_BYTES: usize = 16 << 20;
/// While it has connections the object wakes this often, so the platform keeps it (and the
/// connections' protocol state) in memory instead of hibernating it: billed for duration
/// like a server, as automerge-repo's stateful protocol needs.
const KEEPALIVE_MS: i64 = 5_000;
/// Memory one object's kept documents may take (estimated, `edge_app::service::loaded`): an
/// isolate has 128 MB, and several objects may share one.
const LOADED_DOCS_BYTES: u64 = 16 << 20;

#[derive(Serialize, Deserialize)]
struct Grant {
    user: String,
    exp: Option<i64>,
    via_protocol: bool,
}

/// A socket's attachment: what outlives the object's memory.
#[derive(Serialize, Deserialize)]
struct Owner {
    id: i64,
    user: String,
    exp: Option<i64>,
}

/// `GET /v1/automerge-repo[?token=…]` at the Worker: verify, then hand the upgrade to the
/// user's object.
pub async fn open(state: &AppState, env: &Env, headers: &axum::http::HeaderMap, query_token: Option<&str>) -> Result<axum::response::Response, ApiError> {
    let objects = env.durable_object(BINDING).map_err(|_| ApiError::NotFound)?;
    let opener = live::authenticate_with_query(state, headers, query_token).await?;
    let grant = Grant { user: opener.principal.subject.as_str().to_owned(), exp: opener.expires_at, via_protocol: opener.via_protocol };
    let stub = objects.id_from_name(&grant.user).and_then(|o| o.get_stub()).map_err(internal)?;
    upgrade_with(headers, stub, "https://repo/connect", &grant).await
}

/// Work for one connection, done in order.
enum Work {
    Frame(Vec<u8>),
    /// More work queued than [`MAX_QUEUED`]: close the connection.
    TooSlow,
    /// Check every readable document's membership again (one read).
    Recheck,
    Changed(DocumentId),
    Ephemeral(Message),
    Access(DocumentId),
}

#[durable_object]
pub struct RepoConnections {
    state: State,
    env: Env,
    /// Connections whose state is here, by socket id; taken out while one is being worked on.
    conns: RefCell<HashMap<i64, Conn>>,
    /// Work waiting per connection; an entry exists while the connection is being worked on.
    queues: RefCell<HashMap<i64, Queue>>,
    /// Which connections sync which document.
    watching: RefCell<HashMap<DocumentId, HashSet<i64>>>,
    app: RefCell<Option<(AppState, std::sync::Arc<crate::timer::WorkerTimer>)>>,
    /// Connections that closed while being worked on: their state is dropped afterwards.
    closed: RefCell<HashSet<i64>>,
    /// Ephemeral messages for this object's other connections, sent once the sender's work is
    /// done.
    local: RefCell<Vec<(DocumentId, i64, Message)>>,
    /// When the memberships were last checked again.
    rechecked: std::cell::Cell<i64>,
    /// Documents whose object took this object's registration (and has not answered 410).
    registered: RefCell<HashSet<DocumentId>>,
}

impl DurableObject for RepoConnections {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            conns: RefCell::default(),
            queues: RefCell::default(),
            watching: RefCell::default(),
            app: RefCell::default(),
            closed: RefCell::default(),
            local: RefCell::default(),
            rechecked: std::cell::Cell::new(now_ms()),
            registered: RefCell::default(),
        }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let url = request.url()?;
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let doc = param("doc").and_then(|d| d.parse::<DocumentId>().ok());
        self.close_orphans();
        match (url.path(), doc) {
            ("/connect", _) => match param("grant") {
                Some(grant) => self.admit(serde_json::from_str(&grant)?).await,
                None => Response::error("no grant", 400),
            },
            ("/changed", _) => {
                let Changed { doc, .. } = request.json().await?;
                self.dispatch(&doc, Work::Changed).await
            }
            ("/access", _) => {
                let Access { doc } = request.json().await?;
                self.dispatch(&doc, Work::Access).await
            }
            ("/ephemeral", _) => {
                let e: Ephemeral = request.json().await?;
                match Message::decode(&e.message) {
                    Ok(message) => self.dispatch(&e.doc, |_| Work::Ephemeral(message.clone())).await,
                    Err(_) => Response::error("not a message", 400),
                }
            }
            // Presence of `/v1/live` is not automerge-repo's; answered so the room keeps relaying.
            ("/presence", _) => Response::empty(),
            ("/check", Some(doc)) => self.watched_answer(doc),
            _ => Response::error("unknown notice", 400),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        let Some(owner) = ws.deserialize_attachment::<Owner>()? else { return Ok(()) };
        if owner.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now_ms()) {
            return ws.close(Some(CLOSE_TOKEN_EXPIRED), Some("token expired: reconnect with a fresh one"));
        }
        let bytes = match message {
            WebSocketIncomingMessage::Binary(bytes) => bytes,
            WebSocketIncomingMessage::String(_) => return ws.close(Some(POLICY), Some("automerge-repo messages are binary CBOR frames")),
        };
        self.close_orphans();
        // Refused before it is queued: the queue holds frames of the allowed size only.
        if bytes.len() > self.app()?.0.config.sync_limits.max_message_bytes {
            return ws.close(Some(1009), Some("message too large"));
        }
        self.work(&ws, owner.id, Work::Frame(bytes)).await
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> worker::Result<()> {
        self.forget(&ws);
        close_back(&ws, code, reason);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.forget(&ws);
        Ok(())
    }

    /// Keeps the object in memory while it has connections (their protocol state lives
    /// there), closes the sockets whose token expired, and every [`RECHECK_SECS`] checks the
    /// connections' memberships again, as the native server does.
    async fn alarm(&self) -> worker::Result<Response> {
        let now = now_ms();
        self.close_orphans();
        for (ws, owner) in self.sockets() {
            if owner.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now) {
                let _ = ws.close(Some(CLOSE_TOKEN_EXPIRED), Some("token expired: reconnect with a fresh one"));
            }
        }
        self.schedule().await?;
        if now - self.rechecked.get() >= (RECHECK_SECS as i64) * 1000 {
            self.rechecked.set(now);
            // Kept documents idle since the last check are dropped, as on the native server.
            if let Some((app, _)) = self.app.borrow().as_ref() {
                app.loaded.sweep();
            }
            for (ws, owner) in self.sockets() {
                if let Err(e) = self.work(&ws, owner.id, Work::Recheck).await {
                    tracing::warn!(error = %e, "automerge-repo: checking memberships again failed");
                }
            }
        }
        Response::empty()
    }
}

impl RepoConnections {
    async fn admit(&self, grant: Grant) -> worker::Result<Response> {
        let Some((pair, id)) = accept_user_socket(&self.state)? else { return Response::error("too many sockets for this user", 429) };
        pair.server.serialize_attachment(Owner { id, user: grant.user, exp: grant.exp })?;
        let limits = SessionLimits { max_documents: MAX_SUBSCRIPTIONS, max_ephemeral_bytes: MAX_PRESENCE_BYTES };
        let conn =
            Conn { session: Session::new(SERVER_PEER_ID, limits), states: HashMap::new(), readable: HashSet::new(), repo_ids: HashMap::new(), pace: (0, 0) };
        self.conns.borrow_mut().insert(id, conn);
        self.schedule().await?;
        upgraded(pair.client, grant.via_protocol)
    }

    /// Closes, with 1012, the sockets whose protocol state is not here: the object was evicted
    /// (or restarted) while they stayed open. Their clients reconnect and resync; a socket
    /// left open would miss every push without knowing.
    fn close_orphans(&self) {
        for (ws, owner) in self.sockets() {
            let known = self.conns.borrow().contains_key(&owner.id) || self.queues.borrow().contains_key(&owner.id);
            if !known {
                let _ = ws.close(Some(RESTART), Some("the server restarted: reconnect"));
            }
        }
    }

    fn sockets(&self) -> Vec<(WebSocket, Owner)> {
        self.state.get_websockets().into_iter().filter_map(|ws| ws.deserialize_attachment::<Owner>().ok().flatten().map(|o| (ws, o))).collect()
    }

    fn forget(&self, ws: &WebSocket) {
        let Ok(Some(owner)) = ws.deserialize_attachment::<Owner>() else { return };
        if self.conns.borrow_mut().remove(&owner.id).is_none() && self.queues.borrow().contains_key(&owner.id) {
            self.closed.borrow_mut().insert(owner.id);
        }
        self.unwatch(owner.id, None);
    }

    /// Connection `conn` no longer syncs `doc` (`None`: any document). A document nobody here
    /// syncs any more is forgotten, registration included (its object's next push is answered
    /// 410 and forgets this one), so what this object remembers is bounded by what its open
    /// connections sync now.
    fn unwatch(&self, conn: i64, doc: Option<DocumentId>) {
        let mut watching = self.watching.borrow_mut();
        let docs: Vec<DocumentId> = match doc {
            Some(doc) => vec![doc],
            None => watching.keys().copied().collect(),
        };
        for doc in docs {
            if let Some(ids) = watching.get_mut(&doc) {
                ids.remove(&conn);
                if ids.is_empty() {
                    watching.remove(&doc);
                    self.registered.borrow_mut().remove(&doc);
                }
            }
        }
    }

    /// `410` when no connection here syncs `doc` (the room then forgets this object).
    fn watched_answer(&self, doc: DocumentId) -> worker::Result<Response> {
        let watched = self.watching.borrow().get(&doc).is_some_and(|ids| !ids.is_empty());
        if watched {
            Response::empty()
        } else {
            // The room forgets this object: a later sync of the document registers again.
            self.registered.borrow_mut().remove(&doc);
            Response::error("not watched", 410)
        }
    }

    /// Queues `work` for every connection syncing `doc`.
    async fn dispatch(&self, doc: &str, work: impl Fn(DocumentId) -> Work) -> worker::Result<Response> {
        let Ok(doc) = doc.parse::<DocumentId>() else { return Response::error("not a document id", 400) };
        let ids: Vec<i64> = self.watching.borrow().get(&doc).map(|ids| ids.iter().copied().collect()).unwrap_or_default();
        let sockets = self.sockets();
        for id in &ids {
            if let Some((ws, _)) = sockets.iter().find(|(_, o)| o.id == *id) {
                self.work(ws, *id, work(doc)).await?;
            }
        }
        self.watched_answer(doc)
    }

    /// Does `work` for connection `id` now, or queues it behind the work in progress.
    async fn work(&self, ws: &WebSocket, id: i64, work: Work) -> worker::Result<()> {
        if let Some(queue) = self.queues.borrow_mut().get_mut(&id) {
            queue.push(work);
            return Ok(());
        }
        let Some(mut conn) = self.conns.borrow_mut().remove(&id) else {
            // The object was evicted since the socket opened: its protocol state is gone.
            let _ = ws.close(Some(RESTART), Some("the server restarted: reconnect"));
            return Ok(());
        };
        let user = ws.deserialize_attachment::<Owner>()?.map(|o| o.user).unwrap_or_default();
        self.queues.borrow_mut().insert(id, Queue::new());
        let mut next = Some(work);
        let mut close = None;
        while let Some(work) = next.take().or_else(|| self.queues.borrow_mut().get_mut(&id).and_then(Queue::pop)) {
            if close.is_some() {
                continue;
            }
            if let Step::Close(code, reason) = self.step(ws, id, &user, &mut conn, work).await {
                close = Some((code, reason));
            }
        }
        self.queues.borrow_mut().remove(&id);
        let gone = self.closed.borrow_mut().remove(&id);
        match close {
            Some((code, reason)) => {
                let _ = ws.close(Some(code), Some(reason));
                self.forget(ws);
            }
            None if gone => self.forget(ws),
            None => {
                self.conns.borrow_mut().insert(id, conn);
            }
        }
        // The sender's ephemeral messages for this user's other connections of the document.
        let local = std::mem::take(&mut *self.local.borrow_mut());
        let sockets = if local.is_empty() { Vec::new() } else { self.sockets() };
        for (doc, from, message) in local {
            let others: Vec<i64> = self.watching.borrow().get(&doc).into_iter().flatten().copied().filter(|o| *o != from).collect();
            for other in others {
                if let Some((ws, _)) = sockets.iter().find(|(_, o)| o.id == other) {
                    Box::pin(self.work(ws, other, Work::Ephemeral(message.clone()))).await?;
                }
            }
        }
        Ok(())
    }

    /// One app state per object instance: its loaded-document cache serves every connection.
    fn app(&self) -> worker::Result<(AppState, std::sync::Arc<crate::timer::WorkerTimer>)> {
        if let Some(app) = self.app.borrow().as_ref() {
            return Ok(app.clone());
        }
        let wakeups = std::sync::Arc::new(crate::timer::WorkerTimer::default());
        let state = crate::state(&self.env, wakeups.clone()).map_err(worker::Error::RustError)?.with_loaded_docs(LOADED_DOCS_BYTES);
        *self.app.borrow_mut() = Some((state.clone(), wakeups.clone()));
        Ok((state, wakeups))
    }

    /// An alarm at the earliest token expiry; none without sockets.
    async fn schedule(&self) -> worker::Result<()> {
        let now = now_ms();
        let sockets = self.sockets();
        let expiry = sockets.iter().filter_map(|(_, o)| o.exp.map(|e| e.saturating_mul(1000))).filter(|at| *at > now).min();
        let keepalive = (!sockets.is_empty()).then(|| now + KEEPALIVE_MS);
        let next = expiry.into_iter().chain(keepalive).min();
        let storage = self.state.storage();
        match next {
            Some(at) => storage.set_alarm(at_time(at)).await,
            None => storage.delete_alarm().await,
        }
    }
}
