//! A client for the black-box suite: it knows only a base URL and how to mint a token.
//!
//! Configuration (set by scripts/blackbox.sh for each runtime):
//! `EDGESYNC_BASE_URL`, `EDGESYNC_TEST_HS256_SECRET`, `EDGESYNC_TEST_ISSUER`,
//! `EDGESYNC_TEST_AUDIENCE`. Without `EDGESYNC_BASE_URL` the suite is skipped, unless
//! `EDGESYNC_REQUIRE_TARGET` is set (as in the test command).

pub mod provider;
pub mod thin;

use automerge::{ActorId, Automerge};
use edge_app::auth::{self, TokenClaims};
use edge_app::ports::{Clock, SystemClock};
use sync_core::{DocRequest, DocResponse, DocumentId, Heads, Limits, MEDIA_TYPE, SyncRequest, SyncResponse, client};

pub struct Target {
    pub base: String,
    pub http: reqwest::Client,
    secret: String,
    issuer: String,
    audience: String,
}

impl Target {
    /// The runtime under test, or `None` (skip) when none is configured.
    pub fn from_env() -> Option<Self> {
        let Ok(base) = std::env::var("EDGESYNC_BASE_URL") else {
            assert!(std::env::var_os("EDGESYNC_REQUIRE_TARGET").is_none(), "EDGESYNC_BASE_URL is required");
            eprintln!("skipped: EDGESYNC_BASE_URL not set (run through scripts/blackbox.sh)");
            return None;
        };
        Some(Self::at(&base))
    }

    /// The runtime at `base`, with the token settings from the environment.
    pub fn at(base: &str) -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is required"));
        Self {
            base: base.trim_end_matches('/').to_owned(),
            // Idle connections are dropped before the server's header deadline (2 s in the
            // test command) closes them under a request.
            http: reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(1)).build().expect("an HTTP client"),
            secret: var("EDGESYNC_TEST_HS256_SECRET"),
            issuer: var("EDGESYNC_TEST_ISSUER"),
            audience: var("EDGESYNC_TEST_AUDIENCE"),
        }
    }

    /// The `iss` the runtime requires.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` the runtime requires.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A token for exactly this user.
    pub fn token_for(&self, user: &str) -> String {
        self.token_expiring(user, 600)
    }

    /// A token for exactly this user that expires in `secs` seconds.
    pub fn token_expiring(&self, user: &str, secs: i64) -> String {
        let claims = TokenClaims { subject: user.to_owned(), issuer: self.issuer.clone(), audience: self.audience.clone(), scope: None };
        auth::mint_hs256(self.secret.as_bytes(), &claims, SystemClock.now(), secs)
    }

    /// A token for a fresh, unique user (tests never share users, so they can share a server).
    pub fn user(&self, name: &str) -> (String, String) {
        let user = format!("{name}-{:016x}", rand::random::<u64>());
        let token = self.token_for(&user);
        (user, token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST` of a binary sync request to `path` (`/v1/sync`, `/v1/docs/{id}/sync`, with any
    /// query).
    pub async fn post_sync(&self, path: &str, token: &str, request: &SyncRequest) -> reqwest::Response {
        self.post_sync_body(path, token, request.encode()).await
    }

    /// `POST` of an encoded sync request.
    pub async fn post_sync_body(&self, path: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(token).header("content-type", MEDIA_TYPE).body(body).send().await.unwrap()
    }

    /// One `POST /v1/docs/{id}/sync{query}` of `request`: the status, the `Server-Timing`
    /// header, the request body's bytes, and on 200 the document's answer with the response
    /// body's bytes.
    pub async fn sync_doc(&self, token: &str, request: DocRequest, query: &str) -> DocRound {
        let path = format!("/v1/docs/{}/sync{query}", request.doc_id);
        let body = SyncRequest { docs: vec![request] }.encode();
        let sent = body.len();
        let r = self.post_sync_body(&path, token, body).await;
        let status = r.status().as_u16();
        let timing = r.headers().get("server-timing").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let mut answer = None;
        if status == 200 {
            let body = r.bytes().await.unwrap();
            let mut response = SyncResponse::decode(&body, &Limits::DEFAULT).expect("valid sync response");
            answer = Some((response.docs.remove(0), body.len()));
        }
        DocRound { status, timing, sent, answer }
    }

    pub async fn create_doc(&self, token: &str) -> String {
        let r = self.http.post(self.url("/v1/docs")).bearer_auth(token).json(&serde_json::json!({"title": "bb"})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }
}

/// What [`Target::sync_doc`] saw.
pub struct DocRound {
    pub status: u16,
    pub timing: String,
    pub sent: usize,
    pub answer: Option<(DocResponse, usize)>,
}

/// A client replica of one document, synced through the API.
pub struct Replica {
    pub id: DocumentId,
    pub doc: Automerge,
    pub acked: Heads,
    /// Sync requests sent, and their bodies' bytes both ways.
    pub requests: usize,
    pub bytes_sent: usize,
    pub bytes_received: usize,
}

impl Replica {
    pub fn new(id: &str, actor: u8) -> Self {
        let doc = Automerge::new().with_actor(ActorId::from(vec![actor; 8]));
        Self { id: id.parse().unwrap(), doc, acked: Heads::empty(), requests: 0, bytes_sent: 0, bytes_received: 0 }
    }

    /// One sync round; returns the HTTP status (and applies the response on 200).
    pub async fn sync(&mut self, target: &Target, token: &str) -> u16 {
        self.sync_waiting(target, token, 0).await.0
    }

    /// One sync round that may wait up to `wait_ms` for a change (`?wait_ms=`, docs/protocol.md
    /// "Live updates"); the HTTP status and the `Server-Timing` header.
    pub async fn sync_waiting(&mut self, target: &Target, token: &str, wait_ms: u32) -> (u16, String) {
        let query = if wait_ms > 0 { format!("?wait_ms={wait_ms}") } else { String::new() };
        let round = target.sync_doc(token, client::build_request(self.id, &self.doc, &self.acked), &query).await;
        self.requests += 1;
        self.bytes_sent += round.sent;
        if let Some((response, bytes)) = &round.answer {
            self.bytes_received += bytes;
            self.acked = client::apply_response(&mut self.doc, self.id, &self.acked, response).unwrap().acked;
        }
        (round.status, round.timing)
    }
}

/// The URLs of a topology started by `scripts/topology.sh up DIR`: `url("WORKERD_PORT")` is
/// `http://127.0.0.1:<that port>` (names as in `DIR/env`).
pub struct Topology {
    pub dir: std::path::PathBuf,
    env: std::collections::HashMap<String, String>,
}

impl Topology {
    pub fn read(dir: impl Into<std::path::PathBuf>) -> Self {
        let dir = dir.into();
        let env = std::fs::read_to_string(dir.join("env"))
            .expect("topology env file")
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        Self { dir, env }
    }

    pub fn url(&self, port_name: &str) -> String {
        format!("http://127.0.0.1:{}", self.env[port_name])
    }
}
