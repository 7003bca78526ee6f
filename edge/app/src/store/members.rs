//! Membership rows: who may do what with a document.

use super::{Store, first_int, text};
use crate::model::Role;
use crate::ports::{DbError, Statement, UnixMillis, Value};

impl Store {
    /// The roles `user` holds on each of `doc_ids` (documents without a role are absent).
    pub async fn roles(&self, user: &str, doc_ids: &[String]) -> Result<Vec<(String, Role)>, DbError> {
        // One round trip for a whole batch: the id list travels as one bound JSON parameter.
        let ids = serde_json::to_string(doc_ids).map_err(|e| DbError::Other(e.to_string()))?;
        let rows = self
            .db()
            .query(Statement::new(
                "SELECT doc_id, role FROM members WHERE user_id = ?1 AND doc_id IN (SELECT value FROM json_each(?2))",
                [user.into(), ids.into()],
            ))
            .await?;
        rows.rows
            .iter()
            .map(|r| {
                let role = Role::parse(&text(&r[1])?).ok_or_else(|| DbError::Other("unknown role".into()))?;
                Ok((text(&r[0])?, role))
            })
            .collect()
    }

    pub async fn members(&self, doc_id: &str) -> Result<Vec<(String, Role)>, DbError> {
        let rows = self
            .db()
            .query(Statement::new("SELECT user_id, role FROM members WHERE doc_id = ?1 ORDER BY user_id", [doc_id.into()]))
            .await?;
        rows.rows
            .iter()
            .map(|r| Ok((text(&r[0])?, Role::parse(&text(&r[1])?).ok_or_else(|| DbError::Other("unknown role".into()))?)))
            .collect()
    }

    pub async fn set_member(&self, doc_id: &str, user: &str, role: Role, now: UnixMillis) -> Result<(), DbError> {
        self.db()
            .query(Statement::new(
                "INSERT INTO members (doc_id, user_id, role, added_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (doc_id, user_id) DO UPDATE SET role = excluded.role",
                [doc_id.into(), user.into(), role.as_str().into(), Value::Integer(now.0)],
            ))
            .await?;
        Ok(())
    }

    /// Removes a member; returns whether there was one.
    pub async fn remove_member(&self, doc_id: &str, user: &str) -> Result<bool, DbError> {
        let rows = self
            .db()
            .query(Statement::new("DELETE FROM members WHERE doc_id = ?1 AND user_id = ?2", [doc_id.into(), user.into()]))
            .await?;
        Ok(rows.affected > 0)
    }

    /// How many documents `user` owns (for the documents-per-user quota).
    pub async fn owned_count(&self, user: &str) -> Result<i64, DbError> {
        let rows = self.db().query(Statement::new("SELECT COUNT(*) FROM members WHERE user_id = ?1 AND role = 'owner'", [user.into()])).await?;
        first_int(&rows, 0)
    }
}
