//! Extractors whose rejections are [`ApiError`]s, so malformed input gets problem+json too.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use sync_core::{MEDIA_TYPE, SyncRequest};

use crate::auth::{AuthError, Principal};
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller. Rejects with 401 when the request has no valid token.
pub struct Caller(pub Principal);

/// The outcome of verifying the request's token, stored by the authentication middleware.
#[derive(Clone)]
pub(crate) struct Authentication(pub Result<Principal, AuthError>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authentication>() {
            Some(Authentication(Ok(p))) => Ok(Caller(p.clone())),
            Some(Authentication(Err(e))) => Err(ApiError::Unauthorized(e.clone())),
            None => Err(ApiError::Unauthorized(AuthError::Missing)),
        }
    }
}

fn content_type(req: &Request) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or("").trim())
}

async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::PayloadTooLarge { limit }),
        Err(e) => Err(ApiError::MalformedBody(format!("could not read body: {e}"))),
    }
}

fn check_length(req: &Request, limit: usize) -> Result<(), ApiError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
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
        let limit = state.config.max_json_bytes;
        check_length(&req, limit)?;
        let bytes = read_limited(req.into_body(), limit).await?;
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
        check_length(&req, limits.max_message_bytes)?;
        let bytes = read_limited(req.into_body(), limits.max_message_bytes).await?;
        SyncRequest::decode(&bytes, &limits).map(SyncBody).map_err(|e| ApiError::MalformedBody(e.to_string()))
    }
}
