//! # edgesync on Spin
//!
//! Wiring only: read configuration from the component's environment (spin.toml
//! `environment`, or `wasmtime serve --env`), reach libSQL with the shared Hrana client over
//! `spin_sdk::http::send`, and hand each request to the shared router. Routes, validation
//! and errors all live in `edgesync-edge-app`.
//!
//! Nothing is kept between requests: the host may reuse an instance for many requests, so
//! the router and its ports are built per request (cheap: a few small allocations).

mod database;
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

/// How long a database request may take before the API answers 503 (`LIBSQL_TIMEOUT_MS`).
const DEFAULT_DB_TIMEOUT_MS: u64 = 10_000;

/// Builds the app state from the environment, or says what is missing.
fn state() -> Result<AppState, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let url = var("LIBSQL_URL").ok_or("LIBSQL_URL is not set")?;
    let token = var("LIBSQL_AUTH_TOKEN").unwrap_or_default();
    let issuer = var("JWT_ISSUER").ok_or("JWT_ISSUER is not set")?;
    let audience = var("JWT_AUDIENCE").ok_or("JWT_AUDIENCE is not set")?;
    let auth = edge_app::auth::AuthConfig::from_parts(&issuer, &audience, var("JWT_HS256_SECRET").as_deref(), var("JWT_ED25519_PUBLIC_KEYS").as_deref())
        .map_err(|e| format!("JWT configuration: {e}"))?;
    let mut config = edge_app::Config::new(auth);
    if let Some(n) = var("EDGESYNC_RATE_LIMIT") {
        config.rate_limit.requests = n.parse().map_err(|_| "EDGESYNC_RATE_LIMIT is not a number")?;
    }
    let timeout_ms: u64 = match var("LIBSQL_TIMEOUT_MS") {
        Some(ms) => ms.parse().map_err(|_| "LIBSQL_TIMEOUT_MS is not a number")?,
        None => DEFAULT_DB_TIMEOUT_MS,
    };
    let db = SpinDatabase::new(&url, &token, std::time::Duration::from_millis(timeout_ms)).map_err(|e| format!("LIBSQL_URL: {e}"))?;
    Ok(AppState::new(Arc::new(db), Arc::new(SystemClock), Arc::new(OsRandom), config))
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
    let authentication = Authentication::of(&parts.headers, state);
    let verified = authentication.0.is_ok();
    parts.extensions.insert(authentication);
    if !verified {
        return Ok(Bytes::new());
    }
    let limit = state.config.sync_limits.max_message_bytes.max(state.config.max_json_bytes);
    edge_app::http::extract::read_body(body, &parts.headers, limit).await
}
