//! The SQL storage port: statements with bound parameters, run one at a time or as an atomic
//! batch. Every backend (local libSQL file, libSQL over HTTP, embedded replica) implements
//! this and passes the same conformance suite; all queries live once, in [`crate::store`].

use super::BoxFuture;

/// A SQL value, as SQLite/libSQL types them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One SQL statement and its positional parameters (`?1`, `?2`, …). Values are always bound,
/// never spliced into the SQL text.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: &'static str,
    pub params: Vec<Value>,
}

impl Statement {
    pub fn new(sql: &'static str, params: impl IntoIterator<Item = Value>) -> Self {
        Self { sql, params: params.into_iter().collect() }
    }
}

/// The rows a statement returned (empty for statements that return none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub rows: Vec<Vec<Value>>,
    /// Rows changed by an INSERT/UPDATE/DELETE.
    pub affected: u64,
}

/// What [`Database::batch_then`] runs once a batch has committed.
pub type Committed = Box<dyn FnOnce() + Send>;

/// Why a database call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or is read-only right now (e.g. the primary is down);
    /// callers answer 503 and clients retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A constraint or guard trigger aborted the statement (e.g. an optimistic version check).
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// Anything else: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Other(String),
}

pub trait Database: Send + Sync + 'static {
    /// Runs one statement (reads may be served by a replica).
    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>>;

    /// Runs statements in order inside one transaction on the primary: either all take
    /// effect or none does. Returns one `Rows` per statement.
    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>>;

    /// [`Database::batch`], then `committed` once the statements have committed (not when they
    /// fail). A backend that commits batches in an order of its own (the native server's group
    /// commit) runs it before the next transaction commits, so what follows commits in memory
    /// (the sync's kept tails) follows them in the database's order; the others run it when
    /// the batch returns.
    fn batch_then(&self, statements: Vec<Statement>, committed: Committed) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        Box::pin(async move {
            let rows = self.batch(statements).await?;
            committed();
            Ok(rows)
        })
    }

    /// Runs a script of statements without parameters (migrations), outside a transaction.
    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>>;

    /// How fresh the local copy is, for backends that keep one (an embedded replica); `None`
    /// for backends that query a server (which may itself be a replica).
    fn replica_status(&self) -> Option<ReplicaStatus> {
        None
    }
}

/// The state of an embedded replica, as last synced from the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The primary's replication frame the replica has applied (`None` before any frame).
    pub frame_no: Option<u64>,
    /// When the replica last synced successfully (Unix milliseconds; 0 = never).
    pub last_sync_ms: i64,
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }

    pub fn into_blob(self) -> Option<Vec<u8>> {
        match self {
            Value::Blob(b) => Some(b),
            Value::Null => None,
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<Option<Vec<u8>>> for Value {
    fn from(v: Option<Vec<u8>>) -> Self {
        v.map_or(Value::Null, Value::Blob)
    }
}
