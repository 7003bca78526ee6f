//! Configuration of the native server from flags and environment variables.

use std::path::{Path, PathBuf};

use clap::Args;
use edge_app::auth::AuthConfig;
use edge_app::http::CorsOrigins;
use edge_app::ports::{OsRandom, Random};
use edge_app::{Config, RateLimit};

use crate::storage::Backend;

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
    /// HS256 secret (at least 32 bytes). Unset: a development secret is generated and kept in
    /// DATA_DIR/dev-secret.
    #[arg(long, env = "JWT_HS256_SECRET", hide_env_values = true, global = true)]
    pub jwt_hs256_secret: Option<String>,
    /// Ed25519 public keys, `kid:base64url,kid2:base64url`.
    #[arg(long, env = "JWT_ED25519_PUBLIC_KEYS", global = true)]
    pub jwt_ed25519_public_keys: Option<String>,
    /// Requests per caller per minute; 0 disables rate limiting.
    #[arg(long, env = "EDGESYNC_RATE_LIMIT", default_value_t = 600, global = true)]
    pub rate_limit: u32,
    /// Change rows after which a document is compacted.
    #[arg(long, env = "EDGESYNC_COMPACTION_THRESHOLD", default_value_t = 500, global = true)]
    pub compaction_threshold: i64,
    /// Web origins allowed to call the API from a browser: `*` (any; auth is a bearer
    /// header, never a cookie), a comma-separated list (`https://app.example.com`), or `none`.
    #[arg(long, env = "EDGESYNC_CORS_ORIGINS", default_value = "*", global = true)]
    pub cors_origins: CorsOrigins,
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

    /// The HS256 secret: configured, or the development secret (created on first use).
    pub fn hs256_secret(&self) -> std::io::Result<(String, bool)> {
        if let Some(s) = &self.jwt_hs256_secret {
            return Ok((s.clone(), false));
        }
        let path = self.data_dir.join("dev-secret");
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok((s.trim().to_owned(), false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                OsRandom.fill(&mut bytes);
                let secret = hex::encode(bytes);
                write_private(&path, &secret)?;
                Ok((secret, true))
            }
            Err(e) => Err(e),
        }
    }

    pub fn app_config(&self) -> Result<Config, String> {
        let (secret, _) = self.hs256_secret().map_err(|e| format!("reading the development secret: {e}"))?;
        let auth = AuthConfig::from_parts(&self.jwt_issuer, &self.jwt_audience, Some(&secret), self.jwt_ed25519_public_keys.as_deref())
            .map_err(|e| format!("JWT configuration: {e}"))?;
        let mut config = Config::new(auth);
        config.rate_limit = RateLimit { requests: self.rate_limit, window_secs: 60 };
        config.compaction_threshold = self.compaction_threshold;
        config.cors_origins = self.cors_origins.clone();
        Ok(config)
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
