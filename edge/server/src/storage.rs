//! The [`Database`] port on the `libsql` crate: an embedded local file (the default).
//!
//! A few connections share the file in WAL mode; single statements take any of them, atomic
//! batches take the writer connection and run inside one transaction.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edge_app::ports::{BoxFuture, Database, DbError, Rows, Statement, Value};
use libsql::params::Params;
use tokio::sync::Mutex;

const READ_CONNECTIONS: usize = 4;
/// SQLite's primary result code for constraint violations (incl. RAISE(ABORT) in triggers).
const SQLITE_CONSTRAINT: i32 = 19;

pub struct LibsqlDatabase {
    _db: libsql::Database,
    writer: Mutex<libsql::Connection>,
    readers: Vec<Mutex<libsql::Connection>>,
    next: AtomicUsize,
}

impl LibsqlDatabase {
    /// Opens (creating if needed) a local database file.
    pub async fn open_local(path: &Path) -> Result<Arc<Self>, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let db = libsql::Builder::new_local(path).build().await.map_err(map_err)?;
        let writer = connect(&db).await?;
        writer.query("PRAGMA journal_mode = WAL", ()).await.map_err(map_err)?;
        let mut readers = Vec::with_capacity(READ_CONNECTIONS);
        for _ in 0..READ_CONNECTIONS {
            readers.push(Mutex::new(connect(&db).await?));
        }
        Ok(Arc::new(Self { _db: db, writer: Mutex::new(writer), readers, next: AtomicUsize::new(0) }))
    }
}

async fn connect(db: &libsql::Database) -> Result<libsql::Connection, DbError> {
    let conn = db.connect().map_err(map_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
    conn.execute("PRAGMA synchronous = NORMAL", ()).await.map_err(map_err)?;
    Ok(conn)
}

fn map_err(e: libsql::Error) -> DbError {
    match e {
        libsql::Error::SqliteFailure(code, msg) if code & 0xff == SQLITE_CONSTRAINT => DbError::Constraint(msg),
        // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN: the database, not the request.
        libsql::Error::SqliteFailure(code, msg) if matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14) => DbError::Unavailable(msg),
        libsql::Error::ConnectionFailed(msg) => DbError::Unavailable(msg),
        other => DbError::Other(other.to_string()),
    }
}

fn to_libsql(v: Value) -> libsql::Value {
    match v {
        Value::Null => libsql::Value::Null,
        Value::Integer(i) => libsql::Value::Integer(i),
        Value::Real(f) => libsql::Value::Real(f),
        Value::Text(s) => libsql::Value::Text(s),
        Value::Blob(b) => libsql::Value::Blob(b),
    }
}

fn from_libsql(v: libsql::Value) -> Value {
    match v {
        libsql::Value::Null => Value::Null,
        libsql::Value::Integer(i) => Value::Integer(i),
        libsql::Value::Real(f) => Value::Real(f),
        libsql::Value::Text(s) => Value::Text(s),
        libsql::Value::Blob(b) => Value::Blob(b),
    }
}

async fn run(conn: &libsql::Connection, statement: Statement) -> Result<Rows, DbError> {
    let params = Params::Positional(statement.params.into_iter().map(to_libsql).collect());
    let before = conn.total_changes();
    let mut rows = conn.query(statement.sql, params).await.map_err(map_err)?;
    let columns = rows.column_count();
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.map_err(map_err)? {
        let mut values = Vec::with_capacity(columns as usize);
        for i in 0..columns {
            values.push(from_libsql(row.get_value(i).map_err(map_err)?));
        }
        out.push(values);
    }
    drop(rows);
    Ok(Rows { rows: out, affected: conn.total_changes() - before })
}

impl Database for LibsqlDatabase {
    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>> {
        Box::pin(async move {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
            let conn = self.readers[i].lock().await;
            run(&conn, statement).await
        })
    }

    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        Box::pin(async move {
            let conn = self.writer.lock().await;
            let tx = conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.map_err(map_err)?;
            let mut results = Vec::with_capacity(statements.len());
            for s in statements {
                match run(&tx, s).await {
                    Ok(rows) => results.push(rows),
                    Err(e) => {
                        tx.rollback().await.map_err(map_err)?;
                        return Err(e);
                    }
                }
            }
            tx.commit().await.map_err(map_err)?;
            Ok(results)
        })
    }

    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(async move {
            let conn = self.writer.lock().await;
            conn.execute_batch(sql).await.map_err(map_err)?;
            Ok(())
        })
    }
}
