//! The automatic sync loop on tokio: runs a sync when local changes happen (debounced) and
//! on an interval; after a failure it backs off exponentially with jitter, or as long as the
//! server's `Retry-After` says, ignoring triggers until then.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::NativeEngine;
use crate::backoff::{Backoff, random_jitter};
use crate::events::{ChangeOrigin, Event, Subscription};

/// Settings of the background sync loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackgroundSync {
    /// Sync at least this often (pulls remote changes when nothing happens locally).
    pub interval: Duration,
    /// After a local change, wait this long for more before syncing, so bursts share a request.
    pub debounce: Duration,
    /// Retry policy after failures.
    pub backoff: Backoff,
}

impl Default for BackgroundSync {
    fn default() -> Self {
        Self { interval: Duration::from_secs(30), debounce: Duration::from_millis(25), backoff: Backoff::default() }
    }
}

/// Starts the loop; it runs until the handle is aborted.
pub(crate) fn spawn(engine: Arc<NativeEngine>, settings: BackgroundSync) -> JoinHandle<()> {
    let mut events = engine.subscribe();
    tokio::spawn(async move {
        let mut failures: u32 = 0;
        let mut wait = Duration::ZERO;
        loop {
            if failures == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    more = local_change(&mut events) => {
                        if !more {
                            return;
                        }
                        tokio::time::sleep(settings.debounce).await;
                    }
                }
            } else {
                // Backing off: local changes wait for the retry like everything else.
                tokio::time::sleep(wait).await;
            }
            // Every change made up to now goes out with this run; later ones trigger the next.
            while events.try_next().is_some() {}
            let outcome = engine.sync_now().await;
            wait = settings.backoff.after_run(&outcome, &mut failures, settings.interval, random_jitter());
        }
    })
}

/// Waits for a local change or a new document; false when the engine is gone.
async fn local_change(events: &mut Subscription) -> bool {
    while let Some(event) = events.next().await {
        if matches!(event, Event::Changed { origin: ChangeOrigin::Local, .. } | Event::DocumentAdded { .. }) {
            return true;
        }
    }
    false
}

