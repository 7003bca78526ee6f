//! Runtime configuration of the app, built by each host from its environment or bindings.

use crate::auth::{AuthConfig, KeySources};
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
    /// How often a waiting sync re-reads its documents' heads from the database.
    pub wait_poll_ms: u32,
    /// The longest a sync may wait for a change (`?wait_ms=` is clamped to it).
    pub max_wait_ms: u32,
    /// Workers: how often a document's object with live sockets re-reads the document's heads,
    /// so commits made through other runtimes sharing the database reach its sockets (0: never;
    /// commits through Workers are announced without it).
    pub live_poll_ms: u32,
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
            wait_poll_ms: 1_000,
            max_wait_ms: 30_000,
            live_poll_ms: 0,
        }
    }
}

/// What an edge (Worker, Spin) reads from its configuration by name: the app's [`Config`] and
/// how to reach libSQL. One loader over a lookup function, so every host honours the same
/// names (docs/configuration.md); the native server takes the same names as its flags'
/// environment variables (`edgesync --help`).
#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub config: Config,
    /// `LIBSQL_URL`: the primary, or a sqld replica near the edge.
    pub libsql_url: String,
    /// `LIBSQL_AUTH_TOKEN` (empty for an open sqld).
    pub libsql_auth_token: String,
    /// `LIBSQL_TIMEOUT_MS`: how long a database request may take before the API answers 503.
    pub libsql_timeout_ms: u32,
}

impl EdgeSettings {
    pub const DEFAULT_DB_TIMEOUT_MS: u32 = 10_000;

    /// Reads every setting through `lookup` (empty values count as unset), or says which one
    /// is missing or does not parse.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let (secret, ed25519, jwks) = (var("JWT_HS256_SECRET"), var("JWT_ED25519_PUBLIC_KEYS"), var("JWT_JWKS"));
        let jwks_url = var("JWT_JWKS_URL");
        let sources = KeySources {
            hs256_secret: secret.as_deref(),
            ed25519_public_keys: ed25519.as_deref(),
            jwks: jwks.as_deref(),
            jwks_url: jwks_url.as_deref(),
        };
        let mut auth = AuthConfig::from_sources(&required("JWT_ISSUER")?, &required("JWT_AUDIENCE")?, sources)
            .map_err(|e| format!("JWT configuration: {e}"))?;
        if let Some(claim) = var("JWT_USER_CLAIM") {
            auth = auth.with_user_claim(&claim).map_err(|e| format!("JWT configuration: {e}"))?;
        }
        if let Some(secs) = parsed::<u32>(&var, "JWT_JWKS_MIN_REFRESH_SECS")? {
            auth = auth.with_jwks_min_refresh_secs(secs);
        }
        let mut config = Config::new(auth);
        if let Some(n) = parsed(&var, "EDGESYNC_RATE_LIMIT")? {
            config.rate_limit.requests = n;
        }
        if let Some(n) = parsed(&var, "EDGESYNC_COMPACTION_THRESHOLD")? {
            config.compaction_threshold = n;
        }
        if let Some(origins) = parsed(&var, "EDGESYNC_CORS_ORIGINS")? {
            config.cors_origins = origins;
        }
        if let Some(n) = parsed(&var, "EDGESYNC_MAX_DOCS_PER_USER")? {
            config.quotas.documents_per_user = n;
        }
        if let Some(n) = parsed(&var, "EDGESYNC_MAX_DOC_BYTES")? {
            config.quotas.bytes_per_document = n;
        }
        if let Some(n) = parsed::<u32>(&var, "EDGESYNC_WAIT_POLL_MS")? {
            config.wait_poll_ms = n.max(1);
        }
        if let Some(n) = parsed::<u32>(&var, "EDGESYNC_LIVE_POLL_MS")? {
            config.live_poll_ms = n;
        }
        Ok(EdgeSettings {
            config,
            libsql_url: required("LIBSQL_URL")?,
            libsql_auth_token: var("LIBSQL_AUTH_TOKEN").unwrap_or_default(),
            libsql_timeout_ms: parsed(&var, "LIBSQL_TIMEOUT_MS")?.unwrap_or(Self::DEFAULT_DB_TIMEOUT_MS),
        })
    }
}

fn parsed<T: std::str::FromStr>(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    var(name).map(|v| v.trim().parse().map_err(|e| format!("{name}: {e}"))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::CorsOrigins;

    fn settings(vars: &[(&str, &str)]) -> Result<EdgeSettings, String> {
        let base = [("JWT_ISSUER", "iss"), ("JWT_AUDIENCE", "aud"), ("JWT_HS256_SECRET", "0123456789abcdef0123456789abcdef"), ("LIBSQL_URL", "http://db")];
        let all: Vec<(&str, &str)> = base.iter().chain(vars).copied().collect();
        // Later entries win, as a host's override would.
        EdgeSettings::from_vars(|name| all.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn every_edge_setting_is_read() {
        let s = settings(&[
            ("EDGESYNC_RATE_LIMIT", "7"),
            ("EDGESYNC_COMPACTION_THRESHOLD", "42"),
            ("EDGESYNC_CORS_ORIGINS", "https://app.example"),
            ("EDGESYNC_MAX_DOCS_PER_USER", "3"),
            ("EDGESYNC_MAX_DOC_BYTES", "1024"),
            ("EDGESYNC_WAIT_POLL_MS", "50"),
            ("EDGESYNC_LIVE_POLL_MS", "2000"),
            ("JWT_USER_CLAIM", "uid"),
            ("JWT_JWKS_URL", "https://id.example/.well-known/jwks.json"),
            ("JWT_JWKS_MIN_REFRESH_SECS", "7"),
            ("LIBSQL_AUTH_TOKEN", "t"),
            ("LIBSQL_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(s.config.rate_limit.requests, 7);
        assert_eq!(s.config.compaction_threshold, 42);
        assert!(matches!(&s.config.cors_origins, CorsOrigins::List(list) if list.len() == 1), "{:?}", s.config.cors_origins);
        assert_eq!(s.config.quotas, Quotas { documents_per_user: 3, bytes_per_document: 1024 });
        assert_eq!(s.config.wait_poll_ms, 50);
        assert_eq!(s.config.live_poll_ms, 2000);
        assert_eq!(s.config.auth.user_claim, "uid");
        let source = s.config.auth.jwks_url.as_ref().expect("JWT_JWKS_URL");
        assert_eq!((source.url.as_str(), source.min_refresh_secs), ("https://id.example/.well-known/jwks.json", 7));
        assert_eq!((s.libsql_url.as_str(), s.libsql_auth_token.as_str(), s.libsql_timeout_ms), ("http://db", "t", 250));
    }

    #[test]
    fn unset_and_empty_settings_keep_the_defaults() {
        let s = settings(&[("EDGESYNC_CORS_ORIGINS", ""), ("LIBSQL_TIMEOUT_MS", " ")]).unwrap();
        let defaults = Config::new(s.config.auth.clone());
        assert_eq!(s.config.rate_limit, defaults.rate_limit);
        assert_eq!(s.config.compaction_threshold, defaults.compaction_threshold);
        assert!(matches!(s.config.cors_origins, CorsOrigins::Any));
        assert_eq!(s.libsql_timeout_ms, EdgeSettings::DEFAULT_DB_TIMEOUT_MS);
    }

    #[test]
    fn a_bad_setting_is_named() {
        for (name, value) in [
            ("EDGESYNC_COMPACTION_THRESHOLD", "many"),
            ("EDGESYNC_CORS_ORIGINS", "ftp://x"),
            ("LIBSQL_TIMEOUT_MS", "-1"),
            ("JWT_JWKS_MIN_REFRESH_SECS", "soon"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
        assert_eq!(settings(&[("LIBSQL_URL", "")]).unwrap_err(), "LIBSQL_URL is not set");
    }
}
