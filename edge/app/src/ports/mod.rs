//! Ports: what the app needs from its host, as traits. Each runtime crate implements them.
//!
//! Futures returned by ports are `Send`, because axum requires `Send` handler futures. Hosts
//! whose IO futures are `!Send` (Workers, Spin: single-threaded wasm) wrap them at their edge.

pub mod clock;
pub mod compute;
pub mod db;
pub mod http;
pub mod random;
pub mod wakeups;

pub use clock::{Clock, SystemClock, UnixMillis};
pub use compute::{Compute, Inline};
pub use db::{Committed, Database, DbError, ReplicaStatus, Rows, Statement, Value};
pub use http::{Fetched, HttpGet, NoHttp};
pub use random::{OsRandom, Random};
pub use wakeups::{NoWaiting, Wakeups};

use std::future::Future;
use std::pin::Pin;

/// A boxed `Send` future: keeps the port traits dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
