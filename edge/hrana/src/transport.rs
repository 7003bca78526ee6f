//! The outbound-HTTP port the client needs: one POST with a JSON body, and a pause between
//! retries.

use std::future::Future;

/// An HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The request could not be sent or its response not read (network, DNS, TLS, timeout).
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTTP transport: {0}")]
pub struct TransportError(pub String);

/// Sends `POST url` with `content-type: application/json`, an explicit content length, and
/// `authorization: Bearer <token>` when a token is given.
pub trait HttpTransport {
    fn post_json(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> impl Future<Output = Result<HttpResponse, TransportError>>;

    /// Resolves after `duration` (the host's timer), before retrying a busy database.
    fn pause(&self, duration: std::time::Duration) -> impl Future<Output = ()>;
}
