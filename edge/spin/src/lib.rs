//! # edgesync on Spin
//!
//! Wiring only: read configuration from Spin's application variables (`wasi:config/store`)
//! and the component's environment (config.rs), reach libSQL with the shared Hrana client over
//! `spin_sdk::http::send`, and hand each request to the shared router. Routes, validation
//! and errors all live in `edgesync-edge-app`.
//!
//! Nothing is kept between requests: the host may reuse an instance for many requests, so
//! the router and its ports are built per request (cheap: a few small allocations).

mod config;
mod database;
mod timer;
mod transport;

use std::sync::Arc;

use axum::body::{Body, HttpBody};
use bytes::Bytes;
use edge_app::ports::{OsRandom, SystemClock};
use edge_app::http::ClientAddr;
use edge_app::http::extract::Authentication;
use edge_app::{ApiError, AppState};
use http_body_util::BodyExt;
use spin_sdk::http::{FullBody, IntoResponse, Request};
use tower::ServiceExt;

use database::SpinDatabase;

/// How long fetching the identity provider's keys may take.
const PROVIDER_KEYS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the log subscriber (once per instance), then builds the app state from the
/// variables and environment (every setting of docs/configuration.md), or says what is
/// missing.
fn state() -> Result<AppState, String> {
    let vars = config::Settings::read();
    let filter = match &vars {
        Ok(vars) => vars.get("RUST_LOG"),
        Err(_) => std::env::var("RUST_LOG").ok(),
    };
    // stderr is what Spin (and `wasmtime serve`) log for a component.
    edge_app::logs::install(|line| eprintln!("{line}"), filter.as_deref());
    let vars = vars?;
    let settings = edge_app::config::EdgeSettings::from_vars(|name| vars.get(name))?;
    let timeout = std::time::Duration::from_millis(settings.libsql_timeout_ms.into());
    let db = SpinDatabase::new(&settings.libsql_url, &settings.libsql_auth_token, timeout).map_err(|e| format!("LIBSQL_URL: {e}"))?;
    // A fresh key cache: an instance serves one request, so the provider's keys come from
    // the database row every edge shares (service/provider_keys.rs).
    let http = Arc::new(transport::SpinGet { timeout: PROVIDER_KEYS_TIMEOUT });
    Ok(AppState::new(Arc::new(db), Arc::new(SystemClock), Arc::new(OsRandom), settings.config)
        .with_wakeups(Arc::new(timer::SpinTimer))
        .with_http(http, Arc::default()))
}

#[spin_sdk::http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let (mut parts, body) = request.into_parts();
    // Spin sets `spin-client-addr` from the connection; no forwarded header is trusted. (Plain
    // `wasmtime serve` sets none: unauthenticated callers then share one rate-limit bucket.)
    if let Some(addr) = ClientAddr::from_host_header(&parts, "spin-client-addr") {
        parts.extensions.insert(addr);
    }
    let response = match state() {
        Err(why) => axum::response::IntoResponse::into_response(ApiError::Misconfigured(why)),
        Ok(state) => match read_body(&state, &mut parts, body).await {
            Err(e) => axum::response::IntoResponse::into_response(e),
            Ok(bytes) => match edge_app::app(state).oneshot(http::Request::from_parts(parts, Body::from(bytes))).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
        },
    };
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    http::Response::from_parts(parts, FullBody::new(bytes))
}

/// The request body, read only for a caller whose token verifies and only up to the largest
/// body any route takes: an unauthenticated request reaches the router with an empty body
/// (which answers it 401 before reading one), and a larger body is a 413 as soon as it is
/// known, so nobody makes the component buffer more than the API accepts. The verification
/// goes into the request, and the router's authentication middleware uses it as is.
async fn read_body<B>(state: &AppState, parts: &mut http::request::Parts, body: B) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let authentication = Authentication::of(&parts.headers, state).await;
    let verified = authentication.0.is_ok();
    parts.extensions.insert(authentication);
    if !verified {
        return Ok(Bytes::new());
    }
    let limit = state.config.sync_limits.max_message_bytes.max(state.config.max_json_bytes);
    edge_app::http::extract::read_body(body, &parts.headers, limit).await
}
