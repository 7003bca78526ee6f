//! The live channel on the native server (docs/protocol.md §11): `GET /v1/live` upgraded to a
//! WebSocket, speaking the JSON messages of [`edge_app::live`].
//!
//! The token is verified exactly like the HTTP API's, from the `Authorization` header or —
//! browsers cannot set headers on a WebSocket — from the subprotocol `bearer.<token>` offered
//! next to `edgesync.live.v1` (never logged; the server answers with `edgesync.live.v1`). The
//! socket is closed when the token expires (code 4001: reconnect with a fresh token), and
//! each connection's memberships are checked again every [`RECHECK_SECS`].

mod hub;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{State, ws::rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use edge_app::auth::{AuthError, Principal};
use edge_app::http::extract::Authentication;
use edge_app::live::{self, ClientMessage, MAX_CLIENT_FRAME_BYTES, MAX_SUBSCRIPTIONS, MESSAGES_PER_SECOND, PRESENCE_PER_SECOND, RECHECK_SECS, ServerMessage};
use edge_app::{ApiError, AppState};

pub use hub::{LiveHub, MAX_CONNECTIONS_PER_USER, Refused, spawn_watcher};

/// The subprotocol of this channel's messages.
pub const PROTOCOL: &str = "edgesync.live.v1";
/// Close code for an expired token.
const TOKEN_EXPIRED: u16 = 4001;
/// Close code for a connection that could not keep up with its messages.
const TOO_SLOW: u16 = 1008;
/// Close code when the server shuts down.
const GOING_AWAY: u16 = 1001;

#[derive(Clone)]
pub struct Live {
    pub state: AppState,
    pub hub: Arc<LiveHub>,
    /// How often each connection's memberships are checked again.
    pub recheck: Duration,
}

impl Live {
    pub fn new(state: AppState, hub: Arc<LiveHub>) -> Self {
        Self { state, hub, recheck: Duration::from_secs(RECHECK_SECS) }
    }
}

/// `GET /v1/live`.
pub async fn upgrade(State(live): State<Live>, headers: HeaderMap, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    let Some((token, from_protocol)) = token(&headers) else {
        return ApiError::Unauthorized(AuthError::Missing).into_response();
    };
    let mut auth = HeaderMap::new();
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(v) => auth.insert(header::AUTHORIZATION, v),
        Err(_) => return ApiError::Unauthorized(AuthError::Malformed).into_response(),
    };
    let principal = match Authentication::of(&auth, &live.state).await.0 {
        Ok(p) => p,
        Err(AuthError::KeysUnavailable) => return ApiError::KeysUnavailable.into_response(),
        Err(e) => return ApiError::Unauthorized(e).into_response(),
    };
    match live.hub.admits(principal.subject.as_str()) {
        Ok(()) => {}
        Err(Refused::ServerFull) => {
            return ApiError::Unavailable { cause: "live connections at their limit".into(), retry_after_secs: 5 }.into_response();
        }
        Err(Refused::UserFull) => return ApiError::RateLimited { retry_after_secs: 5 }.into_response(),
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return ApiError::Invalid(format!("/v1/live is a WebSocket: {e}")).into_response(),
    };
    let expires_at = edge_app::auth::verified_expiry(token);
    let ws = if from_protocol { ws.protocols([PROTOCOL]) } else { ws };
    // Small buffers: an idle subscriber should cost little (docs/benchmarks.md).
    ws.max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| connection(live, socket, principal, expires_at))
}

/// The bearer token, from `Authorization` or the `bearer.` subprotocol (then `true`).
fn token(headers: &HeaderMap) -> Option<(&str, bool)> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| (rest.trim(), false));
    }
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok())?;
    let mut protocols = offered.split(',').map(str::trim);
    protocols.clone().any(|p| p == PROTOCOL).then_some(())?;
    protocols.find_map(|p| p.strip_prefix("bearer.")).map(|t| (t, true))
}

async fn connection(live: Live, mut socket: WebSocket, principal: Principal, expires_at: Option<i64>) {
    let user = principal.subject.as_str().to_owned();
    let Ok((conn, mut queue)) = live.hub.connect(&user) else {
        // Admitted before the upgrade, full by now (a race): try again later.
        let _ = socket.send(Message::Close(Some(CloseFrame { code: 1013, reason: "live connections at their limit: retry later".into() }))).await;
        return;
    };
    let closing = live.hub.closing();
    tokio::pin!(closing);
    let mut recheck = tokio::time::interval(live.recheck);
    recheck.tick().await;
    let now = live.state.now().0;
    let left = expires_at.map_or(Duration::MAX, |exp| Duration::from_millis(exp.saturating_mul(1000).saturating_sub(now).max(0) as u64));
    let expiry = tokio::time::sleep(left.min(Duration::from_secs(365 * 24 * 3600)));
    tokio::pin!(expiry);
    let mut presence = RateWindow::new(PRESENCE_PER_SECOND);
    let mut messages = RateWindow::new(MESSAGES_PER_SECOND);
    let close = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let reply = if messages.allow() {
                        handle(&live, conn, &user, &mut presence, text.as_str()).await
                    } else {
                        Some(ServerMessage::error("rate-limited", format!("at most {MESSAGES_PER_SECOND} messages per second")))
                    };
                    if let Some(reply) = reply
                        && socket.send(Message::Text(reply.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let reply = ServerMessage::error("invalid-message", "messages are JSON text frames");
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                Some(Ok(_)) => {}
            },
            queued = queue.recv() => match queued {
                Some(text) => if socket.send(Message::Text(text.into())).await.is_err() { break None },
                None => break Some((TOO_SLOW, "too slow to keep up: reconnect and subscribe again")),
            },
            _ = recheck.tick() => {
                let subscribed = live.hub.subscriptions(conn);
                if let Ok((_, gone)) = live::authorize(&live.state, &user, &subscribed).await
                    && !gone.is_empty() {
                    live.hub.unsubscribe(conn, &gone);
                    if socket.send(Message::Text(ServerMessage::Unavailable { docs: gone }.to_json().into())).await.is_err() {
                        break None;
                    }
                }
            },
            () = &mut expiry => break Some((TOKEN_EXPIRED, "token expired: reconnect with a fresh one")),
            () = &mut closing => break Some((GOING_AWAY, "the server is shutting down: reconnect")),
        }
    };
    live.hub.disconnect(conn);
    if let Some((code, reason)) = close {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
}

/// One client message; the reply to send back, if any.
async fn handle(live: &Live, conn: u64, user: &str, presence: &mut RateWindow, frame: &str) -> Option<String> {
    let message = match live::parse(frame) {
        Ok(m) => m,
        Err(reply) => return Some(reply),
    };
    match message {
        ClientMessage::Subscribe { docs } => {
            let already = live.hub.subscriptions(conn);
            let new: Vec<String> = docs.into_iter().filter(|d| !already.contains(d)).collect();
            if already.len() + new.len() > MAX_SUBSCRIPTIONS {
                return Some(ServerMessage::error("too-many-documents", format!("at most {MAX_SUBSCRIPTIONS} documents per connection")));
            }
            match live::authorize(&live.state, user, &new).await {
                Ok((granted, unavailable)) => {
                    live.hub.subscribe(conn, &granted);
                    Some(ServerMessage::Subscribed { docs: granted, unavailable }.to_json())
                }
                Err(e) => Some(ServerMessage::error("unavailable", e.to_string())),
            }
        }
        ClientMessage::Unsubscribe { docs } => {
            live.hub.unsubscribe(conn, &docs);
            None
        }
        ClientMessage::Presence { doc, data } => {
            if !live.hub.is_subscribed(conn, &doc) {
                return Some(ServerMessage::error("not-subscribed", format!("subscribe to {doc} before sending presence")));
            }
            if !presence.allow() {
                return Some(ServerMessage::error("rate-limited", format!("at most {PRESENCE_PER_SECOND} presence messages per second")));
            }
            live.hub.presence(conn, &doc, user, &data);
            None
        }
    }
}

/// At most `limit` per second (fixed one-second windows of the monotonic clock).
struct RateWindow {
    limit: u32,
    started: tokio::time::Instant,
    count: u32,
}

impl RateWindow {
    fn new(limit: u32) -> Self {
        Self { limit, started: tokio::time::Instant::now(), count: 0 }
    }

    fn allow(&mut self) -> bool {
        if self.started.elapsed() >= Duration::from_secs(1) {
            (self.started, self.count) = (tokio::time::Instant::now(), 0);
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.limit
    }
}

/// The live channel's route, served next to the API (see `serve::run`).
pub fn routes(live: Live) -> axum::Router {
    axum::Router::new().route("/v1/live", axum::routing::get(upgrade)).with_state(live)
}
