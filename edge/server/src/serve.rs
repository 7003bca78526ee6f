//! `edgesync serve`: the shared router on tokio, /metrics on a listener of its own, and the
//! compaction task.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use clap::Args;
use edge_app::http::ClientAddr;
use edge_app::ports::{Clock, Database, OsRandom, SystemClock};
use edge_app::{AppState, service};

use crate::compute::BlockingPool;
use crate::listener::ConnectionLimits;
use crate::settings::Settings;
use crate::storage::LibsqlDatabase;
use crate::wakeups::LocalWakeups;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EDGESYNC_ADDR", default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// Seconds between compaction passes; 0 disables the background task.
    #[arg(long, env = "EDGESYNC_COMPACTION_INTERVAL", default_value_t = 60)]
    pub compaction_interval: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics, a listener separate from the API
    /// (unset: no metrics endpoint).
    #[arg(long, env = "EDGESYNC_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Proxies in front of the server (comma-separated IPs) whose `x-forwarded-for` is believed;
    /// from anyone else the header is ignored and the socket peer is the client.
    #[arg(long, env = "EDGESYNC_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Open connections at most; further clients wait until one closes.
    #[arg(long, env = "EDGESYNC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (also closes idle keep-alive
    /// connections).
    #[arg(long, env = "EDGESYNC_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request body may pause between chunks.
    #[arg(long, env = "EDGESYNC_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Serve the live sockets (`/v1/live`, `/v1/docs/{id}/live`, `/v1/automerge-repo`). Off
    /// (`false`): those routes answer 404 and clients use waiting syncs, e.g. behind a proxy
    /// that drops WebSockets.
    #[arg(long, env = "EDGESYNC_LIVE_SOCKETS", default_value_t = true, action = clap::ArgAction::Set)]
    pub live_sockets: bool,
    /// Memory (MiB) the documents kept loaded for `/v1/automerge-repo` connections may take
    /// (estimated from their changes and operations), so a commit to a shared document is
    /// answered and pushed to all its connections from one load; 0 loads for every message.
    #[arg(long, env = "EDGESYNC_LOADED_DOCS_MB", default_value_t = 64)]
    pub loaded_docs_mb: u64,
    /// Memory (MiB) the newest changes kept per shared document may take, so that a sync a
    /// few changes behind is merged without reading them from the database; 0 keeps none.
    #[arg(long, env = "EDGESYNC_TAILS_MB", default_value_t = 8)]
    pub tails_mb: usize,
    /// Log format: `json` (one object per line, for collectors), `pretty` (for people), or
    /// `auto`: pretty when stdout is a terminal, JSON otherwise.
    #[arg(long, env = "EDGESYNC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

/// The app state for commands that serve no requests (migrate, compact, import, export):
/// they verify no token, so they need no token key.
pub async fn open_state(settings: &Settings) -> Result<AppState, String> {
    Ok(open(settings, settings.offline_config()?).await?.0)
}

/// The app state and the database behind it (for the replica sync task).
async fn open(settings: &Settings, config: edge_app::Config) -> Result<(AppState, Arc<LibsqlDatabase>), String> {
    let db = LibsqlDatabase::open(settings.backend()).await.map_err(|e| e.to_string())?;
    let state = AppState::new(db.clone(), Arc::new(SystemClock), Arc::new(OsRandom), config).with_compute(Arc::new(BlockingPool::default()));
    state.store.migrate(state.now()).await.map_err(|e| format!("migrating: {e}"))?;
    Ok((state, db))
}

/// Keeps an embedded replica fresh: pulls from the primary every interval (writes pull on
/// their own, `read_your_writes`) and publishes how stale it is.
fn spawn_replica_sync(db: Arc<LibsqlDatabase>) {
    let Some(every) = db.replica_sync_interval() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = db.sync_replica().await {
                tracing::warn!(error = %e, "replica sync failed; serving the last synced copy");
            }
            if let Some(status) = db.replica_status() {
                let now = SystemClock.now().0;
                metrics::gauge!("edgesync_replica_lag_seconds").set((now - status.last_sync_ms) as f64 / 1000.0);
                if let Some(frame) = status.frame_no {
                    metrics::gauge!("edgesync_replica_frame_no").set(frame as f64);
                }
            }
        }
    });
}

/// The log filter without `RUST_LOG`, the same on every host (see [`edge_app::logs`]).
/// automerge opens a tracing span for every column it parses; at info, formatting those took
/// about a quarter of the server's CPU under shared-document load (docs/benchmarks.md).
pub const DEFAULT_LOG_FILTER: &str = edge_app::logs::DEFAULT_FILTER;
/// How often the documents kept loaded for automerge-repo connections are swept: those not
/// used since the previous sweep (one to two intervals idle) are dropped.
const LOADED_DOCS_SWEEP: Duration = Duration::from_secs(60);

fn init_logs(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG_FILTER.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let pretty = match format {
        LogFormat::Auto => std::io::stdout().is_terminal(),
        LogFormat::Json => false,
        LogFormat::Pretty => true,
    };
    if pretty { builder.init() } else { builder.json().flatten_event(true).init() }
}

/// The client's address for rate limits: the socket peer, unless the peer is one of the
/// configured trusted proxies; then the right-most `x-forwarded-for` entry that is not a
/// trusted proxy itself (entries further left are whatever the client wrote).
pub fn client_addr(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> ClientAddr {
    if !trusted.contains(&peer) {
        return ClientAddr(peer.to_string());
    }
    let hops = forwarded_for.unwrap_or_default().split(',').rev().map(str::trim);
    let client = hops.filter_map(|h| h.parse::<IpAddr>().ok()).find(|ip| !trusted.contains(ip));
    ClientAddr(client.unwrap_or(peer).to_string())
}

async fn peer_address(State(trusted): State<Arc<Vec<IpAddr>>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request, next: Next) -> Response {
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let addr = client_addr(peer.ip(), forwarded.as_deref(), &trusted);
    req.extensions_mut().insert(addr);
    next.run(req).await
}

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<(), String> {
    init_logs(args.log_format);
    let created = settings.hs256_secret().map_err(|e| e.to_string())?.is_some_and(|(_, created)| created);
    let (state, db) = open(settings, settings.app_config()?).await?;
    let wakeups = Arc::new(LocalWakeups::default());
    let state = state
        .with_wakeups(wakeups.clone())
        .with_http(Arc::new(crate::http_get::ReqwestGet::new()), Arc::default())
        .with_loaded_docs(args.loaded_docs_mb.saturating_mul(1 << 20))
        .with_tails(Arc::new(service::tails::Tails::new(args.tails_mb.saturating_mul(1 << 20))));
    let prometheus = crate::metrics::install()?;
    spawn_replica_sync(db);
    {
        // The recorder keeps histogram samples until upkeep drains them; without this task
        // memory grows with every request when nobody scrapes /metrics.
        let handle = prometheus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }

    {
        // Documents kept loaded for automerge-repo connections that went idle are dropped
        // (their budget bounds a busy server; this frees an idle one).
        let loaded = state.loaded.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOADED_DOCS_SWEEP);
            loop {
                tick.tick().await;
                loaded.sweep();
            }
        });
    }

    if args.compaction_interval > 0 {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(args.compaction_interval));
            loop {
                tick.tick().await;
                // Each pass is a task of its own: a panic ends that pass, not the schedule.
                let pass_state = state.clone();
                match tokio::spawn(async move { service::compaction::run_pass(&pass_state, 100).await }).await {
                    Ok(Ok(r)) if r.compacted + r.skipped > 0 => tracing::info!(compacted = r.compacted, skipped = r.skipped, "compaction pass"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "compaction pass failed"),
                    Err(e) => tracing::error!(error = %e, "compaction pass panicked"),
                }
                if let Ok(n) = state.store.damaged_count().await {
                    metrics::gauge!("edgesync_damaged_documents").set(n as f64);
                }
            }
        });
    }

    if let Some(addr) = args.metrics_addr {
        // Metrics on a listener of their own, so the API port never exposes them.
        let metrics = Router::new().route("/metrics", get(move || std::future::ready(prometheus.render())));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("binding {addr}: {e}"))?;
        eprintln!("metrics on http://{addr}/metrics");
        tokio::spawn(async move { axum::serve(listener, metrics).with_graceful_shutdown(shutdown_signal()).await });
    }
    let hub = Arc::new(crate::live::LiveHub::default());
    crate::live::spawn_watcher(hub.clone(), state.clone(), &wakeups);
    let app = router(state.clone(), args.trusted_proxies.clone());
    let app = if args.live_sockets { app.merge(crate::live::routes(crate::live::Live::new(state, hub.clone()))) } else { app };
    let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| format!("binding {}: {e}", args.addr))?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    eprintln!("edgesync listening on {url} (database: {:?})", settings.backend());
    if created {
        eprintln!("created a development signing secret in {}", settings.data_dir.join("dev-secret").display());
    }
    if settings.dev && settings.jwt_hs256_secret.is_none() {
        eprintln!("development mode: mint a token with: cargo run -p edgesync-server -- --dev --data-dir {} token --user alice", settings.data_dir.display());
        eprintln!("then: curl -H \"Authorization: Bearer $TOKEN\" {url}/v1/docs");
    }
    let limits = ConnectionLimits {
        max_connections: args.max_connections,
        header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
        drain_timeout: Duration::from_secs(30),
    };
    let shutdown = async move {
        shutdown_signal().await;
        // Waiting syncs answer now instead of holding the drain for their whole wait, and
        // live connections close (clients reconnect to another node, or to this one restarted).
        wakeups.shut_down();
        hub.shut_down();
    };
    crate::listener::serve(listener, app, limits, shutdown).await;
    Ok(())
}

/// The API as `serve` runs it: the shared router, request metrics, and the client address
/// (the socket peer, or what a trusted proxy forwarded).
pub fn router(state: AppState, trusted_proxies: Vec<IpAddr>) -> Router {
    Router::new()
        .merge(edge_app::app(state).route_layer(middleware::from_fn(crate::metrics::record)))
        .layer(middleware::from_fn_with_state(Arc::new(trusted_proxies), peer_address))
}

/// Ctrl-C, or SIGTERM (what containers and systemd send): stop accepting, finish in-flight
/// requests, exit.
async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
