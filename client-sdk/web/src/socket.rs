//! Live sockets in browsers, workers and Node 22 (docs/protocol.md §11), and presence.
//!
//! Browsers cannot set headers on a WebSocket, so the token goes as the subprotocol
//! `bearer.<token>` next to `edgesync.live.v1`; nor can they see why an upgrade failed, so
//! the shape is chosen first with an ordinary request carrying the token: `GET /v1/live` that
//! is not `404` means the server has one socket for every document (the native server,
//! Workers); else `GET /v1/docs/{id}/live` for a known document that is not `404` means a
//! socket per document (a Worker without its channel binding; the first [`MAX_DOCUMENT_SOCKETS`] documents in id order); else there are no
//! sockets (Spin) — or the JavaScript host has no `WebSocket` (Node before 22) — and the
//! caller keeps waiting syncs. Then, as in the native SDK: a sync
//! whenever the server announces heads this client has not acknowledged, presence to the
//! app's callbacks, reconnects with the sync loop's backoff, and nothing sent while idle.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use edgesync_client::backoff::random_jitter;
use edgesync_client::{DocumentId, Heard, LocalTokenProvider, LocalTransport};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use gloo_timers::future::sleep;
use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::background::Wake;
use crate::client::WebEngine;
use crate::options::LoopSettings;

/// Per-document sockets one client keeps open at most.
pub const MAX_DOCUMENT_SOCKETS: usize = 32;
/// Documents one `/v1/live` connection may subscribe to (the server's limit).
const MAX_SUBSCRIPTIONS: usize = 1000;
/// The close code of a per-document socket whose access ended: not reopened.
const ACCESS_LOST: u16 = 4003;

/// How the client hears of collaborators' changes right now (`client.liveMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveMode {
    Off,
    Channel,
    DocumentSockets,
    WaitingSyncs,
}

impl LiveMode {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveMode::Off => "off",
            LiveMode::Channel => "channel",
            LiveMode::DocumentSockets => "document-sockets",
            LiveMode::WaitingSyncs => "waiting-syncs",
        }
    }
}

/// What the sockets' handlers, the app's `setPresence` and the engine's events tell the loop.
pub enum Input {
    Open(u32),
    Text(String),
    Closed(u32, u16),
    Presence(DocumentId, String),
    Rescan,
}

/// Presence and the live mode, shared by the client and its live loop.
pub struct PresenceHub {
    pub mode: Cell<LiveMode>,
    /// The socket(s) watch every document the server knows (the interval sync may wait longer).
    pub watching_all: Cell<bool>,
    input: UnboundedSender<Input>,
    listeners: RefCell<Vec<(u32, js_sys::Function)>>,
    next_id: Cell<u32>,
}

impl PresenceHub {
    pub fn new() -> (Rc<Self>, UnboundedReceiver<Input>) {
        let (input, received) = unbounded();
        (
            Rc::new(Self { mode: Cell::new(LiveMode::Off), watching_all: Cell::new(false), input, listeners: RefCell::default(), next_id: Cell::new(0) }),
            received,
        )
    }

    /// Queues `data` (JSON text) for the document's other subscribers: through the socket, or
    /// over HTTP where the server has none; false while nothing carries it (no live loop,
    /// offline, connecting).
    pub fn send(&self, doc: DocumentId, data: String) -> bool {
        self.mode.get() != LiveMode::Off && self.input.unbounded_send(Input::Presence(doc, data)).is_ok()
    }

    /// Whether the app listens for presence.
    pub fn has_listeners(&self) -> bool {
        !self.listeners.borrow().is_empty()
    }

    pub fn listen(&self, callback: js_sys::Function) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.listeners.borrow_mut().push((id, callback));
        id
    }

    pub fn unlisten(&self, id: u32) {
        self.listeners.borrow_mut().retain(|(i, _)| *i != id);
    }

    pub fn clear(&self) {
        self.listeners.borrow_mut().clear();
    }

    pub fn deliver(&self, presence: &edgesync_client::Presence) {
        let message = js_sys::Object::new();
        let data = js_sys::JSON::parse(&presence.data.to_string()).unwrap_or(JsValue::NULL);
        for (key, value) in [("docId", JsValue::from(presence.doc_id.to_string())), ("from", presence.from.clone().into()), ("data", data)] {
            let _ = js_sys::Reflect::set(&message, &key.into(), &value);
        }
        // A throwing listener loses only its own call.
        let listeners: Vec<js_sys::Function> = self.listeners.borrow().iter().map(|(_, f)| f.clone()).collect();
        for listener in listeners {
            let _ = listener.call1(&JsValue::UNDEFINED, &message);
        }
    }
}

/// A WebSocket whose events go to the loop's input, tagged with `slot`; closed when dropped.
struct Sock {
    ws: WebSocket,
    _handlers: Handlers,
}

/// The socket's `open`, `message` and `close` handlers, kept alive as long as it is.
type Handlers = (Closure<dyn FnMut()>, Closure<dyn FnMut(MessageEvent)>, Closure<dyn FnMut(CloseEvent)>);

impl Sock {
    fn open(url: &str, token: &str, slot: u32, input: &UnboundedSender<Input>) -> Option<Self> {
        let protocols = js_sys::Array::of2(&"edgesync.live.v1".into(), &format!("bearer.{token}").into());
        let ws = WebSocket::new_with_str_sequence(url, &protocols).ok()?;
        let (a, b, c) = (input.clone(), input.clone(), input.clone());
        let on_open = Closure::<dyn FnMut()>::new(move || drop(a.unbounded_send(Input::Open(slot))));
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            if let Some(text) = e.data().as_string() {
                let _ = b.unbounded_send(Input::Text(text));
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| drop(c.unbounded_send(Input::Closed(slot, e.code()))));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Some(Self { ws, _handlers: (on_open, on_message, on_close) })
    }

    fn send(&self, text: &str) -> bool {
        self.ws.send_with_str(text).is_ok()
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

enum Probe {
    Present,
    Absent,
    Unauthorized,
    Failed,
}

/// `GET path` with the token: what the server says about that socket route.
async fn probe(engine: &WebEngine, path: &str, token: &str) -> Probe {
    let Ok(request) = http::Request::get(path).header("authorization", format!("Bearer {token}")).body(Vec::new()) else { return Probe::Failed };
    match engine.transport().send(request).await.map(|r| r.status().as_u16()) {
        Ok(404) => Probe::Absent,
        Ok(401) => Probe::Unauthorized,
        Ok(_) => Probe::Present,
        Err(_) => Probe::Failed,
    }
}

/// Why the loop stopped.
pub enum Ended {
    Unsupported,
    Stopped,
}

/// Runs the live sockets until stopped, or returns [`Ended::Unsupported`] when the server has
/// none. `woken`: network changes and the stop, as for the other loops.
pub async fn run(
    engine: Rc<WebEngine>,
    hub: Rc<PresenceHub>,
    input: &mut UnboundedReceiver<Input>,
    woken: &mut UnboundedReceiver<Wake>,
    settings: LoopSettings,
) -> Ended {
    // Node before 22 has no global WebSocket: waiting syncs there.
    if !js_sys::Reflect::has(&js_sys::global(), &"WebSocket".into()).unwrap_or(false) {
        return Ended::Unsupported;
    }
    wasm_bindgen_futures::spawn_local(forward_events(engine.clone(), hub.input.clone()));
    let ws_base = engine.transport().base_url().replacen("http", "ws", 1);
    let (mut failures, mut refresh) = (0u32, false);
    loop {
        let mut session = Session {
            engine: &engine,
            hub: &hub,
            ws_base: &ws_base,
            socks: HashMap::new(),
            docs: HashMap::new(),
            subscribed: HashSet::new(),
            refused: false,
            per_document: false,
        };
        let outcome = session.run(input, woken, refresh).await;
        drop(session);
        hub.mode.set(LiveMode::Off);
        hub.watching_all.set(false);
        match outcome {
            Outcome::Unsupported => return Ended::Unsupported,
            Outcome::Stopped => return Ended::Stopped,
            Outcome::Unauthorized => (refresh, failures) = (true, failures + 1),
            Outcome::Dropped(was_open) => (refresh, failures) = (false, if was_open { 1 } else { failures + 1 }),
        }
        let pause = settings.backoff.delay(failures, None, random_jitter());
        if let Either::Right((wake, _)) = select(Box::pin(sleep(pause)), woken.next()).await
            && !crate::background::network_change(wake, woken).await
        {
            return Ended::Stopped;
        }
    }
}

enum Outcome {
    Unsupported,
    Stopped,
    Unauthorized,
    Dropped(bool),
}

struct Session<'a> {
    engine: &'a Rc<WebEngine>,
    hub: &'a PresenceHub,
    ws_base: &'a str,
    /// Open or opening sockets by slot (slot 0: `/v1/live`; per document: an index).
    socks: HashMap<u32, Sock>,
    /// Per-document sockets: slot → document.
    docs: HashMap<u32, DocumentId>,
    /// Documents subscribed on `/v1/live`, or with a per-document socket.
    subscribed: HashSet<DocumentId>,
    /// Whether a per-document socket was refused (404); the documents themselves are left
    /// to interval syncs until one finds them (`Engine::mark_unreachable`).
    refused: bool,
    per_document: bool,
}

impl Session<'_> {
    async fn run(&mut self, input: &mut UnboundedReceiver<Input>, woken: &mut UnboundedReceiver<Wake>, refresh: bool) -> Outcome {
        let Ok(token) = self.engine.tokens().token(refresh).await else { return Outcome::Dropped(false) };
        match probe(self.engine, "/v1/live", &token).await {
            Probe::Present => {
                let sock = Sock::open(&format!("{}/v1/live", self.ws_base), &token, 0, &self.hub.input);
                let Some(sock) = sock else { return Outcome::Dropped(false) };
                self.socks.insert(0, sock);
            }
            Probe::Absent => self.per_document = true,
            Probe::Unauthorized => return Outcome::Unauthorized,
            Probe::Failed => return Outcome::Dropped(false),
        }
        let mut opened = false;
        loop {
            if self.per_document {
                match self.open_documents(&token).await {
                    Ok(()) => {}
                    Err(outcome) => return outcome,
                }
            }
            self.hub.watching_all.set(opened && self.engine.watches_all(|d| self.subscribed.contains(d)));
            let next = select(select(input.next(), woken.next()), Box::pin(sleep(Duration::from_secs(30)))).await;
            match next {
                Either::Left((Either::Left((Some(event), _)), _)) => match event {
                    Input::Open(slot) => {
                        opened = true;
                        self.hub.mode.set(if self.per_document { LiveMode::DocumentSockets } else { LiveMode::Channel });
                        if slot == 0 && !self.per_document {
                            self.subscribe_new();
                        }
                    }
                    Input::Text(text) => match self.engine.hear(&text) {
                        Heard::News => drop(self.engine.sync_now().await),
                        Heard::Presence(p) => self.hub.deliver(&p),
                        Heard::Nothing => {}
                    },
                    Input::Closed(slot, ACCESS_LOST) if self.docs.contains_key(&slot) => {
                        self.socks.remove(&slot);
                        let doc = self.docs.remove(&slot).expect("checked");
                        self.subscribed.remove(&doc);
                        self.engine.mark_unreachable(doc);
                    }
                    Input::Closed(slot, _) if self.socks.contains_key(&slot) => return Outcome::Dropped(opened),
                    Input::Closed(..) => {}
                    Input::Presence(doc, data) if self.subscribed.contains(&doc) => {
                        let text = format!(r#"{{"type":"presence","doc":"{doc}","data":{data}}}"#);
                        let slot = if self.per_document { self.docs.iter().find(|(_, d)| **d == doc).map(|(s, _)| *s) } else { Some(0) };
                        if let Some(sock) = slot.and_then(|s| self.socks.get(&s))
                            && !sock.send(&text)
                        {
                            return Outcome::Dropped(opened);
                        }
                    }
                    Input::Presence(..) => {}
                    Input::Rescan if !self.per_document && opened => self.subscribe_new(),
                    Input::Rescan => {}
                },
                Either::Left((Either::Left((None, _)), _)) => return Outcome::Stopped,
                Either::Left((Either::Right((wake, _)), _)) => {
                    return match wake {
                        None | Some(Wake::Stop) => Outcome::Stopped,
                        // Offline: drop the sockets; the caller waits for `online`.
                        Some(_) => Outcome::Dropped(false),
                    };
                }
                Either::Right(_) => {
                    if !self.per_document && opened {
                        self.subscribe_new();
                    }
                }
            }
        }
    }

    /// Subscribes `/v1/live` to the documents the server knows that it is not subscribed to.
    fn subscribe_new(&mut self) {
        let known: HashSet<DocumentId> = self.engine.live_documents().into_iter().collect();
        // Documents the server said are unavailable left the list: subscribed again once a
        // sync finds them.
        self.subscribed.retain(|d| known.contains(d));
        let room = MAX_SUBSCRIPTIONS.saturating_sub(self.subscribed.len());
        let new: Vec<DocumentId> = known.into_iter().filter(|d| !self.subscribed.contains(d)).take(room).collect();
        if new.is_empty() {
            return;
        }
        // Ids are 32 hex digits: nothing to escape.
        let ids: Vec<String> = new.iter().map(|d| format!("\"{d}\"")).collect();
        let text = format!(r#"{{"type":"subscribe","docs":[{}]}}"#, ids.join(","));
        if self.socks.get(&0).is_some_and(|s| s.send(&text)) {
            self.subscribed.extend(new);
        }
    }

    /// Opens per-document sockets for known documents without one (up to the cap). The first
    /// probe that is `404` for every document tried means the server has no such sockets.
    async fn open_documents(&mut self, token: &str) -> Result<(), Outcome> {
        let mut wanted: Vec<DocumentId> = self.engine.live_documents().into_iter().filter(|d| !self.subscribed.contains(d)).collect();
        wanted.sort();
        for doc in wanted.into_iter().take(MAX_DOCUMENT_SOCKETS.saturating_sub(self.subscribed.len())) {
            let path = format!("/v1/docs/{doc}/live");
            match probe(self.engine, &path, token).await {
                Probe::Present => {}
                Probe::Absent if self.subscribed.is_empty() && !self.refused => return Err(Outcome::Unsupported),
                Probe::Absent => {
                    self.refused = true;
                    self.engine.mark_unreachable(doc);
                    continue;
                }
                Probe::Unauthorized => return Err(Outcome::Unauthorized),
                Probe::Failed => return Err(Outcome::Dropped(false)),
            }
            let slot = 1 + self.docs.keys().max().copied().unwrap_or(0);
            let Some(sock) = Sock::open(&format!("{}{path}", self.ws_base), token, slot, &self.hub.input) else { return Err(Outcome::Dropped(false)) };
            self.socks.insert(slot, sock);
            self.docs.insert(slot, doc);
            self.subscribed.insert(doc);
        }
        Ok(())
    }
}

/// Asks the loop to look for new documents after every engine event, until the loop is gone.
async fn forward_events(engine: Rc<WebEngine>, input: UnboundedSender<Input>) {
    let mut events = engine.subscribe();
    while events.next().await.is_some() {
        if input.unbounded_send(Input::Rescan).is_err() {
            return;
        }
    }
}
