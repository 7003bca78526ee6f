//! `edgesync serve`: the shared router on tokio, plus /metrics and the compaction task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use clap::Args;
use edge_app::ports::{Clock, Database, OsRandom, SystemClock};
use edge_app::{AppState, service};

use crate::compute::BlockingPool;
use crate::settings::Settings;
use crate::storage::LibsqlDatabase;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EDGESYNC_ADDR", default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// Seconds between compaction passes; 0 disables the background task.
    #[arg(long, env = "EDGESYNC_COMPACTION_INTERVAL", default_value_t = 60)]
    pub compaction_interval: u64,
    /// Log format: json (default) or pretty.
    #[arg(long, env = "EDGESYNC_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

pub async fn open_state(settings: &Settings) -> Result<AppState, String> {
    Ok(open(settings).await?.0)
}

/// The app state and the database behind it (for the replica sync task).
async fn open(settings: &Settings) -> Result<(AppState, Arc<LibsqlDatabase>), String> {
    let config = settings.app_config()?;
    let db = LibsqlDatabase::open(settings.backend()).await.map_err(|e| e.to_string())?;
    let state = AppState::new(db.clone(), Arc::new(SystemClock), Arc::new(OsRandom), config).with_compute(Arc::new(BlockingPool));
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

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "pretty" { builder.init() } else { builder.json().flatten_event(true).init() }
}

/// Replaces any client-sent `x-forwarded-for` with the real peer address, so rate limits
/// keyed by address cannot be dodged by forging the header.
async fn peer_address(ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request, next: Next) -> Response {
    if let Ok(v) = HeaderValue::from_str(&peer.ip().to_string()) {
        req.headers_mut().insert("x-forwarded-for", v);
    }
    next.run(req).await
}

pub async fn run(settings: &Settings, args: ServeArgs) -> Result<(), String> {
    init_logs(&args.log_format);
    let (_, created) = settings.hs256_secret().map_err(|e| e.to_string())?;
    let (state, db) = open(settings).await?;
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

    if args.compaction_interval > 0 {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(args.compaction_interval));
            loop {
                tick.tick().await;
                match service::compaction::run_pass(&state, 100).await {
                    Ok(r) if r.compacted > 0 => tracing::info!(compacted = r.compacted, "compaction pass"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "compaction pass failed"),
                }
            }
        });
    }

    let app = Router::new()
        .route("/metrics", get(move || std::future::ready(prometheus.render())))
        .merge(edge_app::app(state).route_layer(middleware::from_fn(crate::metrics::record)))
        .layer(middleware::from_fn(peer_address));
    let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| format!("binding {}: {e}", args.addr))?;
    let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    eprintln!("edgesync listening on {url} (database: {:?})", settings.backend());
    if created {
        eprintln!("created a development signing secret in {}", settings.data_dir.join("dev-secret").display());
    }
    eprintln!("mint a token with: cargo run -p edgesync-server -- token --user alice");
    eprintln!("then: curl -H \"Authorization: Bearer $TOKEN\" {url}/v1/docs");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
