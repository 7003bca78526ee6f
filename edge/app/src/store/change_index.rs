//! The change index: every change a document stored, by author and op range, kept through
//! compaction, so the append fast path can check what a push refers to without loading the
//! document (see `sync_core::server::index`).

use std::str::FromStr;

use sync_core::automerge::ActorId;
use sync_core::server::{Found, Lookup, NewChange};

use super::{Store, first_int, int};
use crate::ports::{DbError, Statement, Value};

/// The statement indexing one change of `doc_id` (part of the transaction that stores it).
pub(super) fn index_change(doc_id: &str, c: &NewChange) -> Statement {
    Statement::new(
        "INSERT OR IGNORE INTO change_index (doc_id, hash, actor, seq, start_op, last_op, bytes) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1)",
        [
            doc_id.into(),
            c.hash.to_string().into(),
            c.actor.to_hex_string().into(),
            op(c.seq),
            op(c.start_op),
            op(c.last_op),
            c.bytes.clone().into(),
        ],
    )
}

/// The statement recording that every change of `doc_id` is indexed (at creation, or once a
/// compaction has indexed an older document).
pub(super) fn indexed(doc_id: &str) -> Statement {
    Statement::new(
        "INSERT OR IGNORE INTO indexed_documents (doc_id) SELECT ?1 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1)",
        [doc_id.into()],
    )
}

fn json(value: &impl serde::Serialize) -> Result<Value, DbError> {
    serde_json::to_string(value).map(Value::from).map_err(|e| DbError::Other(e.to_string()))
}

fn op(counter: u64) -> Value {
    // Op counters and seqs fit: sync_core::server::check_changes caps counters at u32::MAX, and
    // a seq counts an actor's changes.
    Value::Integer(i64::try_from(counter).unwrap_or(i64::MAX))
}

impl Store {
    /// What the fast path asked for: whether the document is fully indexed, its heads, the last op of each
    /// dependency, the last seq of each actor the document knows, and the changes holding the
    /// looked-up ops (each once). One indexed read.
    pub async fn find_ops(&self, doc_id: &str, lookup: &Lookup) -> Result<Found, DbError> {
        const SQL: &str = concat!(
            "SELECT 0, NULL, NULL, NULL FROM indexed_documents WHERE doc_id = ?1 ",
            "UNION ALL SELECT 4, h.hash, NULL, NULL FROM heads h WHERE h.doc_id = ?1 ",
            "UNION ALL SELECT 1, c.hash, c.last_op, NULL FROM change_index c ",
            "WHERE c.doc_id = ?1 AND c.hash IN (SELECT value FROM json_each(?2)) ",
            "UNION ALL SELECT 2, a.value, (SELECT i.seq FROM change_index i WHERE i.doc_id = ?1 AND i.actor = a.value ",
            "ORDER BY i.last_op DESC LIMIT 1), NULL FROM json_each(?4) a ",
            "UNION ALL SELECT 3, NULL, NULL, c.bytes FROM change_index c WHERE c.rowid IN (",
            "SELECT (SELECT i.rowid FROM change_index i WHERE i.doc_id = ?1 AND i.actor = json_extract(r.value, '$[0]') ",
            "AND i.last_op >= json_extract(r.value, '$[1]') AND i.start_op <= json_extract(r.value, '$[1]') ",
            "ORDER BY i.last_op LIMIT 1) FROM json_each(?3) r)"
        );
        let deps: Vec<String> = lookup.deps.iter().map(ToString::to_string).collect();
        let ops: Vec<(String, u64)> = lookup.ops.iter().map(|(a, c)| (a.to_hex_string(), *c)).collect();
        let actors: Vec<String> = lookup.actors.iter().map(|a| a.to_hex_string()).collect();
        let params = [doc_id.into(), json(&deps)?, json(&ops)?, json(&actors)?];
        let rows = self.db().query(Statement::new(SQL, params)).await?;
        let mut found = Found::default();
        for row in rows.rows {
            let mut row = row.into_iter();
            let (kind, key, number, bytes) = (row.next(), row.next(), row.next(), row.next());
            let key = key.as_ref().and_then(Value::as_str);
            let number = number.as_ref().and_then(Value::as_i64).and_then(|n| u64::try_from(n).ok());
            match int(&kind.unwrap_or(Value::Null))? {
                0 => found.complete = true,
                4 => found.heads.extend(key.and_then(|h| h.parse::<sync_core::ChangeHash>().ok())),
                1 => {
                    if let (Some(hash), Some(last)) = (key.and_then(|h| h.parse().ok()), number) {
                        found.deps_last_op.insert(hash, last);
                    }
                }
                2 => {
                    if let (Some(actor), Some(seq)) = (key.and_then(|a| ActorId::from_str(a).ok()), number) {
                        found.actor_seqs.insert(actor, seq);
                    }
                }
                _ => found.changes.extend(bytes.and_then(Value::into_blob)),
            }
        }
        Ok(found)
    }

    /// Whether every change of `doc_id` is indexed (see `indexed_documents`).
    pub async fn is_indexed(&self, doc_id: &str) -> Result<bool, DbError> {
        let rows = self.db().query(Statement::new("SELECT COUNT(*) FROM indexed_documents WHERE doc_id = ?1", [doc_id.into()])).await?;
        Ok(first_int(&rows, 0)? > 0)
    }

    /// How many changes of `doc_id` the index holds.
    pub async fn indexed_changes(&self, doc_id: &str) -> Result<i64, DbError> {
        let rows = self.db().query(Statement::new("SELECT COUNT(*) FROM change_index WHERE doc_id = ?1", [doc_id.into()])).await?;
        first_int(&rows, 0)
    }

    /// Indexes `changes` of `doc_id` (those already indexed are left as they are), in batches,
    /// then records that the document is fully indexed.
    pub async fn index_changes(&self, doc_id: &str, changes: &[NewChange]) -> Result<(), DbError> {
        for batch in changes.chunks(256) {
            self.db().batch(batch.iter().map(|c| index_change(doc_id, c)).collect()).await?;
        }
        self.db().query(indexed(doc_id)).await?;
        Ok(())
    }
}
