//! Test harness: the real edgesync API (edge/app's router over the native server's libSQL
//! storage) served in-process on a loopback port with a temp data dir, a clock the tests can
//! move, and an optional fault layer that answers `/v1/sync` with 503 + Retry-After.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use edge_app::auth::{self, AuthConfig, TokenClaims};
use edge_app::ports::{Clock, OsRandom, SystemClock, UnixMillis};
use edge_app::{AppState, Config};
use edgesync_client::automerge::{ROOT, ReadDoc, ScalarValue, Value};
use edgesync_client::{BackgroundSync, Client, DocHandle, DocumentId, Event, Subscription, SyncStatus, TokenError};
use edgesync_server::storage::LibsqlDatabase;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ISSUER: &str = "https://auth.test";
pub const AUDIENCE: &str = "edgesync-test";
pub const SECRET: &str = "client-sdk-test-secret-0123456789-abcdef";

/// The real clock plus an offset tests can move (to expire tokens mid-session).
#[derive(Default)]
pub struct OffsetClock(AtomicI64);

impl OffsetClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(SystemClock.now().0 + self.0.load(Ordering::SeqCst))
    }
}

/// Fault injection in front of the router: the next `unavailable` sync requests get 503.
#[derive(Default)]
pub struct Faults {
    unavailable: AtomicU32,
    retry_after_secs: AtomicU64,
    /// Sync requests that reached the server (answered or refused).
    pub sync_requests: AtomicU32,
    /// Sync requests refused with 503.
    pub refused: AtomicU32,
    /// Waiting syncs (`?wait_ms=` above 0) that reached the server.
    pub waiting_syncs: AtomicU32,
    /// A document whose presence makes a whole `/v1/sync` batch fail with 500 (as a server
    /// that cannot process one document of a batch would).
    pub poisoned: Mutex<Option<DocumentId>>,
    /// Milliseconds every request for a live route (`…/live`) waits before it is answered.
    pub live_delay_ms: AtomicU64,
    /// `GET /v1/live` answers 404 while the per-document sockets are served (a Worker
    /// deployed without its channel binding).
    pub hide_channel: std::sync::atomic::AtomicBool,
}

impl Faults {
    pub fn refuse_next_syncs(&self, n: u32, retry_after_secs: u64) {
        self.retry_after_secs.store(retry_after_secs, Ordering::SeqCst);
        self.unavailable.store(n, Ordering::SeqCst);
    }
}

async fn inject(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    let poisoned = *faults.poisoned.lock().unwrap();
    let request = match poisoned {
        Some(bad) if request.uri().path() == "/v1/sync" => {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let decoded = edgesync_client::sync_core::SyncRequest::decode(&bytes, &edgesync_client::sync_core::Limits::DEFAULT);
            if decoded.is_ok_and(|r| r.docs.iter().any(|d| d.doc_id == bad)) {
                faults.sync_requests.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
            }
            Request::from_parts(parts, axum::body::Body::from(bytes))
        }
        _ => request,
    };
    if faults.hide_channel.load(Ordering::SeqCst) && request.uri().path() == "/v1/live" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let live_delay = faults.live_delay_ms.load(Ordering::SeqCst);
    if live_delay > 0 && request.uri().path().ends_with("/live") {
        tokio::time::sleep(Duration::from_millis(live_delay)).await;
    }
    if request.uri().path() == "/v1/sync" {
        faults.sync_requests.fetch_add(1, Ordering::SeqCst);
        if request.uri().query().is_some_and(|q| q.contains("wait_ms=") && !q.contains("wait_ms=0")) {
            faults.waiting_syncs.fetch_add(1, Ordering::SeqCst);
        }
        if faults.unavailable.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            faults.refused.fetch_add(1, Ordering::SeqCst);
            let secs = faults.retry_after_secs.load(Ordering::SeqCst).to_string();
            return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", secs)], "").into_response();
        }
    }
    next.run(request).await
}

pub struct TestServer {
    pub port: u16,
    pub clock: Arc<OffsetClock>,
    pub faults: Arc<Faults>,
    dir: tempfile::TempDir,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    http: reqwest::Client,
    /// Serve the live channel (`/v1/live`) and push commits, as `edgesync serve` does.
    live: bool,
    /// With `live`, whether the live sockets are served (else only waiting syncs, as on Spin).
    sockets: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            clock: Arc::new(OffsetClock::default()),
            faults: Arc::new(Faults::default()),
            dir: tempfile::tempdir().unwrap(),
            running: None,
            http: reqwest::Client::new(),
            live: false,
            sockets: true,
        };
        server.serve().await;
        server
    }

    /// A server with the live channel (`GET /v1/live`), like `edgesync serve`.
    pub async fn start_live() -> Self {
        let mut server = Self::start().await;
        server.live = true;
        server.restart().await;
        server
    }

    /// A server whose waiting syncs wait for commits but that has no live sockets (both
    /// routes answer 404), like Spin or `edgesync serve --live-sockets false`.
    pub async fn start_waiting_only() -> Self {
        let mut server = Self::start().await;
        server.live = true;
        server.sockets = false;
        server.restart().await;
        server
    }

    async fn serve(&mut self) {
        let db = LibsqlDatabase::open_local(&self.dir.path().join("server.db")).await.unwrap();
        let mut config = Config::new(AuthConfig::from_parts(ISSUER, AUDIENCE, Some(SECRET), None).unwrap());
        config.rate_limit.requests = 0;
        let mut state = AppState::new(db, self.clock.clone(), Arc::new(OsRandom), config);
        state.store.migrate(state.now()).await.unwrap();
        let mut live_routes = None;
        if self.live {
            let wakeups = Arc::new(edgesync_server::wakeups::LocalWakeups::default());
            state = state.with_wakeups(wakeups.clone());
            let hub = Arc::new(edgesync_server::live::LiveHub::default());
            edgesync_server::live::spawn_watcher(hub.clone(), state.clone(), &wakeups);
            live_routes = self.sockets.then(|| edgesync_server::live::routes(edgesync_server::live::Live::new(state.clone(), hub)));
        }
        let mut app = edge_app::app(state);
        if let Some(routes) = live_routes {
            app = app.merge(routes);
        }
        // In front of every route, the live ones included.
        let app = app.layer(from_fn_with_state(self.faults.clone(), inject));
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = listener.expect("the test port can be bound");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        self.running = Some((stop, task));
    }

    /// Stops serving (connections are closed) and releases the database.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Serves again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.serve().await;
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A token for `user`, valid for `ttl_secs` from the server's clock.
    pub fn token_with_ttl(&self, user: &str, ttl_secs: i64) -> String {
        let claims = TokenClaims { subject: user.into(), issuer: ISSUER.into(), audience: AUDIENCE.into(), scope: None };
        auth::mint_hs256(SECRET.as_bytes(), &claims, self.clock.now(), ttl_secs)
    }

    pub fn token(&self, user: &str) -> String {
        self.token_with_ttl(user, 3600)
    }

    /// A token provider that mints a fresh token for `user` on every call.
    pub fn provider(&self, user: &str) -> impl Fn(bool) -> std::future::Ready<Result<String, TokenError>> + Send + Sync + 'static {
        let (clock, user) = (self.clock.clone(), user.to_owned());
        move |_| {
            let claims = TokenClaims { subject: user.clone(), issuer: ISSUER.into(), audience: AUDIENCE.into(), scope: None };
            std::future::ready(Ok(auth::mint_hs256(SECRET.as_bytes(), &claims, clock.now(), 3600)))
        }
    }

    /// A client of `user` on the store at `store`; manual sync unless `background` is given.
    pub async fn client(&self, store: &Path, user: &str, background: Option<BackgroundSync>) -> Client {
        let builder = Client::builder(self.url()).store_path(store).token_provider(self.provider(user));
        let builder = match background {
            Some(settings) => builder.background_sync(settings),
            None => builder.manual_sync(),
        };
        builder.open().await.unwrap()
    }

    /// Adds `user` to a document as `role` (owner, editor, viewer) with the owner's token.
    pub async fn add_member(&self, owner: &str, doc: DocumentId, user: &str, role: &str) {
        let r = self
            .http
            .put(format!("{}/v1/docs/{doc}/members/{user}", self.url()))
            .bearer_auth(self.token(owner))
            .json(&serde_json::json!({ "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Calls the API directly; returns the status.
    pub async fn call(&self, method: reqwest::Method, path: &str, user: &str, body: Option<serde_json::Value>) -> u16 {
        let mut r = self.http.request(method, format!("{}{path}", self.url())).bearer_auth(self.token(user));
        if let Some(body) = body {
            r = r.json(&body);
        }
        r.send().await.unwrap().status().as_u16()
    }
}

/// The scalar at `key` in the document's root map.
pub fn scalar(doc: &DocHandle, key: &str) -> Option<ScalarValue> {
    doc.read(|d| match d.get(ROOT, key).unwrap() {
        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
        _ => None,
    })
    .unwrap()
}

/// A string at `key`, if it is one.
pub fn string(doc: &DocHandle, key: &str) -> Option<String> {
    match scalar(doc, key)? {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Keeps a log of events and waits for ones matching a predicate.
pub struct Events {
    sub: Subscription,
    pub seen: Arc<Mutex<Vec<Event>>>,
}

impl Events {
    pub fn new(sub: Subscription) -> Self {
        Self { sub, seen: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Waits (at most `within`) for an event matching `want`; panics with the log otherwise.
    pub async fn wait_for(&mut self, within: Duration, what: &str, want: impl Fn(&Event) -> bool) -> Event {
        let found = tokio::time::timeout(within, async {
            while let Some(event) = self.sub.next().await {
                self.seen.lock().unwrap().push(event.clone());
                if want(&event) {
                    return Some(event);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(event)) => event,
            _ => panic!("no {what} within {within:?}; events: {:#?}", self.seen.lock().unwrap()),
        }
    }

    /// Moves every queued event into the log.
    pub fn drain(&mut self) {
        while let Some(event) = self.sub.try_next() {
            self.seen.lock().unwrap().push(event);
        }
    }

    pub async fn status(&mut self, within: Duration, want: impl Fn(&SyncStatus, usize) -> bool) -> Event {
        self.wait_for(within, "status", |e| matches!(e, Event::Status { status, pending } if want(status, *pending))).await
    }
}
