//! An identity provider's JWKS URL (`JWT_JWKS_URL`) through HTTP, fetched with the server's
//! real client from a local provider whose answers the test controls: keys fetched once and
//! shared through the database with another edge, kept for `max-age`, refreshed for a new
//! key at most once per interval, kept while the provider is down (for a bounded time), a 503
//! to retry when no key was ever fetched, and nothing fetched for tokens that could never
//! verify with a provider key.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{AUDIENCE, ISSUER, TestApp, base64_url};
use edge_app::AppState;
use edge_app::auth::JwksUrl;
use edge_app::ports::Clock;
use edge_app::service::provider_keys::ProviderKeyCache;
use edgesync_server::http_get::ReqwestGet;
use edgesync_server::storage::LibsqlDatabase;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature as _};
use serde_json::{Value, json};
use tower::ServiceExt;

type SigningKey = <Es256 as Algorithm>::SigningKey;

/// What the local provider answers, and how often it was asked.
struct Provider {
    answer: Mutex<(u16, String, &'static str)>,
    hits: AtomicUsize,
    url: String,
}

impl Provider {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let provider = Arc::new(Provider { answer: Mutex::new((500, String::new(), "")), hits: AtomicUsize::new(0), url });
        let served = provider.clone();
        let route = axum::routing::get(move || {
            let served = served.clone();
            async move {
                served.hits.fetch_add(1, Ordering::SeqCst);
                let (status, body, cache_control) = served.answer.lock().unwrap().clone();
                (StatusCode::from_u16(status).unwrap(), [("cache-control", cache_control)], body)
            }
        });
        tokio::spawn(axum::serve(listener, axum::Router::new().route("/jwks.json", route)).into_future());
        provider
    }

    fn publish(&self, kids: &[&str], cache_control: &'static str) {
        let public = serde_json::to_value(JsonWebKey::from(key().verifying_key())).unwrap();
        let keys: Vec<Value> = kids
            .iter()
            .map(|kid| {
                let mut k = public.clone();
                k["kid"] = json!(kid);
                k["alg"] = json!("ES256");
                k
            })
            .collect();
        *self.answer.lock().unwrap() = (200, json!({ "keys": keys }).to_string(), cache_control);
    }

    fn fail(&self, status: u16) {
        *self.answer.lock().unwrap() = (status, String::new(), "");
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn key() -> SigningKey {
    SigningKey::from_slice(&[3; 32]).unwrap()
}

/// An edge: the app with the provider's URL and the server's HTTP client, on the test app's
/// database file and clock, with its own key cache (another process, or a Spin instance).
async fn edge(app: &TestApp, provider: &Provider) -> AppState {
    let db = LibsqlDatabase::open_local(&app.dir.path().join("test.db")).await.unwrap();
    let mut config = (*app.state.config).clone();
    config.auth.jwks_url = Some(JwksUrl::parse(&provider.url, 60).unwrap());
    AppState::new(db, app.clock.clone(), Arc::new(edge_app::ports::OsRandom), config)
        .with_http(Arc::new(ReqwestGet::new()), Arc::new(ProviderKeyCache::default()))
}

fn token(app: &TestApp, header: Value) -> String {
    let now = app.clock.now().as_secs();
    let claims = json!({"sub": "pat", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 3600, "iat": now});
    let input = format!("{}.{}", base64_url(header.to_string().as_bytes()), base64_url(claims.to_string().as_bytes()));
    let signature = Es256.sign(&key(), input.as_bytes());
    format!("{input}.{}", base64_url(&signature.as_bytes()))
}

fn es(app: &TestApp, kid: &str) -> String {
    token(app, json!({"alg": "ES256", "kid": kid}))
}

/// Status, problem code and `Retry-After` of `GET /v1/docs` with `token`.
async fn call(state: &AppState, token: &str) -> (u16, Option<String>, Option<String>) {
    let request = Request::get("/v1/docs").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap();
    let response = edge_app::app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let code = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["code"].as_str().map(str::to_owned));
    (status, code, retry)
}

#[tokio::test]
async fn keys_are_fetched_once_shared_through_the_database_and_kept_for_max_age() {
    let app = TestApp::new().await;
    let provider = Provider::start().await;
    provider.publish(&["p-1"], "public, max-age=600");
    let first = edge(&app, &provider).await;
    for _ in 0..5 {
        assert_eq!(call(&first, &es(&app, "p-1")).await.0, 200);
    }
    assert_eq!(provider.hits(), 1);
    // Another edge (a new instance, an empty cache) reads what the first one stored.
    let second = edge(&app, &provider).await;
    assert_eq!(call(&second, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 1, "the second edge fetched instead of reading the database");
    app.clock.advance_secs(599);
    assert_eq!(call(&first, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 1, "fetched again before max-age");
    app.clock.advance_secs(2);
    assert_eq!(call(&first, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 2, "expired keys are fetched again");
    assert_eq!(call(&second, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 2, "one edge's refresh serves the others");
}

#[tokio::test]
async fn a_new_key_is_fetched_at_most_once_per_interval_whatever_the_tokens_say() {
    let app = TestApp::new().await;
    let provider = Provider::start().await;
    provider.publish(&["p-1"], "max-age=3600");
    let (a, b) = (edge(&app, &provider).await, edge(&app, &provider).await);
    assert_eq!(call(&a, &es(&app, "p-1")).await.0, 200);
    // The provider rotates; a token naming the new key within the interval is refused…
    provider.publish(&["p-1", "p-2"], "max-age=3600");
    assert_eq!(call(&a, &es(&app, "p-2")).await.1.as_deref(), Some("token_key_unknown"));
    assert_eq!(provider.hits(), 1);
    app.clock.advance_secs(61);
    // …and accepted after it, for one fetch, by whichever edge asks first.
    assert_eq!(call(&b, &es(&app, "p-2")).await.0, 200);
    assert_eq!(provider.hits(), 2);
    assert_eq!(call(&a, &es(&app, "p-2")).await.0, 200, "the other edge reads the new set from the database");
    // A storm of made-up key ids on both edges: no fetch within the interval, one after it.
    for i in 0..50 {
        let edge = if i % 2 == 0 { &a } else { &b };
        assert_eq!(call(edge, &es(&app, &format!("made-up-{i}"))).await.1.as_deref(), Some("token_key_unknown"));
    }
    assert_eq!(provider.hits(), 2);
    app.clock.advance_secs(61);
    for i in 0..50 {
        let edge = if i % 2 == 0 { &a } else { &b };
        assert_eq!(call(edge, &es(&app, &format!("made-up-again-{i}"))).await.1.as_deref(), Some("token_key_unknown"));
    }
    assert_eq!(provider.hits(), 3, "one fetch for the whole storm, across both edges");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_to_retry_until_keys_are_known_then_they_outlive_it_for_a_day() {
    let app = TestApp::new().await;
    let provider = Provider::start().await;
    provider.fail(500);
    let edge = edge(&app, &provider).await;
    let (status, _, retry) = call(&edge, &es(&app, "p-1")).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 503);
    assert_eq!(provider.hits(), 1, "retried within the back-off");
    app.clock.advance_secs(6);
    provider.publish(&["p-1"], "max-age=600");
    assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 2);
    // Down again, and the keys expire: they keep verifying while fetches are retried…
    provider.fail(503);
    app.clock.advance_secs(601);
    assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 200);
    assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 200);
    assert_eq!(provider.hits(), 3, "one attempt per back-off");
    // …for a day past their expiry.
    app.clock.advance_secs(24 * 3600);
    assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 503);
}

#[tokio::test]
async fn what_the_provider_serves_is_bounded_and_checked() {
    let app = TestApp::new().await;
    let provider = Provider::start().await;
    let edge = edge(&app, &provider).await;
    for bad in ["x".repeat(200 * 1024), "not json".to_owned(), json!({"keys": []}).to_string()] {
        *provider.answer.lock().unwrap() = (200, bad, "");
        assert_eq!(call(&edge, &es(&app, "p-1")).await.0, 503);
        app.clock.advance_secs(6);
    }
    assert_eq!(provider.hits(), 3);
}

#[tokio::test]
async fn tokens_that_cannot_verify_with_a_provider_key_fetch_nothing() {
    let app = TestApp::new().await;
    let provider = Provider::start().await;
    provider.publish(&["p-1"], "");
    let edge = edge(&app, &provider).await;
    for header in [
        json!({"alg": "HS256", "kid": "p-1"}),
        json!({"alg": "none", "kid": "p-1"}),
        json!({"alg": "EdDSA", "kid": "p-1"}),
        json!({"alg": "ES256"}),
        json!({"alg": "ES256", "kid": ""}),
        json!({"alg": "ES256", "kid": "k".repeat(65)}),
    ] {
        assert_eq!(call(&edge, &token(&app, header.clone())).await.0, 401, "{header}");
    }
    assert_eq!(provider.hits(), 0);
    // An RS256 claim on the provider's ES256 key: fetched (the kid is new), then refused.
    assert_eq!(call(&edge, &token(&app, json!({"alg": "RS256", "kid": "p-1"}))).await.1.as_deref(), Some("token_algorithm_unsupported"));
}
