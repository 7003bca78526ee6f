//! Presence over HTTP (docs/protocol.md §10.1) on the app's clock: what a message costs the
//! database (its size, the sender's rate, how long it is kept) and who may read it. The same
//! endpoints against every runtime are in tests/tests/live/presence.rs.

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::TestApp;
use edge_app::live::{MAX_PRESENCE_BYTES, PRESENCE_PER_SECOND};
use serde_json::{Value, json};

async fn send(app: &TestApp, user: &str, doc: &str, data: Value) -> (StatusCode, Value) {
    send_body(app, user, doc, json!({ "data": data })).await
}

async fn send_body(app: &TestApp, user: &str, doc: &str, body: Value) -> (StatusCode, Value) {
    let r = app.call(Method::POST, &format!("/v1/docs/{doc}/presence"), Some(&app.token(user)), Some(body)).await;
    (r.status, if r.body.is_empty() { Value::Null } else { r.json() })
}

async fn read(app: &TestApp, user: &str, query: &str) -> Value {
    let r = app.call(Method::GET, &format!("/v1/presence?{query}"), Some(&app.token(user)), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn rows(app: &TestApp) -> i64 {
    let rows = app.state.store.db().query(edge_app::ports::Statement::new("SELECT COUNT(*) FROM presence", [])).await.unwrap();
    rows.rows[0][0].as_i64().unwrap()
}

#[tokio::test]
async fn members_read_each_others_presence_and_strangers_learn_nothing() {
    let app = TestApp::new().await;
    let doc = app.create_doc("alice").await;
    app.add_member("alice", &doc, "victor", "viewer").await;
    let missing = "0123456789abcdef0123456789abcdef";

    // A viewer may send presence: it is not an edit.
    let (status, sent) = send(&app, "victor", &doc, json!({"cursor": 3, "from": "alice"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let page = read(&app, "alice", &format!("docs={doc},{missing}")).await;
    assert_eq!(page["presence"], json!([{"seq": sent["seq"], "doc": doc, "from": "victor", "data": {"cursor": 3, "from": "alice"}}]), "from is the token's");
    assert_eq!(page["unavailable"], json!([missing]));
    assert_eq!(page["cursor"], sent["seq"]);
    let after = read(&app, "alice", &format!("docs={doc}&after={}", sent["seq"])).await;
    assert_eq!(after["presence"], json!([]), "the cursor moves past what was read");
    assert_eq!(after["cursor"], sent["seq"]);

    // A client's reads naming its session skip what it sent; its user's other sessions see it.
    let (_, mine) = send_body(&app, "alice", &doc, json!({"data": "mine", "session": "tab-1"})).await;
    let cursor = sent["seq"].as_i64().unwrap();
    let own = read(&app, "alice", &format!("docs={doc}&after={cursor}&session=tab-1")).await;
    assert_eq!((&own["presence"], own["cursor"].as_i64()), (&json!([]), Some(cursor)));
    let other_tab = read(&app, "alice", &format!("docs={doc}&after={cursor}&session=tab-2")).await;
    assert_eq!(other_tab["presence"], json!([{"seq": mine["seq"], "doc": doc, "from": "alice", "data": "mine"}]));
    // A session hides only its own user's messages: another user naming it hears them.
    let as_victor = read(&app, "victor", &format!("docs={doc}&after={cursor}&session=tab-1")).await;
    assert_eq!(as_victor["presence"][0]["seq"], mine["seq"]);

    // A stranger sends to a document exactly as to a missing one, and reads nothing of it.
    let (to_theirs, body_theirs) = send(&app, "mallory", &doc, json!(1)).await;
    let (to_missing, body_missing) = send(&app, "mallory", missing, json!(1)).await;
    assert_eq!((to_theirs, &body_theirs), (StatusCode::NOT_FOUND, &body_missing));
    assert_eq!(to_missing, StatusCode::NOT_FOUND);
    let started = Instant::now();
    let stranger = read(&app, "mallory", &format!("docs={doc}&wait_ms=20000")).await;
    assert_eq!(stranger, json!({"cursor": 0, "presence": [], "unavailable": [doc]}));
    assert!(started.elapsed() < Duration::from_secs(5), "nothing to wait for: answered at once");

    // Removed, a member reads nothing more, even with an old cursor.
    let r = app.call(Method::DELETE, &format!("/v1/docs/{doc}/members/victor"), Some(&app.token("alice")), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(read(&app, "victor", &format!("docs={doc}")).await["unavailable"], json!([doc]));
}

#[tokio::test]
async fn presence_is_bounded_by_size_and_rate_and_kept_ten_seconds() {
    let app = TestApp::new().await;
    let doc = app.create_doc("alice").await;

    // The limit is the JSON text's: a string of 1,022 characters is 1,024 bytes with its quotes.
    let big = "x".repeat(MAX_PRESENCE_BYTES - 1);
    let (status, problem) = send(&app, "alice", &doc, json!(big)).await;
    assert_eq!((status, problem["type"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("urn:edgesync:problem:payload-too-large")));
    assert_eq!(rows(&app).await, 0, "refused before anything is stored");
    assert_eq!(send(&app, "alice", &doc, json!("x".repeat(MAX_PRESENCE_BYTES - 2))).await.0, StatusCode::ACCEPTED, "exactly the limit");
    app.clock.advance_secs(11);

    // One user's burst (the app's clock stands still): the limit, then 429, at every edge alike
    // (the count and the insert are one statement).
    let mut accepted = 0;
    for i in 0..PRESENCE_PER_SECOND + 5 {
        match send(&app, "alice", &doc, json!(i)).await {
            (StatusCode::ACCEPTED, _) => accepted += 1,
            (status, problem) => assert_eq!((status, problem["type"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("urn:edgesync:problem:rate-limited"))),
        }
    }
    assert_eq!(accepted, PRESENCE_PER_SECOND);
    app.clock.advance_secs(1);
    assert_eq!(send(&app, "alice", &doc, json!("next second")).await.0, StatusCode::ACCEPTED);
    assert_eq!(read(&app, "alice", &format!("docs={doc}")).await["presence"].as_array().unwrap().len(), PRESENCE_PER_SECOND as usize + 1);

    // Over ten seconds later nothing is served, and the next send or the compaction pass deletes it.
    app.clock.advance_secs(11);
    assert_eq!(read(&app, "alice", &format!("docs={doc}")).await["presence"], json!([]));
    assert_eq!(rows(&app).await, i64::from(PRESENCE_PER_SECOND) + 1);
    assert_eq!(send(&app, "alice", &doc, json!("later")).await.0, StatusCode::ACCEPTED);
    assert_eq!(rows(&app).await, 1, "the send deleted what expired");
    app.clock.advance_secs(11);
    edge_app::service::compaction::run_pass(&app.state, 10).await.unwrap();
    assert_eq!(rows(&app).await, 0, "the compaction pass deleted the rest");
}

#[tokio::test]
async fn a_read_answers_at_most_a_hundred_and_the_cursor_goes_on() {
    let app = TestApp::new().await;
    let doc = app.create_doc("alice").await;
    for i in 0..101 {
        if i > 0 && i % PRESENCE_PER_SECOND == 0 {
            app.clock.advance_secs(1);
        }
        assert_eq!(send(&app, "alice", &doc, json!(i)).await.0, StatusCode::ACCEPTED);
    }
    let first = read(&app, "bob-not-a-member", &format!("docs={doc}")).await;
    assert_eq!(first["presence"], json!([]), "a stranger reads nothing");
    let first = read(&app, "alice", &format!("docs={doc},{doc}")).await;
    let data: Vec<&Value> = first["presence"].as_array().unwrap().iter().map(|e| &e["data"]).collect();
    assert_eq!(data.len(), 100, "a repeated id counts once, and an answer holds at most 100");
    assert_eq!((data[0], data[99]), (&json!(0), &json!(99)));
    let rest = read(&app, "alice", &format!("docs={doc}&after={}", first["cursor"])).await;
    assert_eq!(rest["presence"].as_array().unwrap().iter().map(|e| &e["data"]).collect::<Vec<_>>(), [&json!(100)]);
}

#[tokio::test]
async fn malformed_reads_are_refused() {
    let app = TestApp::new().await;
    let doc = app.create_doc("alice").await;
    let token = app.token("alice");
    let too_many = vec![doc.as_str(); 101].join(",");
    for query in
        ["docs=", "docs=ABC", &format!("docs={too_many}"), &format!("docs={doc}&after=-1"), &format!("docs={doc}&as=bob"), &format!("docs={doc}&wait_ms=x")]
    {
        let r = app.call(Method::GET, &format!("/v1/presence?{query}"), Some(&token), None).await;
        assert_eq!((r.status, r.json()["type"].as_str()), (StatusCode::BAD_REQUEST, Some("urn:edgesync:problem:invalid-input")), "{query:.60}");
    }
    for body in [json!({"data": 1, "from": "bob"}), json!({"data": 1, "session": "a b"}), json!({"data": 1, "session": "x".repeat(65)})] {
        let (status, problem) = send_body(&app, "alice", &doc, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
    }
    let r = app.call(Method::GET, &format!("/v1/presence?docs={doc}&session=a%20b"), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
