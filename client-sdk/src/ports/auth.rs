//! The token port: where bearer tokens come from.

use std::future::Future;

use crate::error::TokenError;

/// Supplies bearer JWTs for the edge API.
///
/// `token(false)` is asked before every request and should return the current token cheaply
/// (cache it). `token(true)` is asked after the server answered 401: fetch a fresh token from
/// the identity provider. After a refresh the request is retried exactly once.
///
/// Any `Fn(bool) -> impl Future<Output = Result<String, TokenError>>` closure is a provider:
///
/// ```
/// # use edgesync_client::{TokenError, TokenProvider};
/// fn provider() -> impl TokenProvider {
///     |refresh: bool| async move {
///         // ask your identity provider; `refresh` means the last token was refused
///         let _ = refresh;
///         Ok::<_, TokenError>("eyJ...".to_owned())
///     }
/// }
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    fn token(&self, refresh: bool) -> impl Future<Output = Result<String, TokenError>> + Send;
}

/// [`TokenProvider`] without the `Send` requirement (single-threaded hosts).
pub trait LocalTokenProvider: 'static {
    fn token(&self, refresh: bool) -> impl Future<Output = Result<String, TokenError>>;
}

impl<T: TokenProvider> LocalTokenProvider for T {
    fn token(&self, refresh: bool) -> impl Future<Output = Result<String, TokenError>> {
        TokenProvider::token(self, refresh)
    }
}

impl<F, Fut> TokenProvider for F
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, TokenError>> + Send,
{
    fn token(&self, refresh: bool) -> impl Future<Output = Result<String, TokenError>> + Send {
        self(refresh)
    }
}
