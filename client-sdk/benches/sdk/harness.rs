//! Shared pieces of the SDK benchmark: the real API served in-process with a byte counter,
//! clients, a bare libSQL commit for comparison, store inspection and statistics.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use edge_app::auth::{self, AuthConfig, TokenClaims};
use edge_app::ports::{Clock, OsRandom, SystemClock};
use edge_app::{AppState, Config};
use edgesync_client::automerge::{ObjId, ROOT, ReadDoc};
use edgesync_client::{Client, DocHandle, TokenError};
use edgesync_server::storage::LibsqlDatabase;
use rand::Rng;
use rand::rngs::StdRng;

const ISSUER: &str = "https://auth.bench";
const AUDIENCE: &str = "edgesync-bench";
const SECRET: &str = "client-sdk-bench-secret-0123456789-abcdef";

/// Nearest-rank percentiles over recorded durations.
#[derive(Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    pub fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1));
        v.get(rank - 1).copied().unwrap_or_default()
    }

    pub fn mean(&self) -> Duration {
        self.0.iter().sum::<Duration>() / self.0.len().max(1) as u32
    }

    pub fn over(&self, limit: Duration) -> usize {
        self.0.iter().filter(|d| **d > limit).count()
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 { format!("{ms:.0} ms") } else { format!("{ms:.3} ms") }
}

/// p50 and p99 of 50 appends of 4 KiB each followed by fsync, in `dir`.
pub fn fsync_probe(dir: &Path) -> String {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let mut lat = Latencies::default();
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(&[7u8; 4096]).expect("write");
        f.sync_all().expect("fsync");
        lat.0.push(t.elapsed());
    }
    let _ = std::fs::remove_file(path);
    format!("fsync of a 4 KiB append in the temp dir just before this part (p50 / p99 of 50): {} / {}.", ms(lat.pct(50.0)), ms(lat.pct(99.0)))
}

/// What the server saw of `/v1/sync`: requests, body bytes each way, time in the router.
#[derive(Default)]
pub struct Wire {
    requests: AtomicU64,
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    server_micros: AtomicU64,
}

impl Wire {
    pub fn take(&self) -> (u64, u64, u64, Duration) {
        let server = Duration::from_micros(self.server_micros.swap(0, Ordering::SeqCst));
        (self.requests.swap(0, Ordering::SeqCst), self.request_bytes.swap(0, Ordering::SeqCst), self.response_bytes.swap(0, Ordering::SeqCst), server)
    }
}

async fn count(State(wire): State<Arc<Wire>>, request: Request, next: Next) -> Response {
    let sync = request.uri().path() == "/v1/sync";
    let length = |h: &axum::http::HeaderMap| h.get("content-length").and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).unwrap_or(0);
    if sync {
        wire.requests.fetch_add(1, Ordering::SeqCst);
        wire.request_bytes.fetch_add(length(request.headers()), Ordering::SeqCst);
    }
    let t = Instant::now();
    let response = next.run(request).await;
    if sync {
        wire.server_micros.fetch_add(t.elapsed().as_micros() as u64, Ordering::SeqCst);
        let size = length(response.headers()).max(axum::body::HttpBody::size_hint(response.body()).exact().unwrap_or(0));
        wire.response_bytes.fetch_add(size, Ordering::SeqCst);
    }
    response
}

/// Serves the real API on a loopback port; returns its URL and state.
pub async fn serve(dir: &Path, wire: Arc<Wire>) -> (String, AppState) {
    let db = LibsqlDatabase::open_local(&dir.join("server.db")).await.expect("server db");
    let mut config = Config::new(AuthConfig::from_parts(ISSUER, AUDIENCE, Some(SECRET), None).expect("auth config"));
    config.rate_limit.requests = 0;
    let state = AppState::new(db, Arc::new(SystemClock), Arc::new(OsRandom), config);
    state.store.migrate(state.now()).await.expect("migrations");
    let app = edge_app::app(state.clone()).layer(from_fn_with_state(wire, count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, state)
}

/// Deterministic lowercase text, so the documents compress like prose, not like a pattern.
pub fn letters(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from(rng.random_range(b'a'..=b'z'))).collect()
}

/// The floor under a durable edit: one ~150-byte row inserted and committed on a libSQL file
/// with the store's settings (WAL, `synchronous = FULL`).
pub struct BareStore {
    conn: libsql::Connection,
    _db: libsql::Database,
}

impl BareStore {
    pub async fn open(path: &Path) -> Self {
        let db = libsql::Builder::new_local(path).build().await.expect("bare db");
        let conn = db.connect().expect("connect");
        conn.query("PRAGMA journal_mode = WAL", ()).await.expect("wal");
        conn.execute("PRAGMA synchronous = FULL", ()).await.expect("full");
        conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, bytes BLOB NOT NULL)", ()).await.expect("table");
        BareStore { conn, _db: db }
    }

    pub async fn commit(&self) -> Duration {
        let t = Instant::now();
        let tx = self.conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.expect("begin");
        tx.execute("INSERT INTO t (bytes) VALUES (?1)", [libsql::Value::Blob(vec![7u8; 150])]).await.expect("insert");
        tx.commit().await.expect("commit");
        t.elapsed()
    }
}

pub async fn client(url: &str, store: &Path) -> Client {
    Client::builder(url)
        .store_path(store)
        .token_provider(|_| {
            let claims = TokenClaims { subject: "bench".into(), issuer: ISSUER.into(), audience: AUDIENCE.into(), scope: None };
            std::future::ready(Ok::<_, TokenError>(auth::mint_hs256(SECRET.as_bytes(), &claims, SystemClock.now(), 3600)))
        })
        .manual_sync()
        .open()
        .await
        .expect("client opens")
}

/// The SQL store's shape: change rows and snapshot bytes of one document.
pub async fn stored(store: &Path) -> (i64, i64, u64) {
    let db = libsql::Builder::new_local(store).build().await.expect("store");
    let conn = db.connect().expect("connect");
    let mut rows = conn.query("SELECT (SELECT count(*) FROM changes), (SELECT coalesce(sum(length(snapshot)), 0) FROM documents)", ()).await.expect("query");
    let row = rows.next().await.expect("row").expect("one row");
    let file = std::fs::metadata(store).map(|m| m.len()).unwrap_or(0);
    (row.get::<i64>(0).expect("rows"), row.get::<i64>(1).expect("bytes"), file)
}

pub async fn stored_snapshot(store: &Path) -> Vec<u8> {
    let db = libsql::Builder::new_local(store).build().await.expect("store");
    let conn = db.connect().expect("connect");
    let mut rows = conn.query("SELECT snapshot FROM documents WHERE snapshot IS NOT NULL", ()).await.expect("query");
    rows.next().await.expect("row").expect("a snapshot").get::<Vec<u8>>(0).expect("bytes")
}

pub fn text_of(doc: &DocHandle) -> (ObjId, usize) {
    doc.read(|d| {
        let (_, text) = d.get(ROOT, "text").expect("read").expect("text object");
        let len = d.text(&text).expect("text").chars().count();
        (text, len)
    })
    .expect("document")
}

