//! The state every handler shares: the store, the ports and the configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, Compute, Database, Inline, Random, UnixMillis};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    /// Where document loads and merges run (inline unless the host says otherwise).
    pub compute: Arc<dyn Compute>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(db: Arc<dyn Database>, clock: Arc<dyn Clock>, random: Arc<dyn Random>, config: Config) -> Self {
        Self { store: Store::new(db), clock, random, compute: Arc::new(Inline), config: Arc::new(config) }
    }

    /// Runs document loads and merges on `compute` (the native server's blocking pool).
    pub fn with_compute(mut self, compute: Arc<dyn Compute>) -> Self {
        self.compute = compute;
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
