//! Stored responses for requests sent with an `Idempotency-Key`.

use super::{Store, int};
use crate::ports::{DbError, Statement, UnixMillis, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub request_hash: Vec<u8>,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Store {
    pub async fn idempotency_record(&self, subject: &str, key: &str) -> Result<Option<IdempotencyRecord>, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "SELECT request_hash, status, body FROM idempotency WHERE subject = ?1 AND key = ?2",
                [subject.into(), key.into()],
            ))
            .await?;
        let Some(r) = rows.rows.into_iter().next() else { return Ok(None) };
        let mut r = r.into_iter();
        let hash = r.next().and_then(Value::into_blob).unwrap_or_default();
        let status = int(&r.next().unwrap_or(Value::Null))? as u16;
        let body = r.next().and_then(Value::into_blob).unwrap_or_default();
        Ok(Some(IdempotencyRecord { request_hash: hash, status, body }))
    }

    /// The statement recording a response; a plain INSERT, so a concurrent request with the
    /// same key makes the whole batch fail instead of recording twice.
    pub fn record_idempotency_statement(subject: &str, key: &str, record: &IdempotencyRecord, now: UnixMillis) -> Statement {
        Statement::new(
            "INSERT INTO idempotency (subject, key, request_hash, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            [
                subject.into(),
                key.into(),
                record.request_hash.clone().into(),
                Value::Integer(i64::from(record.status)),
                record.body.clone().into(),
                Value::Integer(now.0),
            ],
        )
    }

    /// Forgets records older than `before` (run by the background job).
    pub async fn expire_idempotency(&self, before: UnixMillis) -> Result<u64, DbError> {
        let rows = self.db().query(Statement::new("DELETE FROM idempotency WHERE created_at < ?1", [Value::Integer(before.0)])).await?;
        Ok(rows.affected)
    }
}
