//! HTTP plumbing shared by every route: request context, CORS, authentication, rate limiting
//! and body extractors that fail with problem+json.

pub mod cors;
pub mod extract;
pub mod middleware;

pub use cors::CorsOrigins;
pub use extract::{ApiJson, ApiQuery, Caller, SyncBody};
pub use middleware::{ClientAddr, RequestId};
