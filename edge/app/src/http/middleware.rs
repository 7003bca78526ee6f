//! Middleware: request ids and logs, authentication, rate limiting.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::extract::Authentication;
use crate::error::ApiError;
use crate::state::AppState;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The request's id: the caller's `x-request-id` if it is sane, else a fresh one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_owned())
}

/// Outermost layer: request id, a tracing span around the request, one log line per request,
/// and the total duration in `Server-Timing`.
pub async fn request_context(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req.headers().get(&X_REQUEST_ID).and_then(sane_request_id).unwrap_or_else(|| state.random_hex(16));
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let start = state.clock.now_micros();
    let mut response = next.run(req).instrument(span.clone()).await;
    let micros = state.clock.now_micros() - start;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), duration_us = micros, "handled"));
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    let total = format!("total;dur={:.3}", micros as f64 / 1000.0);
    let timing = match headers.get(&SERVER_TIMING).and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {total}"),
        None => total,
    };
    if let Ok(v) = HeaderValue::from_str(&timing) {
        headers.insert(SERVER_TIMING.clone(), v);
    }
    response
}

/// Verifies the bearer token (if any) once (unless the host already did), then counts the
/// request against the caller's rate limit: per subject when authenticated, else per client
/// address.
pub async fn authenticate_and_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let verified = req.extensions_mut().remove::<Authentication>();
    let verified = match verified {
        Some(verified) => verified,
        None => Authentication::of(req.headers(), &state).await,
    };
    let limit_key = match &verified.0 {
        Ok(p) => format!("sub:{}", p.subject),
        Err(_) => format!("ip:{}", client_address(&req)),
    };
    req.extensions_mut().insert(verified);

    let limit = state.config.rate_limit;
    if limit.requests > 0 {
        let window_secs = i64::from(limit.window_secs.max(1));
        let now = state.now().as_secs();
        let window = now / window_secs;
        match state.store.count_request(&limit_key, window).await {
            Ok(count) if count > i64::from(limit.requests) => {
                let retry_after_secs = ((window + 1) * window_secs - now).max(1) as u64;
                return ApiError::RateLimited { retry_after_secs }.into_response();
            }
            Ok(_) => {}
            // Failing open: a database hiccup in the limiter must not take the API down; the
            // request itself will report the database error if it needs the database.
            Err(e) => tracing::warn!(error = %e, "rate limiter unavailable"),
        }
    }
    next.run(req).await
}

/// The client's address, as the host adapter established it ([`ClientAddr`]). Headers a
/// client can write are never read here: each host decides what it can trust.
fn client_address(req: &Request) -> String {
    req.extensions().get::<ClientAddr>().map(|a| a.0.clone()).unwrap_or_else(|| "unknown".into())
}

/// The address of the client that sent a request, set by the host adapter before the request
/// reaches the router: the socket peer on the native server (or the forwarded address when
/// the peer is a configured trusted proxy), `cf-connecting-ip` on Workers (Cloudflare sets it),
/// `spin-client-addr` on Spin. Without it, unauthenticated requests share one rate-limit bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl ClientAddr {
    /// From a header the host itself sets (and overwrites if a client sent it).
    pub fn from_host_header(req: &http::request::Parts, name: &str) -> Option<Self> {
        let value = req.headers.get(name)?.to_str().ok()?.trim();
        // `spin-client-addr` carries `ip:port`; the port changes with every connection.
        let ip = value.parse::<std::net::SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_else(|_| value.to_owned());
        (!ip.is_empty() && ip.len() <= 64).then_some(Self(ip))
    }
}
