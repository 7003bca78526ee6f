//! The engine's `Store` port on IndexedDB (`indexed_db_futures` over `web-sys`).
//!
//! Schema (database version 1), three object stores with out-of-line keys:
//!
//! | store       | key                     | value                                                |
//! |-------------|-------------------------|------------------------------------------------------|
//! | `documents` | document id             | `{ id, title, origin, registered, acked }`           |
//! | `snapshots` | document id             | `{ id, bytes: Uint8Array }` (a saved automerge doc)  |
//! | `changes`   | `[document id, hash]`   | `{ id, seq, bytes: Uint8Array }`                     |
//!
//! Change rows are content-addressed: writing a row again stores the same bytes under the
//! same key, so it changes nothing, as the port requires. `seq` (increasing per store) keeps
//! the order rows were written in; loading sorts by it.
//!
//! Durability: [`LocalStore::commit`] is one `readwrite` transaction over all three stores,
//! created with `durability: "strict"` (the browser reports completion only after the data
//! reached persistent storage) and awaited until its `complete` event. No request inside it
//! is awaited, so the transaction can never auto-commit half-way; an error aborts all of it.

use std::cell::Cell;

use edgesync_client::sync_core::{DocumentId, Heads};
use edgesync_client::{Commit, DocRecord, LocalStore, Origin, StoreError, StoredDocument};
use indexed_db_futures::KeyRange;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{TransactionDurability, TransactionMode, TransactionOptions};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// The schema version this SDK writes (the IndexedDB database version).
pub const SCHEMA_VERSION: u32 = 1;

const DOCS: &str = "documents";
const SNAPSHOTS: &str = "snapshots";
const CHANGES: &str = "changes";

/// Every document of one client, in one IndexedDB database.
pub struct IdbStore {
    db: Database,
    name: String,
    /// The next change row's `seq`.
    next_seq: Cell<f64>,
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdbStore({})", self.name)
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl IdbStore {
    /// Opens (creating if needed) the database `name` from the global `indexedDB` (a
    /// window, a worker, or Node with an IndexedDB implementation installed globally).
    pub async fn open(name: &str) -> Result<Self, StoreError> {
        // Opened without a version: an existing database opens at whatever version it has
        // (a newer one is refused below), a new one is created at version 1.
        let db = Database::open(name)
            .with_on_upgrade_needed(|event, db| {
                if event.old_version() < 1.0 {
                    db.create_object_store(DOCS).build()?;
                    db.create_object_store(SNAPSHOTS).build()?;
                    db.create_object_store(CHANGES).build()?;
                }
                Ok(())
            })
            .await
            .map_err(unavailable)?;
        let found = db.version();
        if found > f64::from(SCHEMA_VERSION) {
            db.close();
            return Err(StoreError::NewerSchema { found: found as i64, supported: i64::from(SCHEMA_VERSION) });
        }
        Ok(Self { db, name: name.to_owned(), next_seq: Cell::new(1.0) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle that closes the connection (pending transactions still complete; later
    /// ones fail with `storeUnavailable`).
    pub fn closer(&self) -> StoreCloser {
        StoreCloser(self.db.clone())
    }
}

/// Closes an [`IdbStore`]'s connection.
pub struct StoreCloser(Database);

impl StoreCloser {
    pub fn close(self) {
        self.0.close();
    }
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, StoreError> {
    Reflect::get(obj, &JsValue::from_str(key)).map_err(|_| corrupt(format!("row without {key}")))
}

fn get_string(obj: &JsValue, key: &str) -> Result<String, StoreError> {
    get(obj, key)?.as_string().ok_or_else(|| corrupt(format!("{key} is not a string")))
}

fn get_bytes(obj: &JsValue, key: &str) -> Result<Vec<u8>, StoreError> {
    let value = get(obj, key)?;
    value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec).ok_or_else(|| corrupt(format!("{key} is not a Uint8Array")))
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (key, value) in entries {
        let _ = Reflect::set(&obj, &JsValue::from_str(key), value);
    }
    obj.into()
}

fn parse_id(s: &str) -> Result<DocumentId, StoreError> {
    s.parse::<DocumentId>().map_err(|e| corrupt(format!("document id {s:?}: {e}")))
}

fn record_from_js(row: &JsValue) -> Result<DocRecord, StoreError> {
    let id = get_string(row, "id")?;
    let origin = get_string(row, "origin")?;
    let acked = get_string(row, "acked")?;
    Ok(DocRecord {
        id: parse_id(&id)?,
        title: get_string(row, "title")?,
        origin: Origin::parse(&origin).ok_or_else(|| corrupt(format!("document {id}: origin {origin:?}")))?,
        registered: get(row, "registered")?.as_bool().ok_or_else(|| corrupt(format!("document {id}: registered")))?,
        acked: Heads::parse_list(&acked, usize::MAX).map_err(|e| corrupt(format!("document {id}: acked heads: {e}")))?,
    })
}

fn record_to_js(r: &DocRecord) -> JsValue {
    object(&[
        ("id", r.id.to_string().into()),
        ("title", r.title.as_str().into()),
        ("origin", r.origin.as_str().into()),
        ("registered", r.registered.into()),
        ("acked", r.acked.to_string().into()),
    ])
}

fn bytes(b: &[u8]) -> JsValue {
    Uint8Array::from(b).into()
}

impl LocalStore for IdbStore {
    async fn load(&self) -> Result<Vec<StoredDocument>, StoreError> {
        let tx = self.db.transaction([DOCS, SNAPSHOTS, CHANGES]).build().map_err(unavailable)?;
        let docs = tx.object_store(DOCS).map_err(unavailable)?;
        let snapshots = tx.object_store(SNAPSHOTS).map_err(unavailable)?;
        let changes = tx.object_store(CHANGES).map_err(unavailable)?;
        // All three requests go out before any is awaited.
        let doc_rows = docs.get_all::<JsValue>().primitive().map_err(unavailable)?;
        let snapshot_rows = snapshots.get_all::<JsValue>().primitive().map_err(unavailable)?;
        let change_rows = changes.get_all::<JsValue>().primitive().map_err(unavailable)?;

        let mut out = std::collections::BTreeMap::new();
        for row in doc_rows.await.map_err(unavailable)? {
            let record = record_from_js(&row.map_err(unavailable)?)?;
            out.insert(record.id, StoredDocument { record, snapshot: None, changes: Vec::new() });
        }
        for row in snapshot_rows.await.map_err(unavailable)? {
            let row = row.map_err(unavailable)?;
            let id = parse_id(&get_string(&row, "id")?)?;
            let doc = out.get_mut(&id).ok_or_else(|| corrupt(format!("snapshot of unknown document {id}")))?;
            doc.snapshot = Some(get_bytes(&row, "bytes")?);
        }
        let mut rows: Vec<(f64, DocumentId, Vec<u8>)> = Vec::new();
        for row in change_rows.await.map_err(unavailable)? {
            let row = row.map_err(unavailable)?;
            let id = parse_id(&get_string(&row, "id")?)?;
            let seq = get(&row, "seq")?.as_f64().ok_or_else(|| corrupt("change row without seq"))?;
            rows.push((seq, id, get_bytes(&row, "bytes")?));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let max_seq = rows.last().map_or(0.0, |r| r.0);
        for (_, id, bytes) in rows {
            let doc = out.get_mut(&id).ok_or_else(|| corrupt(format!("change of unknown document {id}")))?;
            doc.changes.push(bytes);
        }
        self.next_seq.set(max_seq + 1.0);
        Ok(out.into_values().collect())
    }

    async fn commit(&self, commits: Vec<Commit>) -> Result<(), StoreError> {
        let options = TransactionOptions::new().with_durability(TransactionDurability::Strict);
        let tx = self
            .db
            .transaction([DOCS, SNAPSHOTS, CHANGES])
            .with_mode(TransactionMode::Readwrite)
            .with_options(options)
            .build()
            .map_err(unavailable)?;
        let docs = tx.object_store(DOCS).map_err(unavailable)?;
        let snapshots = tx.object_store(SNAPSHOTS).map_err(unavailable)?;
        let changes = tx.object_store(CHANGES).map_err(unavailable)?;
        let mut seq = self.next_seq.get();
        // Requests are sent when built; none is awaited inside the transaction. Dropping an
        // un-committed transaction (any `?` below) aborts it.
        for commit in commits {
            let id = commit.doc_id.to_string();
            if let Some(record) = &commit.record {
                docs.put(record_to_js(record)).with_key(id.as_str()).primitive().map_err(unavailable)?;
            }
            if let Some(snapshot) = &commit.snapshot {
                let row = object(&[("id", id.as_str().into()), ("bytes", bytes(snapshot))]);
                snapshots.put(row).with_key(id.as_str()).primitive().map_err(unavailable)?;
                // Every change row of the document: keys [id, ""] < [id, hash] < [id, []]
                // (arrays sort after strings).
                let lower: JsValue = Array::of2(&id.as_str().into(), &"".into()).into();
                let upper: JsValue = Array::of2(&id.as_str().into(), &Array::new()).into();
                changes.delete::<JsValue, _>(KeyRange::Bound(lower, false, upper, false)).primitive().map_err(unavailable)?;
            }
            for (hash, raw) in &commit.changes {
                let key: JsValue = Array::of2(&id.as_str().into(), &hash.to_string().into()).into();
                let row = object(&[("id", id.as_str().into()), ("seq", seq.into()), ("bytes", bytes(raw))]);
                changes.put(row).with_key(key).primitive().map_err(unavailable)?;
                seq += 1.0;
            }
        }
        tx.commit().await.map_err(unavailable)?;
        self.next_seq.set(seq);
        Ok(())
    }
}
