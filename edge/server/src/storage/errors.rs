//! How the `libsql` crate's errors map to [`DbError`], and the retries they call for.

use std::time::Duration;

use edge_app::ports::DbError;

/// SQLite's primary result code for constraint violations (incl. RAISE(ABORT) in triggers).
const SQLITE_CONSTRAINT: i32 = 19;

pub(super) fn map_err(e: libsql::Error) -> DbError {
    match e {
        libsql::Error::SqliteFailure(code, msg) if code & 0xff == SQLITE_CONSTRAINT => DbError::Constraint(msg),
        // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN: the database, not the request.
        libsql::Error::SqliteFailure(code, msg) if matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14) => DbError::Unavailable(msg),
        // (write-delegation status, SQLite extended code, message)
        libsql::Error::RemoteSqliteFailure(_, code, msg) if code & 0xff == SQLITE_CONSTRAINT => DbError::Constraint(msg),
        libsql::Error::RemoteSqliteFailure(_, code, msg) if matches!(code & 0xff, 5 | 6) => DbError::Unavailable(msg),
        libsql::Error::ConnectionFailed(msg) => DbError::Unavailable(msg),
        // Remote errors arrive as text: SQL errors name their SQLite code, anything else is
        // the network or the server.
        libsql::Error::Hrana(e) | libsql::Error::WriteDelegation(e) | libsql::Error::Replication(e) => classify_remote(e.to_string()),
        other => DbError::Other(other.to_string()),
    }
}

fn classify_remote(msg: String) -> DbError {
    if is_busy(&msg) {
        DbError::Unavailable(msg)
    } else if msg.contains("SQLITE_CONSTRAINT") || msg.contains("constraint failed") {
        DbError::Constraint(msg)
    } else if msg.contains("SQLITE_") || msg.contains("SQL ") || msg.contains("no such") {
        DbError::Other(msg)
    } else {
        DbError::Unavailable(msg)
    }
}

/// Runs `call` until it does not fail with BUSY, waiting 5 ms, 10 ms, … (about 1.3 s in all).
pub(super) async fn retry_busy<T, F: std::future::Future<Output = Result<T, DbError>>>(call: impl Fn() -> F) -> Result<T, DbError> {
    let mut delay = Duration::from_millis(5);
    loop {
        match call().await {
            Err(DbError::Unavailable(msg)) if is_busy(&msg) && delay < Duration::from_secs(1) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            result => return result,
        }
    }
}

/// sqld closed the connection's stream (idle for 10 s): nothing of the call ran.
pub(super) fn is_expired(e: &DbError) -> bool {
    matches!(e, DbError::Unavailable(msg) if msg.contains("STREAM_EXPIRED") || msg.contains("stream has expired"))
}

pub(super) fn is_busy(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("busy") || m.contains("locked")
}
