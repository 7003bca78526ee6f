//! Presence over plain HTTP while the server has no sockets (docs/protocol.md §10.1, a server
//! run without them, as on Spin): the app's `setPresence` becomes a `POST` (the latest value
//! per document, paced), and a waiting `GET` is kept open while the app listens
//! (`onPresence`), no request otherwise.

use std::rc::Rc;
use std::time::Duration;

use edgesync_client::backoff::{PRESENCE_IDLE_LOOK, random_jitter};
use edgesync_client::{LatestPresence, PresenceCursor};
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use gloo_timers::future::sleep;

use crate::client::WebEngine;
use crate::options::LoopSettings;
use crate::socket::{Input, PresenceHub};

/// Runs until dropped (the live loop's end drops it).
pub async fn run(engine: Rc<WebEngine>, hub: Rc<PresenceHub>, input: &mut UnboundedReceiver<Input>, wait: Duration, settings: LoopSettings) {
    let cursor = PresenceCursor::new();
    let sending = async {
        while let Some(event) = input.next().await {
            let mut latest = LatestPresence::default();
            for event in std::iter::once(event).chain(std::iter::from_fn(|| input.try_recv().ok())) {
                if let Input::Presence(doc, data) = event {
                    latest.keep(doc, data);
                }
            }
            for (doc, data) in latest.into_sends() {
                let sent = engine.send_presence(&cursor, doc, &data).await;
                sleep(settings.backoff.after_presence_send(&sent, random_jitter())).await;
            }
        }
    };
    let reading = async {
        let mut cursor = cursor.clone();
        let mut failures = 0;
        loop {
            if !hub.has_listeners() {
                sleep(PRESENCE_IDLE_LOOK).await;
                continue;
            }
            let started = js_sys::Date::now();
            let outcome = engine.read_presence(&mut cursor, wait).await;
            if let Ok(Some(read)) = &outcome {
                for p in &read.heard {
                    hub.deliver(p);
                }
            }
            let elapsed = Duration::from_millis((js_sys::Date::now() - started).max(0.0) as u64);
            sleep(settings.backoff.after_presence_read(&outcome, elapsed, wait, &mut failures, settings.interval, random_jitter())).await;
        }
    };
    futures_util::future::join(Box::pin(sending), Box::pin(reading)).await;
}
