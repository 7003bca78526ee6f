//! Membership rows: who may do what with a document.

use std::collections::HashMap;

use super::{Store, Tip, first_int, int, json, text};
use crate::model::Role;
use crate::ports::{DbError, Statement, UnixMillis, Value};

impl Store {
    /// What a sync reads first, for a whole batch in one statement: for every document of
    /// `doc_ids` that exists and `user` is a member of, the user's role and the document's tip
    /// (heads and stored size). The id list travels as one bound JSON parameter.
    pub async fn roles_and_tips(&self, user: &str, doc_ids: &[String]) -> Result<HashMap<String, (Role, Tip)>, DbError> {
        // One row per document: its heads joined in SQL (a row per head cost a row's values each).
        const SQL: &str = concat!(
            "SELECT m.doc_id, m.role, d.change_bytes + d.snapshot_bytes, ",
            "(SELECT group_concat(h.hash, ',') FROM heads h WHERE h.doc_id = m.doc_id) FROM members m ",
            "JOIN documents d ON d.id = m.doc_id WHERE m.user_id = ?1 AND m.doc_id IN (SELECT value FROM json_each(?2))"
        );
        let rows = self.db().query(Statement::new(SQL, [user.into(), json(&doc_ids)?])).await?;
        let mut found = HashMap::with_capacity(rows.rows.len());
        for row in rows.rows {
            let Ok([doc_id, role, bytes, heads]) = <[Value; 4]>::try_from(row) else {
                return Err(DbError::Other("roles_and_tips: expected 4 columns".into()));
            };
            let role = Role::parse(&text(&role)?).ok_or_else(|| DbError::Other("unknown role".into()))?;
            let heads = match heads {
                Value::Null => String::new(),
                Value::Text(heads) => sorted_list(heads),
                other => return Err(DbError::Other(format!("roles_and_tips: expected heads as text, got {other:?}"))),
            };
            found.insert(text(&doc_id)?, (role, Tip { heads, stored_bytes: int(&bytes)? }));
        }
        Ok(found)
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
        let rows = self.db().query(Statement::new(SQL, [doc_id.into(), json(&users)?])).await?;
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
        let rows = self.db().query(Statement::new(SQL, [json(&doc_ids)?])).await?;
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

/// A comma-separated list in sorted order (`group_concat` promises none; the heads index
/// usually gives it, and then the text is kept as it is).
fn sorted_list(list: String) -> String {
    if list.split(',').is_sorted() {
        return list;
    }
    let mut items: Vec<&str> = list.split(',').collect();
    items.sort_unstable();
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::sorted_list;

    #[test]
    fn a_list_is_sorted_and_kept_as_it_is_when_it_was() {
        assert_eq!(sorted_list("b1,a2,c3".into()), "a2,b1,c3");
        assert_eq!(sorted_list("a2,b1".into()), "a2,b1");
        assert_eq!(sorted_list("a2".into()), "a2");
    }
}
