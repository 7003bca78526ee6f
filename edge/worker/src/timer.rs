//! Waiting syncs on Workers: `setTimeout` (worker's `Delay`). An isolate shares nothing with
//! the others serving the same API, so a waiting sync learns of commits only by re-reading
//! the database on its poll interval. Waiting costs wall time, not CPU time (what Workers
//! bill and limit).

use std::time::Duration;

use edge_app::ports::{BoxFuture, Wakeups};
use worker::send::SendFuture;

pub struct WorkerTimer;

impl Wakeups for WorkerTimer {
    fn wait(&self, _doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        // `SendFuture`: a Worker runs on one thread, as for the database's futures.
        Box::pin(SendFuture::new(worker::Delay::from(max)))
    }
}
