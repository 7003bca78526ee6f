use edgesync_client::automerge::AutoCommit;
use serde_json::json;

use super::*;

fn doc() -> AutoCommit {
    let mut doc = AutoCommit::new();
    put(&mut doc, "/todos", &json!([{"title": "milk", "done": false}])).unwrap();
    put_text(&mut doc, "/notes", "hello").unwrap();
    doc
}

fn whole(doc: &AutoCommit) -> Json {
    get(doc, "").unwrap().unwrap()
}

#[test]
fn pointers_parse_per_rfc_6901() {
    assert_eq!(parse_pointer("").unwrap(), Vec::<String>::new());
    assert_eq!(parse_pointer("/a~1b/~0c/0").unwrap(), vec!["a/b", "~c", "0"]);
    assert_eq!(parse_pointer("/").unwrap(), vec![""]);
    assert!(parse_pointer("a").is_err());
    assert!(parse_pointer("/a~2").is_err());
    assert!(parse_pointer("/a~").is_err());
}

#[test]
fn json_round_trips_through_the_document() {
    let mut doc = AutoCommit::new();
    let value = json!({"n": 1, "big": u64::MAX, "f": 1.5, "b": true, "z": null, "s": "x", "l": [1, [2], {"k": "v"}]});
    put(&mut doc, "/v", &value).unwrap();
    assert_eq!(get(&doc, "/v").unwrap().unwrap(), value);
    assert_eq!(get(&doc, "/v/l/2/k").unwrap().unwrap(), json!("v"));
    assert_eq!(get(&doc, "/missing").unwrap(), None);
    assert_eq!(get(&doc, "/v/l/9").unwrap(), None);
}

#[test]
fn lists_insert_replace_and_delete() {
    let mut doc = doc();
    insert(&mut doc, "/todos/-", &json!({"title": "eggs"})).unwrap();
    insert(&mut doc, "/todos/0", &json!("first")).unwrap();
    put(&mut doc, "/todos/2/done", &json!(true)).unwrap();
    delete(&mut doc, "/todos/1").unwrap();
    assert_eq!(whole(&doc)["todos"], json!(["first", {"title": "eggs", "done": true}]));
    assert!(insert(&mut doc, "/todos/5", &json!(1)).is_err(), "past the end");
    assert!(put(&mut doc, "/todos/2", &json!(1)).is_err(), "put needs an existing index");
    assert!(insert(&mut doc, "/notes/0", &json!(1)).is_err(), "not a list");
    assert!(put(&mut doc, "/todos/01", &json!(1)).is_err(), "leading zero");
}

#[test]
fn text_is_spliced_in_code_points() {
    let mut doc = doc();
    splice_text(&mut doc, "/notes", 5, 0, ", wörld").unwrap();
    splice_text(&mut doc, "/notes", 0, 1, "H").unwrap();
    assert_eq!(whole(&doc)["notes"], json!("Hello, wörld"));
    splice_text(&mut doc, "/notes", 9, 3, "ld!").unwrap();
    assert_eq!(get(&doc, "/notes").unwrap().unwrap(), json!("Hello, wöld!"));
    assert!(splice_text(&mut doc, "/notes", 12, 1, "").is_err(), "out of range");
    assert!(splice_text(&mut doc, "/todos", 0, 0, "x").is_err(), "not text");
    assert!(put(&mut doc, "/notes/0", &json!("x")).is_err(), "text is spliced, not put");
}

#[test]
fn errors_name_the_problem() {
    let mut doc = doc();
    let e = put(&mut doc, "/nope/x", &json!(1)).unwrap_err();
    assert!(e.to_string().contains("nothing at /nope"), "{e}");
    let e = put(&mut doc, "/todos/0/done/x", &json!(1)).unwrap_err();
    assert!(e.to_string().contains("/todos/0/done is not an object"), "{e}");
    assert!(put(&mut doc, "", &json!({})).is_err(), "the root is not replaceable");
    assert!(delete(&mut doc, "/absent").is_err());
    assert!(matches!(parse_json("{"), Err(EdgesyncError::InvalidInput { .. })));
}
