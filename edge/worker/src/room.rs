//! Live sockets on Workers (`GET /v1/docs/{id}/live`, docs/protocol.md §11): one Durable
//! Object per document holds that document's sockets, through the WebSocket Hibernation API,
//! so an idle subscriber costs no duration and the object may be evicted between messages.
//!
//! The Worker authenticates and authorises the socket exactly like the HTTP API (in
//! `edge_app::live`), then hands the upgrade to the document's object with what it verified;
//! the object is reachable only through this Worker's binding, so it trusts that grant. After
//! a request commits changes, or removes a member or a document, the Worker tells the objects
//! concerned (after the response, `waitUntil`); the object reads the current heads (or
//! memberships) from the database — the source of truth, so notices arriving out of order or
//! twice do no harm — and tells its sockets. Everything a socket needs after hibernation
//! (document, user, token expiry, message budget) travels in its attachment; the object keeps
//! nothing in memory that it needs. Commits made through other runtimes sharing the database
//! (a native server, Spin) are seen when `EDGESYNC_LIVE_POLL_MS` is set: while it has sockets,
//! the object re-reads the heads on that interval (an alarm, which wakes it from hibernation);
//! unset, they are seen with the next commit through a Worker (docs/deploy-workers.md).

use crate::budget;
use crate::relay::{self, Access, Changed, Ephemeral, Presence, To, Watchers};
use edge_app::live::{self, Budget, CLOSE_ACCESS_LOST, CLOSE_TOKEN_EXPIRED, MAX_CLIENT_FRAME_BYTES, MAX_CONNECTIONS_PER_USER, PROTOCOL, ServerMessage};
use edge_app::{ApiError, AppState};
use serde::{Deserialize, Serialize};
use worker::{DurableObject, Env, Request, Response, ScheduledTime, State, WebSocket, WebSocketIncomingMessage, WebSocketPair, durable_object};

/// The binding of the document objects' namespace (wrangler.toml). Without it the Worker has
/// no live sockets: the route answers 404 and clients use waiting syncs.
pub const BINDING: &str = "DOCUMENT_ROOMS";
/// Sockets one document's object holds; more are answered 503 (hibernation allows 32,768).
const MAX_SOCKETS: usize = 10_000;
/// Presence messages one document's object relays to watching channels per second; more
/// reach its own sockets only (presence is best effort).
const PRESENCE_RELAYS_PER_SECOND: u32 = 20;
/// Documents whose objects one request notifies: each notice is a subrequest, which Workers
/// limit per request. A sync writing more documents notifies the first ones only.
pub const MAX_NOTICES: usize = 100;

/// What the Worker verified, handed to the object with the upgrade; kept as the socket's
/// attachment (with the message budget) for as long as the socket lives.
#[derive(Serialize, Deserialize)]
struct Subscriber {
    doc: String,
    user: String,
    /// The token's `exp` (seconds).
    exp: Option<i64>,
    #[serde(default)]
    budget: Budget,
}

#[derive(Serialize, Deserialize)]
struct Grant {
    subscriber: Subscriber,
    heads: Vec<String>,
    via_protocol: bool,
}

pub(crate) fn internal(e: worker::Error) -> ApiError {
    ApiError::Internal(format!("document object: {e}"))
}

/// `GET /v1/docs/{id}/live` at the Worker: verify, then hand the upgrade to the object.
pub async fn open(state: &AppState, env: &Env, headers: &axum::http::HeaderMap, id: &str) -> Result<axum::response::Response, ApiError> {
    let rooms = env.durable_object(BINDING).map_err(|_| ApiError::NotFound)?;
    let opener = live::authenticate(state, headers).await?;
    let user = opener.principal.subject.as_str().to_owned();
    let heads = live::open_document(state, &user, id).await?;
    let grant = Grant {
        subscriber: Subscriber { doc: id.to_owned(), user, exp: opener.expires_at, budget: Budget::default() },
        heads,
        via_protocol: opener.via_protocol,
    };
    let stub = rooms.id_from_name(id).and_then(|o| o.get_stub()).map_err(internal)?;
    upgrade_with(headers, stub, "https://room/connect", &grant).await
}

/// Hands a verified upgrade to an object (`url`, with the `grant`) and maps its refusals.
pub(crate) async fn upgrade_with<G: Serialize>(
    headers: &axum::http::HeaderMap,
    stub: worker::Stub,
    url: &str,
    grant: &G,
) -> Result<axum::response::Response, ApiError> {
    if !headers.get("upgrade").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::Invalid("the live channel is a WebSocket: send Upgrade: websocket".into()));
    }
    let grant = serde_json::to_string(grant).map_err(|e| ApiError::Internal(e.to_string()))?;
    let url = worker::Url::parse_with_params(url, &[("grant", grant)]).map_err(|e| ApiError::Internal(e.to_string()))?;
    let headers = worker::Headers::new();
    headers.set("upgrade", "websocket").map_err(internal)?;
    let mut init = worker::RequestInit::new();
    init.with_headers(headers);
    let request = Request::new_with_init(url.as_str(), &init).map_err(internal)?;
    let response = stub.fetch_with_request(request).await.map_err(internal)?;
    match response.status_code() {
        101 => Ok(response.into()),
        429 => Err(ApiError::RateLimited { retry_after_secs: 5 }),
        503 => Err(ApiError::Unavailable { cause: "live sockets at their limit".into(), retry_after_secs: 5 }),
        s => Err(ApiError::Internal(format!("live object answered {s}"))),
    }
}

/// Tells the objects of `committed` that their heads moved, and those of `access` that
/// memberships changed. Failures are logged: a subscriber that misses a notice loses nothing
/// (its next sync catches up).
pub async fn notify(env: Env, committed: Vec<String>, access: Vec<String>) {
    let Ok(rooms) = env.durable_object(BINDING) else { return };
    let notices = committed.iter().map(|d| (d, "changed")).chain(access.iter().map(|d| (d, "access"))).take(MAX_NOTICES);
    let sends = notices.map(|(doc, what)| {
        let stub = rooms.id_from_name(doc).and_then(|o| o.get_stub());
        async move {
            let sent = match stub {
                Ok(stub) => stub.fetch_with_str(&format!("https://room/{what}?doc={doc}")).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                tracing::warn!(doc = %doc, error = %e, "live: notifying the document's object failed");
            }
        }
    });
    futures_util::future::join_all(sends).await;
}

#[durable_object]
pub struct DocumentRoom {
    state: State,
    env: Env,
}

impl DurableObject for DocumentRoom {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let url = request.url()?;
        let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        match (url.path(), param("grant"), param("doc"), param("target")) {
            ("/connect", Some(grant), _, _) => self.admit(serde_json::from_str(&grant)?).await,
            ("/changed", _, Some(doc), _) => self.changed(&doc).await,
            ("/access", _, Some(doc), _) => self.access(&doc).await,
            // A user's channel (`/v1/live`) or an automerge-repo connection starts or may have
            // stopped watching the document.
            ("/watch", _, Some(doc), Some(target)) => {
                if !self.watchers().add(&target)? {
                    return Response::error("too many watch this document", 503);
                }
                self.state.storage().put("doc", &doc).await?;
                self.schedule().await?;
                Response::empty()
            }
            ("/unwatch", _, Some(doc), Some(target)) => {
                self.watchers().confirm(&self.env, &target, &doc).await?;
                Response::empty()
            }
            ("/ephemeral", _, Some(_), _) => {
                let message: Ephemeral = request.json().await?;
                let origin = relay::repo_target(&message.origin);
                self.watchers().relay(&self.env, "/ephemeral", &message, To::ReposBut, Some(&origin)).await?;
                Response::empty()
            }
            ("/presence", _, Some(_), _) => {
                let presence: Presence = request.json().await?;
                self.relay_presence(None, &presence).await?;
                Response::empty()
            }
            _ => Response::error("unknown notice", 400),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        let Some(mut sub) = ws.deserialize_attachment::<Subscriber>()? else { return Ok(()) };
        let now = now_ms();
        let Some(text) = checked_text(&ws, sub.exp, now, message)? else { return Ok(()) };
        let presence = live::document_frame(&sub.doc, &text);
        let admitted = sub.budget.admit(now, presence.is_ok());
        ws.serialize_attachment(&sub)?;
        match admitted.and(presence) {
            Err(reply) => ws.send_with_str(reply),
            Ok(data) => {
                let presence = Presence { doc: sub.doc, from: sub.user, origin: None, data };
                self.relay_presence(Some(&ws), &presence).await
            }
        }
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, reason: String, _was_clean: bool) -> worker::Result<()> {
        close_back(&ws, code, reason);
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        Ok(())
    }

    /// Closes the sockets whose token expired; with `EDGESYNC_LIVE_POLL_MS`, reads the heads
    /// (commits made through other runtimes); then waits for whichever comes next.
    async fn alarm(&self) -> worker::Result<Response> {
        let now = now_ms();
        let mut doc = None;
        for ws in self.state.get_websockets() {
            let Ok(Some(sub)) = ws.deserialize_attachment::<Subscriber>() else { continue };
            if sub.exp.is_some_and(|exp| exp.saturating_mul(1000) <= now) {
                let _ = ws.close(Some(CLOSE_TOKEN_EXPIRED), Some("token expired: reconnect with a fresh one"));
            } else {
                doc = Some(sub.doc);
            }
        }
        let doc = match doc {
            Some(doc) => Some(doc),
            None if self.watchers().any()? => self.state.storage().get::<String>("doc").await?,
            None => None,
        };
        if let Some(doc) = doc
            && self.app()?.config.live_poll_ms > 0
        {
            self.changed(&doc).await?;
            self.watchers().sweep(&self.env, &doc).await?;
        }
        self.schedule().await?;
        Response::empty()
    }
}

impl DocumentRoom {
    async fn admit(&self, grant: Grant) -> worker::Result<Response> {
        let sub = grant.subscriber;
        if self.state.get_websockets_with_tag(&sub.user).len() >= MAX_CONNECTIONS_PER_USER {
            return Response::error("too many sockets for this user", 429);
        }
        if self.state.get_websockets().len() >= MAX_SOCKETS {
            return Response::error("too many sockets for this document", 503);
        }
        let pair = WebSocketPair::new()?;
        self.state.accept_websocket_with_tags(&pair.server, &[&sub.user]);
        pair.server.serialize_attachment(&sub)?;
        let greeting = ServerMessage::Subscribed { docs: vec![live::DocHeads { doc: sub.doc.clone(), heads: grant.heads }], unavailable: vec![] };
        pair.server.send_with_str(greeting.to_json())?;
        self.schedule().await?;
        upgraded(pair.client, grant.via_protocol)
    }

    /// The document's heads moved: read them and tell every socket.
    async fn changed(&self, doc: &str) -> worker::Result<Response> {
        let sockets = self.state.get_websockets();
        if sockets.is_empty() && !self.watchers().any()? {
            return Response::empty();
        }
        let heads = self.app()?.store.heads_of(&[doc.to_owned()]).await.map_err(|e| worker::Error::RustError(e.to_string()))?;
        match heads.get(doc) {
            Some(heads) => {
                // A poll (or a second notice) that finds the heads last announced says nothing.
                let storage = self.state.storage();
                if storage.get::<Vec<String>>("announced").await.ok().flatten().as_ref() == Some(heads) {
                    return Response::empty();
                }
                storage.put("announced", heads).await?;
                let text = ServerMessage::Changed { doc, heads: heads.clone() }.to_json();
                for ws in sockets {
                    let _ = ws.send_with_str(&text);
                }
                self.watchers().relay(&self.env, "/changed", &Changed { doc: doc.to_owned(), heads: heads.clone() }, To::All, None).await?;
                Response::empty()
            }
            // Deleted meanwhile, or never created (an automerge-repo client named an id nobody
            // pushed yet): only a document that existed has subscribers to tell — this
            // object's own sockets (opened on an existing document) or an announcement made.
            None => {
                let announced = self.state.storage().delete("announced").await?;
                if announced || !sockets.is_empty() { self.access(doc).await } else { Response::empty() }
            }
        }
    }

    /// Memberships changed: every socket whose user may no longer read the document is told
    /// and closed.
    async fn access(&self, doc: &str) -> worker::Result<Response> {
        let state = self.app()?;
        let mut checked: Vec<(String, bool)> = Vec::new();
        for ws in self.state.get_websockets() {
            let Ok(Some(sub)) = ws.deserialize_attachment::<Subscriber>() else { continue };
            let allowed = match checked.iter().find(|(user, _)| *user == sub.user) {
                Some((_, allowed)) => *allowed,
                None => {
                    let (granted, _) = live::authorize(&state, &sub.user, &[doc.to_owned()]).await.map_err(|e| worker::Error::RustError(e.to_string()))?;
                    checked.push((sub.user.clone(), !granted.is_empty()));
                    !granted.is_empty()
                }
            };
            if !allowed {
                let _ = ws.send_with_str(ServerMessage::Unavailable { docs: vec![doc.to_owned()] }.to_json());
                let _ = ws.close(Some(CLOSE_ACCESS_LOST), Some("access to the document ended"));
            }
        }
        self.watchers().relay(&self.env, "/access", &Access { doc: doc.to_owned() }, To::All, None).await?;
        Response::empty()
    }

    /// Presence from `sender` (one of this object's sockets) or from a channel: to every other
    /// socket here and to every watching channel.
    async fn relay_presence(&self, sender: Option<&WebSocket>, presence: &Presence) -> worker::Result<()> {
        let text = ServerMessage::Presence { doc: &presence.doc, from: &presence.from, data: &presence.data }.to_json();
        for other in self.state.get_websockets().into_iter().filter(|other| Some(other) != sender) {
            // A socket closing meanwhile is not the sender's problem.
            let _ = other.send_with_str(&text);
        }
        // Each relayed message costs a request per watching channel: at most
        // PRESENCE_RELAYS_PER_SECOND per document go beyond this object's own sockets.
        if budget::spend(&self.state, "presence", 1000, PRESENCE_RELAYS_PER_SECOND, 1)? {
            self.watchers().relay(&self.env, "/presence", presence, To::Channels, None).await?;
        }
        Ok(())
    }

    fn watchers(&self) -> Watchers<'_> {
        Watchers(&self.state)
    }

    /// One alarm for whichever comes first: the earliest token expiry, or the next heads poll
    /// (`EDGESYNC_LIVE_POLL_MS`) while sockets are open. None without sockets.
    async fn schedule(&self) -> worker::Result<()> {
        let (sockets, now) = (self.state.get_websockets(), now_ms());
        // Sockets past their expiry are closing already.
        let expiries = sockets
            .iter()
            .filter_map(|ws| ws.deserialize_attachment::<Subscriber>().ok().flatten()?.exp.map(|e| e.saturating_mul(1000)))
            .filter(|at| *at > now);
        let poll = self.app()?.config.live_poll_ms;
        let poll_at = (poll > 0 && (!sockets.is_empty() || self.watchers().any()?)).then(|| now + i64::from(poll));
        let storage = self.state.storage();
        match expiries.chain(poll_at).min() {
            Some(at) => storage.set_alarm(at_time(at)).await,
            None => storage.delete_alarm().await,
        }
    }

    fn app(&self) -> worker::Result<AppState> {
        crate::state(&self.env, std::sync::Arc::default()).map_err(worker::Error::RustError)
    }
}

/// A client frame's text after the checks every live socket makes first: a socket whose token
/// expired (`exp`, seconds) is closed with 4001, a frame over the limit closes it (1009), a
/// binary frame is answered with an error. `None`: nothing more to do.
pub(crate) fn checked_text(ws: &WebSocket, exp: Option<i64>, now: i64, message: WebSocketIncomingMessage) -> worker::Result<Option<String>> {
    if exp.is_some_and(|exp| exp.saturating_mul(1000) <= now) {
        ws.close(Some(CLOSE_TOKEN_EXPIRED), Some("token expired: reconnect with a fresh one"))?;
        return Ok(None);
    }
    match message {
        WebSocketIncomingMessage::String(text) if text.len() <= MAX_CLIENT_FRAME_BYTES => Ok(Some(text)),
        WebSocketIncomingMessage::String(_) => ws.close(Some(1009), Some("frame too large")).map(|()| None),
        WebSocketIncomingMessage::Binary(_) => ws.send_with_str(ServerMessage::error("invalid-message", "messages are JSON text frames")).map(|()| None),
    }
}

/// A new socket in a per-user object (the channel, automerge-repo), accepted for hibernation
/// with a random id — ids of sockets gone without a close event are never reused — or `None`
/// past the per-user cap.
pub(crate) fn accept_user_socket(state: &State) -> worker::Result<Option<(WebSocketPair, i64)>> {
    if state.get_websockets().len() >= MAX_CONNECTIONS_PER_USER {
        return Ok(None);
    }
    let pair = WebSocketPair::new()?;
    state.accept_web_socket(&pair.server);
    Ok(Some((pair, (js_sys::Math::random() * 9_007_199_254_740_991.0) as i64)))
}

/// The `101` handing the client its end, naming our subprotocol when the token came as one.
pub(crate) fn upgraded(client: WebSocket, via_protocol: bool) -> worker::Result<Response> {
    let mut response = Response::from_websocket(client)?;
    if via_protocol {
        response.headers_mut().set("sec-websocket-protocol", PROTOCOL)?;
    }
    Ok(response)
}

/// Completes a closing handshake the client started (1005/1006 cannot be sent back).
pub(crate) fn close_back(ws: &WebSocket, code: usize, reason: String) {
    let code = u16::try_from(code).ok().filter(|c| !matches!(c, 1005 | 1006)).unwrap_or(1000);
    let _ = ws.close(Some(code), Some(reason));
}

pub(crate) fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

pub(crate) fn at_time(unix_ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&(unix_ms as f64).into()))
}
