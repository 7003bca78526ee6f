//! # edgesync native server
//!
//! Hosts the shared API router of `edgesync-edge-app` on tokio, with the [`Database`] port
//! implemented on the `libsql` crate ([`storage`]): an embedded local file by default. Adds
//! what only a long-running process has: an HTTP listener with connection limits
//! ([`listener`]), Prometheus `/metrics` on a listener of its own, a compaction timer, a
//! bounded pool for CPU-heavy merges ([`compute`]), waiting syncs woken by this process's
//! commits ([`wakeups`]), and maintenance commands (token, migrate,
//! compact, export, import).
//!
//! [`Database`]: edge_app::ports::Database

pub mod commands;
pub mod compute;
pub mod http_get;
pub mod listener;
pub mod live;
pub mod metrics;
pub mod serve;
pub mod settings;
pub mod storage;
pub mod wakeups;
