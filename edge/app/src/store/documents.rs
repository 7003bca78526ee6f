//! Document rows: create, read, list, delete.

use super::{Store, int, text};
use crate::model::Role;
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// A document's metadata row, with the caller's role when read for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRow {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub heads: String,
    pub change_rows: i64,
    pub change_bytes: i64,
    pub snapshot_bytes: i64,
    pub role: Role,
}

fn row(r: &[Value]) -> Result<DocumentRow, DbError> {
    Ok(DocumentRow {
        id: text(&r[0])?,
        owner: text(&r[1])?,
        title: text(&r[2])?,
        created_at: int(&r[3])?,
        updated_at: int(&r[4])?,
        heads: sorted_heads(r[5].as_str().unwrap_or_default()),
        change_rows: int(&r[6])?,
        change_bytes: int(&r[7])?,
        snapshot_bytes: int(&r[8])?,
        role: Role::parse(&text(&r[9])?).ok_or_else(|| DbError::Other("unknown role".into()))?,
    })
}

/// `group_concat` has no defined order; heads are canonical when sorted.
fn sorted_heads(list: &str) -> String {
    let mut heads: Vec<&str> = list.split(',').filter(|h| !h.is_empty()).collect();
    heads.sort_unstable();
    heads.join(",")
}

impl Store {
    /// Statements that create a document owned by `owner` (run them in a batch).
    pub fn create_document_statements(id: &str, owner: &str, title: &str, now: UnixMillis) -> Vec<Statement> {
        vec![
            Statement::new(
                "INSERT INTO documents (id, owner, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
                [id.into(), owner.into(), title.into(), Value::Integer(now.0)],
            ),
            Statement::new(
                "INSERT INTO members (doc_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)",
                [id.into(), owner.into(), Value::Integer(now.0)],
            ),
            // A new document's changes are all indexed as they are stored.
            super::change_index::indexed(id),
        ]
    }

    /// The document as seen by `user`; `None` if it does not exist or `user` is no member.
    pub async fn document_for(&self, id: &str, user: &str) -> Result<Option<DocumentRow>, DbError> {
        const SQL: &str = concat!(
            "SELECT d.id, d.owner, d.title, d.created_at, d.updated_at, (SELECT group_concat(hash, ',') FROM heads WHERE doc_id = d.id), d.change_rows, d.change_bytes, d.snapshot_bytes, m.role ",
            "FROM documents d JOIN members m ON m.doc_id = d.id WHERE d.id = ?1 AND m.user_id = ?2"
        );
        let rows = self.db().query(Statement::new(SQL, [id.into(), user.into()])).await?;
        rows.rows.first().map(|r| row(r)).transpose()
    }

    /// Documents `user` is a member of, ordered by id, after `cursor`.
    pub async fn documents_of(&self, user: &str, after: &str, limit: i64) -> Result<Vec<DocumentRow>, DbError> {
        const SQL: &str = concat!(
            "SELECT d.id, d.owner, d.title, d.created_at, d.updated_at, (SELECT group_concat(hash, ',') FROM heads WHERE doc_id = d.id), d.change_rows, d.change_bytes, d.snapshot_bytes, m.role ",
            "FROM members m JOIN documents d ON d.id = m.doc_id WHERE m.user_id = ?1 AND m.doc_id > ?2 ORDER BY m.doc_id LIMIT ?3"
        );
        let rows = self.db().query(Statement::new(SQL, [user.into(), after.into(), Value::Integer(limit)])).await?;
        rows.rows.iter().map(|r| row(r)).collect()
    }

    pub async fn delete_document(&self, id: &str) -> Result<(), DbError> {
        let p = || vec![Value::from(id)];
        self.db()
            .batch(vec![
                Statement::new("DELETE FROM changes WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM change_index WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM change_graph WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM indexed_documents WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM heads WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM snapshots WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM members WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM damaged_documents WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM compaction_attempts WHERE doc_id = ?1", p()),
                Statement::new("DELETE FROM documents WHERE id = ?1", p()),
            ])
            .await?;
        Ok(())
    }

    /// Documents whose change log has reached `threshold` rows: compaction candidates.
    pub async fn compaction_candidates(&self, threshold: i64, limit: i64) -> Result<Vec<String>, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "SELECT id FROM documents WHERE change_rows >= ?1 AND id NOT IN (SELECT doc_id FROM damaged_documents) \
                 ORDER BY change_rows DESC LIMIT ?2",
                [Value::Integer(threshold), Value::Integer(limit)],
            ))
            .await?;
        rows.rows.iter().map(|r| text(&r[0])).collect()
    }
}
