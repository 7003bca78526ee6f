//! Documents, health, OpenAPI and the cross-cutting behaviour every route shares.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn health_checks_the_database_and_reports_the_schema() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["database"], "ok");
    let latest = edge_app::store::migrations::MIGRATIONS.last().unwrap().0;
    assert_eq!(r.json()["schema_version"], latest);
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::new().await;
    let spec = app.call(Method::GET, "/v1/openapi.json", None, None).await.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/health",
        "/v1/docs",
        "/v1/docs/{id}",
        "/v1/docs/{id}/members/{user_id}",
        "/v1/docs/{id}/sync",
        "/v1/sync",
        "/v1/docs/{id}/snapshot",
        "/v1/docs/{id}/history",
        "/v1/admin/compact",
        "/v1/docs/{id}/presence",
        "/v1/presence",
    ] {
        assert!(spec["paths"][path].is_object(), "missing {path}");
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["paths"]["/v1/admin/damaged"].is_object());
    // Optional query parameters are declared as such.
    for (path, name) in [
        ("/v1/docs/{id}/history", "cursor"),
        ("/v1/docs/{id}/history", "limit"),
        ("/v1/docs/{id}/snapshot", "heads"),
        ("/v1/presence", "after"),
        ("/v1/presence", "wait_ms"),
    ] {
        let params = spec["paths"][path]["get"]["parameters"].as_array().unwrap();
        let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} lacks {name}"));
        assert_eq!((p["in"].as_str(), p["required"].as_bool()), (Some("query"), Some(false)), "{path} {name}");
    }
    // Binary bodies are binary strings of their media type; every error is a problem.
    let body = &spec["paths"]["/v1/sync"]["post"]["requestBody"]["content"]["application/vnd.edgesync.sync.v1"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/SyncMessage");
    assert_eq!(spec["components"]["schemas"]["SyncMessage"]["format"], "binary");
    for (path, method) in [("/v1/sync", "post"), ("/v1/docs/{id}/sync", "post"), ("/v1/docs", "post"), ("/v1/docs/{id}", "get")] {
        for (status, response) in spec["paths"][path][method]["responses"].as_object().unwrap() {
            if status.as_str() >= "400" {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
            }
        }
    }
}

#[tokio::test]
async fn document_lifecycle() {
    let app = TestApp::new().await;
    let alice = app.token("alice");
    let created = app.call(Method::POST, "/v1/docs", Some(&alice), Some(json!({"title": "Plans"}))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let doc = created.json();
    assert_eq!(doc["title"], "Plans");
    assert_eq!(doc["role"], "owner");
    let id = doc["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);

    let got = app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&alice), None).await;
    assert_eq!(got.json(), doc);

    let deleted = app.call(Method::DELETE, &format!("/v1/docs/{id}"), Some(&alice), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&alice), None).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn client_chosen_ids_are_validated_and_unique() {
    let app = TestApp::new().await;
    let alice = app.token("alice");
    let id = "0123456789abcdef0123456789abcdef";
    let r = app.call(Method::POST, "/v1/docs", Some(&alice), Some(json!({"id": id}))).await;
    assert_eq!(r.json()["id"], id);
    app.call(Method::POST, "/v1/docs", Some(&alice), Some(json!({"id": id}))).await.assert_problem(409, "conflict");
    app.call(Method::POST, "/v1/docs", Some(&alice), Some(json!({"id": "nope"}))).await.assert_problem(400, "invalid-input");
    app.call(Method::POST, "/v1/docs", Some(&alice), Some(json!({"title": "x".repeat(201)}))).await.assert_problem(400, "invalid-input");
}

#[tokio::test]
async fn list_is_paginated_and_only_shows_my_documents() {
    let app = TestApp::new().await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(app.create_doc("alice").await);
    }
    app.create_doc("bob").await;
    mine.sort();
    let alice = app.token("alice");
    let mut seen = Vec::new();
    let mut uri = "/v1/docs?limit=2".to_owned();
    loop {
        let page = app.call(Method::GET, &uri, Some(&alice), None).await.json();
        seen.extend(page["documents"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/docs?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, mine);
    app.call(Method::GET, "/v1/docs?limit=0", Some(&alice), None).await.assert_problem(400, "invalid-input");
    app.call(Method::GET, "/v1/docs?bogus=1", Some(&alice), None).await.assert_problem(400, "invalid-input");
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_reuse() {
    let app = TestApp::new().await;
    let alice = app.token("alice");
    let create = |title: &str| {
        Request::post("/v1/docs")
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "k-1")
            .body(Body::from(json!({"title": title}).to_string()))
            .unwrap()
    };
    let first = app.send(create("a")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = app.send(create("a")).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    app.send(create("b")).await.assert_problem(422, "idempotency-key-reused");
    let list = app.call(Method::GET, "/v1/docs", Some(&alice), None).await.json();
    assert_eq!(list["documents"].as_array().unwrap().len(), 1, "one document despite the replay");
}

#[tokio::test]
async fn malformed_bodies_get_problem_details() {
    let app = TestApp::new().await;
    let alice = app.token("alice");
    let post = |ct: &str, body: &str| {
        Request::post("/v1/docs").header("authorization", format!("Bearer {alice}")).header("content-type", ct).body(Body::from(body.to_owned())).unwrap()
    };
    app.send(post("application/json", "{not json")).await.assert_problem(400, "malformed-body");
    app.send(post("application/json", r#"{"unknown": 1}"#)).await.assert_problem(400, "malformed-body");
    app.send(post("text/plain", "{}")).await.assert_problem(415, "unsupported-media-type");
    let big = format!(r#"{{"title": "{}"}}"#, "x".repeat(70 * 1024));
    app.send(post("application/json", &big)).await.assert_problem(413, "payload-too-large");
    app.call(Method::GET, "/v1/nowhere", Some(&alice), None).await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn request_ids_are_kept_or_generated_and_timing_is_reported() {
    let app = TestApp::new().await;
    let r = app.send(Request::get("/v1/health").header("x-request-id", "abc-123").body(Body::empty()).unwrap()).await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    assert!(r.header("server-timing").unwrap().contains("total;dur="));
    let r = app.send(Request::get("/v1/health").header("x-request-id", "bad id with spaces").body(Body::empty()).unwrap()).await;
    let generated = r.header("x-request-id").unwrap();
    assert_eq!(generated.len(), 32);
    let again = app.call(Method::GET, "/v1/health", None, None).await;
    assert_ne!(again.header("x-request-id"), Some(generated));
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_subject() {
    let app = TestApp::with(|c| c.rate_limit = edge_app::RateLimit { requests: 3, window_secs: 60 }).await;
    let alice = app.token("alice");
    for _ in 0..3 {
        assert_eq!(app.call(Method::GET, "/v1/docs", Some(&alice), None).await.status, StatusCode::OK);
    }
    let limited = app.call(Method::GET, "/v1/docs", Some(&alice), None).await;
    limited.assert_problem(429, "rate-limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Another subject has its own budget.
    assert_eq!(app.call(Method::GET, "/v1/docs", Some(&app.token("bob")), None).await.status, StatusCode::OK);
    // The next window starts fresh.
    app.clock.advance_secs(61);
    assert_eq!(app.call(Method::GET, "/v1/docs", Some(&alice), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_forwarding_headers_do_not_dodge_the_per_address_limit() {
    let app = TestApp::with(|c| c.rate_limit = edge_app::RateLimit { requests: 3, window_secs: 60 }).await;
    let unauthenticated = |i: u32, addr: Option<&str>| {
        let mut req = Request::get("/v1/docs")
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .header("cf-connecting-ip", format!("10.1.0.{i}"))
            .header("spin-client-addr", format!("10.2.0.{i}:1234"))
            .body(Body::empty())
            .unwrap();
        if let Some(addr) = addr {
            req.extensions_mut().insert(edge_app::http::ClientAddr(addr.to_owned()));
        }
        req
    };
    // Headers a client writes are not the client's address: one bucket, whatever they say.
    let mut limited = 0;
    for i in 0..10 {
        if app.send(unauthenticated(i, None)).await.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert_eq!(limited, 7);
    // The address the host established (the socket peer) is: each has its own budget.
    for i in 0..10 {
        let addr = format!("192.0.2.{i}");
        assert_eq!(app.send(unauthenticated(i, Some(&addr))).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn the_native_server_believes_forwarded_addresses_only_from_trusted_proxies() {
    use edgesync_server::serve::client_addr;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let proxy = ip("10.0.0.1");
    // Not a trusted proxy: the header is the client's own writing.
    assert_eq!(client_addr(ip("203.0.113.9"), Some("1.2.3.4"), &[proxy]).0, "203.0.113.9");
    // A trusted proxy: the right-most hop it did not add itself.
    assert_eq!(client_addr(proxy, Some("1.2.3.4, 198.51.100.7"), &[proxy]).0, "198.51.100.7");
    assert_eq!(client_addr(proxy, Some("1.2.3.4, 198.51.100.7, 10.0.0.1"), &[proxy]).0, "198.51.100.7");
    // A trusted proxy that forwarded nothing usable: the proxy itself.
    assert_eq!(client_addr(proxy, Some("garbage"), &[proxy]).0, "10.0.0.1");
    assert_eq!(client_addr(proxy, None, &[proxy]).0, "10.0.0.1");
}

#[tokio::test]
async fn quotas_bound_documents_per_user_and_bytes_per_document() {
    let app = TestApp::with(|c| c.quotas = edge_app::Quotas { documents_per_user: 2, bytes_per_document: 4_000 }).await;
    let token = app.token("alice");
    let id = app.create_doc("alice").await;
    app.create_doc("alice").await;
    let third = app.call(Method::POST, "/v1/docs", Some(&token), Some(json!({"title": "one too many"}))).await;
    third.assert_problem(403, "quota-exceeded");
    // Another user has a quota of their own.
    app.create_doc("bob").await;
    // A deleted document leaves room for another.
    let gone = app.create_doc("bob").await;
    app.call(Method::POST, "/v1/docs", Some(&app.token("bob")), Some(json!({}))).await.assert_problem(403, "quota-exceeded");
    assert_eq!(app.call(Method::DELETE, &format!("/v1/docs/{gone}"), Some(&app.token("bob")), None).await.status, 204);
    app.create_doc("bob").await;

    // A push that would take the document past its byte quota is refused and stores nothing;
    // a small one goes through.
    use automerge::{ROOT, transaction::Transactable};
    let doc_id: sync_core::DocumentId = id.parse().unwrap();
    let push = |text: &str| {
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "text", text).unwrap();
        tx.commit();
        sync_core::SyncRequest { docs: vec![sync_core::client::build_request(doc_id, &doc, &sync_core::Heads::empty())] }
    };
    app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &push(&"x".repeat(5_000))).await.assert_problem(403, "quota-exceeded");
    let batch = app.sync_at("/v1/sync", &token, &push(&"x".repeat(5_000))).await.sync();
    assert_eq!(batch.docs[0].status, sync_core::DocStatus::TooLarge);
    assert_eq!(app.call(Method::GET, &format!("/v1/docs/{id}"), Some(&token), None).await.json()["change_rows"], 0);
    assert_eq!(app.sync_at(&format!("/v1/docs/{id}/sync"), &token, &push("small")).await.status, StatusCode::OK);
}
