//! Membership rows: who may do what with a document.

use std::collections::HashMap;

use super::{Store, Tip, first_int, int, text};
use crate::model::Role;
use crate::ports::{DbError, Statement, UnixMillis, Value};

impl Store {
    /// What a sync reads first, for a whole batch in one statement: for every document of
    /// `doc_ids` that exists and `user` is a member of, the user's role and the document's tip
    /// (heads and stored size). The id list travels as one bound JSON parameter.
    pub async fn roles_and_tips(&self, user: &str, doc_ids: &[String]) -> Result<HashMap<String, (Role, Tip)>, DbError> {
        const SQL: &str = concat!(
            "SELECT m.doc_id, m.role, d.change_bytes + d.snapshot_bytes, h.hash FROM members m ",
            "JOIN documents d ON d.id = m.doc_id LEFT JOIN heads h ON h.doc_id = m.doc_id ",
            "WHERE m.user_id = ?1 AND m.doc_id IN (SELECT value FROM json_each(?2))"
        );
        let ids = serde_json::to_string(doc_ids).map_err(|e| DbError::Other(e.to_string()))?;
        let rows = self.db().query(Statement::new(SQL, [user.into(), ids.into()])).await?;
        let mut found: HashMap<String, (Role, Tip, Vec<String>)> = HashMap::new();
        for row in &rows.rows {
            let [doc_id, role, bytes, head] = row.as_slice() else { return Err(DbError::Other("roles_and_tips: expected 4 columns".into())) };
            let entry = match found.entry(text(doc_id)?) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let role = Role::parse(&text(role)?).ok_or_else(|| DbError::Other("unknown role".into()))?;
                    e.insert((role, Tip { heads: String::new(), stored_bytes: int(bytes)? }, Vec::new()))
                }
            };
            if !matches!(head, Value::Null) {
                entry.2.push(text(head)?);
            }
        }
        Ok(found
            .into_iter()
            .map(|(id, (role, mut tip, mut heads))| {
                heads.sort_unstable();
                tip.heads = heads.join(",");
                (id, (role, tip))
            })
            .collect())
    }

    /// The roles of those of `users` who are members of `doc_id`, and its heads (the stored size
    /// only when one of them is a member; callers use the tip only then), in one statement: what the pushes of one commit to several connections read
    /// together (the native server's automerge-repo connections, `service::repo::announce_read`).
    pub async fn roles_of_users_and_tip(&self, doc_id: &str, users: &[String]) -> Result<(HashMap<String, Role>, Tip), DbError> {
        const SQL: &str = concat!(
            "SELECT 0, m.user_id, m.role, d.change_bytes + d.snapshot_bytes FROM members m JOIN documents d ON d.id = m.doc_id ",
            "WHERE m.doc_id = ?1 AND m.user_id IN (SELECT value FROM json_each(?2)) ",
            "UNION ALL SELECT 1, h.hash, NULL, NULL FROM heads h WHERE h.doc_id = ?1"
        );
        let users = serde_json::to_string(users).map_err(|e| DbError::Other(e.to_string()))?;
        let rows = self.db().query(Statement::new(SQL, [doc_id.into(), users.into()])).await?;
        let (mut roles, mut heads, mut stored_bytes) = (HashMap::new(), Vec::new(), 0);
        for row in &rows.rows {
            let [kind, key, role, bytes] = row.as_slice() else { return Err(DbError::Other("roles_of_users_and_tip: expected 4 columns".into())) };
            if int(kind)? == 1 {
                heads.push(text(key)?);
                continue;
            }
            stored_bytes = int(bytes)?;
            roles.insert(text(key)?, Role::parse(&text(role)?).ok_or_else(|| DbError::Other("unknown role".into()))?);
        }
        heads.sort_unstable();
        Ok((roles, Tip { heads: heads.join(","), stored_bytes }))
    }

    /// The heads of each of `doc_ids` that exists (an empty list for one without changes), in
    /// one statement: what the live channel tells subscribers when documents change.
    pub async fn heads_of(&self, doc_ids: &[String]) -> Result<HashMap<String, Vec<String>>, DbError> {
        const SQL: &str =
            concat!("SELECT d.id, h.hash FROM documents d LEFT JOIN heads h ON h.doc_id = d.id ", "WHERE d.id IN (SELECT value FROM json_each(?1))");
        let ids = serde_json::to_string(doc_ids).map_err(|e| DbError::Other(e.to_string()))?;
        let rows = self.db().query(Statement::new(SQL, [ids.into()])).await?;
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for row in &rows.rows {
            let heads = found.entry(text(&row[0])?).or_default();
            if !matches!(row[1], Value::Null) {
                heads.push(text(&row[1])?);
            }
        }
        found.values_mut().for_each(|h| h.sort_unstable());
        Ok(found)
    }

    pub async fn members(&self, doc_id: &str) -> Result<Vec<(String, Role)>, DbError> {
        let rows = self.db().query(Statement::new("SELECT user_id, role FROM members WHERE doc_id = ?1 ORDER BY user_id", [doc_id.into()])).await?;
        rows.rows.iter().map(|r| Ok((text(&r[0])?, Role::parse(&text(&r[1])?).ok_or_else(|| DbError::Other("unknown role".into()))?))).collect()
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
        let rows = self.db().query(Statement::new("DELETE FROM members WHERE doc_id = ?1 AND user_id = ?2", [doc_id.into(), user.into()])).await?;
        Ok(rows.affected > 0)
    }

    /// How many documents `user` owns (for the documents-per-user quota).
    pub async fn owned_count(&self, user: &str) -> Result<i64, DbError> {
        // Kept by triggers on `members` (migration 0007): one row, however many documents.
        let rows = self.db().query(Statement::new("SELECT documents FROM owned_documents WHERE user_id = ?1", [user.into()])).await?;
        first_int(&rows, 0)
    }
}
