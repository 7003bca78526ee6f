//! The engine's token port on a JS callback: `getToken(refresh: boolean) => string |
//! Promise<string>`.
//!
//! `refresh` is false before every request (return the cached token) and true after the
//! server answered 401 (fetch a new one). A throw, a rejection or a non-string result fails
//! the sync with the `token` error code; nothing local is lost.

use edgesync_client::{LocalTokenProvider, TokenError};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::js_message;

/// A JS function providing bearer tokens.
pub struct JsTokenProvider {
    callback: Function,
}

impl JsTokenProvider {
    pub fn new(callback: Function) -> Self {
        Self { callback }
    }
}

impl LocalTokenProvider for JsTokenProvider {
    async fn token(&self, refresh: bool) -> Result<String, TokenError> {
        let returned =
            self.callback.call1(&JsValue::UNDEFINED, &JsValue::from_bool(refresh)).map_err(|e| TokenError::new(js_message(&e)))?;
        // A plain string and a Promise of one are both fine.
        let value = JsFuture::from(Promise::resolve(&returned)).await.map_err(|e| TokenError::new(js_message(&e)))?;
        match value.as_string() {
            Some(token) if !token.is_empty() => Ok(token),
            _ => Err(TokenError::new("getToken must resolve to a non-empty string")),
        }
    }
}
