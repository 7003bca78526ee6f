//! Waiting for a document to change, for long-poll syncs (`?wait_ms=`, docs/protocol.md
//! "Live updates").
//!
//! A waiting sync re-reads its documents' heads from the database every poll interval, so a
//! commit made at any edge sharing the database is seen; that is the whole contract, and it
//! needs nothing from process memory. A host may also wake waiters early when a commit
//! happens in its own process (the native server does), which makes updates between clients
//! of one node immediate. A host that cannot wait at all keeps [`NoWaiting`]: waiting syncs
//! then answer at once, as a plain sync does.

use std::time::Duration;

use super::BoxFuture;

pub trait Wakeups: Send + Sync + 'static {
    /// False when the host cannot wait: a sync asking to wait answers at once.
    fn can_wait(&self) -> bool {
        true
    }

    /// Resolves after `max`, or earlier when [`Wakeups::announce`] names one of `doc_ids`
    /// (in this process), or when the host is shutting down.
    fn wait(&self, doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()>;

    /// Tells this process's waiters that `doc_ids` changed. Waiters elsewhere find out on
    /// their next poll of the database.
    fn announce(&self, _doc_ids: &[String]) {}

    /// [`Wakeups::announce`] for a commit that moved `doc_id`'s heads from `before` to `after`
    /// (comma-separated, as [`sync_core::Heads`] prints them): a host that announces heads may
    /// take them from here instead of reading them again. They are only what this commit saw:
    /// another commit to the document may have come in between (a host relies on them only
    /// when it last knew exactly `before`).
    fn announce_moved(&self, doc_id: &str, _before: &str, _after: &str) {
        self.announce(&[doc_id.to_owned()]);
    }

    /// Tells this host that who may read `doc_ids` changed (a member removed, a document
    /// deleted): live connections check again at once instead of at their next periodic
    /// check, and waiting syncs answer. Elsewhere, waiters find out on their next poll.
    fn announce_access(&self, _doc_ids: &[String]) {}

    /// Like [`Wakeups::wait`], for a presence read (docs/protocol.md §10.1): resolves early
    /// when [`Wakeups::announce_presence`] names one of `doc_ids`, never for a commit (and
    /// presence never wakes a waiting sync).
    fn wait_presence(&self, doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        self.wait(doc_ids, max)
    }

    /// Tells this process's waiting presence reads that `doc_ids` have a new message. Readers
    /// elsewhere find it on their next poll of the database.
    fn announce_presence(&self, _doc_ids: &[String]) {}
}

/// A host without a timer: nothing waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWaiting;

impl Wakeups for NoWaiting {
    fn can_wait(&self) -> bool {
        false
    }

    fn wait(&self, _doc_ids: &[String], _max: Duration) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}
