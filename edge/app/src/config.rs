//! Runtime configuration of the app, built by each host from its environment or bindings.

use crate::auth::AuthConfig;
use crate::http::CorsOrigins;

/// Request limits per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window; 0 disables rate limiting.
    pub requests: u32,
    pub window_secs: u32,
}

/// What one user or document may hold; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Documents one user may own.
    pub documents_per_user: u32,
    /// Bytes one document's stored state (snapshot and change rows) may reach; a push that
    /// would go past it is refused.
    pub bytes_per_document: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { documents_per_user: 10_000, bytes_per_document: 256 * 1024 * 1024 }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub auth: AuthConfig,
    /// Limits of the binary sync protocol (also bounds sync request bodies).
    pub sync_limits: sync_core::Limits,
    /// Largest JSON request body.
    pub max_json_bytes: usize,
    pub rate_limit: RateLimit,
    /// A document is compacted once its change log reaches this many rows.
    pub compaction_threshold: i64,
    /// How long Idempotency-Key records are kept.
    pub idempotency_ttl_secs: i64,
    /// Page size limit for list endpoints.
    pub max_page_size: i64,
    /// Web origins allowed to call the API from a browser (default: any).
    pub cors_origins: CorsOrigins,
    pub quotas: Quotas,
}

impl Config {
    pub fn new(auth: AuthConfig) -> Self {
        Self {
            auth,
            sync_limits: sync_core::Limits::DEFAULT,
            max_json_bytes: 64 * 1024,
            rate_limit: RateLimit { requests: 600, window_secs: 60 },
            compaction_threshold: 500,
            idempotency_ttl_secs: 24 * 3600,
            max_page_size: 200,
            cors_origins: CorsOrigins::Any,
            quotas: Quotas::default(),
        }
    }
}
