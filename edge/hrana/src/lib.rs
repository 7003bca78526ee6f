//! # Hrana over HTTP, for wasm edges
//!
//! The `libsql` crate cannot reach a remote database from Workers (`worker` 0.8) or WASI, so
//! the wasm edges use this small client instead. It speaks the Hrana pipeline protocol
//! (`POST /v2/pipeline`, JSON) with the protocol types of the `libsql-hrana` crate, and is
//! generic over an [`HttpTransport`] — `worker::Fetch` on Workers, `spin_sdk::http::send` on
//! Spin, an ordinary HTTP client in native tests.
//!
//! Every call is one stateless HTTP request: a single statement, or an atomic batch
//! (`BEGIN` … `COMMIT`, with `ROLLBACK` if any step failed) followed by closing the stream.
//! No baton is kept between calls, so nothing depends on instance memory.
//!
//! Futures here are not `Send` (wasm transports are single-threaded); runtime adapters wrap
//! them when they implement the app's `Send` [`Database`](edge_app::ports::Database) port.

mod client;
mod convert;
#[cfg(feature = "reqwest")]
pub mod native;
mod transport;

pub use client::HranaClient;
pub use transport::{HttpResponse, HttpTransport, TransportError};
