//! All SQL lives here, written once over the [`Database`] port and shared by every backend.

mod change_index;
mod changes;
mod damaged;
mod documents;
mod idempotency;
mod members;
mod presence;
mod provider_keys;
pub mod migrations;
mod rate_limit;

use std::sync::Arc;

pub use changes::{ChangesAfter, DocState, DocWrite, Tip};
pub use damaged::DamagedDocument;
pub use documents::DocumentRow;
pub use presence::{NewPresence, PresenceRow};
pub use idempotency::IdempotencyRecord;
pub use provider_keys::ProviderKeysRow;

use crate::ports::{Database, DbError, Value};

/// The app's view of its database.
#[derive(Clone)]
pub struct Store {
    db: Arc<dyn Database>,
}

impl Store {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &dyn Database {
        self.db.as_ref()
    }
}

fn text(v: &Value) -> Result<String, DbError> {
    v.as_str().map(str::to_owned).ok_or_else(|| DbError::Other(format!("expected text, got {v:?}")))
}

/// `value` as JSON text, the form a list is bound in (read back with `json_each`).
fn json(value: &impl serde::Serialize) -> Result<Value, DbError> {
    serde_json::to_string(value).map(Value::from).map_err(|e| DbError::Other(e.to_string()))
}

fn int(v: &Value) -> Result<i64, DbError> {
    v.as_i64().ok_or_else(|| DbError::Other(format!("expected integer, got {v:?}")))
}

/// The integer in the first column of the first row (a `COUNT(*)` or a `RETURNING` counter),
/// or `default` when there is no row.
fn first_int(rows: &crate::ports::Rows, default: i64) -> Result<i64, DbError> {
    rows.rows.first().and_then(|r| r.first()).map_or(Ok(default), int)
}
