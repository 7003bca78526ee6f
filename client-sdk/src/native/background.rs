//! The automatic sync loops on tokio. One runs a sync when local changes happen (debounced)
//! and on an interval; after a failure it backs off exponentially with jitter, or as long as
//! the server's `Retry-After` says, ignoring triggers until then. The other brings
//! collaborators' changes as they are made: through the live channel (docs/protocol.md §11,
//! `socket`) where the server has one, else by keeping a waiting sync open (§10).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::NativeEngine;
use crate::backoff::{Backoff, random_jitter};
use crate::events::{ChangeOrigin, Event, Subscription, SyncStatus};

/// Settings of the background sync loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackgroundSync {
    /// Sync at least this often (pulls remote changes when nothing happens locally).
    pub interval: Duration,
    /// After a local change, wait this long for more before syncing, so bursts share a request.
    pub debounce: Duration,
    /// Retry policy after failures.
    pub backoff: Backoff,
    /// The interval while a live socket watches every document the server knows (the sync
    /// then only covers what a socket cannot see, e.g. commits made through a runtime whose
    /// sockets are not told of them): an idle client sends a request this often at most.
    pub interval_while_live: Duration,
    /// Live updates, so remote changes arrive as they are made (`None`: only the interval
    /// pulls them): the server's live channel when it has one, else a waiting sync of up to
    /// this long kept open while online (stay below the idle timeout of every proxy between
    /// the client and the server).
    pub live: Option<Duration>,
}

impl Default for BackgroundSync {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            interval_while_live: Duration::from_secs(300),
            debounce: Duration::from_millis(25),
            backoff: Backoff::default(),
            live: Some(Duration::from_secs(25)),
        }
    }
}

/// Starts the loops; they run until the handle is aborted.
pub(crate) fn spawn(engine: Arc<NativeEngine>, settings: BackgroundSync, mut presence: super::presence::PresenceLink) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mode = presence.mode.clone();
        let live = async {
            if let Some(wait) = settings.live
                && let super::socket::Ended::Unsupported = super::socket::run(&engine, &settings, &mut presence).await
            {
                presence.mode.set(super::presence::LiveMode::WaitingSyncs);
                tokio::join!(live_loop(&engine, wait, &settings), super::presence::over_http(&engine, &mut presence, wait, &settings));
            }
        };
        tokio::join!(push_loop(&engine, &settings, &mode), live);
    })
}

/// Syncs after local changes and on the interval.
async fn push_loop(engine: &NativeEngine, settings: &BackgroundSync, mode: &super::presence::ModeCell) {
    let mut events = engine.subscribe();
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
        let interval = if mode.watching_all() && engine.all_watchable() { settings.interval_while_live.max(settings.interval) } else { settings.interval };
        wait = settings.backoff.after_run(&outcome, &mut failures, interval, random_jitter());
    }
}

/// Keeps a waiting sync open; backs off after failures like the push loop.
async fn live_loop(engine: &NativeEngine, wait: Duration, settings: &BackgroundSync) {
    let mut events = engine.subscribe();
    let mut failures: u32 = 0;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = engine.wait_for_changes(wait).await;
        let pause = settings.backoff.after_wait(&outcome, started.elapsed(), wait, &mut failures, settings.interval, random_jitter());
        if pause.is_zero() {
            continue;
        }
        // A sync run that ends (documents registered, the network back) is a reason to look
        // again before the pause is over.
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            more = sync_finished(&mut events) => if !more { return },
        }
    }
}

/// Waits for a sync run to succeed; false when the engine is gone.
async fn sync_finished(events: &mut Subscription) -> bool {
    while let Some(event) = events.next().await {
        if matches!(event, Event::Status { status: SyncStatus::Synced, .. }) {
            return true;
        }
    }
    false
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
