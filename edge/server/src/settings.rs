//! Configuration of the native server from flags and environment variables.

use std::path::{Path, PathBuf};

use clap::Args;
use edge_app::auth::{AuthConfig, KeySources};
use edge_app::http::CorsOrigins;
use edge_app::ports::{OsRandom, Random};
use edge_app::{Config, RateLimit};

use crate::storage::Backend;

/// Why the server does not start without a token key.
pub const NO_KEY: &str = "no token key is configured: set JWT_HS256_SECRET, JWT_ED25519_PUBLIC_KEYS, JWT_JWKS or JWT_JWKS_URL, \
     or pass --dev to use a development secret generated in DATA_DIR/dev-secret";

/// Options shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Directory for the database file and the generated development secret.
    #[arg(long, env = "EDGESYNC_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// Database file (default: DATA_DIR/edgesync.db).
    #[arg(long, env = "EDGESYNC_DB", global = true)]
    pub db: Option<PathBuf>,
    /// A libSQL primary to use instead of the local file (`http://…`, `https://…`, `libsql://…`).
    #[arg(long, env = "LIBSQL_URL", global = true)]
    pub libsql_url: Option<String>,
    /// Auth token for LIBSQL_URL.
    #[arg(long, env = "LIBSQL_AUTH_TOKEN", hide_env_values = true, default_value = "", global = true)]
    pub libsql_auth_token: String,
    /// With LIBSQL_URL: keep an embedded replica in the database file (local reads, writes
    /// forwarded to the primary) instead of sending every query over HTTP.
    #[arg(long, env = "EDGESYNC_REPLICA", global = true)]
    pub replica: bool,
    /// Seconds between embedded-replica syncs.
    #[arg(long, env = "EDGESYNC_REPLICA_SYNC_SECS", default_value_t = 1, global = true)]
    pub replica_sync_secs: u64,
    /// Expected `iss` of tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "edgesync-dev", global = true)]
    pub jwt_issuer: String,
    /// Expected `aud` of tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "edgesync", global = true)]
    pub jwt_audience: String,
    /// HS256 secret (at least 32 bytes). With neither this nor Ed25519 keys the server only
    /// starts with --dev.
    #[arg(long, env = "JWT_HS256_SECRET", hide_env_values = true, global = true)]
    pub jwt_hs256_secret: Option<String>,
    /// Development mode: without JWT_HS256_SECRET, sign and accept tokens with a secret
    /// generated once in DATA_DIR/dev-secret (whoever reads that file can mint any token, so
    /// never use it for a deployment).
    #[arg(long, env = "EDGESYNC_DEV", global = true)]
    pub dev: bool,
    /// Ed25519 public keys, `kid:base64url,kid2:base64url`.
    #[arg(long, env = "JWT_ED25519_PUBLIC_KEYS", global = true)]
    pub jwt_ed25519_public_keys: Option<String>,
    /// An identity provider's JSON Web Key Set (`{"keys": [...]}`, the document at its JWKS
    /// URL): RS256 and ES256 tokens naming one of its keys by `kid` are accepted.
    #[arg(long, env = "JWT_JWKS", global = true)]
    pub jwt_jwks: Option<String>,
    /// An identity provider's JWKS URL (`https://…`, or `http://` to a loopback host): its
    /// RS256 and ES256 keys are fetched when a token names one, kept for the response's
    /// `Cache-Control: max-age` (5 min to 24 h; 1 h without one) in memory and in the database.
    #[arg(long, env = "JWT_JWKS_URL", global = true)]
    pub jwt_jwks_url: Option<String>,
    /// Least time between two fetches of JWT_JWKS_URL asked for by tokens naming a key the
    /// fetched set lacks (a rotated key, or a made-up `kid`).
    #[arg(long, env = "JWT_JWKS_MIN_REFRESH_SECS", default_value_t = 60, global = true)]
    pub jwt_jwks_min_refresh_secs: u32,
    /// The claim that names the user (e.g. `user_id`); `sub` unless set.
    #[arg(long, env = "JWT_USER_CLAIM", default_value = "sub", global = true)]
    pub jwt_user_claim: String,
    /// Requests per caller per minute; 0 disables rate limiting.
    #[arg(long, env = "EDGESYNC_RATE_LIMIT", default_value_t = 600, global = true)]
    pub rate_limit: u32,
    /// Change rows after which a document is compacted.
    #[arg(long, env = "EDGESYNC_COMPACTION_THRESHOLD", default_value_t = 500, global = true)]
    pub compaction_threshold: i64,
    /// Documents one user may own (0: no limit).
    #[arg(long, env = "EDGESYNC_MAX_DOCS_PER_USER", default_value_t = 10_000, global = true)]
    pub max_docs_per_user: u32,
    /// Bytes one document's stored state may reach before pushes to it are refused (0: no
    /// limit).
    #[arg(long, env = "EDGESYNC_MAX_DOC_BYTES", default_value_t = 256 * 1024 * 1024, global = true)]
    pub max_doc_bytes: u64,
    /// Web origins allowed to call the API from a browser: `*` (any; auth is a bearer
    /// header, never a cookie), a comma-separated list (`https://app.example.com`), or `none`.
    #[arg(long, env = "EDGESYNC_CORS_ORIGINS", default_value = "*", global = true)]
    pub cors_origins: CorsOrigins,
    /// Milliseconds between a waiting sync's reads of its documents' heads (`?wait_ms=`):
    /// how soon it sees commits made by other nodes on the same database. Commits made by
    /// this process wake it at once.
    #[arg(long, env = "EDGESYNC_WAIT_POLL_MS", default_value_t = 1_000, global = true)]
    pub wait_poll_ms: u32,
}

impl Settings {
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.data_dir.join("edgesync.db"))
    }

    pub fn backend(&self) -> Backend {
        match &self.libsql_url {
            None => Backend::Local { path: self.db_path() },
            Some(url) if self.replica => Backend::Replica {
                path: self.db_path(),
                url: url.clone(),
                auth_token: self.libsql_auth_token.clone(),
                sync_interval: std::time::Duration::from_secs(self.replica_sync_secs.max(1)),
            },
            Some(url) => Backend::Remote { url: url.clone(), auth_token: self.libsql_auth_token.clone() },
        }
    }

    /// The HS256 secret: configured, or in development mode the development secret (created
    /// on first use; `true` when it was created now). `None` when HS256 is not configured.
    pub fn hs256_secret(&self) -> std::io::Result<Option<(String, bool)>> {
        if let Some(s) = &self.jwt_hs256_secret {
            return Ok(Some((s.clone(), false)));
        }
        if !self.dev {
            return Ok(None);
        }
        let path = self.data_dir.join("dev-secret");
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some((s.trim().to_owned(), false))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                OsRandom.fill(&mut bytes);
                let secret = hex::encode(bytes);
                write_private(&path, &secret)?;
                Ok(Some((secret, true)))
            }
            Err(e) => Err(e),
        }
    }

    pub fn app_config(&self) -> Result<Config, String> {
        let secret = self.hs256_secret().map_err(|e| format!("reading the development secret: {e}"))?.map(|(s, _)| s);
        let ed25519 = self.jwt_ed25519_public_keys.as_deref().filter(|k| !k.trim().is_empty());
        let jwks = self.jwt_jwks.as_deref().filter(|k| !k.trim().is_empty());
        let jwks_url = self.jwt_jwks_url.as_deref().filter(|k| !k.trim().is_empty());
        if secret.is_none() && ed25519.is_none() && jwks.is_none() && jwks_url.is_none() {
            return Err(NO_KEY.into());
        }
        let sources = KeySources { hs256_secret: secret.as_deref(), ed25519_public_keys: ed25519, jwks, jwks_url };
        let auth = AuthConfig::from_sources(&self.jwt_issuer, &self.jwt_audience, sources)
            .map(|auth| auth.with_jwks_min_refresh_secs(self.jwt_jwks_min_refresh_secs))
            .and_then(|auth| auth.with_user_claim(&self.jwt_user_claim))
            .map_err(|e| format!("JWT configuration: {e}"))?;
        Ok(self.config_with(auth))
    }

    /// The configuration of a command that serves no requests and so verifies no token: with
    /// no key configured, an unusable random one stands in.
    pub fn offline_config(&self) -> Result<Config, String> {
        match self.app_config() {
            Err(e) if e == NO_KEY => {}
            configured => return configured,
        }
        let mut bytes = [0u8; 32];
        OsRandom.fill(&mut bytes);
        let auth = AuthConfig::from_parts(&self.jwt_issuer, &self.jwt_audience, Some(&hex::encode(bytes)), None)
            .map_err(|e| format!("JWT configuration: {e}"))?;
        Ok(self.config_with(auth))
    }

    fn config_with(&self, auth: AuthConfig) -> Config {
        let mut config = Config::new(auth);
        config.rate_limit = RateLimit { requests: self.rate_limit, window_secs: 60 };
        config.compaction_threshold = self.compaction_threshold;
        config.cors_origins = self.cors_origins.clone();
        config.wait_poll_ms = self.wait_poll_ms.max(1);
        config.quotas = edge_app::Quotas { documents_per_user: self.max_docs_per_user, bytes_per_document: self.max_doc_bytes };
        config
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        f.write_all(contents.as_bytes())
    }
    #[cfg(not(unix))]
    std::fs::write(path, contents)
}
