//! The [`Store`] port on an embedded libSQL file.
//!
//! Durability: the file is in WAL mode with `synchronous = FULL`, so a commit is fsynced
//! before it returns and survives a crash or power loss. Every [`Store::commit`] is one
//! transaction. A lock file next to the database keeps a second client (in this or another
//! process) from opening the same store.

use std::fs::File;
use std::path::{Path, PathBuf};

use libsql::params::Params;
use sync_core::{DocumentId, Heads};
use tokio::sync::Mutex;

use crate::error::StoreError;
use crate::ports::{Commit, DocRecord, Origin, Store, StoredDocument};

/// The schema version this SDK writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    origin TEXT NOT NULL,
    registered INTEGER NOT NULL,
    acked TEXT NOT NULL,
    snapshot BLOB
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    bytes BLOB NOT NULL,
    UNIQUE (doc_id, hash)
);
";

/// A local libSQL database file holding every document of one client.
pub struct LibsqlStore {
    conn: Mutex<libsql::Connection>,
    _db: libsql::Database,
    _lock: File,
    path: PathBuf,
}

impl std::fmt::Debug for LibsqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LibsqlStore({})", self.path.display())
    }
}

impl LibsqlStore {
    /// Opens (creating if needed) the store at `path`. Fails with [`StoreError::InUse`] while
    /// another client has it open.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let lock = lock_file(&path)?;
        let db = libsql::Builder::new_local(&path).build().await.map_err(unavailable)?;
        let conn = db.connect().map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(unavailable)?;
        conn.query("PRAGMA journal_mode = WAL", ()).await.map_err(unavailable)?;
        // FULL: every commit is fsynced before it returns, so a change survives power loss.
        conn.execute("PRAGMA synchronous = FULL", ()).await.map_err(unavailable)?;
        let found = user_version(&conn).await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
        }
        conn.execute_batch(SCHEMA).await.map_err(unavailable)?;
        if found < SCHEMA_VERSION {
            conn.execute(&format!("PRAGMA user_version = {SCHEMA_VERSION}"), ()).await.map_err(unavailable)?;
        }
        Ok(Self { conn: Mutex::new(conn), _db: db, _lock: lock, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn lock_file(db: &Path) -> Result<File, StoreError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", Path::new(&name).display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(db.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!("locking {}: {e}", db.display()))),
    }
}

async fn user_version(conn: &libsql::Connection) -> Result<i64, StoreError> {
    let mut rows = conn.query("PRAGMA user_version", ()).await.map_err(unavailable)?;
    match rows.next().await.map_err(unavailable)? {
        Some(row) => row.get::<i64>(0).map_err(corrupt),
        None => Ok(0),
    }
}

fn unavailable(e: libsql::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn params(values: Vec<libsql::Value>) -> Params {
    Params::Positional(values)
}

impl Store for LibsqlStore {
    async fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let conn = self.conn.lock().await;
        let mut docs = Vec::new();
        let mut rows = conn
            .query("SELECT id, title, origin, registered, acked, snapshot FROM documents ORDER BY id", ())
            .await
            .map_err(unavailable)?;
        while let Some(row) = rows.next().await.map_err(unavailable)? {
            let id: String = row.get(0).map_err(corrupt)?;
            let origin: String = row.get(2).map_err(corrupt)?;
            let acked: String = row.get(4).map_err(corrupt)?;
            let record = DocRecord {
                id: id.parse::<DocumentId>().map_err(|e| corrupt(format!("document id {id:?}: {e}")))?,
                title: row.get(1).map_err(corrupt)?,
                origin: Origin::parse(&origin).ok_or_else(|| corrupt(format!("document {id}: origin {origin:?}")))?,
                registered: row.get::<i64>(3).map_err(corrupt)? != 0,
                acked: Heads::parse_list(&acked, usize::MAX).map_err(|e| corrupt(format!("document {id}: acked heads: {e}")))?,
            };
            let snapshot = match row.get_value(5).map_err(corrupt)? {
                libsql::Value::Blob(b) => Some(b),
                libsql::Value::Null => None,
                other => return Err(corrupt(format!("document {id}: snapshot is {other:?}"))),
            };
            docs.push(StoredDocument { record, snapshot, changes: Vec::new() });
        }
        for doc in &mut docs {
            let mut rows = conn
                .query("SELECT bytes FROM changes WHERE doc_id = ?1 ORDER BY seq", params(vec![doc.record.id.to_string().into()]))
                .await
                .map_err(unavailable)?;
            while let Some(row) = rows.next().await.map_err(unavailable)? {
                doc.changes.push(row.get::<Vec<u8>>(0).map_err(corrupt)?);
            }
        }
        Ok(docs)
    }

    async fn commit(&self, commits: Vec<Commit>) -> Result<(), StoreError> {
        let conn = self.conn.lock().await;
        let tx = conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.map_err(unavailable)?;
        for commit in commits {
            let id = commit.doc_id.to_string();
            if let Some(r) = commit.record {
                tx.execute(
                    "INSERT INTO documents (id, title, origin, registered, acked) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title, origin = excluded.origin,
                        registered = excluded.registered, acked = excluded.acked",
                    params(vec![
                        id.clone().into(),
                        r.title.into(),
                        r.origin.as_str().into(),
                        i64::from(r.registered).into(),
                        r.acked.to_string().into(),
                    ]),
                )
                .await
                .map_err(unavailable)?;
            }
            if let Some(snapshot) = commit.snapshot {
                let updated = tx
                    .execute("UPDATE documents SET snapshot = ?1 WHERE id = ?2", params(vec![snapshot.into(), id.clone().into()]))
                    .await
                    .map_err(unavailable)?;
                if updated != 1 {
                    // Dropping the transaction rolls it back.
                    return Err(corrupt(format!("snapshot for unknown document {id}")));
                }
                tx.execute("DELETE FROM changes WHERE doc_id = ?1", params(vec![id.clone().into()])).await.map_err(unavailable)?;
            }
            for (hash, bytes) in commit.changes {
                tx.execute(
                    "INSERT OR IGNORE INTO changes (doc_id, hash, bytes) VALUES (?1, ?2, ?3)",
                    params(vec![id.clone().into(), hash.0.to_vec().into(), bytes.into()]),
                )
                .await
                .map_err(unavailable)?;
            }
        }
        tx.commit().await.map_err(unavailable)
    }
}
