//! `GET /v1/live` on Workers (docs/protocol.md §11): one socket subscribed to many documents.
//! Each user's channel sockets live in one Durable Object (named by the user), through the
//! WebSocket Hibernation API, so an idle client costs no duration whatever it watches; the
//! object also enforces the per-user connection cap for the whole deployment.
//!
//! The Worker verifies the token exactly like the HTTP API (`edge_app::live::authenticate`)
//! and hands the upgrade over with what it verified. A `subscribe` is authorised like a sync
//! (one database read for all its documents); the channel then registers with the room of each
//! document none of its sockets watched yet ([`crate::relay`]), and the room relays to it every
//! `changed`, presence and membership notice from then on. Subscriptions are rows of the
//! object's SQLite storage, keyed by a socket id kept in the socket's attachment, so nothing
//! needed survives only in memory. A room told that a document is no longer watched (an
//! unsubscribe, a closed socket) asks back before forgetting, and any notice for a document
//! no socket watches is answered `410`, after which the room forgets this channel.
//!
//! Cost bound: registering and unregistering are requests to other objects, so one user may
//! cause at most [`WATCHES_PER_MINUTE`] of them (across all their sockets); a `subscribe`
//! beyond that is refused with `rate-limited`, and unsubscribes beyond it are left for the
//! rooms' `410` to clean up.

use edge_app::live::{self, Budget, CLOSE_TOKEN_EXPIRED, ClientMessage, MAX_SUBSCRIPTIONS, PRESENCE_PER_SECOND, RECHECK_SECS, ServerMessage};
use edge_app::{ApiError, AppState};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use worker::{DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage, durable_object};

use crate::budget;
use crate::relay::{self, Access, CHANNELS, Changed, Presence};
use crate::room::{accept_user_socket, at_time, checked_text, close_back, internal, now_ms, upgrade_with, upgraded};

/// Rooms one user's channel may register with or leave per minute.
pub const WATCHES_PER_MINUTE: u32 = 2 * MAX_SUBSCRIPTIONS as u32;
/// Registrations sent at once while subscribing.
const CONCURRENT: usize = 16;

/// What the Worker verified, kept as the socket's attachment for as long as it lives.
#[derive(Serialize, Deserialize)]
struct Member {
    /// This socket's key in the `subs` table.
    id: i64,
    user: String,
    exp: Option<i64>,
    #[serde(default)]
    budget: Budget,
}

#[derive(Serialize, Deserialize)]
struct Grant {
    user: String,
    exp: Option<i64>,
    via_protocol: bool,
}

/// `GET /v1/live` at the Worker: verify, then hand the upgrade to the user's channel object.
pub async fn open(state: &AppState, env: &Env, headers: &axum::http::HeaderMap) -> Result<axum::response::Response, ApiError> {
    let channels = env.durable_object(CHANNELS).map_err(|_| ApiError::NotFound)?;
    let opener = live::authenticate(state, headers).await?;
    let user = opener.principal.subject.as_str().to_owned();
    let grant = Grant { user, exp: opener.expires_at, via_protocol: opener.via_protocol };
    let stub = channels.id_from_name(&grant.user).and_then(|o| o.get_stub()).map_err(internal)?;
    upgrade_with(headers, stub, "https://channel/connect", &grant).await
}

#[derive(Deserialize)]
struct Sub {
    socket: i64,
}

#[derive(Deserialize)]
struct Doc {
    doc: String,
}

#[durable_object]
pub struct LiveChannel {
    state: State,
    env: Env,
}

impl DurableObject for LiveChannel {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS subs (socket INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (socket, doc)) WITHOUT ROWID",
            "CREATE INDEX IF NOT EXISTS subs_by_doc ON subs (doc)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                tracing::error!(error = %e, "live channel: creating its tables failed");
            }
        }
        Self { state, env }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let url = request.url()?;
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        match url.path() {
            "/connect" => match param("grant") {
                Some(grant) => self.admit(serde_json::from_str(&grant)?).await,
                None => Response::error("no grant", 400),
            },
            "/changed" => {
                let Changed { doc, heads } = request.json().await?;
                let text = ServerMessage::Changed { doc: &doc, heads }.to_json();
                self.deliver(&doc, None, &text)
            }
            "/presence" => {
                let p: Presence = request.json().await?;
                let text = ServerMessage::Presence { doc: &p.doc, from: &p.from, data: &p.data }.to_json();
                self.deliver(&p.doc, p.origin, &text)
            }
            "/access" => {
                let Access { doc } = request.json().await?;
                self.access(&doc).await
            }
            "/check" => match param("doc") {
                Some(doc) => self.deliver(&doc, None, ""),
                None => Response::error("no doc", 400),
            },
            _ => Response::error("unknown notice", 400),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        let Some(mut member) = ws.deserialize_attachment::<Member>()? else { return Ok(()) };
        let now = now_ms();
        let Some(text) = checked_text(&ws, member.exp, now, message)? else { return Ok(()) };
        let message = live::parse(&text);
        let admitted = member.budget.admit(now, matches!(message, Ok(ClientMessage::Presence { .. })));
        // Saved before anything awaits: the socket's next message may be handled meanwhile.
        ws.serialize_attachment(&member)?;
        let reply = match admitted.and(message) {
            Err(reply) => Some(reply),
            Ok(ClientMessage::Subscribe { docs }) => {
                for reply in self.subscribe(&member, docs).await? {
                    ws.send_with_str(reply)?;
                }
                self.schedule().await?;
                None
            }
            Ok(ClientMessage::Unsubscribe { docs }) => {
                self.unsubscribe(&member, &docs).await?;
                None
            }
            Ok(ClientMessage::Presence { doc, data }) => {
                if !self.docs_of(member.id)?.contains(&doc) {
                    Some(ServerMessage::error("not-subscribed", format!("subscribe to {doc} before sending presence")))
                } else if !budget::spend(&self.state, "presence", 1000, PRESENCE_PER_SECOND, 1)? {
                    // Each relayed presence costs a request per watching channel: per user,
                    // whatever the number of sockets.
                    Some(ServerMessage::error("rate-limited", format!("at most {PRESENCE_PER_SECOND} presence messages per second per user")))
                } else {
                    let presence = Presence { doc: doc.clone(), from: member.user.clone(), origin: Some(member.id), data };
                    let url = worker::Url::parse_with_params("https://room/presence", &[("doc", &doc)])?;
                    let room = self.env.durable_object(crate::room::BINDING)?.id_from_name(&doc)?.get_stub()?;
                    if let Err(e) = room.fetch_with_request(relay::post(url.as_str(), &serde_json::to_string(&presence)?)?).await {
                        tracing::warn!(error = %e, "live: relaying presence failed");
                    }
                    None
                }
            }
        };
        match reply {
            Some(reply) => ws.send_with_str(reply),
            None => Ok(()),
        }
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> worker::Result<()> {
        let forgotten = self.forget(&ws).await;
        close_back(&ws, code, reason);
        forgotten
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.forget(&ws).await
    }

    /// Closes the sockets whose token expired and checks the subscriptions' memberships again
    /// (a member removed through another runtime, a notice lost), then waits for the next
    /// expiry or check.
    async fn alarm(&self) -> worker::Result<Response> {
        let now = now_ms();
        for (ws, member) in self.sockets() {
            if member.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now) {
                let _ = ws.close(Some(CLOSE_TOKEN_EXPIRED), Some("token expired: reconnect with a fresh one"));
            }
        }
        self.recheck().await?;
        self.schedule().await?;
        Response::empty()
    }
}

impl LiveChannel {
    async fn admit(&self, grant: Grant) -> worker::Result<Response> {
        let Some((pair, id)) = accept_user_socket(&self.state)? else { return Response::error("too many sockets for this user", 429) };
        pair.server.serialize_attachment(Member { id, user: grant.user, exp: grant.exp, budget: Budget::default() })?;
        self.schedule().await?;
        upgraded(pair.client, grant.via_protocol)
    }

    /// Open sockets with their attachments.
    fn sockets(&self) -> Vec<(WebSocket, Member)> {
        self.state.get_websockets().into_iter().filter_map(|ws| ws.deserialize_attachment::<Member>().ok().flatten().map(|m| (ws, m))).collect()
    }

    fn docs_of(&self, socket: i64) -> worker::Result<Vec<String>> {
        Ok(self.sql().exec("SELECT doc FROM subs WHERE socket = ?", vec![socket.into()])?.to_array::<Doc>()?.into_iter().map(|d| d.doc).collect())
    }

    fn watched(&self, doc: &str) -> worker::Result<bool> {
        Ok(!self.sql().exec("SELECT socket FROM subs WHERE doc = ? LIMIT 1", vec![doc.into()])?.to_array::<Sub>()?.is_empty())
    }

    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    /// The answer to `subscribe`, then `changed` for documents that moved while their rooms
    /// were being told.
    async fn subscribe(&self, member: &Member, docs: Vec<String>) -> worker::Result<Vec<String>> {
        let too_many = || vec![ServerMessage::error("too-many-documents", format!("at most {MAX_SUBSCRIPTIONS} documents per connection"))];
        let already = self.docs_of(member.id)?;
        let mut new: Vec<String> = docs.into_iter().filter(|d| !already.contains(d)).collect();
        new.sort();
        new.dedup();
        if already.len() + new.len() > MAX_SUBSCRIPTIONS {
            return Ok(too_many());
        }
        let app = self.app()?;
        let (granted, mut unavailable) = match live::authorize(&app, &member.user, &new).await {
            Ok(answer) => answer,
            Err(e) => return Ok(vec![ServerMessage::error("unavailable", e.to_string())]),
        };
        // Checked again: another `subscribe` of this socket may have been handled meanwhile.
        if self.docs_of(member.id)?.len() + granted.len() > MAX_SUBSCRIPTIONS {
            return Ok(too_many());
        }
        // Documents no socket here watches yet need the room's registration.
        let unwatched: Vec<String> = granted.iter().map(|d| d.doc.clone()).filter(|d| !self.watched(d).unwrap_or(false)).collect();
        if !budget::spend(&self.state, "watch", 60_000, WATCHES_PER_MINUTE, unwatched.len())? {
            return Ok(vec![ServerMessage::error("rate-limited", format!("at most {WATCHES_PER_MINUTE} newly watched documents per minute"))]);
        }
        // The rows first: a notice, a room's check or another socket's unsubscribe arriving while
        // the rooms are told must find the documents watched here.
        for d in &granted {
            self.sql().exec("INSERT OR IGNORE INTO subs (socket, doc) VALUES (?, ?)", vec![member.id.into(), d.doc.as_str().into()])?;
        }
        let (env, user) = (&self.env, member.user.as_str());
        let refused: Vec<String> = futures_util::stream::iter(unwatched.clone())
            .map(|doc| async move {
                match relay::tell_room(env, &doc, &relay::channel_target(user), "watch").await {
                    Ok(true) => None,
                    Ok(false) => Some(doc),
                    Err(e) => {
                        tracing::warn!(error = %e, "live: registering with a document's object failed");
                        Some(doc)
                    }
                }
            })
            .buffer_unordered(CONCURRENT)
            .filter_map(|d| async move { d })
            .collect()
            .await;
        // Unwatchable documents are reported like unavailable ones: the client syncs them at
        // its polling interval.
        for doc in &refused {
            // Another socket that subscribed meanwhile relied on this registration: it is told
            // as well.
            let _ = self.deliver(doc, Some(member.id), &ServerMessage::Unavailable { docs: vec![doc.clone()] }.to_json())?;
            self.sql().exec("DELETE FROM subs WHERE doc = ?", vec![doc.as_str().into()])?;
        }
        // What this socket is subscribed to now (another socket's refused registration may
        // have ended one of these meanwhile).
        let mine = self.docs_of(member.id)?;
        let (docs, not_watched): (Vec<_>, Vec<_>) = granted.into_iter().partition(|d| mine.contains(&d.doc));
        unavailable.extend(not_watched.into_iter().map(|d| d.doc));
        // A commit between the first read and the registration was relayed to nobody here: read
        // the newly registered documents' heads again, now that every later commit is relayed.
        let registered: Vec<String> = unwatched.into_iter().filter(|d| !refused.contains(d)).collect();
        let mut replies = vec![ServerMessage::Subscribed { docs: docs.clone(), unavailable }.to_json()];
        if !registered.is_empty()
            && let Ok((now, _)) = live::authorize(&app, user, &registered).await
        {
            for moved in now.into_iter().filter(|n| docs.iter().any(|d| d.doc == n.doc && d.heads != n.heads)) {
                replies.push(ServerMessage::Changed { doc: &moved.doc, heads: moved.heads.clone() }.to_json());
            }
        }
        Ok(replies)
    }

    /// Ends `socket`'s subscriptions to `docs`; the rooms of documents no socket here watches
    /// any more are told. Only documents it was subscribed to count: anything else costs
    /// nothing.
    async fn unsubscribe(&self, member: &Member, docs: &[String]) -> worker::Result<()> {
        let mut left = Vec::new();
        for doc in docs {
            let deleted = self.sql().exec("DELETE FROM subs WHERE socket = ? AND doc = ?", vec![member.id.into(), doc.as_str().into()])?.rows_written();
            if deleted > 0 && !self.watched(doc)? && !left.contains(doc) {
                left.push(doc.clone());
            }
        }
        self.leave(&member.user, left).await;
        Ok(())
    }

    async fn leave(&self, user: &str, docs: Vec<String>) {
        let env = &self.env;
        futures_util::stream::iter(docs)
            .for_each_concurrent(CONCURRENT, |doc| async move {
                if let Err(e) = relay::tell_room(env, &doc, &relay::channel_target(user), "unwatch").await {
                    tracing::warn!(error = %e, "live: leaving a document's object failed");
                }
            })
            .await;
    }

    /// A socket closed: its subscriptions end.
    async fn forget(&self, ws: &WebSocket) -> worker::Result<()> {
        let Some(member) = ws.deserialize_attachment::<Member>()? else { return Ok(()) };
        let docs = self.docs_of(member.id)?;
        self.unsubscribe(&member, &docs).await
    }

    /// Sends `text` to every socket subscribed to `doc` but `origin` (nothing when empty);
    /// `410` when none is, so the room forgets this channel. Rows of sockets that are gone
    /// (closed without an event) are dropped on the way.
    fn deliver(&self, doc: &str, origin: Option<i64>, text: &str) -> worker::Result<Response> {
        let subscribed: Vec<i64> =
            self.sql().exec("SELECT socket FROM subs WHERE doc = ?", vec![doc.into()])?.to_array::<Sub>()?.into_iter().map(|s| s.socket).collect();
        let mut reached = Vec::new();
        for (ws, member) in self.sockets().into_iter().filter(|(_, m)| subscribed.contains(&m.id)) {
            reached.push(member.id);
            if !text.is_empty() && Some(member.id) != origin {
                // A socket closing meanwhile is its own business.
                let _ = ws.send_with_str(text);
            }
        }
        for gone in subscribed.iter().filter(|s| !reached.contains(s)) {
            self.sql().exec("DELETE FROM subs WHERE socket = ?", vec![(*gone).into()])?;
        }
        if reached.is_empty() { Response::error("not watched", 410) } else { Response::empty() }
    }

    /// Memberships of `doc` changed: if this channel's user may no longer read it, its
    /// subscriptions end with `unavailable` (the sockets stay open).
    async fn access(&self, doc: &str) -> worker::Result<Response> {
        // Every socket here is the same user's.
        let Some((_, member)) = self.sockets().into_iter().next() else { return Response::error("not watched", 410) };
        let user = member.user.as_str();
        let (granted, _) = live::authorize(&self.app()?, user, &[doc.to_owned()]).await.map_err(|e| worker::Error::RustError(e.to_string()))?;
        if !granted.is_empty() {
            return self.deliver(doc, None, "");
        }
        let _ = self.deliver(doc, None, &ServerMessage::Unavailable { docs: vec![doc.to_owned()] }.to_json())?;
        self.sql().exec("DELETE FROM subs WHERE doc = ?", vec![doc.into()])?;
        Response::error("not watched", 410)
    }

    /// Ends the subscriptions whose user may no longer read the document, with `unavailable`
    /// (the sockets stay open).
    async fn recheck(&self) -> worker::Result<()> {
        let docs: Vec<String> = self.sql().exec("SELECT DISTINCT doc FROM subs", None)?.to_array::<Doc>()?.into_iter().map(|d| d.doc).collect();
        let Some((_, member)) = self.sockets().into_iter().next() else {
            self.sql().exec("DELETE FROM subs", None)?;
            return Ok(());
        };
        let app = self.app()?;
        for chunk in docs.chunks(500) {
            let Ok((_, gone)) = live::authorize(&app, &member.user, chunk).await else { continue };
            for doc in gone {
                let _ = self.deliver(&doc, None, &ServerMessage::Unavailable { docs: vec![doc.clone()] }.to_json())?;
                self.sql().exec("DELETE FROM subs WHERE doc = ?", vec![doc.as_str().into()])?;
            }
        }
        Ok(())
    }

    /// One alarm for whichever comes first: the earliest token expiry, or the next membership
    /// check while anything is subscribed; none without sockets. An earlier alarm already set
    /// stays (a busy socket must not keep postponing the check).
    async fn schedule(&self) -> worker::Result<()> {
        let now = now_ms();
        let sockets = self.sockets();
        let expiry = sockets.iter().filter_map(|(_, m)| m.exp.map(|e| e.saturating_mul(1000))).filter(|at| *at > now).min();
        let subscribed = !self.sql().exec("SELECT socket FROM subs LIMIT 1", None)?.to_array::<Sub>()?.is_empty();
        let check = (subscribed && !sockets.is_empty()).then(|| now + (RECHECK_SECS as i64) * 1000);
        let next = expiry.into_iter().chain(check).min();
        let storage = self.state.storage();
        match (storage.get_alarm().await?, next) {
            (Some(set), Some(at)) if set > now && set <= at => Ok(()),
            (_, Some(at)) => storage.set_alarm(at_time(at)).await,
            (_, None) => storage.delete_alarm().await,
        }
    }

    fn app(&self) -> worker::Result<AppState> {
        crate::state(&self.env, std::sync::Arc::default()).map_err(worker::Error::RustError)
    }
}
