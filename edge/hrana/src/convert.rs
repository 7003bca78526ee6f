//! Conversions between the app's SQL values and Hrana's wire values.

use std::sync::Arc;

use edge_app::ports::{DbError, Rows, Statement, Value};
use libsql_hrana::proto;

/// `statement` on the wire (its parameters are copied, so a retry needs no copy of the statement).
pub(crate) fn stmt(statement: &Statement, want_rows: bool) -> proto::Stmt {
    let mut s = proto::Stmt::new(statement.sql, want_rows);
    for v in &statement.params {
        s.bind(to_wire(v));
    }
    s
}

fn to_wire(v: &Value) -> proto::Value {
    match v {
        Value::Null => proto::Value::Null,
        Value::Integer(value) => proto::Value::Integer { value: *value },
        Value::Real(value) => proto::Value::Float { value: *value },
        Value::Text(s) => proto::Value::Text { value: Arc::from(s.as_str()) },
        Value::Blob(b) => proto::Value::Blob { value: b.clone().into() },
    }
}

fn from_wire(v: proto::Value) -> Value {
    match v {
        proto::Value::None | proto::Value::Null => Value::Null,
        proto::Value::Integer { value } => Value::Integer(value),
        proto::Value::Float { value } => Value::Real(value),
        proto::Value::Text { value } => Value::Text(value.to_string()),
        proto::Value::Blob { value } => Value::Blob(value.to_vec()),
    }
}

pub(crate) fn rows(result: proto::StmtResult) -> Rows {
    Rows {
        rows: result.rows.into_iter().map(|r| r.values.into_iter().map(from_wire).collect()).collect(),
        affected: result.affected_row_count,
    }
}

/// Maps a Hrana error to the port's error: constraint violations (including a trigger's
/// `RAISE(ABORT)`) are `Constraint`; other SQL errors are `Other`.
pub(crate) fn error(e: proto::Error) -> DbError {
    if e.code.starts_with("SQLITE_CONSTRAINT") || e.message.contains("constraint failed") {
        DbError::Constraint(e.message)
    } else if e.code == "SQLITE_BUSY" || e.code == "SQLITE_READONLY" {
        DbError::Unavailable(format!("{}: {}", e.code, e.message))
    } else {
        DbError::Other(format!("{}: {}", e.code, e.message))
    }
}
