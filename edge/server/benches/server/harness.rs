//! Shared pieces: the server's state on a temp dir (as `serve` opens it), the HTTP server on
//! loopback, client replicas, and latency statistics.

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use axum::Router;
use edge_app::AppState;
use edge_app::auth::{self, TokenClaims};
use edge_app::model::Role;
use edge_app::model::dto::CreateDocument;
use edge_app::service;
use edge_app::service::sync::SyncStats;
use edgesync_server::settings::Settings;
use sync_core::{DocResponse, DocStatus, DocumentId, Heads, Limits, MEDIA_TYPE, SyncRequest, SyncResponse, client};

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";
const ISSUER: &str = "edgesync-dev";
const AUDIENCE: &str = "edgesync";

/// The settings `edgesync --rate-limit 0 serve` would use with its data in `dir`.
pub fn settings(dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_owned(),
        db: None,
        libsql_url: None,
        libsql_auth_token: String::new(),
        replica: false,
        replica_sync_secs: 1,
        jwt_issuer: ISSUER.into(),
        jwt_audience: AUDIENCE.into(),
        jwt_hs256_secret: Some(SECRET.into()),
        jwt_ed25519_public_keys: None,
        jwt_jwks: None,
        jwt_jwks_url: None,
        jwt_jwks_min_refresh_secs: 60,
        jwt_user_claim: "sub".into(),
        dev: false,
        max_docs_per_user: 0,
        max_doc_bytes: 0,
        rate_limit: 0,
        compaction_threshold: 500,
        cors_origins: edge_app::http::CorsOrigins::Any,
        wait_poll_ms: 1_000,
    }
}

/// Opens the state exactly as `serve` does (local libSQL file, WAL, synchronous=FULL, migrated).
pub async fn open_state(dir: &Path) -> AppState {
    edgesync_server::serve::open_state(&settings(dir)).await.expect("state opens")
}

/// The router and layers of `serve`.
pub fn router(state: AppState) -> Router {
    edgesync_server::serve::router(state, Vec::new())
}

/// Serves `state` on 127.0.0.1:0 with [`router`]; returns the base URL.
pub async fn start_http(state: AppState) -> String {
    let app = router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("has an address"));
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.expect("serves");
    });
    url
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client builds")
}

pub fn token(state: &AppState, user: &str) -> String {
    let claims = TokenClaims { subject: user.into(), issuer: ISSUER.into(), audience: AUDIENCE.into(), scope: None };
    auth::mint_hs256(SECRET.as_bytes(), &claims, state.now(), 3600)
}

/// Creates a document owned by `owner` through the service (as `POST /v1/docs` does).
pub async fn create_doc(state: &AppState, owner: &str) -> DocumentId {
    let created = service::documents::create(state, owner, None, &CreateDocument { id: None, title: Some("bench".into()) }).await.expect("document created");
    let body: serde_json::Value = serde_json::from_slice(&created.body).expect("JSON");
    body["id"].as_str().expect("id").parse().expect("valid id")
}

pub async fn add_editor(state: &AppState, doc: DocumentId, user: &str) {
    state.store.set_member(&doc.to_string(), user, Role::Editor, state.now()).await.expect("member added");
}

/// A client's replica of one document and the server heads it last had acknowledged.
pub struct Replica {
    pub id: DocumentId,
    pub user: String,
    pub token: String,
    pub doc: Automerge,
    pub acked: Heads,
    edits: u64,
    /// Syncs of this replica the server answered with a full merge (it loaded the document).
    pub loads: usize,
}

impl Replica {
    pub fn new(state: &AppState, id: DocumentId, user: &str, actor: u64) -> Self {
        let doc = Automerge::new().with_actor(ActorId::from(actor.to_be_bytes().to_vec()));
        Self::with_doc(state, id, user, doc, Heads::empty())
    }

    pub fn with_doc(state: &AppState, id: DocumentId, user: &str, doc: Automerge, acked: Heads) -> Self {
        Self { id, user: user.into(), token: token(state, user), doc, acked, edits: 0, loads: 0 }
    }

    /// One small edit: a single map put, on one of 64 keys of this client's own (clients
    /// sharing a document edit different fields, so their puts do not conflict).
    pub fn edit(&mut self) {
        let actor = self.doc.get_actor().to_hex_string();
        let key = format!("{}-k{}", &actor[actor.len().saturating_sub(8)..], self.edits % 64);
        let mut tx = self.doc.transaction();
        tx.put(ROOT, key, self.edits as i64).expect("put");
        tx.commit();
        self.edits += 1;
    }

    pub fn request(&self) -> SyncRequest {
        SyncRequest { docs: vec![client::build_request(self.id, &self.doc, &self.acked)] }
    }

    pub fn apply(&mut self, response: &SyncResponse) {
        let r: &DocResponse = &response.docs[0];
        assert_eq!(r.status, DocStatus::Ok, "sync status");
        let applied = client::apply_response(&mut self.doc, self.id, &self.acked, r).expect("response applies");
        assert_eq!(applied.pending, 0, "everything acknowledged");
        self.acked = applied.acked;
    }

    /// Sync through the service, no HTTP. Returns the time of the `sync` call alone.
    pub async fn sync_in_process(&mut self, state: &AppState) -> Duration {
        self.sync_in_process_stats(state).await.0
    }

    /// [`Self::sync_in_process`], with the service's own split of its time (database, CRDT).
    pub async fn sync_in_process_stats(&mut self, state: &AppState) -> (Duration, SyncStats) {
        let request = self.request();
        let t = Instant::now();
        let (response, stats) = service::sync::sync(state, &self.user, &request).await.expect("sync succeeds");
        let took = t.elapsed();
        self.loads += stats.loaded;
        // The call only yields on a contended connection lock (the local libSQL driver is
        // synchronous), so without this a client would go straight into its next round while
        // the task it just handed the writer lock to waits behind it on the same worker; a
        // network client yields here while it waits for the response.
        tokio::task::yield_now().await;
        self.apply(&response);
        (took, stats)
    }

    /// Sync over HTTP. Returns the time from sending the request to having the whole body
    /// (client-side encode, decode and apply are outside it).
    pub async fn sync_http(&mut self, http: &reqwest::Client, base: &str) -> Duration {
        let body = self.request().encode();
        let t = Instant::now();
        let r = http
            .post(format!("{base}/v1/docs/{}/sync", self.id))
            .bearer_auth(&self.token)
            .header("content-type", MEDIA_TYPE)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = r.status();
        let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = r.bytes().await.expect("body read");
        let took = t.elapsed();
        // `merge;desc="fast=N behind=N loaded=N"`
        self.loads += timing.split("loaded=").nth(1).and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()).unwrap_or(0);
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
        let response = SyncResponse::decode(&bytes, &Limits::DEFAULT).expect("valid response");
        self.apply(&response);
        took
    }
}

/// Latencies of many rounds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile.
    pub fn pct(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 { format!("{ms:.0} ms") } else { format!("{ms:.2} ms") }
}

pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 { "–".into() } else { format!("{:.2}", a / b) }
}

/// Resident set size of this process, from /proc/self/status.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).expect("VmRSS")
}

/// Change rows and snapshot bytes of a document, as the store accounts them.
pub async fn doc_size(state: &AppState, id: DocumentId) -> (usize, usize) {
    let loaded = state.store.load_state(&id.to_string()).await.expect("loads").expect("exists");
    (loaded.changes.len(), loaded.snapshot.map_or(0, |s| s.len()))
}

/// p50 and p99 of 50 appends of 4 KiB each followed by fsync, in `dir`: what one commit
/// with `synchronous = FULL` waits for at least, at this moment on this disk.
pub fn fsync_probe(dir: &Path) -> (Duration, Duration) {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let mut lat = Latencies::default();
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(&[7u8; 4096]).expect("write");
        f.sync_all().expect("fsync");
        lat.push(t.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_file(path);
    (lat.pct(50.0), lat.pct(99.0))
}
