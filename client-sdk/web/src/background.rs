//! The automatic sync loops on the JS event loop (timers via `setTimeout`).
//!
//! Like the native loops: a sync at start, one `debounce` after local changes (bursts share a
//! request) and one every `interval`; beside them the live sockets (`crate::socket`) or, where
//! the server has none, a waiting sync (`live`, docs/protocol.md §10), so collaborators'
//! changes arrive as they are made. After a failure it waits [`Backoff::delay`]
//! (exponential with jitter, or the server's `Retry-After`); local changes do not cut that
//! wait short, any success resets it.
//!
//! Where the global scope has `online`/`offline` events (windows, workers; not Node):
//! `online` syncs right away and forgets the backoff (the network is back), `offline` syncs
//! right away unless backing off, which fails fast and reports the status `offline`.
//!
//! [`Backoff::delay`]: edgesync_client::Backoff::delay

use std::rc::Rc;
use std::time::Duration;

use edgesync_client::backoff::random_jitter;
use edgesync_client::{ChangeOrigin, Event, Subscription, SyncStatus};
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_util::StreamExt;
use futures_util::future::{Either, select};
use gloo_timers::future::sleep;
use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use web_sys::EventTarget;

use crate::client::WebEngine;
use crate::options::LoopSettings;
use crate::socket::{Ended, Input, LiveMode, PresenceHub};

/// Why the loop wakes up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    Online,
    Offline,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Timer,
    LocalChange,
    Wake(Wake),
}

/// A running loop; dropping it stops the loop (and removes the event listeners).
pub struct Background {
    wake: UnboundedSender<Wake>,
    /// The live loop's wake-ups (network events, stop).
    live: Option<UnboundedSender<Wake>>,
    _network: Option<NetworkListeners>,
}

impl Background {
    /// `presence`: the client's presence hub and its input, for the live sockets.
    pub fn start(engine: Rc<WebEngine>, settings: LoopSettings, presence: (Rc<PresenceHub>, UnboundedReceiver<Input>)) -> Self {
        let (wake, woken) = unbounded();
        let watching = presence.0.clone();
        let live = settings.live.map(|wait| {
            let (live, mut woken) = unbounded();
            let engine = engine.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let (hub, mut input) = presence;
                // Sockets where the server has them, else waiting syncs and presence over HTTP
                // (which ends with the live loop).
                if let Ended::Unsupported = crate::socket::run(engine.clone(), hub.clone(), &mut input, &mut woken, settings).await {
                    hub.mode.set(LiveMode::WaitingSyncs);
                    let presence = crate::presence_http::run(engine.clone(), hub, &mut input, wait, settings);
                    select(Box::pin(live_loop(engine, settings, wait, woken)), Box::pin(presence)).await;
                }
            });
            live
        });
        let network = NetworkListeners::install(std::iter::once(&wake).chain(&live).cloned().collect());
        let events = engine.subscribe();
        wasm_bindgen_futures::spawn_local(run(engine, settings, watching, events, woken));
        Self { wake, live, _network: network }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.wake.unbounded_send(Wake::Stop);
        if let Some(live) = &self.live {
            let _ = live.unbounded_send(Wake::Stop);
        }
    }
}

async fn run(engine: Rc<WebEngine>, settings: LoopSettings, hub: Rc<PresenceHub>, mut events: Subscription, mut woken: UnboundedReceiver<Wake>) {
    let mut failures: u32 = 0;
    let mut wait = Duration::ZERO;
    loop {
        let trigger = if failures == 0 {
            let inner = Box::pin(local_change_or_wake(&mut events, &mut woken));
            first(wait, inner).await
        } else {
            // Backing off: only the network coming back (or a stop) cuts the wait short.
            let inner = Box::pin(async { Trigger::Wake(woken.next().await.unwrap_or(Wake::Stop)) });
            first(wait, inner).await
        };
        match trigger {
            Trigger::Wake(Wake::Stop) => return,
            Trigger::Wake(Wake::Offline) if failures > 0 => continue,
            Trigger::Wake(Wake::Online) => failures = 0,
            Trigger::LocalChange => {
                if first(settings.debounce, Box::pin(async { Trigger::Wake(stop_only(&mut woken).await) })).await == Trigger::Wake(Wake::Stop) {
                    return;
                }
            }
            Trigger::Timer | Trigger::Wake(Wake::Offline) => {}
        }
        // Every change made up to now goes out with this run; later ones trigger the next.
        while events.try_next().is_some() {}
        let outcome = engine.sync_now().await;
        let interval = if hub.watching_all.get() && engine.all_watchable() { settings.interval_while_live.max(settings.interval) } else { settings.interval };
        wait = settings.backoff.after_run(&outcome, &mut failures, interval, random_jitter());
    }
}

/// Keeps a waiting sync open; pauses like the native live loop. Going offline aborts the
/// request in flight (its connection could outlive the network only in emulation) and waits
/// for `online`; a stop ends the loop.
async fn live_loop(engine: Rc<WebEngine>, settings: LoopSettings, wait: Duration, mut woken: UnboundedReceiver<Wake>) {
    let mut events = engine.subscribe();
    let mut failures: u32 = 0;
    loop {
        let started = js_sys::Date::now();
        let waited = match select(Box::pin(engine.wait_for_changes(wait)), woken.next()).await {
            Either::Left((waited, _)) => waited,
            // Dropping the wait aborts its request.
            Either::Right((wake, _)) => {
                if network_change(wake, &mut woken).await {
                    continue;
                }
                return;
            }
        };
        let elapsed = Duration::from_secs_f64(((js_sys::Date::now() - started) / 1000.0).max(0.0));
        let pause = settings.backoff.after_wait(&waited, elapsed, wait, &mut failures, settings.interval, random_jitter());
        if pause.is_zero() {
            continue;
        }
        // A sync run that succeeds (documents registered, the network back) is a reason to
        // look again before the pause is over.
        let resume = select(Box::pin(sleep(pause)), Box::pin(sync_succeeded(&mut events)));
        match select(resume, woken.next()).await {
            Either::Left((Either::Right((false, _)), _)) => return,
            Either::Left(_) => {}
            Either::Right((wake, _)) => {
                if !network_change(wake, &mut woken).await {
                    return;
                }
            }
        }
    }
}

/// After a wake-up: false on a stop; on `offline`, waits for `online` (false if stopped
/// meanwhile); true to go on.
pub(crate) async fn network_change(wake: Option<Wake>, woken: &mut UnboundedReceiver<Wake>) -> bool {
    let mut wake = wake;
    loop {
        match wake {
            None | Some(Wake::Stop) => return false,
            Some(Wake::Online) => return true,
            Some(Wake::Offline) => wake = woken.next().await,
        }
    }
}

/// Waits for a sync run to succeed; false when the engine is gone.
async fn sync_succeeded(events: &mut Subscription) -> bool {
    while let Some(event) = events.next().await {
        if matches!(event, Event::Status { status: SyncStatus::Synced, .. }) {
            return true;
        }
    }
    false
}

/// Whichever comes first: `wait` elapsing or `other`. The losing timer is cleared.
async fn first(wait: Duration, other: std::pin::Pin<Box<dyn std::future::Future<Output = Trigger> + '_>>) -> Trigger {
    match select(Box::pin(sleep(wait)), other).await {
        Either::Left(_) => Trigger::Timer,
        Either::Right((trigger, _)) => trigger,
    }
}

/// Waits for a stop; other wake-ups during a debounce are absorbed by the sync that follows.
async fn stop_only(woken: &mut UnboundedReceiver<Wake>) -> Wake {
    loop {
        match woken.next().await {
            None | Some(Wake::Stop) => return Wake::Stop,
            Some(_) => {}
        }
    }
}

async fn local_change_or_wake(events: &mut Subscription, woken: &mut UnboundedReceiver<Wake>) -> Trigger {
    let local = Box::pin(async {
        while let Some(event) = events.next().await {
            if matches!(event, Event::Changed { origin: ChangeOrigin::Local, .. } | Event::DocumentAdded { .. }) {
                return Trigger::LocalChange;
            }
        }
        Trigger::Wake(Wake::Stop)
    });
    let wake = Box::pin(async { Trigger::Wake(woken.next().await.unwrap_or(Wake::Stop)) });
    match select(local, wake).await {
        Either::Left((trigger, _)) | Either::Right((trigger, _)) => trigger,
    }
}

/// `online`/`offline` listeners on the global scope, removed on drop.
struct NetworkListeners {
    target: EventTarget,
    online: Closure<dyn FnMut()>,
    offline: Closure<dyn FnMut()>,
}

impl NetworkListeners {
    /// Installs the listeners where the global scope fires these events (not in Node); each
    /// event goes to every loop.
    fn install(wake: Vec<UnboundedSender<Wake>>) -> Option<Self> {
        let global = js_sys::global();
        if !Reflect::has(&global, &"ononline".into()).unwrap_or(false) {
            return None;
        }
        let target: EventTarget = global.dyn_into().ok()?;
        let sender = wake.clone();
        let online = Closure::<dyn FnMut()>::new(move || {
            for loop_ in &sender {
                let _ = loop_.unbounded_send(Wake::Online);
            }
        });
        let offline = Closure::<dyn FnMut()>::new(move || {
            for loop_ in &wake {
                let _ = loop_.unbounded_send(Wake::Offline);
            }
        });
        target.add_event_listener_with_callback("online", online.as_ref().unchecked_ref()).ok()?;
        target.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref()).ok()?;
        Some(Self { target, online, offline })
    }
}

impl Drop for NetworkListeners {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback("online", self.online.as_ref().unchecked_ref());
        let _ = self.target.remove_event_listener_with_callback("offline", self.offline.as_ref().unchecked_ref());
    }
}
