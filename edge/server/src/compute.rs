//! The `Compute` port on tokio's blocking pool: document loads and merges leave the async
//! workers free for other requests, and a panic in one fails only its request.

use edge_app::ports::compute::{Compute, Job};
use edge_app::ports::BoxFuture;

#[derive(Debug, Clone, Copy, Default)]
pub struct BlockingPool;

impl Compute for BlockingPool {
    fn run(&self, job: Job) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // A panic surfaces as a JoinError; the caller sees no result and answers 500.
            let _ = tokio::task::spawn_blocking(job).await;
        })
    }
}
