//! Fixed-window request counters in the database, so every edge instance shares them.

use super::{Store, first_int};
use crate::ports::{DbError, Statement, Value};

impl Store {
    /// Counts one request for `key` in `window` and returns the count so far.
    pub async fn count_request(&self, key: &str, window: i64) -> Result<i64, DbError> {
        let rows = self
            .db()
            .query(Statement::new(
                "INSERT INTO rate_limits (key, window_start, count) VALUES (?1, ?2, 1) ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count",
                [key.into(), Value::Integer(window)],
            ))
            .await?;
        first_int(&rows, 1)
    }

    /// Deletes counters of windows before `window`.
    pub async fn expire_rate_limits(&self, window: i64) -> Result<u64, DbError> {
        let rows = self.db().query(Statement::new("DELETE FROM rate_limits WHERE window_start < ?1", [Value::Integer(window)])).await?;
        Ok(rows.affected)
    }
}
