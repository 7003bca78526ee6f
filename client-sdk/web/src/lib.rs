//! # edgesync for the web
//!
//! wasm-bindgen bindings over the client engine ([`edgesync_client::Engine`]), so that a web
//! app (or Node) edits Automerge documents offline, durably in IndexedDB, and syncs them with
//! the edge API. The npm package (`scripts/build-web.sh`, `client-sdk/web/js/`) wraps this
//! crate's output with a small entry point that loads the wasm module (in browsers and
//! Node) and defines the `EdgesyncError` class.
//!
//! ```text
//!  JS app ──▶ Client / Document / ChangeSet        (this crate, camelCase, Promises)
//!               │    └─ background loop: setTimeout, Backoff, `online`/`offline` events
//!               ▼
//!             Engine<IdbStore, FetchTransport, JsTokenProvider>   (edgesync-client, unchanged)
//!               │ Local* ports (single-threaded, !Send futures)
//!               ├─ IdbStore          IndexedDB: one readwrite transaction per commit
//!               ├─ FetchTransport    the global `fetch` (browsers, workers, Node ≥ 18)
//!               └─ JsTokenProvider   `getToken(refresh) => Promise<string>`
//! ```
//!
//! - [`client`]: `Client.open(options)`, documents, `syncNow()`, status, events, `close()`.
//! - [`document`]: a handle to one document: `change(fn)`, `put`, `insert`, `delete`,
//!   `spliceText`, `increment`, `get(path)`, `toJSON()`.
//! - [`changes`]: the recorded operations of one `change` and how they apply to automerge
//!   through JSON-like paths ([`json`] converts values both ways).
//! - [`store`], [`transport`], [`tokens`]: the engine's ports on browser APIs.
//! - [`background`]: the automatic sync loop, sharing [`edgesync_client::Backoff`] with the
//!   native client.
//! - [`socket`]: the live sockets and presence; [`presence_http`]: presence where the server
//!   has no sockets.
//! - [`lock`]: one open client per IndexedDB database (a Web Lock in browsers).
//! - [`error`]: every failure becomes an `EdgesyncError` with a stable `code`.
//! - [`events`]: engine events as plain JS objects, delivered to subscriber callbacks.
//!
//! Everything runs on the JS event loop: the engine's futures are driven by
//! `wasm-bindgen-futures`, timers by `setTimeout`. Durability follows the `Store` port
//! contract: a `change` Promise resolves after the IndexedDB transaction holding the change
//! completed (with `durability: "strict"`).

pub mod background;
pub mod changes;
pub mod client;
pub mod document;
pub mod error;
pub mod events;
pub mod json;
pub mod lock;
pub mod options;
pub mod presence_http;
pub mod socket;
pub mod store;
pub mod tokens;
pub mod transport;
pub mod types;

pub use client::Client;
pub use document::Document;
pub use error::WebError;
