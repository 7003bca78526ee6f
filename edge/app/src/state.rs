//! The state every handler shares: the store, the ports and the configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, Compute, Database, Inline, NoWaiting, Random, UnixMillis, Wakeups};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Where document loads and merges run (inline unless the host says otherwise).
    pub compute: Arc<dyn Compute>,
    /// How waiting syncs wait for a change (none unless the host says otherwise).
    pub wakeups: Arc<dyn Wakeups>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(db: Arc<dyn Database>, clock: Arc<dyn Clock>, random: Arc<dyn Random>, config: Config) -> Self {
        Self { store: Store::new(db), clock, random, compute: Arc::new(Inline), wakeups: Arc::new(NoWaiting), config: Arc::new(config) }
    }

    /// Runs document loads and merges on `compute` (the native server's blocking pool).
    pub fn with_compute(mut self, compute: Arc<dyn Compute>) -> Self {
        self.compute = compute;
        self
    }

    /// Lets syncs wait for changes (`?wait_ms=`) with the host's timer.
    pub fn with_wakeups(mut self, wakeups: Arc<dyn Wakeups>) -> Self {
        self.wakeups = wakeups;
        self
    }

    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// `n` random bytes as lowercase hex (ids, request ids).
    pub fn random_hex(&self, n: usize) -> String {
        let mut buf = vec![0u8; n];
        self.random.fill(&mut buf);
        hex::encode(buf)
    }
}
