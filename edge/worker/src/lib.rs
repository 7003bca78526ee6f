//! # edgesync on Cloudflare Workers
//!
//! Wiring only: read configuration from the Worker's vars and secrets, reach libSQL with the
//! shared Hrana client over `fetch`, and hand each request to the shared router. A Cron
//! Trigger runs compaction. Routes, validation and errors all live in `edgesync-edge-app`.
//! Live sockets are held by Durable Objects: one per document for `/v1/docs/{id}/live`
//! ([`room`]), told of commits after each response, and one per user for `/v1/live`
//! ([`channel`]) and for `/v1/automerge-repo` ([`repo`]), which the rooms of the documents
//! they watch relay to ([`relay`]).
//!
//! Nothing is kept between requests: isolates are reused and evicted at will, so the router
//! and its ports are built per request. (The one exception is a cache: an identity
//! provider's keys stay in the isolate's memory; the database holds them too.)

mod budget;
mod channel;
mod database;
mod relay;
mod repo;
mod room;
mod timer;
mod transport;

use std::sync::Arc;

use edge_app::http::ClientAddr;
use edge_app::ports::{Clock, OsRandom, UnixMillis};
use edge_app::service::provider_keys::ProviderKeyCache;
use edge_app::service::tails::Tails;
use edge_app::{ApiError, AppState};
use tower::ServiceExt;
use worker::{Context, Env, HttpRequest, ScheduleContext, ScheduledEvent, event};

use database::WorkerDatabase;

/// `Date.now()`: the only wall clock a Worker has (`SystemTime` panics on wasm32).
struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(worker::Date::now().as_millis() as i64)
    }
}

/// How long fetching the identity provider's keys may take.
const PROVIDER_KEYS_TIMEOUT_MS: u32 = 5_000;

thread_local! {
    /// The identity provider's keys, kept for as long as the isolate lives: an optimisation
    /// only (a new isolate reads them from the database row every edge shares).
    static PROVIDER_KEYS: Arc<ProviderKeyCache> = Arc::default();
    /// Shared documents' newest changes (the sync fast path's read), for as long as the isolate
    /// lives: an optimisation only, checked against the heads every request reads.
    static TAILS: Arc<Tails> = Arc::new(Tails::new(4 << 20));
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).map(|v| v.to_string()).or_else(|_| env.secret(name).map(|v| v.to_string())).ok().filter(|v| !v.is_empty())
}

/// Installs the log subscriber (once per isolate), then builds the app state from vars and
/// secrets (every setting of docs/configuration.md), or says what is missing. `wakeups`
/// keeps what the request announces (see [`fetch`]).
fn state(env: &Env, wakeups: Arc<timer::WorkerTimer>) -> Result<AppState, String> {
    // `console.log` is what `wrangler tail` and Workers Logs collect.
    edge_app::logs::install(|line| worker::console_log!("{line}"), var(env, "RUST_LOG").as_deref());
    let settings = edge_app::config::EdgeSettings::from_vars(|name| var(env, name))?;
    let db = WorkerDatabase::new(&settings.libsql_url, &settings.libsql_auth_token, settings.libsql_timeout_ms).map_err(|e| format!("LIBSQL_URL: {e}"))?;
    let http = Arc::new(transport::WorkerGet { timeout_ms: PROVIDER_KEYS_TIMEOUT_MS });
    Ok(AppState::new(Arc::new(db), Arc::new(WorkerClock), Arc::new(OsRandom), settings.config)
        .with_wakeups(wakeups)
        .with_http(http, PROVIDER_KEYS.with(Arc::clone))
        .with_tails(TAILS.with(Arc::clone)))
}

/// The socket routes, served by Durable Objects rather than the router.
enum Socket {
    /// `/v1/docs/{id}/live`
    Document(String),
    /// `/v1/live`
    Channel,
    /// `/v1/automerge-repo`, with the `?token=` its clients send (never logged).
    Repo(Option<String>),
}

fn query_token(query: Option<&str>) -> Option<String> {
    let mut url = worker::Url::parse("https://edgesync/").ok()?;
    url.set_query(query);
    url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

#[event(fetch)]
async fn fetch(request: HttpRequest, env: Env, ctx: Context) -> worker::Result<axum::response::Response> {
    // Cloudflare sets `cf-connecting-ip` to the real client address, overwriting any a client
    // sent; no other forwarded header is trusted.
    let (mut parts, body) = request.into_parts();
    if let Some(addr) = ClientAddr::from_host_header(&parts, "cf-connecting-ip") {
        parts.extensions.insert(addr);
    }
    let path = parts.uri.path();
    let live = match path.strip_prefix("/v1/docs/").and_then(|rest| rest.strip_suffix("/live")) {
        Some(id) if !id.contains('/') => Some(Socket::Document(id.to_owned())),
        _ if path == "/v1/live" => Some(Socket::Channel),
        _ if path == "/v1/automerge-repo" => Some(Socket::Repo(query_token(parts.uri.query()))),
        _ => None,
    };
    let request = HttpRequest::from_parts(parts, body);
    let wakeups = Arc::new(timer::WorkerTimer::default());
    let state = match state(&env, wakeups.clone()) {
        Ok(state) => state,
        Err(why) => {
            worker::console_error!("edgesync is misconfigured: {why}");
            return Ok(axum::response::IntoResponse::into_response(ApiError::Misconfigured(why)));
        }
    };
    // The socket route itself; its preflight (OPTIONS) is the API's like any other. The answer
    // goes through the API's CORS layer: browsers probe the route with a `fetch` first.
    if let Some(live) = live.filter(|_| request.method() == axum::http::Method::GET) {
        let cors = edge_app::http::cors::layer(&state.config.cors_origins);
        let (state, env, live) = (&state, &env, &live);
        let open = tower::service_fn(move |request: HttpRequest| async move {
            let opened = match live {
                Socket::Document(id) => room::open(state, env, request.headers(), id).await,
                Socket::Channel => channel::open(state, env, request.headers()).await,
                Socket::Repo(token) => repo::open(state, env, request.headers(), token.as_deref()).await,
            };
            Ok::<_, std::convert::Infallible>(opened.unwrap_or_else(axum::response::IntoResponse::into_response))
        });
        let response = match cors {
            Some(cors) => tower::Layer::layer(&cors, open).oneshot(request).await,
            None => open.oneshot(request).await,
        };
        return Ok(response.unwrap_or_else(|never| match never {}));
    }
    let response = match edge_app::app(state).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let announced = wakeups.take();
    if !announced.committed.is_empty() || !announced.access.is_empty() {
        ctx.wait_until(room::notify(env, announced.committed, announced.access));
    }
    Ok(response)
}

/// Cron Trigger: one compaction pass (see wrangler.toml `[triggers]`).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match state(&env, Arc::default()) {
        Ok(state) => match edge_app::service::compaction::run_pass(&state, 100).await {
            Ok(report) => worker::console_log!("compaction: {} documents", report.compacted),
            Err(e) => worker::console_error!("compaction failed: {e}"),
        },
        Err(why) => worker::console_error!("edgesync is misconfigured: {why}"),
    }
}
