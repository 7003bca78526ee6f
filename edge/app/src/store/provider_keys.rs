//! The identity provider's key set as last fetched (`provider_keys`, one row per JWKS URL),
//! shared by every edge; see `service::provider_keys` for how it is used.

use super::{Store, int, text};
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// A stored row. Times are Unix milliseconds; 0 means never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderKeysRow {
    pub document: String,
    pub fetched_at: i64,
    pub expires_at: i64,
    pub attempted_at: i64,
    pub failed_at: i64,
}

impl Store {
    pub async fn provider_keys(&self, url: &str) -> Result<Option<ProviderKeysRow>, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "SELECT document, fetched_at, expires_at, attempted_at, failed_at FROM provider_keys WHERE url = ?1",
                [url.into()],
            ))
            .await?;
        let Some(r) = rows.rows.first() else { return Ok(None) };
        Ok(Some(ProviderKeysRow { document: text(&r[0])?, fetched_at: int(&r[1])?, expires_at: int(&r[2])?, attempted_at: int(&r[3])?, failed_at: int(&r[4])? }))
    }

    /// Takes the turn to fetch the key set: true for exactly one caller per `interval_ms`,
    /// across every edge (the row's `attempted_at` moves only when it is older than that).
    pub async fn claim_provider_keys_refresh(&self, url: &str, now: UnixMillis, interval_ms: i64) -> Result<bool, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "INSERT INTO provider_keys (url, attempted_at) VALUES (?1, ?2) \
                 ON CONFLICT (url) DO UPDATE SET attempted_at = excluded.attempted_at WHERE provider_keys.attempted_at <= ?3 \
                 RETURNING url",
                [url.into(), Value::Integer(now.0), Value::Integer(now.0.saturating_sub(interval_ms))],
            ))
            .await?;
        Ok(!rows.rows.is_empty())
    }

    /// Records a fetched key set, unless a newer one is already stored.
    pub async fn save_provider_keys(&self, url: &str, document: &str, fetched_at: UnixMillis, expires_at: UnixMillis) -> Result<(), DbError> {
        self.db()
            .query(Statement::new(
                "INSERT INTO provider_keys (url, document, fetched_at, expires_at, attempted_at) VALUES (?1, ?2, ?3, ?4, ?3) \
                 ON CONFLICT (url) DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at, \
                 expires_at = excluded.expires_at, failed_at = 0 WHERE provider_keys.fetched_at <= excluded.fetched_at",
                [url.into(), document.into(), Value::Integer(fetched_at.0), Value::Integer(expires_at.0)],
            ))
            .await?;
        Ok(())
    }

    /// Records a failed fetch, so that no edge tries again for a while.
    pub async fn record_provider_keys_failure(&self, url: &str, now: UnixMillis) -> Result<(), DbError> {
        self.db()
            .query(Statement::new(
                "INSERT INTO provider_keys (url, attempted_at, failed_at) VALUES (?1, ?2, ?2) \
                 ON CONFLICT (url) DO UPDATE SET failed_at = excluded.failed_at",
                [url.into(), Value::Integer(now.0)],
            ))
            .await?;
        Ok(())
    }
}
