//! `ChangeSet`: the operations of one `doc.change(fn)`, recorded while `fn` runs and then
//! applied in one automerge transaction (all or nothing).
//!
//! The automerge document lives in Rust, under the engine's lock, which must not be held
//! while JS code runs; so `fn` does not touch the document directly. It calls `put`,
//! `insert`, `push`, `delete` and `spliceText` on the `ChangeSet` it is given; values are
//! converted when recorded (a bad value throws right there), paths are resolved when the
//! transaction applies (a bad path rejects the whole change and nothing is written).

use std::cell::RefCell;
use std::rc::Rc;

use automerge::transaction::{Transactable, Transaction};
use automerge::{ObjType, ReadDoc};
use wasm_bindgen::prelude::*;

use crate::error::WebError;
use crate::json::{self, Json, Path, Segment, describe, index_from_js, path_from_js};

/// One recorded operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Set a map key or overwrite a list element.
    Put { path: Path, value: Json },
    /// Insert into a list at an index (`None`: append).
    Insert { list: Path, index: Option<usize>, value: Json },
    /// Remove a map key or a list element.
    Delete { path: Path },
    /// Edit a text object: `index` and `delete` count UTF-16 code units, as JS strings do.
    SpliceText { path: Path, index: usize, delete: usize, text: String },
}

/// Operations from the JS arguments of `put`/`insert`/`push`/`delete`/`spliceText`, shared by
/// `ChangeSet` (recorded) and `Document` (applied at once).
impl Op {
    pub fn put_js(path: &JsValue, value: &JsValue) -> Result<Op, WebError> {
        Ok(Op::Put { path: path_from_js(path)?, value: json::from_js(value)? })
    }

    /// `index` `None`: append.
    pub fn insert_js(list: &JsValue, index: Option<&JsValue>, value: &JsValue) -> Result<Op, WebError> {
        let index = index.map(|i| index_from_js(i, "index")).transpose()?;
        Ok(Op::Insert { list: path_from_js(list)?, index, value: json::from_js(value)? })
    }

    pub fn delete_js(path: &JsValue) -> Result<Op, WebError> {
        Ok(Op::Delete { path: path_from_js(path)? })
    }

    pub fn splice_text_js(path: &JsValue, index: &JsValue, delete_count: &JsValue, text: String) -> Result<Op, WebError> {
        Ok(Op::SpliceText {
            path: path_from_js(path)?,
            index: index_from_js(index, "index")?,
            delete: index_from_js(delete_count, "deleteCount")?,
            text,
        })
    }
}

#[derive(Default)]
struct Recorded {
    ops: Vec<Op>,
    /// Set once the change has been applied or abandoned: later calls throw.
    sealed: bool,
}

/// The operations of one change, recorded from JS.
#[wasm_bindgen]
pub struct ChangeSet {
    inner: Rc<RefCell<Recorded>>,
}

impl ChangeSet {
    /// A recorder and the handle its owner keeps to take the operations back.
    pub(crate) fn new() -> (Self, ChangeSetHandle) {
        let inner = Rc::new(RefCell::new(Recorded::default()));
        (Self { inner: inner.clone() }, ChangeSetHandle { inner })
    }

    fn record(&self, op: Op) -> Result<(), JsValue> {
        let mut rec = self.inner.borrow_mut();
        if rec.sealed {
            return Err(WebError::new("invalidChange", "this change set was already applied; record operations inside change()").into());
        }
        rec.ops.push(op);
        Ok(())
    }
}

/// The owner's side of a [`ChangeSet`].
pub(crate) struct ChangeSetHandle {
    inner: Rc<RefCell<Recorded>>,
}

impl ChangeSetHandle {
    /// The recorded operations; the set refuses further ones.
    pub(crate) fn take(&self) -> Vec<Op> {
        let mut rec = self.inner.borrow_mut();
        rec.sealed = true;
        std::mem::take(&mut rec.ops)
    }
}

#[wasm_bindgen]
impl ChangeSet {
    /// Sets the map key or list element at `path` to `value`.
    pub fn put(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        self.record(Op::put_js(&path, &value)?)
    }

    /// Inserts `value` into the list at `path` before `index` (`index` = length appends).
    pub fn insert(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        self.record(Op::insert_js(&path, Some(&index), &value)?)
    }

    /// Appends `value` to the list at `path`.
    pub fn push(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
    ) -> Result<(), JsValue> {
        self.record(Op::insert_js(&path, None, &value)?)
    }

    /// Deletes the map key or list element at `path`.
    pub fn delete(&self, #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue) -> Result<(), JsValue> {
        self.record(Op::delete_js(&path)?)
    }

    /// Edits the text at `path`: deletes `deleteCount` characters at `index` and inserts
    /// `text` there. Indices count UTF-16 code units, like JS strings.
    #[wasm_bindgen(js_name = spliceText)]
    pub fn splice_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Path")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] index: JsValue,
        #[wasm_bindgen(js_name = deleteCount, unchecked_param_type = "number")] delete_count: JsValue,
        text: String,
    ) -> Result<(), JsValue> {
        self.record(Op::splice_text_js(&path, &index, &delete_count, text)?)
    }
}

/// Applies `ops` in order inside `tx`. On error the caller rolls the transaction back.
pub fn apply(tx: &mut Transaction<'_>, ops: &[Op]) -> Result<(), WebError> {
    for op in ops {
        apply_one(tx, op)?;
    }
    Ok(())
}

fn invalid(e: automerge::AutomergeError, path: &[Segment]) -> WebError {
    WebError::new("invalidChange", format!("at {}: {e}", describe(path)))
}

fn apply_one(tx: &mut Transaction<'_>, op: &Op) -> Result<(), WebError> {
    match op {
        Op::Put { path, value } => {
            let (last, parent) = path.split_last().ok_or_else(|| WebError::invalid_path("cannot replace the root"))?;
            let (obj, obj_type) = json::resolve(tx, parent)?;
            match (obj_type, last) {
                (ObjType::Map | ObjType::Table, Segment::Key(_)) => {}
                (ObjType::List, Segment::Index(i)) if *i < tx.length(&obj) => {}
                (ObjType::List, Segment::Index(i)) => {
                    return Err(WebError::invalid_path(format!("index {i} is past the end of {} (use insert or push)", describe(parent))));
                }
                _ => {
                    return Err(WebError::invalid_path(format!("{} cannot hold {last}", describe(parent))));
                }
            }
            json::put(tx, &obj, last.prop(), value).map_err(|e| invalid(e, path))
        }
        Op::Insert { list, index, value } => {
            let (obj, obj_type) = json::resolve(tx, list)?;
            if obj_type != ObjType::List {
                return Err(WebError::invalid_path(format!("{} is not a list", describe(list))));
            }
            let len = tx.length(&obj);
            let at = index.unwrap_or(len);
            if at > len {
                return Err(WebError::invalid_path(format!("index {at} is past the end of {} (length {len})", describe(list))));
            }
            json::insert(tx, &obj, at, value).map_err(|e| invalid(e, list))
        }
        Op::Delete { path } => {
            let (last, parent) = path.split_last().ok_or_else(|| WebError::invalid_path("cannot delete the root"))?;
            let (obj, obj_type) = json::resolve(tx, parent)?;
            let exists = match (obj_type, last) {
                (ObjType::Map | ObjType::Table, Segment::Key(_)) => tx.get(&obj, last.prop()).ok().flatten().is_some(),
                (ObjType::List, Segment::Index(i)) => *i < tx.length(&obj),
                _ => false,
            };
            if !exists {
                return Err(WebError::invalid_path(format!("nothing to delete at {}", describe(path))));
            }
            tx.delete(&obj, last.prop()).map_err(|e| invalid(e, path))
        }
        Op::SpliceText { path, index, delete, text } => {
            let (obj, obj_type) = json::resolve(tx, path)?;
            if obj_type != ObjType::Text {
                return Err(WebError::invalid_path(format!("{} is not text", describe(path))));
            }
            let current = tx.text(&obj).map_err(|e| invalid(e, path))?;
            let bad = || WebError::invalid_path(format!("index {index} + deleteCount {delete} is outside the text at {}", describe(path)));
            let start = edgesync_client::text::utf16_to_char_index(&current, *index).ok_or_else(bad)?;
            let end = edgesync_client::text::utf16_to_char_index(&current, index + delete).ok_or_else(bad)?;
            tx.splice_text(&obj, start, (end - start) as isize, text).map_err(|e| invalid(e, path))
        }
    }
}
