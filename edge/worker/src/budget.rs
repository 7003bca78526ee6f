//! What a Durable Object may spend per period of wall-clock time — registrations with other
//! objects, relayed presence — counted in its SQLite storage, so a count survives the object
//! being evicted and rebuilt.

use serde::Deserialize;
use worker::State;

use crate::room::now_ms;

#[derive(Deserialize)]
struct Row {
    period: i64,
    spent: i64,
}

/// Counts `n` against `name`'s budget of `limit` per `period_ms`; false (nothing counted) if
/// that would exceed it.
pub fn spend(state: &State, name: &str, period_ms: i64, limit: u32, n: usize) -> worker::Result<bool> {
    let sql = state.storage().sql();
    sql.exec("CREATE TABLE IF NOT EXISTS budgets (name TEXT PRIMARY KEY, period INTEGER NOT NULL, spent INTEGER NOT NULL) WITHOUT ROWID", None)?;
    let period = now_ms().div_euclid(period_ms);
    let row = sql.exec("SELECT period, spent FROM budgets WHERE name = ?", vec![name.into()])?.to_array::<Row>()?.pop();
    let spent = row.filter(|r| r.period == period).map_or(0, |r| r.spent);
    let total = spent.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    if total > i64::from(limit) {
        return Ok(false);
    }
    sql.exec(
        "INSERT INTO budgets (name, period, spent) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET period = excluded.period, spent = excluded.spent",
        vec![name.into(), period.into(), total.into()],
    )?;
    Ok(true)
}
