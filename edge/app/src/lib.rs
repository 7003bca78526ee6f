//! # edgesync edge app
//!
//! The whole v1 HTTP API as one [`axum::Router`], built over ports so that every runtime —
//! Cloudflare Workers, Spin (WASI), and the native server — serves the same routes,
//! validation and error mapping:
//!
//! ```text
//!   host crate (worker / spin / native)
//!     │ builds ports: Database (libSQL local / HTTP / replica), Clock, Random; reads Config
//!     ▼
//!   app(state) ── http::middleware (request id, logs, CORS, auth, rate limit)
//!     └── api::* handlers ── service::* (sync, documents, compaction) ── store (all SQL)
//!                                 └── sync_core (pure CRDT merge; no IO)
//! ```
//!
//! - [`ports`]: what a host provides. Futures are `Send`; wasm hosts wrap their `!Send` IO.
//! - [`store`]: every SQL statement, once, with bound parameters only; migrations.
//! - [`service`]: the logic of each operation over the store and sync-core.
//! - [`api`]: routes, OpenAPI annotations; [`error::ApiError`] is the only place errors
//!   become HTTP (problem+json).
//!
//! Nothing is kept in process memory between requests: edges are stateless and many, and
//! consistency comes from the database (an optimistic version guard per document).

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod live;
pub mod logs;
pub mod model;
pub mod ports;
pub mod service;
pub mod state;
pub mod store;

use axum::Router;
use axum::middleware::from_fn_with_state;

pub use config::{Config, Quotas, RateLimit};
pub use error::ApiError;
pub use state::AppState;

/// The API router with its middleware, ready to be served by any host.
pub fn app(state: AppState) -> Router {
    let routes = api::routes()
        .fallback(|| async { ApiError::NotFound })
        .layer(from_fn_with_state(state.clone(), http::middleware::authenticate_and_limit));
    // Inside the request context (preflights get a request id and a log line), outside
    // authentication (preflights carry no token; errors carry the CORS headers).
    let routes = match http::cors::layer(&state.config.cors_origins) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes.layer(from_fn_with_state(state.clone(), http::middleware::request_context)).with_state(state)
}
