//! The one data model every SDK writes with: JSON-like values into automerge documents, and
//! back out as JSON. The web SDK (JS values) and the mobile SDK (JSON text) both build a
//! [`JsonValue`] and write it with [`put`] / [`insert`], so a document edited on one platform
//! behaves the same on the other (docs/sdk-web.md and docs/sdk-mobile.md, "Data model").
//!
//! Writing:
//! - objects → maps, arrays → lists;
//! - **strings → text objects** (collaborative: concurrent `spliceText` edits merge character by
//!   character, as in automerge-js), so `spliceText` works on any string written by any SDK;
//! - numbers: integers within ±(2⁵³−1) (what a JS number holds exactly, `1.0` included) →
//!   `int`, larger unsigned integers → `uint`, larger signed ones → `int`, everything else →
//!   `f64` (non-finite numbers are refused by the platforms before they get here);
//! - booleans and `null` → their scalars; bytes and timestamps where the platform has them
//!   (`Uint8Array` and `Date` on the web).
//!
//! Reading ([`to_json`]): maps → objects (keys sorted), lists → arrays, text objects **and**
//! scalar strings (written by other automerge apps) → strings, counters and timestamps →
//! numbers, bytes → arrays of numbers; conflicts resolve to automerge's winner.

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, Prop, ReadDoc, ScalarValue, Value};
use serde_json::{Map, Number, Value as Json};

/// Largest integer a JS number (an IEEE double) holds exactly.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Scalar(ScalarValue),
    /// A string: written as a text object.
    Text(String),
    List(Vec<JsonValue>),
    Map(Vec<(String, JsonValue)>),
}

impl JsonValue {
    /// A number by the one rule: integral and exactly representable → `int`, else `f64`.
    pub fn number(n: f64) -> Self {
        let int = n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER;
        JsonValue::Scalar(if int { ScalarValue::Int(n as i64) } else { ScalarValue::F64(n) })
    }

    /// Converts parsed JSON.
    pub fn from_json(value: &Json) -> Self {
        match value {
            Json::Null => JsonValue::Scalar(ScalarValue::Null),
            Json::Bool(b) => JsonValue::Scalar(ScalarValue::Boolean(*b)),
            Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => JsonValue::Scalar(ScalarValue::Int(i)),
                (None, Some(u), _) => JsonValue::Scalar(ScalarValue::Uint(u)),
                (None, None, Some(f)) => JsonValue::number(f),
                // serde_json's numbers are always one of the three.
                (None, None, None) => JsonValue::Scalar(ScalarValue::Null),
            },
            Json::String(s) => JsonValue::Text(s.clone()),
            Json::Array(items) => JsonValue::List(items.iter().map(JsonValue::from_json).collect()),
            Json::Object(map) => JsonValue::Map(map.iter().map(|(k, v)| (k.clone(), JsonValue::from_json(v))).collect()),
        }
    }
}

/// Writes `value` at `prop` of map or list `obj`, replacing what is there.
pub fn put<T: Transactable>(tx: &mut T, obj: &ObjId, prop: impl Into<Prop>, value: &JsonValue) -> Result<(), AutomergeError> {
    match value {
        JsonValue::Scalar(s) => tx.put(obj, prop, s.clone()),
        _ => {
            let child = tx.put_object(obj, prop, object_type(value))?;
            fill(tx, &child, value)
        }
    }
}

/// Inserts `value` at `index` of list `obj`.
pub fn insert<T: Transactable>(tx: &mut T, obj: &ObjId, index: usize, value: &JsonValue) -> Result<(), AutomergeError> {
    match value {
        JsonValue::Scalar(s) => tx.insert(obj, index, s.clone()),
        _ => {
            let child = tx.insert_object(obj, index, object_type(value))?;
            fill(tx, &child, value)
        }
    }
}

/// The object a value other than a scalar is written as (scalars are written as they are).
fn object_type(value: &JsonValue) -> ObjType {
    match value {
        JsonValue::Text(_) => ObjType::Text,
        JsonValue::List(_) => ObjType::List,
        JsonValue::Map(_) | JsonValue::Scalar(_) => ObjType::Map,
    }
}

/// Fills the object just created for `value`.
fn fill<T: Transactable>(tx: &mut T, obj: &ObjId, value: &JsonValue) -> Result<(), AutomergeError> {
    match value {
        JsonValue::Text(s) => tx.splice_text(obj, 0, 0, s),
        JsonValue::List(items) => items.iter().enumerate().try_for_each(|(i, item)| insert(tx, obj, i, item)),
        JsonValue::Map(entries) => entries.iter().try_for_each(|(key, item)| put(tx, obj, key.as_str(), item)),
        JsonValue::Scalar(_) => Ok(()),
    }
}

/// The object `obj` of type `ty` as JSON.
pub fn to_json<R: ReadDoc>(doc: &R, obj: &ObjId, ty: ObjType) -> Json {
    match ty {
        ObjType::Map | ObjType::Table => {
            // `keys` is sorted; serde_json's map keeps insertion order only with a feature.
            let mut map = Map::new();
            for key in doc.keys(obj) {
                if let Ok(Some((value, id))) = doc.get(obj, key.as_str()) {
                    map.insert(key, value_to_json(doc, value, &id));
                }
            }
            Json::Object(map)
        }
        ObjType::List => Json::Array(
            (0..doc.length(obj)).filter_map(|i| doc.get(obj, i).ok().flatten()).map(|(v, id)| value_to_json(doc, v, &id)).collect(),
        ),
        ObjType::Text => Json::String(doc.text(obj).unwrap_or_default()),
    }
}

/// A value read from `doc` (an object's id is `id`) as JSON.
pub fn value_to_json<R: ReadDoc>(doc: &R, value: Value<'_>, id: &ObjId) -> Json {
    match value {
        Value::Object(ty) => to_json(doc, id, ty),
        Value::Scalar(s) => scalar_to_json(&s),
    }
}

/// A scalar as JSON.
pub fn scalar_to_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Null | ScalarValue::Unknown { .. } => Json::Null,
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Bytes(b) => Json::Array(b.iter().map(|x| Json::Number((*x).into())).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, ROOT};
    use serde_json::json;

    fn written(value: Json) -> (AutoCommit, Json) {
        let mut doc = AutoCommit::new();
        put(&mut doc, &ROOT, "v", &JsonValue::from_json(&value)).unwrap();
        let back = to_json(&doc, &ROOT, ObjType::Map)["v"].clone();
        (doc, back)
    }

    #[test]
    fn json_round_trips_and_strings_become_text() {
        let value = json!({"title": "héllo 😀", "n": 3, "f": 1.5, "big": u64::MAX, "ok": true, "none": null,
                           "todos": [{"text": "a", "done": false}, "plain", [1, 2]]});
        let (doc, back) = written(value.clone());
        assert_eq!(back, value);
        let (_, v) = doc.get(ROOT, "v").unwrap().unwrap();
        let (title, _) = doc.get(v, "title").unwrap().unwrap();
        assert!(matches!(title, Value::Object(ObjType::Text)), "a string is collaborative text");
    }

    #[test]
    fn numbers_follow_the_js_rule() {
        assert_eq!(JsonValue::from_json(&json!(1.0)), JsonValue::Scalar(ScalarValue::Int(1)));
        assert_eq!(JsonValue::from_json(&json!(-7)), JsonValue::Scalar(ScalarValue::Int(-7)));
        assert_eq!(JsonValue::from_json(&json!(0.25)), JsonValue::Scalar(ScalarValue::F64(0.25)));
        assert_eq!(JsonValue::from_json(&json!(u64::MAX)), JsonValue::Scalar(ScalarValue::Uint(u64::MAX)));
        assert_eq!(JsonValue::number(1e300), JsonValue::Scalar(ScalarValue::F64(1e300)));
        assert_eq!(JsonValue::number(MAX_SAFE_INTEGER), JsonValue::Scalar(ScalarValue::Int(9_007_199_254_740_991)));
    }

    #[test]
    fn scalar_strings_from_other_apps_read_as_strings() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "s", "scalar").unwrap();
        doc.put(ROOT, "c", ScalarValue::counter(4)).unwrap();
        assert_eq!(to_json(&doc, &ROOT, ObjType::Map), json!({"c": 4, "s": "scalar"}));
    }
}
