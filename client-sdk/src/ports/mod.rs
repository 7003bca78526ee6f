//! Ports: what the engine needs from its host, as traits.
//!
//! - [`Store`]: durable local storage of documents (native: a libSQL file; web: IndexedDB).
//! - [`Transport`]: one HTTP request/response to the edge (native: reqwest; web: fetch).
//! - [`TokenProvider`]: bearer tokens for the edge, refreshed on demand.
//!
//! Each comes in two flavours linked by a blanket impl: `Store` returns `Send` futures (for
//! multi-threaded runtimes such as tokio), `LocalStore` does not (for single-threaded wasm,
//! whose IO futures are `!Send`). Every `Store` is a `LocalStore`, and the engine is written
//! against the `Local*` traits only. With `Send` implementations the engine's futures are
//! `Send` too (auto traits carry through), so the native client can spawn them on tokio,
//! while a web host can implement the `Local*` traits directly and keep its `!Send` futures.

pub mod auth;
pub mod store;
pub mod transport;

pub use auth::{LocalTokenProvider, TokenProvider};
pub use store::{Commit, DocRecord, LocalStore, Origin, Store, StoredDocument};
pub use transport::{LocalTransport, Transport};
