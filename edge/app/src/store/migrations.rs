//! Versioned schema migrations, applied in order and recorded in `schema_migrations`.
//! Each script is idempotent, so edges racing to migrate the same database are harmless.

use super::Store;
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// (version, name, SQL) in application order. Never edit a released entry; add a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../../migrations/0001_init.sql")),
    (2, "damaged_documents", include_str!("../../migrations/0002_damaged_documents.sql")),
    (3, "change_index", include_str!("../../migrations/0003_change_index.sql")),
    (4, "change_graph", include_str!("../../migrations/0004_change_graph.sql")),
    (5, "provider_keys", include_str!("../../migrations/0005_provider_keys.sql")),
    (6, "presence", include_str!("../../migrations/0006_presence.sql")),
    (7, "owned_documents", include_str!("../../migrations/0007_owned_documents.sql")),
    (8, "change_writes", include_str!("../../migrations/0008_change_writes.sql")),
];

impl Store {
    /// Applies every migration not yet recorded; returns the versions applied now.
    pub async fn migrate(&self, now: UnixMillis) -> Result<Vec<i64>, DbError> {
        self.db()
            .execute_script(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);",
            )
            .await?;
        let applied = self.applied_migrations().await?;
        let mut now_applied = Vec::new();
        for &(version, name, sql) in MIGRATIONS {
            if applied.contains(&version) {
                continue;
            }
            self.db().execute_script(sql).await?;
            self.db()
                .query(Statement::new(
                    "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    [Value::Integer(version), name.into(), Value::Integer(now.0)],
                ))
                .await?;
            now_applied.push(version);
        }
        Ok(now_applied)
    }

    pub async fn applied_migrations(&self) -> Result<Vec<i64>, DbError> {
        let rows = self.db().query(Statement::new("SELECT version FROM schema_migrations ORDER BY version", [])).await?;
        rows.rows.iter().map(|r| super::int(&r[0])).collect()
    }
}
