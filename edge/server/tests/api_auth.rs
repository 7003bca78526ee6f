//! The JWT attack suite, through HTTP: every forged, stale or misdirected token is a 401
//! problem with `WWW-Authenticate`, and the two configured algorithms work.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{AUDIENCE, HS_SECRET, ISSUER, KID, TestApp, base64_url};
use edge_app::auth::{self, TokenClaims};
use edge_app::ports::{Clock, UnixMillis};
use serde_json::json;

async fn status_with(app: &TestApp, authorization: &str) -> common::Reply {
    let req = Request::get("/v1/docs").header("authorization", authorization).body(Body::empty()).unwrap();
    app.send(req).await
}

fn assert_401(r: &common::Reply) {
    r.assert_problem(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
}

/// A token with any header and claims, signed (or not) as the caller says.
fn hand_made(header: serde_json::Value, claims: serde_json::Value, signature: &[u8]) -> String {
    format!("{}.{}.{}", base64_url(header.to_string().as_bytes()), base64_url(claims.to_string().as_bytes()), base64_url(signature))
}

fn hs256(key: &[u8], signing_input: &str) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(signing_input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn claims(app: &TestApp) -> serde_json::Value {
    let now = app.clock.now().as_secs();
    json!({"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now})
}

#[tokio::test]
async fn valid_hs256_and_ed25519_tokens_are_accepted() {
    let app = TestApp::new().await;
    assert_eq!(status_with(&app, &format!("Bearer {}", app.token("alice"))).await.status, StatusCode::OK);
    assert_eq!(status_with(&app, &format!("Bearer {}", app.ed_token("alice"))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_garbage_and_wrong_scheme_are_401() {
    let app = TestApp::new().await;
    assert_401(&app.call(Method::GET, "/v1/docs", None, None).await);
    assert_401(&status_with(&app, "Bearer not.a.jwt").await);
    assert_401(&status_with(&app, "Bearer ").await);
    assert_401(&status_with(&app, &format!("Basic {}", app.token("alice"))).await);
}

#[tokio::test]
async fn alg_none_is_401() {
    let app = TestApp::new().await;
    let token = hand_made(json!({"alg": "none", "typ": "JWT"}), claims(&app), b"");
    assert_401(&status_with(&app, &format!("Bearer {token}")).await);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_401() {
    // Algorithm confusion: the Ed25519 public key used as an HMAC secret, with the kid of the
    // Ed25519 key. The server must pick the algorithm from the key, not from the token.
    let app = TestApp::new().await;
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": KID});
    let unsigned = format!("{}.{}", base64_url(header.to_string().as_bytes()), base64_url(claims(&app).to_string().as_bytes()));
    let token = format!("{unsigned}.{}", base64_url(&hs256(&app.ed_public, &unsigned)));
    assert_401(&status_with(&app, &format!("Bearer {token}")).await);
    // The same forgery keyed by the public key's base64 text.
    let text_key = base64_url(&app.ed_public);
    let token = format!("{unsigned}.{}", base64_url(&hs256(text_key.as_bytes(), &unsigned)));
    assert_401(&status_with(&app, &format!("Bearer {token}")).await);
}

#[tokio::test]
async fn expired_and_not_yet_valid_are_401_with_leeway() {
    let app = TestApp::new().await;
    let c = TestApp::claims("alice");
    let now = app.clock.now();
    let expired = auth::mint_hs256(HS_SECRET.as_bytes(), &c, UnixMillis(now.0 - 3_600_000), 600);
    assert_401(&status_with(&app, &format!("Bearer {expired}")).await);
    // Expired 10 s ago: inside the 30 s leeway.
    let just = auth::mint_hs256(HS_SECRET.as_bytes(), &c, UnixMillis(now.0 - 610_000), 600);
    assert_eq!(status_with(&app, &format!("Bearer {just}")).await.status, StatusCode::OK);
    let now_s = now.as_secs();
    let unsigned = json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now_s + 7200, "nbf": now_s + 3600});
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let input = format!("{}.{}", base64_url(header.to_string().as_bytes()), base64_url(unsigned.to_string().as_bytes()));
    let future = format!("{input}.{}", base64_url(&hs256(HS_SECRET.as_bytes(), &input)));
    assert_401(&status_with(&app, &format!("Bearer {future}")).await);
}

#[tokio::test]
async fn wrong_issuer_audience_signature_and_kid_are_401() {
    let app = TestApp::new().await;
    let now = app.clock.now();
    let wrong_iss = TokenClaims { issuer: "https://evil.test".into(), ..TestApp::claims("alice") };
    assert_401(&status_with(&app, &format!("Bearer {}", auth::mint_hs256(HS_SECRET.as_bytes(), &wrong_iss, now, 600))).await);
    let wrong_aud = TokenClaims { audience: "someone-else".into(), ..TestApp::claims("alice") };
    assert_401(&status_with(&app, &format!("Bearer {}", auth::mint_hs256(HS_SECRET.as_bytes(), &wrong_aud, now, 600))).await);
    let forged = auth::mint_hs256(b"another-secret-another-secret-another", &TestApp::claims("alice"), now, 600);
    assert_401(&status_with(&app, &format!("Bearer {forged}")).await);
    let mut flipped = app.ed_token("alice").into_bytes();
    let i = flipped.len() - 5;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    assert_401(&status_with(&app, &format!("Bearer {}", String::from_utf8(flipped).unwrap())).await);
    let (other_secret, _) = auth::ed25519_keypair([9; 32]);
    let unknown_kid = auth::mint_ed25519(&other_secret, "no-such-kid", &TestApp::claims("alice"), now, 600);
    assert_401(&status_with(&app, &format!("Bearer {unknown_kid}")).await);
}

#[tokio::test]
async fn oversized_tokens_are_401() {
    let app = TestApp::new().await;
    let huge = TokenClaims { scope: Some("x".repeat(20_000)), ..TestApp::claims("alice") };
    let token = auth::mint_hs256(HS_SECRET.as_bytes(), &huge, app.clock.now(), 600);
    assert_401(&status_with(&app, &format!("Bearer {token}")).await);
}

#[tokio::test]
async fn admin_route_needs_the_admin_scope() {
    let app = TestApp::new().await;
    app.call(Method::POST, "/v1/admin/compact", Some(&app.token("alice")), None).await.assert_problem(403, "forbidden");
    let admin = TokenClaims { scope: Some("edgesync:admin".into()), ..TestApp::claims("ops") };
    let token = auth::mint_hs256(HS_SECRET.as_bytes(), &admin, app.clock.now(), 600);
    let r = app.call(Method::POST, "/v1/admin/compact", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["compacted"], 0);
}
