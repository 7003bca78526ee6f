//! A document's sync state (snapshot + change log) and the guarded writes that move it.

use std::collections::{HashMap, HashSet};

use sync_core::ChangeHash;
use sync_core::server::NewChange;

use super::change_index::op;
use super::{Store, int, json, text};
use crate::ports::{DbError, Statement, UnixMillis, Value};

/// Everything needed to merge into a document, read in one consistent statement.
#[derive(Debug, Clone, Default)]
pub struct DocState {
    /// Current heads, comma-separated hex (see [`sync_core::Heads`]'s text form).
    pub heads: String,
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
    /// Highest `seq` among `changes` (0 when there are none).
    pub max_seq: i64,
}

/// A document's change rows after some `seq` ([`Store::changes_after`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangesAfter {
    /// Current heads, comma-separated hex, sorted.
    pub heads: String,
    pub changes: Vec<Vec<u8>>,
    /// The highest `seq` read (the one asked for when there are no rows).
    pub max_seq: i64,
}

/// A document's heads and size: what a sync reads before deciding how to merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    /// Comma-separated hex, sorted.
    pub heads: String,
    /// Bytes of the snapshot and the change rows.
    pub stored_bytes: i64,
}

/// The changes one sync stores in one document.
#[derive(Debug, Clone)]
pub struct DocWrite {
    pub doc_id: String,
    pub changes: Vec<NewChange>,
}

impl Store {
    /// Loads a document's state; `None` if the document does not exist.
    pub async fn load_state(&self, doc_id: &str) -> Result<Option<DocState>, DbError> {
        Ok(self.load_states(&[doc_id]).await?.remove(doc_id))
    }

    /// Loads the state of each of `doc_ids` that exists, in one statement (a UNION of the
    /// documents' snapshot rows, their heads and their change rows), so each state's parts are
    /// consistent with each other on every backend, and a batch costs one round trip however
    /// many documents it names. The caller bounds how many bytes it asks for at once.
    pub async fn load_states(&self, doc_ids: &[&str]) -> Result<HashMap<String, DocState>, DbError> {
        const SQL: &str = concat!(
            "WITH wanted AS (SELECT value AS id FROM json_each(?1)) ",
            "SELECT d.id, 0, 0, NULL, s.bytes FROM documents d LEFT JOIN snapshots s ON s.doc_id = d.id WHERE d.id IN wanted ",
            "UNION ALL SELECT h.doc_id, 1, 0, h.hash, NULL FROM heads h WHERE h.doc_id IN wanted ",
            "UNION ALL SELECT c.doc_id, 2, c.seq, NULL, c.bytes FROM changes c WHERE c.doc_id IN wanted ORDER BY 1, 2, 3"
        );
        let rows = self.db().query(Statement::new(SQL, [json(&doc_ids)?])).await?;
        let mut states: HashMap<String, DocState> = HashMap::with_capacity(doc_ids.len());
        let mut heads: HashMap<String, Vec<String>> = HashMap::new();
        for row in rows.rows {
            let mut r = row.into_iter();
            let mut next = || r.next().unwrap_or(Value::Null);
            let (id, kind, seq, hash, bytes) = (text(&next())?, next(), next(), next(), next());
            match int(&kind)? {
                0 => {
                    states.insert(id, DocState { snapshot: bytes.into_blob(), ..DocState::default() });
                }
                1 => heads.entry(id).or_default().push(text(&hash)?),
                _ => {
                    // Rows come ordered by document, kind and seq: its snapshot row is in.
                    let state = states.get_mut(&id).ok_or_else(|| DbError::Other(format!("change rows of {id} without its document")))?;
                    state.max_seq = int(&seq)?;
                    state.changes.push(bytes.into_blob().ok_or_else(|| DbError::Other("change without bytes".into()))?);
                }
            }
        }
        for (id, mut hashes) in heads {
            if let Some(state) = states.get_mut(&id) {
                hashes.sort_unstable();
                state.heads = hashes.join(",");
            }
        }
        Ok(states)
    }

    /// The document's heads and its change rows after `seq`, in order, read together (one
    /// statement): what a copy loaded up to `seq` lacks. `None` when the document does not
    /// exist, or a snapshot now covers rows after `seq` (compaction folded rows the copy lacks:
    /// load it whole).
    pub async fn changes_after(&self, doc_id: &str, seq: i64) -> Result<Option<ChangesAfter>, DbError> {
        const SQL: &str = concat!(
            "SELECT 0, 0, h.hash FROM heads h WHERE h.doc_id = ?1 ",
            "UNION ALL SELECT 1, s.covers_seq, NULL FROM snapshots s WHERE s.doc_id = ?1 ",
            "UNION ALL SELECT 2, 0, NULL FROM documents d WHERE d.id = ?1 ",
            "UNION ALL SELECT 3, c.seq, c.bytes FROM changes c WHERE c.doc_id = ?1 AND c.seq > ?2 ORDER BY 1, 2"
        );
        let rows = self.db().query(Statement::new(SQL, [doc_id.into(), Value::Integer(seq)])).await?;
        let (mut heads, mut exists, mut after) = (Vec::new(), false, ChangesAfter { heads: String::new(), changes: Vec::new(), max_seq: seq });
        for row in rows.rows {
            let mut r = row.into_iter();
            let mut next = || r.next().unwrap_or(Value::Null);
            let (kind, number, value) = (int(&next())?, int(&next())?, next());
            match kind {
                0 => heads.push(text(&value)?),
                1 if number > seq => return Ok(None),
                1 => {}
                2 => exists = true,
                _ => {
                    after.max_seq = number;
                    after.changes.push(value.into_blob().ok_or_else(|| DbError::Other("change without bytes".into()))?);
                }
            }
        }
        heads.sort_unstable();
        after.heads = heads.join(",");
        Ok(exists.then_some(after))
    }

    /// A document's current heads (comma-separated hex, sorted), or `None` if it does not exist.
    /// One indexed read, whatever the document's size: enough for the append fast path (a sync
    /// reads them for a whole batch with the roles, [`Store::roles_and_tips`]).
    pub async fn load_heads(&self, doc_id: &str) -> Result<Option<String>, DbError> {
        const SQL: &str = "SELECT h.hash FROM documents d LEFT JOIN heads h ON h.doc_id = d.id WHERE d.id = ?1";
        let rows = self.db().query(Statement::new(SQL, [doc_id.into()])).await?;
        if rows.rows.is_empty() {
            return Ok(None);
        }
        let mut heads = Vec::with_capacity(rows.rows.len());
        for row in rows.rows {
            match row.into_iter().next() {
                Some(Value::Null) | None => {}
                Some(hash) => heads.push(text(&hash)?),
            }
        }
        heads.sort_unstable();
        Ok(Some(heads.join(",")))
    }

    /// Stores every document's new changes of one request in one transaction, and moves each
    /// document's heads: add the changes that were new, drop everything they depend on.
    ///
    /// Writers never conflict: changes are immutable and keyed by hash, and the heads update
    /// is computed inside the transaction from what the table holds at that moment.
    pub async fn commit_sync(&self, writes: &[DocWrite], now: UnixMillis) -> Result<(), DbError> {
        let statements = Self::sync_statements(writes, now)?;
        if statements.is_empty() {
            return Ok(());
        }
        self.db().batch(statements).await?;
        Ok(())
    }

    /// The statements [`Self::commit_sync`] runs in one batch, for a caller that commits more
    /// with them. Each change is a row inserted into `change_writes`, whose trigger stores it
    /// and, when it was new, makes it a head, counts it and places it in the document's order
    /// (migration 8); a last statement per document drops every head the changes depend on.
    /// A write of a few changes inserts each with its own statement (plain bound values); a
    /// longer one inserts them all with one statement over a list (one JSON array, the changes'
    /// bytes as one blob they are cut from): a push of a thousand changes is two statements.
    /// Side by side (docs/benchmarks.md), one statement per change was 3% faster than the list
    /// for shared documents' one or two, and the list 8% faster for an offline client's 1,000.
    pub fn sync_statements(writes: &[DocWrite], now: UnixMillis) -> Result<Vec<Statement>, DbError> {
        const STORE_ONE: &str = "INSERT INTO change_writes (doc_id, hash, hash_bytes, bytes, actor, seq, start_op, last_op, deps, head, now) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
        const STORE_LIST: &str = concat!(
            "INSERT INTO change_writes (doc_id, hash, hash_bytes, bytes, actor, seq, start_op, last_op, deps, head, now) ",
            "SELECT ?1, hash, substr(?3, 32 * k + 1, 32), substr(?4, off + 1, len), actor, seq, start_op, last_op, deps, head, ?5 FROM (",
            "SELECT key AS k, json_extract(value, '$[0]') AS hash, json_extract(value, '$[1]') AS off, json_extract(value, '$[2]') AS len, ",
            "json_extract(value, '$[3]') AS actor, json_extract(value, '$[4]') AS seq, json_extract(value, '$[5]') AS start_op, ",
            // `LIMIT -1` keeps the subquery from being merged into the INSERT's SELECT, which
            // would parse `off` and `len` twice.
            "json_extract(value, '$[6]') AS last_op, json_extract(value, '$[7]') AS deps, json_extract(value, '$[8]') AS head ",
            "FROM json_each(?2) ORDER BY key LIMIT -1)"
        );
        let mut statements = Vec::new();
        for w in writes.iter().filter(|w| !w.changes.is_empty()) {
            let doc = || Value::from(w.doc_id.as_str());
            // The changes of this write another of them depends on: never heads once it is done.
            let depended: HashSet<ChangeHash> = w.changes.iter().flat_map(|c| c.deps.iter().copied()).collect();
            if w.changes.len() < LISTED_FROM {
                for c in &w.changes {
                    let f = ChangeFields::of(c, &depended);
                    let (hash, bytes, actor, deps) = (f.hash.into(), c.hash.0.to_vec().into(), f.actor.into(), f.deps.into());
                    let [seq, start_op, last_op] = [f.seq, f.start_op, f.last_op].map(op);
                    let (head, now) = (Value::Integer(i64::from(f.head)), Value::Integer(now.0));
                    statements.push(Statement::new(STORE_ONE, [doc(), hash, bytes, c.bytes.clone().into(), actor, seq, start_op, last_op, deps, head, now]));
                }
            } else {
                let list = ChangeList::of(&w.changes, &depended)?;
                statements.push(Statement::new(STORE_LIST, [doc(), list.json, list.hashes.into(), list.bytes.into(), Value::Integer(now.0)]));
            }
            statements.push(Statement::new(
                "DELETE FROM heads WHERE doc_id = ?1 AND hash IN (SELECT value FROM json_each(?2))",
                [doc(), json(&depended.iter().map(ToString::to_string).collect::<Vec<_>>())?],
            ));
        }
        Ok(statements)
    }

    /// Stores a snapshot covering every change row with `seq <= covers_seq` and deletes those
    /// rows. A snapshot only ever replaces one that covers less, so two compactions racing
    /// cannot roll a document back, and rows written meanwhile (higher `seq`) stay.
    pub async fn commit_compaction(&self, doc_id: &str, snapshot: Vec<u8>, heads: &str, covers_seq: i64, now: UnixMillis) -> Result<(), DbError> {
        let doc = || Value::from(doc_id);
        self.db()
            .batch(vec![
                Statement::new(
                    concat!(
                        // Only while the newest folded row still exists: if the document was deleted
                        // meanwhile (and perhaps created again), the snapshot must not bring it back.
                        "INSERT INTO snapshots (doc_id, heads, bytes, covers_seq, created_at) SELECT ?1, ?2, ?3, ?4, ?5 ",
                        "WHERE EXISTS (SELECT 1 FROM changes WHERE doc_id = ?1 AND seq = ?4) ",
                        "ON CONFLICT (doc_id) DO UPDATE SET heads = excluded.heads, bytes = excluded.bytes, ",
                        "covers_seq = excluded.covers_seq, created_at = excluded.created_at WHERE excluded.covers_seq > snapshots.covers_seq"
                    ),
                    [doc(), heads.into(), snapshot.into(), Value::Integer(covers_seq), Value::Integer(now.0)],
                ),
                Statement::new("DELETE FROM changes WHERE doc_id = ?1 AND seq <= (SELECT covers_seq FROM snapshots WHERE doc_id = ?1)", [doc()]),
                Statement::new("DELETE FROM compaction_attempts WHERE doc_id = ?1", [doc()]),
                Statement::new(
                    concat!(
                        "UPDATE documents SET change_rows = (SELECT COUNT(*) FROM changes WHERE doc_id = ?1), ",
                        "change_bytes = (SELECT COALESCE(SUM(LENGTH(bytes)), 0) FROM changes WHERE doc_id = ?1), ",
                        "snapshot_bytes = (SELECT LENGTH(bytes) FROM snapshots WHERE doc_id = ?1) WHERE id = ?1"
                    ),
                    [doc()],
                ),
            ])
            .await?;
        Ok(())
    }
}

/// How many changes a document write has for [`Store::sync_statements`] to store them with one
/// statement over a list rather than one statement each.
const LISTED_FROM: usize = 4;

/// A change's fields as `change_writes` takes them: hashes and actor in hex, deps comma-separated.
struct ChangeFields {
    hash: String,
    actor: String,
    seq: u64,
    start_op: u64,
    last_op: u64,
    deps: String,
    /// No other change of the write depends on it.
    head: bool,
}

impl ChangeFields {
    fn of(c: &NewChange, depended: &HashSet<ChangeHash>) -> Self {
        let deps: Vec<String> = c.deps.iter().map(ToString::to_string).collect();
        let (hash, actor, head) = (c.hash.to_string(), c.actor.to_hex_string(), !depended.contains(&c.hash));
        ChangeFields { hash, actor, seq: c.seq, start_op: c.start_op, last_op: c.last_op, deps: deps.join(","), head }
    }
}

/// The changes of one document write as [`Store::sync_statements`] lists them: one JSON array
/// of `[hash, offset, length, actor, seq, start_op, last_op, deps, head]` in the order given, their
/// bytes end to end in one blob, their hashes' 32 bytes in another.
struct ChangeList {
    json: Value,
    bytes: Vec<u8>,
    hashes: Vec<u8>,
}

impl ChangeList {
    fn of(changes: &[NewChange], depended: &HashSet<ChangeHash>) -> Result<Self, DbError> {
        let (mut bytes, mut hashes) = (Vec::new(), Vec::with_capacity(32 * changes.len()));
        let mut rows = Vec::with_capacity(changes.len());
        for c in changes {
            let f = ChangeFields::of(c, depended);
            rows.push((f.hash, bytes.len(), c.bytes.len(), f.actor, f.seq, f.start_op, f.last_op, f.deps, u8::from(f.head)));
            bytes.extend_from_slice(&c.bytes);
            hashes.extend_from_slice(&c.hash.0);
        }
        Ok(ChangeList { json: json(&rows)?, bytes, hashes })
    }
}
