//! The engine's HTTP calls: bearer auth with one refresh on 401, status classification,
//! `Retry-After`, and the endpoints it uses (`POST /v1/sync`, `POST /v1/docs`, `GET /v1/docs`,
//! presence).

use std::time::Duration;

use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use sync_core::{DocumentId, MEDIA_TYPE, SyncResponse};

use super::Engine;
use crate::error::{SyncError, TokenError};
use crate::ports::{LocalStore, LocalTokenProvider, LocalTransport};

/// What `POST /v1/docs` said about a locally created document.
pub(super) enum Registration {
    /// 201 (or the replay of an earlier 201 under the same idempotency key).
    New,
    /// 409: a document with this id exists. Usually ours (an earlier attempt succeeded after
    /// its answer was lost, and the idempotency record expired); the next sync tells.
    Exists,
    /// Refused for good (400, 403, 422, ...).
    Rejected { status: u16, detail: String },
}

/// A request to send: method, path, content type, optional idempotency key, body.
struct Call<'a> {
    method: Method,
    path: &'a str,
    content_type: &'static str,
    accept: &'static str,
    idempotency_key: Option<String>,
    body: Vec<u8>,
}

impl Call<'_> {
    fn build(&self, token: &str) -> Result<Request<Vec<u8>>, SyncError> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.path)
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::ACCEPT, self.accept)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(key) = &self.idempotency_key {
            b = b.header("idempotency-key", key);
        }
        b.body(self.body.clone()).map_err(|_| SyncError::Token(TokenError::new("the token is not a valid HTTP header value")))
    }
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Sends `call` with the current token; on 401 asks the provider for a fresh token and
    /// retries exactly once.
    async fn send(&self, call: &Call<'_>) -> Result<Response<Vec<u8>>, SyncError> {
        let token = self.tokens.token(false).await?;
        let response = self.transport.send(call.build(&token)?).await.map_err(SyncError::Offline)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let token = self.tokens.token(true).await?;
        let response = self.transport.send(call.build(&token)?).await.map_err(SyncError::Offline)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(SyncError::Unauthorized { detail: problem_detail(&response) });
        }
        Ok(response)
    }

    /// `POST /v1/sync` with an encoded request, waiting up to `wait` for news when given (a
    /// waiting sync, docs/protocol.md §10); the decoded response.
    pub(super) async fn post_sync(&self, body: Vec<u8>, wait: Option<Duration>) -> Result<SyncResponse, SyncError> {
        let path = match wait {
            Some(wait) => format!("/v1/sync?wait_ms={}", wait.as_millis().min(u128::from(u32::MAX))),
            None => "/v1/sync".to_owned(),
        };
        let call = Call { method: Method::POST, path: &path, content_type: MEDIA_TYPE, accept: MEDIA_TYPE, idempotency_key: None, body };
        let response = self.send(&call).await?;
        if response.status() != StatusCode::OK {
            return Err(failure(&response));
        }
        let media = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if media.split(';').next().map(str::trim) != Some(MEDIA_TYPE) {
            return Err(SyncError::BadResponse(format!("expected {MEDIA_TYPE}, got content type {media:?}")));
        }
        Ok(SyncResponse::decode(response.body(), &self.config.limits)?)
    }

    /// `GET path` answered with JSON: the body of the 200.
    pub(super) async fn get_json(&self, path: &str) -> Result<Vec<u8>, SyncError> {
        self.call_json(Method::GET, path, Vec::new()).await
    }

    /// `method path` with a JSON body (or none), answered with JSON: the body of the 2xx.
    pub(super) async fn call_json(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        let call = Call { method, path, content_type: "application/json", accept: "application/json", idempotency_key: None, body };
        let response = self.send(&call).await?;
        if !response.status().is_success() {
            return Err(failure(&response));
        }
        Ok(response.into_body())
    }

    /// `POST /v1/docs` registering a locally created document under its own id. The body
    /// never changes, so a retry with the same key after a lost answer replays the first 201.
    pub(super) async fn create_on_server(&self, id: DocumentId, title: &str, idempotency_key: String) -> Result<Registration, SyncError> {
        let body = serde_json::json!({ "id": id.to_string(), "title": title }).to_string().into_bytes();
        let call = Call {
            method: Method::POST,
            path: "/v1/docs",
            content_type: "application/json",
            accept: "application/json",
            idempotency_key: Some(idempotency_key),
            body,
        };
        let response = self.send(&call).await?;
        let status = response.status();
        Ok(match status.as_u16() {
            200 | 201 => Registration::New,
            409 => Registration::Exists,
            429 | 500..=599 => return Err(failure(&response)),
            other => Registration::Rejected { status: other, detail: problem_detail(&response) },
        })
    }
}

/// The error for a non-success response.
fn failure(response: &Response<Vec<u8>>) -> SyncError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    match status {
        429 => SyncError::RateLimited { retry_after },
        500..=599 => SyncError::Unavailable { status, retry_after },
        _ => SyncError::Rejected { status, detail: problem_detail(response) },
    }
}

/// `Retry-After` in delta-seconds (the form the edge sends); other forms are ignored and the
/// caller's backoff applies.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A short description of an error response: the problem+json `detail` or `title`, or the
/// start of the body.
fn problem_detail(response: &Response<Vec<u8>>) -> String {
    let body = response.body();
    if let Ok(problem) = serde_json::from_slice::<serde_json::Value>(body) {
        for field in ["detail", "title"] {
            if let Some(text) = problem.get(field).and_then(|v| v.as_str()) {
                return text.chars().take(300).collect();
            }
        }
    }
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Vec<u8>> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn classifies_failures() {
        let r = response(503, &[("retry-after", "7")], "");
        assert!(matches!(failure(&r), SyncError::Unavailable { status: 503, retry_after: Some(d) } if d == Duration::from_secs(7)));
        let r = response(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "");
        assert!(matches!(failure(&r), SyncError::RateLimited { retry_after: None }));
        let r = response(413, &[], r#"{"type":"urn:edgesync:problem:payload-too-large","title":"Payload too large","detail":"request body over 5 bytes"}"#);
        assert!(matches!(failure(&r), SyncError::Rejected { status: 413, detail } if detail == "request body over 5 bytes"));
        let r = response(400, &[], "\u{0}garbage");
        assert!(matches!(failure(&r), SyncError::Rejected { status: 400, .. }));
    }
}
