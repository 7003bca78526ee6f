//! HTTP plumbing shared by every route: request context, authentication, rate limiting and
//! body extractors that fail with problem+json.

pub mod extract;
pub mod middleware;

pub use extract::{ApiJson, ApiQuery, Caller, SyncBody};
pub use middleware::RequestId;
