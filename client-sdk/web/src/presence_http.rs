//! Presence over plain HTTP while the server has no sockets (docs/protocol.md §10.1, a server
//! run without them, as on Spin): the app's `setPresence` becomes a `POST`, and a waiting
//! `GET` is kept open while the app listens (`onPresence`), no request otherwise.

use std::rc::Rc;
use std::time::Duration;

use edgesync_client::backoff::random_jitter;
use edgesync_client::{DocumentId, PresenceCursor, SyncError};
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::StreamExt;
use gloo_timers::future::sleep;

use crate::client::WebEngine;
use crate::options::LoopSettings;
use crate::socket::{Input, PresenceHub};

/// How often the reader looks again for a listener or a document to read.
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// Sends go out at most this often (the server takes 20 per second per user).
const SEND_PACE: Duration = Duration::from_millis(100);

/// The latest presence per document, in the order the documents were first set.
#[derive(Default)]
struct Latest(Vec<(DocumentId, String)>);

impl Latest {
    fn keep(&mut self, event: Input) {
        if let Input::Presence(doc, data) = event {
            match self.0.iter_mut().find(|(d, _)| *d == doc) {
                Some(entry) => entry.1 = data,
                None => self.0.push((doc, data)),
            }
        }
    }
}

/// Runs until dropped (the live loop's end drops it).
pub async fn run(engine: Rc<WebEngine>, hub: Rc<PresenceHub>, input: &mut UnboundedReceiver<Input>, wait: Duration, settings: LoopSettings) {
    let cursor = PresenceCursor::new();
    let sending = async {
        while let Some(event) = input.next().await {
            // What the app set meanwhile: only the latest per document goes out.
            let mut latest = Latest::default();
            latest.keep(event);
            while let Ok(event) = input.try_recv() {
                latest.keep(event);
            }
            for (doc, data) in latest.0 {
                // Best effort: a lost message is replaced by the app's next one.
                let _ = engine.send_presence(&cursor, doc, &data).await;
            }
            sleep(SEND_PACE).await;
        }
    };
    let reading = async {
        let mut cursor = cursor.clone();
        let mut failures = 0;
        loop {
            if !hub.has_listeners() {
                sleep(IDLE_LOOK).await;
                continue;
            }
            let started = js_sys::Date::now();
            match engine.read_presence(&mut cursor, wait).await {
                Ok(Some(heard)) => {
                    failures = 0;
                    let quiet = heard.is_empty();
                    for p in &heard {
                        hub.deliver(p);
                    }
                    // An empty answer long before the wait ended (a server that cannot wait).
                    if quiet && js_sys::Date::now() - started < wait.as_millis() as f64 / 2.0 {
                        sleep(IDLE_LOOK).await;
                    }
                }
                Ok(None) => sleep(IDLE_LOOK).await,
                Err(e) => {
                    failures += 1;
                    let retry_after = match e {
                        SyncError::RateLimited { retry_after } | SyncError::Unavailable { retry_after, .. } => retry_after,
                        _ => None,
                    };
                    sleep(settings.backoff.delay(failures, retry_after, random_jitter())).await;
                }
            }
        }
    };
    futures_util::future::join(Box::pin(sending), Box::pin(reading)).await;
}
