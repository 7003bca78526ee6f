//! Test harness: the shared router over a real local libSQL file, a clock tests can move,
//! and helpers to mint tokens and send requests with `oneshot`.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use edge_app::auth::{self, AuthConfig, TokenClaims};
use edge_app::ports::{Clock, OsRandom, UnixMillis};
use edge_app::{AppState, Config};
use edgesync_server::storage::LibsqlDatabase;
use http_body_util::BodyExt;
use serde_json::Value;
use sync_core::{MEDIA_TYPE, SyncRequest, SyncResponse};
use tower::ServiceExt;

pub const ISSUER: &str = "https://auth.test";
pub const AUDIENCE: &str = "edgesync-test";
pub const HS_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const KID: &str = "test-ed25519";

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.load(Ordering::SeqCst))
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub ed_secret: Vec<u8>,
    pub ed_public: Vec<u8>,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json body with the given status and `type` suffix.
    pub fn assert_problem(&self, status: u16, kind: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["type"], format!("urn:edgesync:problem:{kind}"));
        assert_eq!(p["status"], status);
        assert!(p["title"].is_string());
    }

    pub fn sync(&self) -> SyncResponse {
        assert_eq!(self.status, StatusCode::OK, "body: {}", String::from_utf8_lossy(&self.body));
        SyncResponse::decode(&self.body, &sync_core::Limits::DEFAULT).expect("valid sync response")
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open(dir, tweak).await
    }

    /// Opens (or reopens) the app on the database file in `dir`.
    pub async fn open(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let (ed_secret, ed_public) = auth::ed25519_keypair([7; 32]);
        let keys = format!("{KID}:{}", base64_url(&ed_public));
        let auth = AuthConfig::from_parts(ISSUER, AUDIENCE, Some(HS_SECRET), Some(&keys)).unwrap();
        let mut config = Config::new(auth);
        config.rate_limit.requests = 0;
        tweak(&mut config);
        let db = LibsqlDatabase::open_local(&dir.path().join("test.db")).await.unwrap();
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000_000)));
        // Loads and merges on the bounded blocking pool, as `serve` runs them.
        let state = AppState::new(db, clock.clone(), Arc::new(OsRandom), config).with_compute(Arc::new(edgesync_server::compute::BlockingPool::default()));
        state.store.migrate(state.now()).await.unwrap();
        Self { router: edge_app::app(state.clone()), state, clock, ed_secret, ed_public, dir }
    }

    pub fn claims(user: &str) -> TokenClaims {
        TokenClaims { subject: user.into(), issuer: ISSUER.into(), audience: AUDIENCE.into(), scope: None }
    }

    /// An HS256 token for `user`, valid for an hour from the app's clock.
    pub fn token(&self, user: &str) -> String {
        auth::mint_hs256(HS_SECRET.as_bytes(), &Self::claims(user), self.clock.now(), 3600)
    }

    pub fn ed_token(&self, user: &str) -> String {
        auth::mint_ed25519(&self.ed_secret, KID, &Self::claims(user), self.clock.now(), 3600)
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: Method, uri: &str, token: Option<&str>, json: Option<Value>) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let body = match json {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn sync_at(&self, uri: &str, token: &str, request: &SyncRequest) -> Reply {
        let req = Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", MEDIA_TYPE)
            .body(Body::from(request.encode()))
            .unwrap();
        self.send(req).await
    }

    /// Creates a document owned by `user`; returns its id.
    pub async fn create_doc(&self, user: &str) -> String {
        let r = self.call(Method::POST, "/v1/docs", Some(&self.token(user)), Some(serde_json::json!({"title": "t"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        r.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_member(&self, owner: &str, doc: &str, user: &str, role: &str) {
        let r = self.call(Method::PUT, &format!("/v1/docs/{doc}/members/{user}"), Some(&self.token(owner)), Some(serde_json::json!({"role": role}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    }
}

pub fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A change on top of `base` that puts a key into an object `base` never saw: well-formed
/// bytes, valid hash, deps and checksum, impossible content (automerge 0.12 panics applying
/// it).
pub fn crafted_change_on(base: &automerge::Automerge) -> automerge::Change {
    use automerge::transaction::Transactable;
    let mut elsewhere = base.fork().with_actor(automerge::ActorId::from(vec![0xee; 8]));
    let mut tx = elsewhere.transaction();
    let map = tx.put_object(automerge::ROOT, "m", automerge::ObjType::Map).unwrap();
    tx.commit();
    let mut tx = elsewhere.transaction();
    tx.put(&map, "k", 1).unwrap();
    tx.commit();
    let mut expanded = elsewhere.get_last_local_change().unwrap().decode();
    expanded.deps = base.get_heads();
    expanded.seq = 1;
    expanded.hash = None;
    automerge::Change::from(expanded)
}

/// The server as `serve` runs it, live sockets included (push on commit, poll the database
/// every `poll_ms`, memberships checked again every `recheck`), on a loopback port: its
/// address and state.
pub async fn serve_live(app: &TestApp, poll_ms: u32, recheck: std::time::Duration) -> (String, AppState) {
    use edgesync_server::live::{Live, LiveHub};
    let wakeups = Arc::new(edgesync_server::wakeups::LocalWakeups::default());
    let mut state = app.state.clone().with_wakeups(wakeups.clone());
    Arc::make_mut(&mut state.config).wait_poll_ms = poll_ms;
    let hub = Arc::new(LiveHub::default());
    edgesync_server::live::spawn_watcher(hub.clone(), state.clone(), &wakeups);
    let router =
        edgesync_server::serve::router(state.clone(), Vec::new()).merge(edgesync_server::live::routes(Live { recheck, ..Live::new(state.clone(), hub) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    (format!("127.0.0.1:{}", addr.port()), state)
}

/// `POST /v1/sync` of one new change putting `key` = `value` into `doc` (a fresh actor, nothing
/// acknowledged) as `user`, through the served router at `addr` (whose commits wake the live
/// sockets); the server's answer.
pub async fn edit_over_http(addr: &str, app: &TestApp, user: &str, doc: sync_core::DocumentId, key: &str, value: &str) -> SyncResponse {
    use automerge::transaction::Transactable;
    let mut replica = automerge::Automerge::new();
    let mut tx = replica.transaction();
    tx.put(automerge::ROOT, key, value).unwrap();
    tx.commit();
    let request = SyncRequest { docs: vec![sync_core::client::build_request(doc, &replica, &sync_core::Heads::empty())] };
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/sync"))
        .bearer_auth(app.token(user))
        .header("content-type", MEDIA_TYPE)
        .body(request.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    SyncResponse::decode(&response.bytes().await.unwrap(), &sync_core::Limits::DEFAULT).unwrap()
}

/// Document `doc` as stored, loaded as the server loads it.
pub async fn stored(app: &TestApp, doc: sync_core::DocumentId) -> automerge::Automerge {
    let id = doc.to_string();
    let state = app.state.store.load_states(&[&id]).await.unwrap().remove(&id).expect("stored");
    sync_core::document::load(sync_core::document::StoredDoc { snapshot: state.snapshot.as_deref(), changes: &state.changes }).unwrap()
}
