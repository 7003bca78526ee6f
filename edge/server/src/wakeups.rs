//! Waiting syncs on tokio: a timer, woken early by commits made in this process.
//!
//! Commits are broadcast as the ids they wrote; each waiting sync checks whether one of its
//! documents is among them. Missing a broadcast (a burst larger than the channel) only wakes
//! the waiter, which then re-reads the database — the source of truth, and the only way it
//! learns of commits made by other nodes (on its poll interval).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edge_app::ports::{BoxFuture, Wakeups};
use tokio::sync::broadcast::{self, error::RecvError};

/// Commits announced but not yet seen by a slow waiter before it lags (and re-reads).
const CHANNEL: usize = 1024;

#[derive(Debug, Clone)]
enum Wake {
    Committed(Arc<[String]>),
    Moved(Arc<Moved>),
    AccessChanged(Arc<[String]>),
    ShuttingDown,
}

pub struct LocalWakeups {
    tx: broadcast::Sender<Wake>,
    /// Presence sent over HTTP: wakes waiters only, on its own channel so that a burst of it
    /// never makes the live channel's watcher lag behind commits.
    presence: broadcast::Sender<Arc<[String]>>,
    stopping: AtomicBool,
}

impl Default for LocalWakeups {
    fn default() -> Self {
        Self { tx: broadcast::channel(CHANNEL).0, presence: broadcast::channel(CHANNEL).0, stopping: AtomicBool::new(false) }
    }
}

impl LocalWakeups {
    /// Resolves when `woken` does, after `max`, or at once when the host cannot wait (checked
    /// after the caller subscribed to what wakes it, so nothing announced between is missed).
    fn until(&self, max: Duration, woken: impl Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
        if !self.can_wait() {
            return Box::pin(std::future::ready(()));
        }
        Box::pin(async move {
            let _ = tokio::time::timeout(max, woken).await;
        })
    }

    /// Every commit made in this process from now on (the live channel's push).
    pub fn commits(&self) -> Commits {
        Commits(self.tx.subscribe())
    }

    /// Wakes every waiting sync and lets no new one wait, so shutdown drains at once.
    pub fn shut_down(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Wake::ShuttingDown);
    }
}

impl Wakeups for LocalWakeups {
    fn can_wait(&self) -> bool {
        !self.stopping.load(Ordering::SeqCst)
    }

    fn wait(&self, doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        let mut rx = self.tx.subscribe();
        let ids: HashSet<String> = doc_ids.iter().cloned().collect();
        self.until(max, async move {
            loop {
                match rx.recv().await {
                    Ok(Wake::Committed(touched) | Wake::AccessChanged(touched)) if touched.iter().any(|id| ids.contains(id)) => return,
                    Ok(Wake::Moved(moved)) if ids.contains(&moved.id) => return,
                    Ok(Wake::Committed(_) | Wake::AccessChanged(_) | Wake::Moved(_)) => {}
                    Ok(Wake::ShuttingDown) | Err(RecvError::Lagged(_)) => return,
                    // The sender lives as long as the state: only the timer is left.
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
    }

    fn wait_presence(&self, doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        let (mut rx, mut presence) = (self.tx.subscribe(), self.presence.subscribe());
        let ids: HashSet<String> = doc_ids.iter().cloned().collect();
        self.until(max, async move {
            loop {
                tokio::select! {
                    sent = presence.recv() => match sent {
                        Ok(touched) if touched.iter().any(|id| ids.contains(id)) => return,
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => return,
                        Err(RecvError::Closed) => std::future::pending().await,
                    },
                    // Only the shutdown matters on this channel.
                    wake = rx.recv() => if matches!(wake, Ok(Wake::ShuttingDown)) { return },
                }
            }
        })
    }

    fn announce(&self, doc_ids: &[String]) {
        // No receiver (nobody waiting) is the common case, not an error.
        let _ = self.tx.send(Wake::Committed(doc_ids.into()));
    }

    fn announce_moved(&self, doc_id: &str, before: &str, after: &str) {
        let _ = self.tx.send(Wake::Moved(Arc::new(Moved { id: doc_id.to_owned(), before: before.to_owned(), after: after.to_owned() })));
    }

    fn announce_access(&self, doc_ids: &[String]) {
        let _ = self.tx.send(Wake::AccessChanged(doc_ids.into()));
    }

    fn announce_presence(&self, doc_ids: &[String]) {
        let _ = self.presence.send(doc_ids.into());
    }
}

/// What [`Commits::next`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// A commit in this process wrote these documents.
    Committed(Vec<String>),
    /// A commit in this process moved one document's heads (see [`Wakeups::announce_moved`]).
    Moved(Arc<Moved>),
    /// Who may read these documents changed.
    AccessChanged(Vec<String>),
    /// Some announcements were missed (a burst larger than the channel): re-read everything.
    Lagged,
}

/// A commit's document and its heads before and after (comma-separated, as
/// [`sync_core::Heads`] prints them).
#[derive(Debug, PartialEq, Eq)]
pub struct Moved {
    pub id: String,
    pub before: String,
    pub after: String,
}

/// The document ids of this process's commits, as they happen (see [`LocalWakeups::commits`]).
pub struct Commits(broadcast::Receiver<Wake>);

impl Commits {
    /// The next announcement if one is waiting already: `None` when none is; `Some(None)`
    /// once the server is shutting down.
    pub fn try_next(&mut self) -> Option<Option<Seen>> {
        match self.0.try_recv() {
            Ok(wake) => Some(Self::seen(wake)),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Some(Seen::Lagged)),
            Err(broadcast::error::TryRecvError::Empty) => None,
            Err(broadcast::error::TryRecvError::Closed) => Some(None),
        }
    }

    fn seen(wake: Wake) -> Option<Seen> {
        match wake {
            Wake::Committed(ids) => Some(Seen::Committed(ids.to_vec())),
            Wake::Moved(moved) => Some(Seen::Moved(moved)),
            Wake::AccessChanged(ids) => Some(Seen::AccessChanged(ids.to_vec())),
            Wake::ShuttingDown => None,
        }
    }

    /// The next announcement; `None` once the server is shutting down.
    pub async fn next(&mut self) -> Option<Seen> {
        match self.0.recv().await {
            Ok(wake) => Self::seen(wake),
            Err(RecvError::Lagged(_)) => Some(Seen::Lagged),
            Err(RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_commit_to_a_watched_document_wakes_only_its_waiters() {
        let wakeups = Arc::new(LocalWakeups::default());
        let mine = tokio::spawn(wakeups.wait(&["a".into(), "b".into()], Duration::from_secs(30)));
        let other = tokio::spawn(wakeups.wait(&["c".into()], Duration::from_millis(300)));
        let started = Instant::now();
        wakeups.announce(&["b".into()]);
        mine.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "woken by the commit, not the timer");
        other.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "a commit to another document does not wake a waiter");
    }

    #[tokio::test]
    async fn presence_wakes_only_its_documents_presence_readers() {
        let wakeups = Arc::new(LocalWakeups::default());
        let mut commits = wakeups.commits();
        let reader = tokio::spawn(wakeups.wait_presence(&["a".into()], Duration::from_secs(30)));
        let other_reader = tokio::spawn(wakeups.wait_presence(&["b".into()], Duration::from_millis(300)));
        let waiting_sync = tokio::spawn(wakeups.wait(&["a".into()], Duration::from_millis(300)));
        let started = Instant::now();
        wakeups.announce(&["a".into()]);
        wakeups.announce_presence(&["a".into()]);
        reader.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "woken by the presence, not the timer");
        other_reader.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "presence and commits to another document do not wake a reader");
        waiting_sync.await.unwrap();
        assert_eq!(commits.next().await, Some(Seen::Committed(vec!["a".into()])), "the live channel's watcher hears the commit");
        let sync_only = tokio::spawn(wakeups.wait(&["a".into()], Duration::from_millis(300)));
        let started = Instant::now();
        wakeups.announce_presence(&["a".into()]);
        sync_only.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "presence never wakes a waiting sync");
        let reader_only = tokio::spawn(wakeups.wait_presence(&["a".into()], Duration::from_millis(300)));
        let started = Instant::now();
        wakeups.announce(&["a".into()]);
        reader_only.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "a commit never wakes a presence reader");
    }

    #[tokio::test]
    async fn announcements_waiting_already_are_taken_without_waiting() {
        let wakeups = LocalWakeups::default();
        let mut commits = wakeups.commits();
        assert!(commits.try_next().is_none(), "nothing announced yet");
        wakeups.announce(&["a".into()]);
        wakeups.announce_access(&["b".into()]);
        assert_eq!(commits.try_next(), Some(Some(Seen::Committed(vec!["a".into()]))));
        assert_eq!(commits.try_next(), Some(Some(Seen::AccessChanged(vec!["b".into()]))));
        assert!(commits.try_next().is_none());
        wakeups.shut_down();
        assert_eq!(commits.try_next(), Some(None));
    }

    #[tokio::test]
    async fn a_commit_reported_with_its_heads_wakes_waiters_and_reaches_the_watcher_with_them() {
        let wakeups = Arc::new(LocalWakeups::default());
        let mut commits = wakeups.commits();
        let waiting = tokio::spawn(wakeups.wait(&["a".into()], Duration::from_secs(30)));
        let started = Instant::now();
        wakeups.announce_moved("a", "h1", "h2,h3");
        waiting.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "woken by the commit, not the timer");
        let moved = Moved { id: "a".into(), before: "h1".into(), after: "h2,h3".into() };
        assert_eq!(commits.try_next(), Some(Some(Seen::Moved(Arc::new(moved)))));
    }

    #[tokio::test]
    async fn shutting_down_wakes_waiters_and_stops_new_waits() {
        let wakeups = Arc::new(LocalWakeups::default());
        let waiting = tokio::spawn(wakeups.wait(&["a".into()], Duration::from_secs(30)));
        let started = Instant::now();
        wakeups.shut_down();
        waiting.await.unwrap();
        assert!(!wakeups.can_wait());
        wakeups.wait(&["a".into()], Duration::from_secs(30)).await;
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
