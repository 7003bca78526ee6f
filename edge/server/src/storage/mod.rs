//! The [`Database`] port on the `libsql` crate, in three modes:
//! - an embedded local file (the default; nothing else to run),
//! - a remote primary over HTTP (sqld or Turso, Hrana protocol),
//! - an embedded replica of a remote primary: reads are local, writes go to the primary.
//!
//! A few connections share the database; single statements take any of them, atomic batches
//! take the writer connection and run inside one transaction (on a local file, together with
//! the batches that arrived while the previous transaction committed: [`group`]).
//!
//! A remote connection is one Hrana stream, which sqld closes after 10 s without a request
//! (`STREAM_EXPIRED`), and the `libsql` crate never opens another on that connection
//! (tursodatabase/libsql#985). So a remote connection idle for [`REMOTE_IDLE`] is replaced
//! before use, and a call that still meets an expired stream is retried once on a new one
//! (the server ran nothing of it).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use edge_app::ports::{BoxFuture, Committed, Database, DbError, ReplicaStatus, Rows, Statement, Value};
use libsql::params::Params;
use tokio::sync::Mutex;

mod errors;
mod group;

use errors::{is_expired, map_err, retry_busy};

const READ_CONNECTIONS: usize = 4;
/// A remote connection unused this long is replaced before its next call (sqld expires its
/// stream at 10 s).
const REMOTE_IDLE: Duration = Duration::from_secs(5);

/// Where the data lives.
#[derive(Clone)]
pub enum Backend {
    Local { path: std::path::PathBuf },
    Remote { url: String, auth_token: String },
    Replica { path: std::path::PathBuf, url: String, auth_token: String, sync_interval: Duration },
}

impl std::fmt::Debug for Backend {
    /// Never prints the auth token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Local { path } => write!(f, "local file {}", path.display()),
            Backend::Remote { url, .. } => write!(f, "remote primary {url}"),
            Backend::Replica { path, url, .. } => write!(f, "embedded replica {} of {url}", path.display()),
        }
    }
}

pub struct LibsqlDatabase {
    db: libsql::Database,
    /// For an embedded replica: how often to pull from the primary (see [`Self::sync_replica`]).
    replica: Option<Duration>,
    /// Frame applied by the last successful replica sync (`u64::MAX`: none yet).
    frame_no: AtomicU64,
    /// When the replica last synced successfully, Unix milliseconds (0: never).
    last_sync_ms: AtomicI64,
    writer: Mutex<Conn>,
    readers: Vec<Mutex<Conn>>,
    next: AtomicUsize,
    /// A remote primary: connections expire when idle (see the module docs).
    remote: bool,
    /// A local file: atomic batches are committed in groups ([`group`]).
    local: bool,
    group: std::sync::Mutex<group::Queue>,
    me: group::SelfRef,
}

/// A pooled connection, when it last served a call and, on a local file, its prepared
/// statements.
struct Conn {
    conn: libsql::Connection,
    used: std::time::Instant,
    prepared: Option<Prepared>,
}

/// Statements prepared once per connection to a local file, by their SQL text. Parsing and
/// planning the store's statements on every call (the fast path's lookup is one long
/// statement) took about a third of the native server's CPU per sync on a shared document
/// (perf, docs/benchmarks.md), and the `libsql` crate keeps no statement cache of its own.
/// The store's SQL texts are constants (`&'static str`), so the map holds at most one entry per
/// statement in the binary. Remote connections prepare nothing locally (sqld does), so they
/// keep none.
type Prepared = HashMap<&'static str, libsql::Statement>;

impl Conn {
    fn new(conn: libsql::Connection, local: bool) -> Self {
        Conn { conn, used: std::time::Instant::now(), prepared: local.then(HashMap::new) }
    }

    async fn run(&mut self, statement: &Statement) -> Result<Rows, DbError> {
        run(&self.conn, self.prepared.as_mut(), statement).await
    }
}

impl LibsqlDatabase {
    /// Opens (creating if needed) a local database file.
    pub async fn open_local(path: &Path) -> Result<Arc<Self>, DbError> {
        Self::open(Backend::Local { path: path.to_owned() }).await
    }

    pub async fn open(backend: Backend) -> Result<Arc<Self>, DbError> {
        let remote = matches!(backend, Backend::Remote { .. });
        let (db, local, replica) = match backend {
            Backend::Local { path } => {
                create_parent(&path)?;
                (libsql::Builder::new_local(path).build().await.map_err(map_err)?, true, None)
            }
            Backend::Remote { url, auth_token } => (libsql::Builder::new_remote(url, auth_token).build().await.map_err(map_err)?, false, None),
            Backend::Replica { path, url, auth_token, sync_interval } => {
                create_parent(&path)?;
                // read_your_writes: after a write the replica pulls the primary's new frames
                // before the next read. Periodic pulls are `sync_replica`'s (see serve).
                let db = libsql::Builder::new_remote_replica(path, url, auth_token).read_your_writes(true).build().await.map_err(map_err)?;
                (db, false, Some(sync_interval))
            }
        };
        let writer = connect(&db, local).await?;
        if local {
            writer.query("PRAGMA journal_mode = WAL", ()).await.map_err(map_err)?;
        }
        let mut readers = Vec::with_capacity(READ_CONNECTIONS);
        for _ in 0..READ_CONNECTIONS {
            readers.push(Mutex::new(Conn::new(connect(&db, local).await?, local)));
        }
        let this = Arc::new_cyclic(|me| Self {
            db,
            replica,
            frame_no: AtomicU64::new(u64::MAX),
            last_sync_ms: AtomicI64::new(0),
            writer: Mutex::new(Conn::new(writer, local)),
            readers,
            next: AtomicUsize::new(0),
            remote,
            local,
            group: Default::default(),
            me: me.clone(),
        });
        this.sync_replica().await?;
        Ok(this)
    }

    /// For an embedded replica, how often it should pull from the primary.
    pub fn replica_sync_interval(&self) -> Option<Duration> {
        self.replica
    }

    /// Pulls the primary's latest frames into an embedded replica (a no-op otherwise) and
    /// records when, for [`Database::replica_status`]. Returns the frame number after syncing.
    pub async fn sync_replica(&self) -> Result<Option<u64>, DbError> {
        if self.replica.is_none() {
            return Ok(None);
        }
        let frame_no = self.db.sync().await.map_err(map_err)?.frame_no();
        self.frame_no.store(frame_no.unwrap_or(u64::MAX), Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        self.last_sync_ms.store(now, Ordering::Relaxed);
        Ok(frame_no)
    }
}

fn create_parent(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| DbError::Unavailable(format!("{}: {e}", dir.display()))),
        _ => Ok(()),
    }
}

async fn connect(db: &libsql::Database, local: bool) -> Result<libsql::Connection, DbError> {
    let conn = db.connect().map_err(map_err)?;
    if local {
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
        // FULL: a commit is fsynced before it returns, so an acknowledged edit survives power loss.
        conn.execute("PRAGMA synchronous = FULL", ()).await.map_err(map_err)?;
        // Temporary tables and indexes (a sort, an `IN` list) in memory: left to files, SQLite
        // created and deleted a file in /var/tmp for about one sync in three.
        conn.execute("PRAGMA temp_store = MEMORY", ()).await.map_err(map_err)?;
    }
    Ok(conn)
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

/// Whether an unprepared statement produces rows (then `query`), or only a count (then
/// `execute`, the only call that reports affected rows on every backend, remote ones included).
/// A prepared one says so itself (its column count).
fn returns_rows(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or("").to_ascii_uppercase();
    head.starts_with("SELECT") || head.starts_with("WITH") || head.starts_with("PRAGMA") || sql.to_ascii_uppercase().contains(" RETURNING ")
}

/// Runs `statement` on `conn`, through `prepared` when given (its parameters are copied into
/// libSQL's values, so a retry needs no copy of the statement).
async fn run(conn: &libsql::Connection, prepared: Option<&mut Prepared>, statement: &Statement) -> Result<Rows, DbError> {
    let params = Params::Positional(statement.params.iter().cloned().map(to_libsql).collect());
    let Some(prepared) = prepared else {
        // Remote connections: no prepare of our own (for Hrana it is a describe request more
        // per write). `execute` is the call that reports affected rows on every backend.
        if !returns_rows(statement.sql) {
            let affected = conn.execute(statement.sql, params).await.map_err(map_err)?;
            return Ok(Rows { rows: Vec::new(), affected });
        }
        return collect(conn.query(statement.sql, params).await.map_err(map_err)?).await;
    };
    let stmt = match prepared.entry(statement.sql) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(conn.prepare(statement.sql).await.map_err(map_err)?),
    };
    // A reset statement keeps its last bindings, so a call with fewer parameters than the SQL
    // names would silently reuse the previous call's.
    if stmt.parameter_count() != statement.params.len() {
        return Err(DbError::Other(format!("{} parameters for a statement taking {}", statement.params.len(), stmt.parameter_count())));
    }
    // Reset before (a run cut short leaves nothing behind) and after: a statement left
    // mid-result would hold its read snapshot open.
    stmt.reset();
    let result = step(stmt, params).await;
    stmt.reset();
    result
}

/// Binds `params` to the prepared `stmt` and runs it to the end. A statement with result
/// columns (a query, or a write with RETURNING) is read row by row; one without reports the
/// rows it changed.
async fn step(stmt: &libsql::Statement, params: Params) -> Result<Rows, DbError> {
    if stmt.column_count() == 0 {
        let affected = stmt.execute(params).await.map_err(map_err)? as u64;
        return Ok(Rows { rows: Vec::new(), affected });
    }
    collect(stmt.query(params).await.map_err(map_err)?).await
}

/// Reads every row of `rows`.
async fn collect(mut rows: libsql::Rows) -> Result<Rows, DbError> {
    let columns = rows.column_count();
    let mut out = Vec::new();
    while let Some(row) = rows.next().await.map_err(map_err)? {
        let mut values = Vec::with_capacity(columns as usize);
        for i in 0..columns {
            values.push(from_libsql(row.get_value(i).map_err(map_err)?));
        }
        out.push(values);
    }
    Ok(Rows { rows: out, affected: 0 })
}

impl Database for LibsqlDatabase {
    fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica?;
        let frame_no = Some(self.frame_no.load(Ordering::Relaxed)).filter(|&f| f != u64::MAX);
        Some(ReplicaStatus { frame_no, last_sync_ms: self.last_sync_ms.load(Ordering::Relaxed) })
    }

    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>> {
        // sqld answers a read BUSY now and then too (seen under concurrent writes in
        // scripts/bench-edges.sh: several clients' syncs failed at the same instant).
        Box::pin(async move { retry_busy(|| self.query_once(&statement)).await })
    }

    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        self.batch_then(statements, Box::new(|| ()))
    }

    fn batch_then(&self, statements: Vec<Statement>, committed: Committed) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        // Another writer holding the primary's write lock (other edges, other processes)
        // makes a transaction fail with BUSY; waiting briefly is better than a 503.
        Box::pin(async move {
            if self.local {
                // Shared, not copied, by every attempt; `committed` runs in the group that commits.
                let statements: Arc<[Statement]> = statements.into();
                let committed = group::Hook::new(committed);
                return retry_busy(|| self.batch_grouped(statements.clone(), committed.clone())).await;
            }
            let rows = retry_busy(|| self.batch_once(&statements)).await?;
            committed();
            Ok(rows)
        })
    }

    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(async move {
            let mut conn = self.writer.lock().await;
            self.refresh(&mut conn, false).await?;
            conn.conn.execute_batch(sql).await.map_err(map_err)?;
            Ok(())
        })
    }
}

impl LibsqlDatabase {
    async fn query_once(&self, statement: &Statement) -> Result<Rows, DbError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let mut conn = self.readers[i].lock().await;
        self.refresh(&mut conn, false).await?;
        match conn.run(statement).await {
            Err(e) if is_expired(&e) => {
                self.refresh(&mut conn, true).await?;
                conn.run(statement).await
            }
            result => result,
        }
    }

    /// Replaces a remote connection that sat idle long enough for sqld to expire its stream
    /// (or whose stream expired anyway, `now`).
    async fn refresh(&self, conn: &mut Conn, now: bool) -> Result<(), DbError> {
        if self.remote && (now || conn.used.elapsed() >= REMOTE_IDLE) {
            conn.conn = connect(&self.db, false).await?;
        }
        conn.used = std::time::Instant::now();
        Ok(())
    }

    async fn batch_once(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let mut conn = self.writer.lock().await;
        self.refresh(&mut conn, false).await?;
        match self.transaction(&mut conn, statements).await {
            Err(e) if is_expired(&e) => {
                self.refresh(&mut conn, true).await?;
                self.transaction(&mut conn, statements).await
            }
            result => result,
        }
    }

    async fn transaction(&self, conn: &mut Conn, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let tx = conn.conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.map_err(map_err)?;
        match run_all(&tx, conn.prepared.as_mut(), statements).await {
            Ok(results) => {
                tx.commit().await.map_err(map_err)?;
                Ok(results)
            }
            Err(e) => {
                tx.rollback().await.map_err(map_err)?;
                Err(e)
            }
        }
    }
}

/// Runs `statements` one after another, stopping at the first that fails.
async fn run_all(conn: &libsql::Connection, mut prepared: Option<&mut Prepared>, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
    let mut rows = Vec::with_capacity(statements.len());
    for s in statements {
        rows.push(run(conn, prepared.as_deref_mut(), s).await?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prepared statement keeps its last bindings when reset: a call with fewer parameters
    /// than its SQL names must fail rather than reuse them (on every reader connection).
    #[tokio::test]
    async fn a_prepared_statement_takes_exactly_its_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let db = LibsqlDatabase::open_local(&dir.path().join("db")).await.unwrap();
        const SQL: &str = "SELECT ?1, ?2";
        for _ in 0..READ_CONNECTIONS {
            let rows = db.query(Statement::new(SQL, [Value::Integer(1), Value::Integer(2)])).await.unwrap();
            assert_eq!(rows.rows, [[Value::Integer(1), Value::Integer(2)]]);
        }
        for _ in 0..READ_CONNECTIONS {
            assert!(matches!(db.query(Statement::new(SQL, [Value::Integer(3)])).await, Err(DbError::Other(_))));
        }
    }
}
