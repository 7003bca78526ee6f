//! CORS: browsers on another origin (the web SDK) can call the API.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{Reply, TestApp};
use edge_app::http::CorsOrigins;

const ORIGIN: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> Reply {
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/sync")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", headers)
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

fn lower(v: Option<&str>) -> String {
    v.unwrap_or_default().to_ascii_lowercase()
}

#[tokio::test]
async fn preflights_are_answered_before_authentication() {
    let app = TestApp::new().await;
    let r = preflight(&app, ORIGIN, "authorization,content-type,idempotency-key").await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-credentials").is_none(), "no credentials: auth is a bearer header");
    let methods = lower(r.header("access-control-allow-methods"));
    assert!(methods.contains("post") && methods.contains("put") && methods.contains("delete"), "{methods}");
    let allowed = lower(r.header("access-control-allow-headers"));
    for h in ["authorization", "content-type", "idempotency-key", "x-request-id"] {
        assert!(allowed.contains(h), "{h} not allowed: {allowed}");
    }
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r.header("x-request-id").is_some(), "preflights go through the request context");
}

#[tokio::test]
async fn responses_errors_included_carry_cors_headers() {
    let app = TestApp::new().await;
    let token = app.token("alice");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/docs")
        .header("origin", ORIGIN)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"title":"t"}"#))
        .unwrap();
    let r = app.send(request).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = lower(r.header("access-control-expose-headers"));
    assert!(exposed.contains("retry-after") && exposed.contains("x-request-id"), "{exposed}");

    // A 401 is readable by the page too (the SDK refreshes its token on it).
    let request = Request::get("/v1/docs").header("origin", ORIGIN).body(Body::empty()).unwrap();
    let r = app.send(request).await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn a_list_of_origins_echoes_only_those() {
    let list: CorsOrigins = "https://app.example.com, http://localhost:5173".parse().unwrap();
    let app = TestApp::with(|c| c.cors_origins = list).await;
    let r = preflight(&app, ORIGIN, "authorization").await;
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(lower(r.header("vary")).contains("origin"));
    let r = preflight(&app, "https://evil.example.net", "authorization").await;
    assert!(r.header("access-control-allow-origin").is_none(), "an origin not on the list is not allowed");
}

#[tokio::test]
async fn none_turns_cors_off() {
    let app = TestApp::with(|c| c.cors_origins = CorsOrigins::Disabled).await;
    let r = preflight(&app, ORIGIN, "authorization").await;
    assert!(r.header("access-control-allow-origin").is_none());
    assert_ne!(r.status, StatusCode::OK, "the preflight reaches the router, which has no OPTIONS routes");
}
