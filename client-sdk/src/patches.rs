//! What a remote change did to a document, as automerge patches, so a UI can update without
//! diffing: [`Patches`] rides on `Event::Changed` (docs/sdk-rust.md "Events"), and [`to_json`]
//! renders patches in the shape automerge's JavaScript package uses, for the web and mobile
//! bindings (one rendering for both).

use std::ops::Deref;
use std::sync::Arc;

use automerge::{ObjType, Patch, PatchAction, Prop, ScalarValue, Value};
use serde_json::{Value as Json, json};

/// A change's patches (empty for local changes: the app made them). Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patches(Arc<Vec<Patch>>);

impl Patches {
    pub fn new(patches: Vec<Patch>) -> Self {
        Self(Arc::new(patches))
    }
}

impl Deref for Patches {
    type Target = [Patch];
    fn deref(&self) -> &[Patch] {
        &self.0
    }
}

/// `patches` as `[{ action, path, … }]`: `put` (`value`, and `conflict: true` when another
/// value is concurrent), `insert` (`values`), `splice` (text `value`), `del` (`length` when more
/// than one), `inc` (`value`), `conflict`, `mark` (`marks`: `{ name, value, start, end }`). A
/// `path` is keys and indexes from the root; an object value is rendered empty (`{}`, `[]`,
/// `""`): what fills it arrives as further patches.
pub fn to_json(patches: &[Patch]) -> Json {
    Json::Array(patches.iter().map(patch_json).collect())
}

fn patch_json(patch: &Patch) -> Json {
    let path: Vec<Json> = patch.path.iter().map(|(_, prop)| prop_json(prop)).collect();
    let at = |last: Json| {
        let mut full = path.clone();
        full.push(last);
        Json::Array(full)
    };
    match &patch.action {
        PatchAction::PutMap { key, value, conflict } => put(at(json!(key)), &value.0, *conflict),
        PatchAction::PutSeq { index, value, conflict } => put(at(json!(index)), &value.0, *conflict),
        PatchAction::Insert { index, values } => {
            json!({"action": "insert", "path": at(json!(index)), "values": values.iter().map(|(v, _, _)| value_json(v)).collect::<Vec<_>>()})
        }
        PatchAction::SpliceText { index, value, .. } => json!({"action": "splice", "path": at(json!(index)), "value": value.make_string()}),
        PatchAction::Increment { prop, value } => json!({"action": "inc", "path": at(prop_json(prop)), "value": value}),
        PatchAction::Conflict { prop } => json!({"action": "conflict", "path": at(prop_json(prop))}),
        PatchAction::DeleteMap { key } => json!({"action": "del", "path": at(json!(key))}),
        PatchAction::DeleteSeq { index, length: 1 } => json!({"action": "del", "path": at(json!(index))}),
        PatchAction::DeleteSeq { index, length } => json!({"action": "del", "path": at(json!(index)), "length": length}),
        PatchAction::Mark { marks } => {
            let marks: Vec<Json> = marks.iter().map(|m| json!({"name": m.name.as_str(), "value": scalar_json(&m.value), "start": m.start, "end": m.end})).collect();
            json!({"action": "mark", "path": Json::Array(path), "marks": marks})
        }
    }
}

fn put(path: Json, value: &Value<'_>, conflict: bool) -> Json {
    let mut patch = json!({"action": "put", "path": path, "value": value_json(value)});
    if conflict {
        patch["conflict"] = json!(true);
    }
    patch
}

fn prop_json(prop: &Prop) -> Json {
    match prop {
        Prop::Map(key) => json!(key),
        Prop::Seq(index) => json!(index),
    }
}

fn value_json(value: &Value<'_>) -> Json {
    match value {
        Value::Object(ObjType::Map | ObjType::Table) => json!({}),
        Value::Object(ObjType::List) => json!([]),
        Value::Object(ObjType::Text) => json!(""),
        Value::Scalar(s) => scalar_json(s),
    }
}

/// Scalars as JSON: numbers (counters as their value, timestamps as milliseconds since the
/// epoch), strings, booleans, null; bytes as an array of numbers.
fn scalar_json(value: &ScalarValue) -> Json {
    match value {
        ScalarValue::Str(s) => json!(s.as_str()),
        ScalarValue::Int(n) | ScalarValue::Timestamp(n) => json!(n),
        ScalarValue::Uint(n) => json!(n),
        ScalarValue::F64(n) => json!(n),
        ScalarValue::Counter(c) => json!(i64::from(c)),
        ScalarValue::Boolean(b) => json!(b),
        ScalarValue::Bytes(b) => json!(b),
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn patches_render_as_automerge_js_does() {
        let mut doc = AutoCommit::new();
        let before = doc.get_heads();
        doc.put(ROOT, "title", "Trip").unwrap();
        let todos = doc.put_object(ROOT, "todos", ObjType::List).unwrap();
        doc.insert(&todos, 0, 3).unwrap();
        let text = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.splice_text(&text, 0, 0, "hi").unwrap();
        doc.put(ROOT, "n", ScalarValue::counter(1)).unwrap();
        doc.increment(ROOT, "n", 2).unwrap();
        doc.delete(ROOT, "title").unwrap();
        let after = doc.get_heads();
        let rendered = to_json(&doc.diff(&before, &after));
        let actions: Vec<&str> = rendered.as_array().unwrap().iter().map(|p| p["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"insert") && actions.contains(&"splice") && actions.contains(&"put"), "{rendered}");
        let splice = rendered.as_array().unwrap().iter().find(|p| p["action"] == "splice").unwrap();
        assert_eq!(splice, &json!({"action": "splice", "path": ["notes", 0], "value": "hi"}));
        let insert = rendered.as_array().unwrap().iter().find(|p| p["action"] == "insert").unwrap();
        assert_eq!(insert, &json!({"action": "insert", "path": ["todos", 0], "values": [3]}));
        assert!(!rendered.to_string().contains("\"title\""), "a key put and deleted in the range is not in its patches: {rendered}");
    }
}
