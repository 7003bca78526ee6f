//! JS values and paths for the web SDK, over the one data model of `edgesync_client::json`.
//!
//! - A **path** is an array of map keys (strings) and list indices (numbers) from the
//!   document root: `["todos", 0, "title"]`. A single string is a one-key path; `[]` is the
//!   root.
//! - **Writing** follows the shared rule (`edgesync_client::json`): objects → maps, arrays →
//!   lists, strings → text objects (collaborative, as in automerge-js), integers → `int`,
//!   other numbers → `f64`, booleans, `null`; plus `Uint8Array` → bytes and `Date` →
//!   timestamp. `undefined`, functions, symbols, `NaN`, infinities and class instances other
//!   than those (`Map`, `Set`, ...) are refused (`invalidValue`).
//! - **Reading**: the reverse; scalar strings read as strings too, counters as numbers, map
//!   keys in sorted order, conflicts resolved to automerge's winner, bytes as `Uint8Array`
//!   and timestamps as `Date`.

use automerge::hydrate;
use automerge::{ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value};
pub use edgesync_client::json::{JsonValue as Json, MAX_SAFE_INTEGER, insert, put};
use js_sys::{Array, Date, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::error::WebError;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl Segment {
    pub fn prop(&self) -> Prop {
        match self {
            Segment::Key(k) => Prop::Map(k.clone()),
            Segment::Index(i) => Prop::Seq(*i),
        }
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Segment::Key(k) => write!(f, "{k:?}"),
            Segment::Index(i) => write!(f, "{i}"),
        }
    }
}

/// A path from the root.
pub type Path = Vec<Segment>;

pub fn describe(path: &[Segment]) -> String {
    format!("[{}]", path.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
}

/// A list index from JS: a non-negative integer.
pub fn index_from_js(value: &JsValue, what: &str) -> Result<usize, WebError> {
    match value.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER => Ok(n as usize),
        _ => Err(WebError::invalid_path(format!("{what} must be a non-negative integer"))),
    }
}

/// Parses a JS path (an array of strings and indices, or one string).
pub fn path_from_js(value: &JsValue) -> Result<Path, WebError> {
    if let Some(key) = value.as_string() {
        return Ok(vec![Segment::Key(key)]);
    }
    if !Array::is_array(value) {
        return Err(WebError::invalid_path("a path is an array of keys (strings) and indices (numbers)"));
    }
    Array::from(value)
        .iter()
        .map(|seg| match seg.as_string() {
            Some(key) => Ok(Segment::Key(key)),
            None => index_from_js(&seg, "a path index").map(Segment::Index),
        })
        .collect()
}

/// A JS value to write, converted when the operation is recorded.
pub fn from_js(value: &JsValue) -> Result<Json, WebError> {
    if value.is_null() {
        return Ok(Json::Scalar(ScalarValue::Null));
    }
    if let Some(b) = value.as_bool() {
        return Ok(Json::Scalar(ScalarValue::Boolean(b)));
    }
    if let Some(n) = value.as_f64() {
        if !n.is_finite() {
            return Err(WebError::invalid_value("numbers must be finite"));
        }
        return Ok(Json::number(n));
    }
    if let Some(s) = value.as_string() {
        return Ok(Json::Text(s));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(Json::Scalar(ScalarValue::Bytes(bytes.to_vec())));
    }
    if let Some(date) = value.dyn_ref::<Date>() {
        let ms = date.get_time();
        if !ms.is_finite() {
            return Err(WebError::invalid_value("invalid Date"));
        }
        return Ok(Json::Scalar(ScalarValue::Timestamp(ms as i64)));
    }
    if Array::is_array(value) {
        return Array::from(value).iter().map(|v| from_js(&v)).collect::<Result<_, _>>().map(Json::List);
    }
    if is_plain_object(value) {
        let mut entries = Vec::new();
        for entry in Object::entries(value.unchecked_ref::<Object>()).iter() {
            let pair = Array::from(&entry);
            let key = pair.get(0).as_string().unwrap_or_default();
            entries.push((key, from_js(&pair.get(1))?));
        }
        return Ok(Json::Map(entries));
    }
    Err(WebError::invalid_value("only JSON-like values (and Uint8Array, Date) can be stored"))
    }

/// An object literal (or `Object.create(null)`), not a class instance such as a `Map`.
fn is_plain_object(value: &JsValue) -> bool {
    if !value.is_object() || value.is_function() {
        return false;
    }
    let proto: JsValue = Object::get_prototype_of(value).into();
    proto.is_null() || Object::is(&proto, &Object::get_prototype_of(&Object::new()))
}

/// The object at `path` (which must be an object: map, list or text).
pub fn resolve(doc: &impl ReadDoc, path: &[Segment]) -> Result<(ObjId, ObjType), WebError> {
    let mut obj = ROOT;
    let mut obj_type = ObjType::Map;
    for (depth, seg) in path.iter().enumerate() {
        let found = doc.get(&obj, seg.prop()).map_err(|e| WebError::invalid_path(e.to_string()))?;
        match found {
            Some((Value::Object(t), id)) => {
                obj = id;
                obj_type = t;
            }
            _ => {
                return Err(WebError::invalid_path(format!("no object at {}", describe(&path[..=depth]))));
            }
        }
    }
    Ok((obj, obj_type))
}

/// The value at `path` as JS (`undefined` if there is none).
pub fn get(doc: &impl ReadDoc, path: &[Segment]) -> Result<JsValue, WebError> {
    let Some((last, parent)) = path.split_last() else {
        return to_js_obj(doc, &ROOT);
    };
    let (obj, _) = resolve(doc, parent)?;
    match doc.get(&obj, last.prop()) {
        Ok(Some((Value::Object(_), id))) => to_js_obj(doc, &id),
        Ok(Some((Value::Scalar(s), _))) => Ok(scalar_to_js(&s)),
        Ok(None) | Err(_) => Ok(JsValue::UNDEFINED),
    }
}

fn to_js_obj(doc: &impl ReadDoc, obj: &ObjId) -> Result<JsValue, WebError> {
    let value = doc.hydrate(obj, None).map_err(|e| WebError::invalid_path(e.to_string()))?;
    Ok(hydrated_to_js(&value))
}

/// A hydrated automerge value as JS.
pub fn hydrated_to_js(value: &hydrate::Value) -> JsValue {
    match value {
        hydrate::Value::Scalar(s) => scalar_to_js(s),
        hydrate::Value::Text(t) => JsValue::from_str(&t.to_string()),
        hydrate::Value::List(list) => list.iter().map(|item| hydrated_to_js(&item.value)).collect::<Array>().into(),
        hydrate::Value::Map(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let obj = Object::new();
            for (key, item) in entries {
                let _ = Reflect::set(&obj, &JsValue::from_str(key), &hydrated_to_js(&item.value));
            }
            obj.into()
        }
    }
}

pub fn scalar_to_js(s: &ScalarValue) -> JsValue {
    match s {
        ScalarValue::Str(s) => JsValue::from_str(s),
        ScalarValue::Int(n) => JsValue::from_f64(*n as f64),
        ScalarValue::Uint(n) => JsValue::from_f64(*n as f64),
        ScalarValue::F64(n) => JsValue::from_f64(*n),
        ScalarValue::Counter(c) => JsValue::from_f64(i64::from(c) as f64),
        ScalarValue::Timestamp(ms) => Date::new(&JsValue::from_f64(*ms as f64)).into(),
        ScalarValue::Boolean(b) => JsValue::from_bool(*b),
        ScalarValue::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        ScalarValue::Null => JsValue::NULL,
        ScalarValue::Unknown { .. } => JsValue::UNDEFINED,
    }
}
