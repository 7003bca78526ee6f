//! JSON in and out of automerge documents, addressed by JSON Pointer paths (RFC 6901).
//!
//! A path is `""` (the whole document) or `/`-separated segments: `/todos/0/title`. `~1` stands
//! for `/` and `~0` for `~` inside a segment. A segment is a key in a map and an index in a
//! list; `-` after a list means "after the last item" (for inserts).
//!
//! Values follow the one data model of every SDK (`edgesync_client::json`): JSON objects
//! become automerge maps, arrays lists, **strings collaborative text** (so `spliceText` works on
//! any string, whichever SDK wrote it), integers `Int` (or `Uint` above `i64::MAX`; `1.0` is an
//! integer, as in JS), other numbers `F64`, booleans and null their scalars. Reading, text
//! objects and scalar strings become strings, counters and timestamps numbers, bytes arrays of
//! numbers.

use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::automerge::{ObjId, ObjType, ROOT, ReadDoc, Value};
use edgesync_client::json::{self as model, JsonValue};
use serde_json::Value as Json;

use crate::error::EdgesyncError;

/// The segments of a JSON Pointer.
pub(crate) fn parse_pointer(path: &str) -> Result<Vec<String>, EdgesyncError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(EdgesyncError::invalid(format!("path {path:?} must be empty or start with '/'")));
    };
    rest.split('/')
        .map(|seg| {
            let mut chars = seg.chars();
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    return Err(EdgesyncError::invalid(format!("path {path:?}: '~' must be followed by 0 or 1")));
                }
            }
            Ok(seg.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// An index into a list or text of `len` items; `-` is `len` when `end_ok`.
fn index(seg: &str, len: usize, end_ok: bool) -> Result<usize, EdgesyncError> {
    if end_ok && seg == "-" {
        return Ok(len);
    }
    let valid = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) && (seg == "0" || !seg.starts_with('0'));
    let i: usize = if valid { seg.parse().ok() } else { None }.ok_or_else(|| EdgesyncError::invalid(format!("{seg:?} is not a list index")))?;
    let max = if end_ok { len } else { len.saturating_sub(1) };
    if i > max || (!end_ok && len == 0) {
        return Err(EdgesyncError::invalid(format!("index {i} is out of range (length {len})")));
    }
    Ok(i)
}

fn am(e: impl std::fmt::Display) -> EdgesyncError {
    EdgesyncError::invalid(e.to_string())
}

/// The object at `segments` (every segment must name an object).
fn object_at<R: ReadDoc>(doc: &R, segments: &[String]) -> Result<(ObjId, ObjType), EdgesyncError> {
    let (mut obj, mut ty) = (ROOT, ObjType::Map);
    for (depth, seg) in segments.iter().enumerate() {
        let found = match ty {
            ObjType::Map | ObjType::Table => doc.get(&obj, seg.as_str()).map_err(am)?,
            ObjType::List | ObjType::Text => doc.get(&obj, index(seg, doc.length(&obj), false)?).map_err(am)?,
        };
        let at = || format!("/{}", segments[..=depth].join("/"));
        match found {
            Some((Value::Object(t), id)) => (obj, ty) = (id, t),
            Some((Value::Scalar(_), _)) => return Err(EdgesyncError::invalid(format!("{} is not an object", at()))),
            None => return Err(EdgesyncError::invalid(format!("nothing at {}", at()))),
        }
    }
    Ok((obj, ty))
}

/// The parent object of `path` and its last segment (the root has no parent).
fn parent<R: ReadDoc>(doc: &R, path: &str) -> Result<(ObjId, ObjType, String), EdgesyncError> {
    let mut segments = parse_pointer(path)?;
    let last = segments.pop().ok_or_else(|| EdgesyncError::invalid("the document root cannot be replaced; use a path like /key"))?;
    let (obj, ty) = object_at(doc, &segments)?;
    Ok((obj, ty, last))
}

enum Target<'a> {
    Key(&'a str),
    Replace(usize),
    Insert(usize),
}

fn set<T: Transactable>(tx: &mut T, obj: &ObjId, ty: ObjType, target: Target<'_>, value: &Json) -> Result<(), EdgesyncError> {
    if matches!(ty, ObjType::Text) {
        return Err(EdgesyncError::invalid("a text object is edited with spliceText"));
    }
    let value = JsonValue::from_json(value);
    match target {
        Target::Key(k) => model::put(tx, obj, k, &value),
        Target::Replace(i) => model::put(tx, obj, i, &value),
        Target::Insert(i) => model::insert(tx, obj, i, &value),
    }
    .map_err(am)
}

pub(crate) fn parse_json(json: &str) -> Result<Json, EdgesyncError> {
    serde_json::from_str(json).map_err(|e| EdgesyncError::invalid(format!("invalid JSON: {e}")))
}

/// Sets the value at `path` (a map key, or an existing list index).
pub(crate) fn put<T: Transactable>(tx: &mut T, path: &str, value: &Json) -> Result<(), EdgesyncError> {
    let (obj, ty, last) = parent(tx, path)?;
    let target = match ty {
        ObjType::Map | ObjType::Table => Target::Key(&last),
        ObjType::List | ObjType::Text => Target::Replace(index(&last, tx.length(&obj), false)?),
    };
    set(tx, &obj, ty, target, value)
}

/// Inserts into the list holding `path` (its last segment an index or `-`).
pub(crate) fn insert<T: Transactable>(tx: &mut T, path: &str, value: &Json) -> Result<(), EdgesyncError> {
    let (obj, ty, last) = parent(tx, path)?;
    if ty != ObjType::List {
        return Err(EdgesyncError::invalid(format!("insert needs a list at the parent of {path:?}")));
    }
    let i = index(&last, tx.length(&obj), true)?;
    set(tx, &obj, ty, Target::Insert(i), value)
}

/// Removes the value at `path`.
pub(crate) fn delete<T: Transactable>(tx: &mut T, path: &str) -> Result<(), EdgesyncError> {
    let (obj, ty, last) = parent(tx, path)?;
    match ty {
        ObjType::Map | ObjType::Table => {
            if tx.get(&obj, last.as_str()).map_err(am)?.is_none() {
                return Err(EdgesyncError::invalid(format!("nothing at {path:?}")));
            }
            tx.delete(&obj, last.as_str()).map_err(am)
        }
        ObjType::List => {
            let i = index(&last, tx.length(&obj), false)?;
            tx.delete(&obj, i).map_err(am)
        }
        ObjType::Text => Err(EdgesyncError::invalid("a text object is edited with spliceText")),
    }
}

/// Creates a collaborative text object at `path` holding `text`.
pub(crate) fn put_text<T: Transactable>(tx: &mut T, path: &str, text: &str) -> Result<(), EdgesyncError> {
    let (obj, ty, last) = parent(tx, path)?;
    let created = match ty {
        ObjType::Map | ObjType::Table => tx.put_object(&obj, last.as_str(), ObjType::Text),
        ObjType::List => tx.put_object(&obj, index(&last, tx.length(&obj), false)?, ObjType::Text),
        ObjType::Text => return Err(EdgesyncError::invalid("a text object is edited with spliceText")),
    }
    .map_err(am)?;
    tx.splice_text(&created, 0, 0, text).map_err(am)
}

/// Deletes `delete` characters at `index` of the text at `path` and inserts `text` there.
/// Indexes count Unicode code points.
pub(crate) fn splice_text<T: Transactable>(tx: &mut T, path: &str, index: u64, delete: u64, text: &str) -> Result<(), EdgesyncError> {
    let (obj, ty) = object_at(tx, &parse_pointer(path)?)?;
    if ty != ObjType::Text {
        return Err(EdgesyncError::invalid(format!("{path:?} is not a text object (create one with putText)")));
    }
    let len = tx.length(&obj) as u64;
    if index > len || delete > len - index {
        return Err(EdgesyncError::invalid(format!("splice {index}+{delete} is out of range (length {len})")));
    }
    tx.splice_text(&obj, index as usize, delete as isize, text).map_err(am)
}

/// The value at `path` as JSON; `None` when nothing is there.
pub(crate) fn get<R: ReadDoc>(doc: &R, path: &str) -> Result<Option<Json>, EdgesyncError> {
    let mut segments = parse_pointer(path)?;
    let Some(last) = segments.pop() else {
        return Ok(Some(to_json(doc, &ROOT, ObjType::Map)));
    };
    let (obj, ty) = object_at(doc, &segments)?;
    let found = match ty {
        ObjType::Map | ObjType::Table => doc.get(&obj, last.as_str()).map_err(am)?,
        ObjType::List | ObjType::Text => match index(&last, doc.length(&obj), false) {
            Ok(i) => doc.get(&obj, i).map_err(am)?,
            Err(_) => None,
        },
    };
    Ok(found.map(|(value, id)| model::value_to_json(doc, value, &id)))
}

/// The object `obj` of type `ty` as JSON.
pub(crate) use model::to_json;

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
