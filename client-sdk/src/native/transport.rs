//! The [`Transport`] port on a kept reqwest client (rustls, connection reuse).

use std::time::Duration;

use crate::error::{OpenError, TransportError, TransportErrorKind};
use crate::ports::Transport;

/// HTTP to the edge API at a base URL (`https://sync.example.com`, or with a path prefix).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
    base: String,
    max_body: usize,
}

impl HttpTransport {
    /// A transport with a 10 s connect timeout and a 60 s request timeout. Response bodies
    /// over `max_body` bytes are refused. Idle connections are dropped after 5 s: servers
    /// close idle keep-alive connections (the native server after its 10 s header deadline),
    /// and a request sent on one the server just closed fails with a broken pipe.
    pub fn new(base_url: &str, max_body: usize) -> Result<Self, OpenError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(5))
            .user_agent(concat!("edgesync-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OpenError::Config(format!("HTTP client: {e}")))?;
        Self::with_client(http, base_url, max_body)
    }

    /// A transport on a caller-configured reqwest client (proxies, timeouts, roots).
    pub fn with_client(http: reqwest::Client, base_url: &str, max_body: usize) -> Result<Self, OpenError> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|e| OpenError::Config(format!("server URL {base_url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OpenError::Config(format!("server URL {base_url:?}: expected http or https")));
        }
        Ok(Self { http, base, max_body })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    let kind = if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, e.to_string())
}

impl Transport for HttpTransport {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut response = self
            .http
            .request(parts.method, format!("{}{path}", self.base))
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        if response.content_length().is_some_and(|n| n > self.max_body as u64) {
            return Err(TransportError::new(TransportErrorKind::TooLarge, "response body over the limit"));
        }
        let mut builder = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::new(TransportErrorKind::TooLarge, "response body over the limit"));
            }
            body.extend_from_slice(&chunk);
        }
        builder.body(body).map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
    }
}
