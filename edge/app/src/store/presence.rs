//! Presence sent over HTTP (docs/protocol.md §10.1): rows relayed between edges through the
//! database, served for a few seconds and then deleted. Never part of a document.

use super::{Store, first_int, int, json, text};
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// One relayed presence message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    pub seq: i64,
    pub doc_id: String,
    pub sender: String,
    /// The sender's JSON text.
    pub data: String,
}

/// A presence message to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewPresence<'a> {
    pub doc_id: &'a str,
    pub sender: &'a str,
    /// The sending client's session, or empty.
    pub session: &'a str,
    /// The sender's JSON text.
    pub data: &'a str,
}

/// Deletes the presence sent before `?1`.
const EXPIRE: &str = "DELETE FROM presence WHERE sent_at < ?1";

impl Store {
    /// Keeps `message` for its document's readers unless its sender sent
    /// `per_second` messages in the last second already (then `None`: the count and the insert
    /// are one statement, so concurrent sends at many edges cannot pass the limit together),
    /// and deletes the rows sent before `expired` in the same batch. Returns the new row's
    /// number.
    pub async fn send_presence(&self, message: &NewPresence<'_>, now: UnixMillis, per_second: u32, expired: UnixMillis) -> Result<Option<i64>, DbError> {
        const INSERT: &str = concat!(
            "INSERT INTO presence (doc_id, sender, session, data, sent_at) SELECT ?1, ?2, ?3, ?4, ?5 ",
            "WHERE (SELECT COUNT(*) FROM presence WHERE sender = ?2 AND sent_at > ?5 - 1000) < ?6 RETURNING seq"
        );
        let m = message;
        let params = [m.doc_id.into(), m.sender.into(), m.session.into(), m.data.into(), Value::Integer(now.0), Value::Integer(per_second.into())];
        let results = self.db().batch(vec![Statement::new(EXPIRE, [Value::Integer(expired.0)]), Statement::new(INSERT, params)]).await?;
        let inserted = results.get(1).ok_or_else(|| DbError::Other("send_presence: the insert has no result".into()))?;
        Ok(match first_int(inserted, 0)? {
            0 => None,
            seq => Some(seq),
        })
    }

    /// Up to `limit` rows after `after` for those of `doc_ids` that `user` is a member of, sent
    /// at `since` or later and not by `user`'s client `session` (unless it is empty), oldest
    /// first. Membership is read in the same statement, so a member removed meanwhile reads
    /// nothing more.
    pub async fn presence_after(
        &self,
        user: &str,
        session: &str,
        doc_ids: &[String],
        after: i64,
        since: UnixMillis,
        limit: i64,
    ) -> Result<Vec<PresenceRow>, DbError> {
        const SQL: &str = concat!(
            "SELECT p.seq, p.doc_id, p.sender, p.data FROM presence p ",
            "JOIN members m ON m.doc_id = p.doc_id AND m.user_id = ?1 ",
            "WHERE p.doc_id IN (SELECT value FROM json_each(?2)) AND p.seq > ?3 AND p.sent_at >= ?4 AND (?6 = '' OR NOT (p.sender = ?1 AND p.session = ?6)) ",
            "ORDER BY p.seq LIMIT ?5"
        );
        let params = [user.into(), json(&doc_ids)?, Value::Integer(after), Value::Integer(since.0), Value::Integer(limit), session.into()];
        let rows = self.db().query(Statement::new(SQL, params)).await?;
        rows.rows
            .iter()
            .map(|row| match row.as_slice() {
                [seq, doc, sender, data] => Ok(PresenceRow { seq: int(seq)?, doc_id: text(doc)?, sender: text(sender)?, data: text(data)? }),
                _ => Err(DbError::Other("presence_after: expected 4 columns".into())),
            })
            .collect()
    }

    /// Deletes presence sent before `expired`.
    pub async fn expire_presence(&self, expired: UnixMillis) -> Result<u64, DbError> {
        let rows = self.db().query(Statement::new(EXPIRE, [Value::Integer(expired.0)])).await?;
        Ok(rows.affected)
    }
}
