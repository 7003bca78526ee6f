//! Cross-origin requests from web apps (the web SDK calls the API from the app's origin).
//!
//! Auth is a bearer header, never a cookie, so any origin may be allowed without letting
//! other sites act with a user's credentials: the default is `Access-Control-Allow-Origin: *`
//! without `Allow-Credentials`. Deployments can narrow it to a list of origins, echoed back
//! when they match (`Vary: origin`), or turn CORS off (same-origin pages only).
//!
//! Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered here, before
//! authentication and rate limiting. Every other response, errors included, carries the
//! CORS headers, so a page can read a 401 or a 429 and its `Retry-After`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Which page origins may call the API (`EDGESYNC_CORS_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsOrigins {
    /// `*`: any origin (the default).
    #[default]
    Any,
    /// Only these origins, e.g. `https://app.example.com`.
    List(Vec<String>),
    /// No CORS headers at all (`none`).
    Disabled,
}

/// An unusable `EDGESYNC_CORS_ORIGINS` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CORS origin {origin:?}: {reason}")]
pub struct CorsOriginError {
    pub origin: String,
    pub reason: &'static str,
}

impl FromStr for CorsOrigins {
    type Err = CorsOriginError;

    /// `*`, `none`, or a comma-separated list of origins (`scheme://host[:port]`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "*" => return Ok(CorsOrigins::Any),
            "none" => return Ok(CorsOrigins::Disabled),
            _ => {}
        }
        let mut origins = Vec::new();
        for origin in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let error = |reason| CorsOriginError { origin: origin.to_owned(), reason };
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .ok_or_else(|| error("must start with http:// or https://"))?;
            if rest.is_empty() || rest.contains('/') {
                return Err(error("must be scheme://host[:port], without a path or a trailing slash"));
            }
            if origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(error("must not contain whitespace"));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        if origins.is_empty() {
            return Err(CorsOriginError { origin: s.to_owned(), reason: "expected *, none or a list of origins" });
        }
        Ok(CorsOrigins::List(origins))
    }
}

impl fmt::Display for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorsOrigins::Any => f.write_str("*"),
            CorsOrigins::List(origins) => f.write_str(&origins.join(",")),
            CorsOrigins::Disabled => f.write_str("none"),
        }
    }
}

/// Request headers a page may send: the ones the API reads.
const ALLOW_HEADERS: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::IF_NONE_MATCH,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("x-request-id"),
];

/// Response headers a page may read beyond the CORS-safelisted ones.
const EXPOSE_HEADERS: [HeaderName; 5] = [
    header::RETRY_AFTER,
    header::ETAG,
    header::WWW_AUTHENTICATE,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("server-timing"),
];

/// How long browsers may cache a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `origins`, or `None` when CORS is disabled.
pub fn layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::Disabled => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(ALLOW_HEADERS)
            .expose_headers(EXPOSE_HEADERS)
            .max_age(MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_none_and_lists() {
        assert_eq!("*".parse(), Ok(CorsOrigins::Any));
        assert_eq!(" none ".parse(), Ok(CorsOrigins::Disabled));
        assert_eq!(
            "https://App.example.com, http://localhost:5173".parse(),
            Ok(CorsOrigins::List(vec!["https://app.example.com".into(), "http://localhost:5173".into()]))
        );
        assert_eq!(CorsOrigins::default(), CorsOrigins::Any);
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in ["", " , ", "app.example.com", "https://app.example.com/", "https://a.com/path", "ftp://a.com", "https://"] {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad:?} was accepted");
        }
    }
}
