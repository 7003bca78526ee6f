//! The per-document live socket (`GET /v1/docs/{id}/live`, docs/protocol.md §11) on every
//! runtime that has inbound WebSockets: native, and the Worker (each document's sockets in
//! one Durable Object). Spin has none: the route answers 404, which clients take as "use
//! waiting syncs".
//!
//! Asserted: a collaborator's commit made over HTTP reaches the other subscriber as `changed`
//! with the new heads (no sync by it); presence carries the token's subject and is not echoed;
//! the socket takes nothing but presence (a viewer cannot write through it); strangers and
//! missing documents are refused alike before the upgrade; a removed member is told and
//! disconnected; a reconnect starts from the current heads, so nothing is lost; the socket
//! closes with 4001 when its token expires (an alarm of the document's object on Workers).

use std::time::Duration;

use edgesync_blackbox::{Replica, Target};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode};

use super::{put, share};

pub(super) type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Long enough for a loaded 2-core machine, far below any poll interval used in the suite.
pub(super) const WITHIN: Duration = Duration::from_secs(5);

/// Whether the runtime under test serves WebSockets (the black-box scripts say which).
pub(super) fn has_sockets() -> bool {
    std::env::var("EDGESYNC_TARGET").map_or(true, |t| t != "spin")
}

fn ws_url(t: &Target, id: &str) -> String {
    format!("{}/v1/docs/{id}/live", t.base.replacen("http", "ws", 1))
}

/// Opens document `id`'s socket (see [`connect`]).
async fn open(t: &Target, id: &str, token: &str, via_protocol: bool) -> Result<Socket, u16> {
    connect(&ws_url(t, id), token, via_protocol).await
}

/// Opens the socket at `url` with the token in `Authorization`, or (as browsers must) in the
/// subprotocol list; the HTTP status when the server refuses.
pub(super) async fn connect(url: &str, token: &str, via_protocol: bool) -> Result<Socket, u16> {
    let mut request = url.into_client_request().unwrap();
    if via_protocol {
        request.headers_mut().insert("sec-websocket-protocol", format!("edgesync.live.v1, bearer.{token}").parse().unwrap());
    } else {
        request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            let chosen = response.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(chosen.as_deref(), via_protocol.then_some("edgesync.live.v1"), "the server answers with our protocol only when offered");
            Ok(socket)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connecting: {e}"),
    }
}

/// The next text message within `within`, or the close frame's code (as `{"closed": code}`).
pub(super) async fn next(socket: &mut Socket, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => return Some(json!({ "closed": frame.map(|f| u16::from(f.code)) })),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

pub(super) async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

pub(super) fn hex_heads(replica: &Replica) -> Vec<String> {
    let mut heads: Vec<String> = replica.doc.get_heads().iter().map(ToString::to_string).collect();
    heads.sort();
    heads
}

pub(super) fn sorted(value: &Value) -> Vec<String> {
    let mut heads: Vec<String> = value.as_array().expect("heads").iter().map(|h| h.as_str().unwrap().to_owned()).collect();
    heads.sort();
    heads
}

/// Reads the greeting every socket starts with: subscribed to its document, with its heads.
async fn greeting(socket: &mut Socket, id: &str) -> Vec<String> {
    let hello = next(socket, WITHIN).await.expect("a greeting");
    assert_eq!((hello["type"].as_str(), hello["docs"][0]["doc"].as_str()), (Some("subscribed"), Some(id)), "{hello}");
    assert_eq!(hello["unavailable"], json!([]));
    sorted(&hello["docs"][0]["heads"])
}

#[tokio::test]
async fn a_collaborator_hears_of_commits_and_presence_through_the_documents_socket() {
    let Some(t) = Target::from_env() else { return };
    let (owner_id, owner) = t.user("socket-owner");
    let (viewer_id, viewer) = t.user("socket-viewer");
    let id = t.create_doc(&owner).await;
    if !has_sockets() {
        assert_eq!(open(&t, &id, &owner, false).await.err(), Some(404), "no live socket: clients fall back to waiting syncs");
        return;
    }
    share(&t, &owner, &id, &viewer_id, "viewer").await;
    let mut a = Replica::new(&id, 1);
    put(&mut a, "x", 1);
    assert_eq!(a.sync(&t, &owner).await, 200);

    let mut watching = open(&t, &id, &viewer, true).await.expect("a viewer may subscribe");
    assert_eq!(greeting(&mut watching, &id).await, hex_heads(&a), "the greeting carries the current heads");
    let mut editing = open(&t, &id, &owner, false).await.expect("the owner may subscribe");
    greeting(&mut editing, &id).await;

    put(&mut a, "x", 2);
    assert_eq!(a.sync(&t, &owner).await, 200);
    let changed = next(&mut watching, WITHIN).await.expect("the commit is pushed");
    assert_eq!((changed["type"].as_str(), changed["doc"].as_str()), (Some("changed"), Some(id.as_str())), "{changed}");
    assert_eq!(sorted(&changed["heads"]), hex_heads(&a), "the new heads, so the client knows what to sync for");
    let own = next(&mut editing, WITHIN).await.expect("the writer's sockets hear of it too");
    assert_eq!(own["type"], "changed", "{own}");

    // Presence: the sender is the token's subject, whatever the data claims; no echo.
    send(&mut watching, json!({"type": "presence", "doc": id, "data": {"cursor": 3, "from": owner_id}})).await;
    let seen = next(&mut editing, WITHIN).await.expect("presence is relayed");
    assert_eq!((seen["type"].as_str(), seen["from"].as_str()), (Some("presence"), Some(viewer_id.as_str())), "{seen}");
    assert_eq!(seen["data"], json!({"cursor": 3, "from": owner_id}));

    // Nothing but presence goes through the socket: a viewer cannot write with it.
    send(&mut watching, json!({"type": "changes", "doc": id, "bytes": "hAJvSgAAAAAA"})).await;
    let refused = next(&mut watching, WITHIN).await.expect("an answer");
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("invalid-message")), "{refused}");
    send(&mut watching, json!({"type": "subscribe", "docs": ["0123456789abcdef0123456789abcdef"]})).await;
    let refused = next(&mut watching, WITHIN).await.expect("an answer");
    assert_eq!(refused["code"], "single-document", "{refused}");
    assert!(next(&mut editing, Duration::from_millis(300)).await.is_none(), "refused messages reach nobody");
    let mut check = Replica::new(&id, 3);
    assert_eq!(check.sync(&t, &owner).await, 200);
    assert_eq!(hex_heads(&check), hex_heads(&a), "the document is what the owner wrote");
}

#[tokio::test]
async fn strangers_and_missing_documents_are_refused_alike_before_the_upgrade() {
    let Some(t) = Target::from_env() else { return };
    let (_, owner) = t.user("socket-owner");
    let (_, stranger) = t.user("socket-stranger");
    let id = t.create_doc(&owner).await;
    let missing = "0123456789abcdef0123456789abcdef";
    assert_eq!(open(&t, &id, &stranger, false).await.err(), Some(404));
    assert_eq!(open(&t, missing, &owner, true).await.err(), Some(404));
    assert_eq!(open(&t, "not-an-id", &owner, false).await.err(), Some(404));
    if has_sockets() {
        assert_eq!(open(&t, &id, "not.a.token", false).await.err(), Some(401));
        let r = t.http.get(ws_url(&t, &id).replacen("ws", "http", 1)).send().await.unwrap();
        assert_eq!(r.status(), 401, "no token, no answer about the document");
    }
}

/// Browsers probe the live routes with `fetch` (a GET with `Authorization`, so after a
/// preflight) before opening a socket from a page on another origin: both answers must carry the
/// deployment's CORS headers, or the page cannot tell "no sockets here" (404) from a failure and
/// never opens one. On every runtime, for both routes, whether the runtime serves them or not.
#[tokio::test]
async fn pages_on_another_origin_can_probe_the_live_routes() {
    let Some(t) = Target::from_env() else { return };
    let origin = std::env::var("EDGESYNC_TEST_CORS_ORIGIN").expect("scripts/targets.sh sets EDGESYNC_TEST_CORS_ORIGIN");
    let (_, owner) = t.user("socket-cors");
    let id = t.create_doc(&owner).await;
    // The configured origin echoed, or `*` where the deployment allows any (`wrangler dev` with
    // the repository's settings).
    let allowed = |r: &reqwest::Response| {
        let value = r.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()).map(str::to_owned);
        value.map(|v| if v == "*" { origin.clone() } else { v })
    };
    for path in ["/v1/live".to_owned(), format!("/v1/docs/{id}/live")] {
        let r = t
            .http
            .request(reqwest::Method::OPTIONS, t.url(&path))
            .header("origin", &origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "preflight of {path}: {}", r.status());
        assert_eq!(allowed(&r).as_deref(), Some(origin.as_str()), "preflight of {path}");
        let r = t.http.get(t.url(&path)).header("origin", &origin).bearer_auth(&owner).send().await.unwrap();
        assert_eq!(allowed(&r).as_deref(), Some(origin.as_str()), "GET {path} answered {} without CORS headers", r.status());
    }
}

#[tokio::test]
async fn a_removed_member_is_told_and_disconnected_and_a_reconnect_loses_nothing() {
    let Some(t) = Target::from_env() else { return };
    if !has_sockets() {
        return;
    }
    let (_, owner) = t.user("socket-owner");
    let (editor_id, editor) = t.user("socket-editor");
    let id = t.create_doc(&owner).await;
    share(&t, &owner, &id, &editor_id, "editor").await;

    // A dropped connection: edits made while it is gone are in the next greeting's heads.
    let mut socket = open(&t, &id, &editor, false).await.unwrap();
    greeting(&mut socket, &id).await;
    drop(socket);
    let mut a = Replica::new(&id, 1);
    put(&mut a, "while-away", 1);
    assert_eq!(a.sync(&t, &owner).await, 200);
    let mut socket = open(&t, &id, &editor, false).await.unwrap();
    assert_eq!(greeting(&mut socket, &id).await, hex_heads(&a), "the reconnect starts from the current heads");

    let r = t.http.delete(t.url(&format!("/v1/docs/{id}/members/{editor_id}"))).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let told = next(&mut socket, WITHIN).await.expect("told at once, not at the next periodic check");
    assert_eq!((told["type"].as_str(), &told["docs"]), (Some("unavailable"), &json!([id])), "{told}");
    let closed = next(&mut socket, WITHIN).await.expect("then closed");
    assert_eq!(closed["closed"], u16::from(CloseCode::Library(4003)), "{closed}");
    assert_eq!(open(&t, &id, &editor, false).await.err(), Some(404), "and cannot come back");
}

#[tokio::test]
async fn the_socket_closes_when_its_token_expires() {
    let Some(t) = Target::from_env() else { return };
    if !has_sockets() {
        return;
    }
    let (user, owner) = t.user("socket-expiring");
    let id = t.create_doc(&owner).await;
    let started = std::time::Instant::now();
    let mut socket = open(&t, &id, &t.token_expiring(&user, 2), true).await.expect("a valid token opens");
    greeting(&mut socket, &id).await;
    let closed = next(&mut socket, Duration::from_secs(10)).await.expect("closed at the token's expiry");
    assert_eq!(closed["closed"], 4001, "{closed}");
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the token expires");
}
