//! The one place where failures become HTTP responses: `application/problem+json` (RFC 9457)
//! with a stable `type` per kind of error. Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::ports::DbError;

/// Prefix of every problem `type`; the suffix is stable and documented in the OpenAPI spec.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:edgesync:problem:";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: {0}")]
    Unauthorized(AuthError),
    #[error("not allowed")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// A sync body that does not decode; its stable reason goes out as the problem's `code`.
    #[error("malformed sync message: {0}")]
    UndecodableSync(sync_core::DecodeError),
    /// A pushed chunk that is not a valid change (single-document sync, `InvalidChanges`).
    #[error("invalid changes: {0}")]
    InvalidChanges(String),
    #[error("unsupported media type, expected {0}")]
    UnsupportedMediaType(&'static str),
    #[error("request body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the push would leave the document with more than {limit} heads")]
    TooManyHeads { limit: usize },
    #[error("the pushed changes are over a limit")]
    PushTooLarge,
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyMismatch,
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("unavailable: {cause}")]
    Unavailable { cause: String, retry_after_secs: u64 },
    /// The identity provider's keys (JWT_JWKS_URL) cannot be fetched and none are cached.
    #[error("the identity provider's keys are unavailable")]
    KeysUnavailable,
    #[error("document cannot be served: {0}")]
    DocumentUnavailable(String),
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

impl ApiError {
    /// Status, stable slug and human title for each kind.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Invalid(_) => (StatusCode::BAD_REQUEST, "invalid-input", "Invalid input"),
            MalformedBody(_) | UndecodableSync(_) | InvalidChanges(_) => (StatusCode::BAD_REQUEST, "malformed-body", "Malformed request body"),
            UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type"),
            PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            TooManyHeads { .. } => (StatusCode::CONFLICT, "too-many-heads", "Too many heads"),
            PushTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            IdempotencyMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused", "Idempotency key reused"),
            QuotaExceeded(_) => (StatusCode::FORBIDDEN, "quota-exceeded", "Quota exceeded"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Too many requests"),
            Unavailable { .. } | KeysUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            DocumentUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "document-unavailable", "Document unavailable"),
            Misconfigured(_) => (StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", "Server misconfigured"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error"),
        }
    }

    /// What a client may be told; internal causes stay in the logs.
    fn detail(&self) -> Option<String> {
        use ApiError::*;
        match self {
            Unauthorized(e) => Some(e.to_string()),
            Forbidden(why) | Conflict(why) => Some((*why).to_owned()),
            Invalid(d) | MalformedBody(d) | QuotaExceeded(d) | InvalidChanges(d) => Some(d.clone()),
            UndecodableSync(e) => Some(e.to_string()),
            UnsupportedMediaType(_) | PayloadTooLarge { .. } | IdempotencyMismatch => Some(self.to_string()),
            RateLimited { retry_after_secs } => Some(format!("retry after {retry_after_secs} s")),
            Unavailable { .. } => Some("the database is unavailable; retry later".into()),
            KeysUnavailable => Some("the identity provider's signing keys cannot be fetched; retry later".into()),
            TooManyHeads { limit } => Some(format!(
                "the push would leave the document with more than {limit} heads: pull, merge every head into one change, and push again"
            )),
            PushTooLarge => Some(
                "the pushed changes are over a limit (changes per document, or the request's inflation or operation budget): push fewer per request".into(),
            ),
            DocumentUnavailable(_) => Some("the stored document cannot be loaded; it has been reported to the operators".into()),
            NotFound | Misconfigured(_) | Internal(_) => None,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(cause) => ApiError::Unavailable { cause, retry_after_secs: 2 },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self, problem = slug, "request failed");
        } else {
            tracing::info!(error = %self, problem = slug, "request rejected");
        }
        let code = match &self {
            ApiError::Unauthorized(e) => Some(e.code()),
            ApiError::UndecodableSync(e) => Some(e.code()),
            ApiError::InvalidChanges(_) => Some("invalid-changes"),
            _ => None,
        };
        let problem = Problem { kind: format!("{PROBLEM_TYPE_PREFIX}{slug}"), title, status: status.as_u16(), detail: self.detail(), code };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self {
            ApiError::Unauthorized(e) => {
                let value = format!("Bearer realm=\"edgesync\", error=\"invalid_token\", error_description=\"{}\"", e.code());
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::RateLimited { retry_after_secs } | ApiError::Unavailable { retry_after_secs, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::KeysUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(crate::service::provider_keys::RETRY_SECS));
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
