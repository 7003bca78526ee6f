//! The state every handler shares: the store, the ports and the configuration.

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{Clock, Compute, Database, HttpGet, Inline, NoHttp, NoWaiting, Random, UnixMillis, Wakeups};
use crate::service::loaded::LoadedDocs;
use crate::service::provider_keys::ProviderKeyCache;
use crate::service::tails::Tails;
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
    /// Outbound HTTP, for the identity provider's keys (none unless the host says otherwise).
    pub http: Arc<dyn HttpGet>,
    /// The identity provider's keys at hand (see [`ProviderKeyCache`]).
    pub provider_keys: Arc<ProviderKeyCache>,
    /// Documents kept loaded for automerge-repo connections (a cache; see [`LoadedDocs`]).
    pub loaded: Arc<LoadedDocs>,
    /// Documents' newest changes kept for the HTTP sync's fast path (a cache; see [`Tails`]).
    pub tails: Arc<Tails>,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(db: Arc<dyn Database>, clock: Arc<dyn Clock>, random: Arc<dyn Random>, config: Config) -> Self {
        Self {
            store: Store::new(db),
            clock,
            random,
            compute: Arc::new(Inline),
            wakeups: Arc::new(NoWaiting),
            http: Arc::new(NoHttp),
            provider_keys: Arc::default(),
            loaded: Arc::default(),
            tails: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// Runs document loads and merges on `compute` (the native server's blocking pool).
    pub fn with_compute(mut self, compute: Arc<dyn Compute>) -> Self {
        self.compute = compute;
        self
    }

    /// Keeps documents loaded for automerge-repo connections, taking up to `max_memory` bytes
    /// (estimated, see [`LoadedDocs`]).
    pub fn with_loaded_docs(mut self, max_memory: u64) -> Self {
        self.loaded = Arc::new(LoadedDocs::new(max_memory));
        self
    }

    /// Keeps documents' newest changes in `tails` (one the host keeps across requests where it
    /// can; see [`Tails`]).
    pub fn with_tails(mut self, tails: Arc<Tails>) -> Self {
        self.tails = tails;
        self
    }

    /// Lets syncs wait for changes (`?wait_ms=`) with the host's timer.
    pub fn with_wakeups(mut self, wakeups: Arc<dyn Wakeups>) -> Self {
        self.wakeups = wakeups;
        self
    }

    /// Fetches the identity provider's keys (`JWT_JWKS_URL`) with the host's HTTP client, and
    /// keeps them in `cache` (one the host keeps across requests where it can).
    pub fn with_http(mut self, http: Arc<dyn HttpGet>, cache: Arc<ProviderKeyCache>) -> Self {
        self.http = http;
        self.provider_keys = cache;
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
