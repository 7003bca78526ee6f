//! Waiting syncs on Workers: `setTimeout` (worker's `Delay`). An isolate shares nothing with
//! the others serving the same API, so a waiting sync learns of commits only by re-reading
//! the database on its poll interval. Waiting costs wall time, not CPU time (what Workers
//! bill and limit).
//!
//! The request's announcements (commits, membership changes) are kept for the fetch handler,
//! which passes them to the documents' objects after the response (`room::notify`).

use std::sync::Mutex;
use std::time::Duration;

use edge_app::ports::{BoxFuture, Wakeups};
use worker::send::SendFuture;

#[derive(Default)]
pub struct WorkerTimer {
    announced: Mutex<Announced>,
}

/// Documents a request committed to, and documents whose memberships it changed.
#[derive(Default)]
pub struct Announced {
    pub committed: Vec<String>,
    pub access: Vec<String>,
}

impl WorkerTimer {
    pub fn take(&self) -> Announced {
        std::mem::take(&mut *self.announced.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, add: impl FnOnce(&mut Announced)) {
        add(&mut self.announced.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl Wakeups for WorkerTimer {
    fn wait(&self, _doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        // `SendFuture`: a Worker runs on one thread, as for the database's futures.
        Box::pin(SendFuture::new(worker::Delay::from(max)))
    }

    fn announce(&self, doc_ids: &[String]) {
        self.record(|a| a.committed.extend_from_slice(doc_ids));
    }

    fn announce_access(&self, doc_ids: &[String]) {
        self.record(|a| a.access.extend_from_slice(doc_ids));
    }
}
