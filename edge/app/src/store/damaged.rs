//! Documents whose stored state does not load: recorded when found, listed for operators,
//! skipped by compaction.

use super::{Store, first_int, int, text};
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// One damaged document, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DamagedDocument {
    pub doc_id: String,
    /// Why it does not load (automerge's error, or that automerge panicked).
    pub reason: String,
    /// When it was first and last found not to load (Unix milliseconds).
    pub first_seen: i64,
    pub last_seen: i64,
}

impl Store {
    /// Records that `doc_id` does not load (again).
    pub async fn mark_damaged(&self, doc_id: &str, reason: &str, now: UnixMillis) -> Result<(), DbError> {
        self.db()
            .query(Statement::new(
                "INSERT INTO damaged_documents (doc_id, reason, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3) \
                 ON CONFLICT (doc_id) DO UPDATE SET reason = excluded.reason, last_seen = excluded.last_seen",
                [doc_id.into(), reason.into(), Value::Integer(now.0)],
            ))
            .await?;
        Ok(())
    }

    /// Damaged documents, most recently seen first.
    pub async fn damaged_documents(&self, limit: i64) -> Result<Vec<DamagedDocument>, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "SELECT doc_id, reason, first_seen, last_seen FROM damaged_documents ORDER BY last_seen DESC, doc_id LIMIT ?1",
                [Value::Integer(limit)],
            ))
            .await?;
        rows.rows
            .iter()
            .map(|r| Ok(DamagedDocument { doc_id: text(&r[0])?, reason: text(&r[1])?, first_seen: int(&r[2])?, last_seen: int(&r[3])? }))
            .collect()
    }

    /// How many documents are recorded as damaged.
    pub async fn damaged_count(&self) -> Result<i64, DbError> {
        let rows = self.db().query(Statement::new("SELECT COUNT(*) FROM damaged_documents", [])).await?;
        first_int(&rows, 0)
    }

    /// Counts a compaction attempt of `doc_id` before it loads the document; returns how many
    /// attempts have not finished, this one included.
    pub async fn begin_compaction(&self, doc_id: &str, now: UnixMillis) -> Result<i64, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "INSERT INTO compaction_attempts (doc_id, attempts, last_at) VALUES (?1, 1, ?2) \
                 ON CONFLICT (doc_id) DO UPDATE SET attempts = attempts + 1, last_at = excluded.last_at RETURNING attempts",
                [doc_id.into(), Value::Integer(now.0)],
            ))
            .await?;
        first_int(&rows, 1)
    }

    /// Forgets that `doc_id` was damaged (after an operator repaired it, or when its
    /// compaction was cut short by a runtime limit rather than by its data): the next
    /// compaction pass tries it again. Returns whether it was recorded.
    pub async fn clear_damaged(&self, doc_id: &str) -> Result<bool, DbError> {
        let done = self
            .db()
            .batch(vec![
                Statement::new("DELETE FROM damaged_documents WHERE doc_id = ?1", [doc_id.into()]),
                Statement::new("DELETE FROM compaction_attempts WHERE doc_id = ?1", [doc_id.into()]),
            ])
            .await?;
        Ok(done.first().is_some_and(|r| r.affected > 0))
    }
}
