//! Presence over plain HTTP (docs/protocol.md §10.1) on every runtime, Spin included (no
//! sockets there): a waiting read is answered by a collaborator's message sent through the
//! same edge, with the sender the token says; strangers neither send nor read. Size, rate and
//! expiry are in edge/server/tests/api_presence.rs, on a clock the test moves.

use std::time::{Duration, Instant};

use edgesync_blackbox::Target;
use serde_json::{Value, json};

use super::{LONG_WAIT_MS, share};

async fn send(t: &Target, token: &str, doc: &str, data: Value) -> (u16, Value) {
    let r = t.http.post(t.url(&format!("/v1/docs/{doc}/presence"))).bearer_auth(token).json(&json!({ "data": data })).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn read(t: &Target, token: &str, query: &str) -> Value {
    let r = t.http.get(t.url(&format!("/v1/presence?{query}"))).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_waiting_presence_read_is_answered_by_a_collaborators_message() {
    let Some(t) = Target::from_env() else { return };
    let (_, owner) = t.user("presence-owner");
    let (viewer_id, viewer) = t.user("presence-viewer");
    let doc = t.create_doc(&owner).await;
    share(&t, &owner, &doc, &viewer_id, "viewer").await;
    let start = read(&t, &owner, &format!("docs={doc}")).await;
    let cursor = start["cursor"].as_i64().unwrap();

    let waiting = {
        let (t, owner, doc) = (Target::at(&t.base), owner.clone(), doc.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let page = read(&t, &owner, &format!("docs={doc}&after={cursor}&wait_ms={LONG_WAIT_MS}")).await;
            (page, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A viewer may send presence (it is not an edit); `from` is the token's, whatever the data says.
    let (status, sent) = send(&t, &viewer, &doc, json!({"cursor": 7, "from": "someone-else"})).await;
    assert_eq!(status, 202, "{sent}");
    let (page, waited) = waiting.await.unwrap();
    assert_eq!(page["presence"], json!([{"seq": sent["seq"], "doc": doc, "from": viewer_id, "data": {"cursor": 7, "from": "someone-else"}}]));
    assert_eq!(page["cursor"], sent["seq"]);
    assert!(waited < Duration::from_millis(u64::from(LONG_WAIT_MS) / 2), "answered by the message, not the timeout ({waited:?})");
}

#[tokio::test]
async fn a_stranger_neither_sends_nor_reads_presence() {
    let Some(t) = Target::from_env() else { return };
    let (_, owner) = t.user("presence-owner");
    let (_, stranger) = t.user("presence-stranger");
    let doc = t.create_doc(&owner).await;
    assert_eq!(send(&t, &owner, &doc, json!({"secret": true})).await.0, 202);
    let missing = "0123456789abcdef0123456789abcdef";
    let (to_theirs, theirs) = send(&t, &stranger, &doc, json!(1)).await;
    let (to_missing, missing_body) = send(&t, &stranger, missing, json!(1)).await;
    assert_eq!((to_theirs, &theirs), (404, &missing_body), "a stranger's document looks missing");
    assert_eq!(to_missing, 404);
    let started = Instant::now();
    let page = read(&t, &stranger, &format!("docs={doc},{missing}&wait_ms={LONG_WAIT_MS}")).await;
    assert_eq!(page, json!({"cursor": 0, "presence": [], "unavailable": [doc, missing]}));
    assert!(started.elapsed() < Duration::from_secs(5), "nothing to wait for: answered at once");
}
