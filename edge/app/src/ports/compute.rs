//! Where CPU-heavy work runs (loading and merging a large document).
//!
//! A wasm edge serves one request per instance or isolate, so running it inline is right
//! there. The native server runs many requests on a few async worker threads; it moves such
//! work to a blocking pool so one large document cannot stall every other request, and a
//! panic inside it (automerge panics on some crafted changes) fails that request alone.

use std::sync::{Arc, Mutex};

use super::BoxFuture;

/// A unit of CPU work.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

pub trait Compute: Send + Sync + 'static {
    /// Runs `job` to completion. The future resolves when it has finished, or has panicked.
    fn run(&self, job: Job) -> BoxFuture<'static, ()>;
}

/// Runs jobs on the calling task (wasm edges, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl Compute for Inline {
    fn run(&self, job: Job) -> BoxFuture<'static, ()> {
        job();
        Box::pin(std::future::ready(()))
    }
}

/// Runs `f` on the calling task unless `heavy`, else through `compute`; its result, or `None`
/// if it panicked. For work whose cost the caller has bounded (a small document): handing a
/// job to a pool costs two thread switches, more than such a job.
pub async fn offload_if<T: Send + 'static>(compute: &dyn Compute, heavy: bool, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    if heavy { offload(compute, f).await } else { std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok() }
}

/// Runs `f` through `compute` and returns its result, or `None` if it panicked.
pub async fn offload<T: Send + 'static>(compute: &dyn Compute, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    compute
        .run(Box::new(move || {
            let value = f();
            if let Ok(mut out) = out.lock() {
                *out = Some(value);
            }
        }))
        .await;
    slot.lock().ok()?.take()
}
