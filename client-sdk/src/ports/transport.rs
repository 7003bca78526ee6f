//! The HTTP port: one request to the edge, one response back.

use std::future::Future;

use crate::error::TransportError;

/// Sends one HTTP request to the edge and returns its response, whatever the status.
///
/// The engine builds requests with a path-only URI (`/v1/sync`); the transport knows the
/// server's base URL and joins them. Only failures to get a response at all are errors: a
/// 401 or a 503 is a response, and the engine decides what to do with it. Implementations
/// should bound the response body by [`Limits::max_message_bytes`](sync_core::Limits) and
/// fail with [`TransportErrorKind::TooLarge`](crate::TransportErrorKind) beyond it.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, request: http::Request<Vec<u8>>) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send;
}

/// [`Transport`] without the `Send` requirement (e.g. `fetch` on wasm).
pub trait LocalTransport: 'static {
    fn send(&self, request: http::Request<Vec<u8>>) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>>;
}

impl<T: Transport> LocalTransport for T {
    fn send(&self, request: http::Request<Vec<u8>>) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> {
        Transport::send(self, request)
    }
}
