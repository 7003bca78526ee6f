//! The `Compute` port on tokio's blocking pool: document loads and merges leave the async
//! workers free for other requests, and a panic in one fails only its request.
//!
//! At most a fixed number of jobs run at once (by default twice the CPUs); the rest wait
//! their turn. tokio's blocking pool would otherwise start up to 512 threads, each holding a
//! loaded document, so a burst of large merges could exhaust memory instead of queueing.

use std::sync::Arc;

use edge_app::ports::BoxFuture;
use edge_app::ports::compute::{Compute, Job};
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
pub struct BlockingPool {
    permits: Arc<Semaphore>,
}

impl BlockingPool {
    /// A pool running at most `max_jobs` jobs at a time.
    pub fn new(max_jobs: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(max_jobs.max(1))) }
    }
}

impl Default for BlockingPool {
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()) * 2)
    }
}

impl Compute for BlockingPool {
    fn run(&self, job: Job) -> BoxFuture<'static, ()> {
        let permits = self.permits.clone();
        Box::pin(async move {
            // The semaphore is never closed, so this only waits for a free slot.
            let Ok(_permit) = permits.acquire_owned().await else { return };
            // A panic surfaces as a JoinError; the caller sees no result.
            let _ = tokio::task::spawn_blocking(job).await;
        })
    }
}
