//! Outbound HTTP GET: how the app fetches an identity provider's keys (`JWT_JWKS_URL`). Each
//! host sends it with its own client (`reqwest` natively, `fetch` on Workers, wasi:http on
//! Spin), with a deadline, and reads at most `max_bytes` of the body.

use super::BoxFuture;

/// A response to a GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub status: u16,
    /// The `Cache-Control` header, if any: how long the provider says its keys stay valid.
    pub cache_control: Option<String>,
    pub body: Vec<u8>,
}

pub trait HttpGet: Send + Sync + 'static {
    /// `GET url`; an error names what failed (connection, deadline, a body over `max_bytes`).
    fn get(&self, url: &str, max_bytes: usize) -> BoxFuture<'_, Result<Fetched, String>>;
}

/// A host without outbound HTTP: every fetch fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHttp;

impl HttpGet for NoHttp {
    fn get(&self, _url: &str, _max_bytes: usize) -> BoxFuture<'_, Result<Fetched, String>> {
        Box::pin(std::future::ready(Err("this host has no outbound HTTP".to_owned())))
    }
}
