//! Extractors whose rejections are [`ApiError`]s, so malformed input gets problem+json too.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use sync_core::{MEDIA_TYPE, SyncRequest};

use crate::auth::{AuthError, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller. Rejects with 401 when the request has no valid token.
pub struct Caller(pub Principal);

/// The outcome of verifying the request's token, stored by the authentication middleware. A
/// host that verifies the token before the router runs (Spin, which reads a body only for a
/// verified caller) inserts it into the request, and the middleware uses it as is.
#[derive(Clone)]
pub struct Authentication(pub Result<Principal, AuthError>);

impl Authentication {
    /// Verifies the request's `Authorization` header, with the identity provider's keys
    /// fetched or cached when the token names one (`JWT_JWKS_URL`).
    pub async fn of(headers: &axum::http::HeaderMap, state: &AppState) -> Self {
        Self(match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
            None => Err(AuthError::Missing),
            Some(Err(_)) => Err(AuthError::Malformed),
            Some(Ok(value)) => {
                let provider_key = async |kid: &str| crate::service::provider_keys::key(state, kid).await;
                crate::auth::verify_bearer_with_provider(Some(value), &state.config.auth, state.now(), provider_key).await
            }
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authentication>() {
            Some(Authentication(Ok(p))) => Ok(Caller(p.clone())),
            Some(Authentication(Err(AuthError::KeysUnavailable))) => Err(ApiError::KeysUnavailable),
            Some(Authentication(Err(e))) => Err(ApiError::Unauthorized(*e)),
            None => Err(ApiError::Unauthorized(AuthError::Missing)),
        }
    }
}

fn content_type(req: &Request) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or("").trim())
}

/// How much of an oversized body is read and discarded before answering 413. A client that
/// is still sending when the server answers and closes sees a broken pipe instead of the
/// 413; draining lets well-behaved clients read the problem. Discarded bytes are not kept, so
/// this costs bandwidth, not memory; beyond it the connection is simply cut.
const DRAIN_CAP: u64 = 64 * 1024 * 1024;

/// Reads the body, at most `limit` bytes; a declared or actual overrun is a 413.
async fn read_limited(req: Request, limit: usize) -> Result<bytes::Bytes, ApiError> {
    let (parts, body) = req.into_parts();
    read_body(body, &parts.headers, limit).await
}

/// Reads `body` (sent with `headers`) up to `limit` bytes without ever holding more; a larger
/// body, declared or actual, is a 413, after the rest was drained (up to a cap). Hosts that
/// read bodies themselves (Spin) use it too.
pub async fn read_body<B>(body: B, headers: &axum::http::HeaderMap, limit: usize) -> Result<bytes::Bytes, ApiError>
where
    B: axum::body::HttpBody<Data = bytes::Bytes>,
    B::Error: std::fmt::Display,
{
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut body = std::pin::pin!(body);
    let too_large = declared.is_some_and(|n| n > limit as u64);
    let mut kept = bytes::BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::MalformedBody(format!("could not read body: {e}")))?;
        let Ok(chunk) = frame.into_data() else { continue };
        seen += chunk.len() as u64;
        if too_large || seen > limit as u64 {
            if seen > DRAIN_CAP {
                break;
            }
            kept = bytes::BytesMut::new();
            continue;
        }
        kept.extend_from_slice(&chunk);
    }
    if too_large || seen > limit as u64 {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(kept.freeze())
}

/// Query parameters; unknown or ill-typed ones are a 400 problem.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::Invalid(format!("query: {}", e.body_text())))
    }
}

/// A JSON body, size-limited, `application/json` only.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = content_type(&req);
        if !matches!(ct, Some(t) if t.eq_ignore_ascii_case("application/json")) {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = read_limited(req, state.config.max_json_bytes).await?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| ApiError::MalformedBody(e.to_string()))
    }
}

/// A binary sync request in sync-core's protocol.
pub struct SyncBody(pub SyncRequest);

impl FromRequest<AppState> for SyncBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ct = content_type(&req);
        if !matches!(ct, Some(t) if t.eq_ignore_ascii_case(MEDIA_TYPE)) {
            return Err(ApiError::UnsupportedMediaType(MEDIA_TYPE));
        }
        let limits = state.config.sync_limits;
        let bytes = read_limited(req, limits.max_message_bytes).await?;
        SyncRequest::decode(&bytes, &limits).map(SyncBody).map_err(ApiError::UndecodableSync)
    }
}
