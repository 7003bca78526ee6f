//! The engine's `Transport` port on the global `fetch`.
//!
//! The global function (not `window.fetch`) is called, so the same code runs in browsers,
//! workers and Node ≥ 18. Requests time out after [`REQUEST_TIMEOUT_MS`] through
//! `AbortSignal.timeout`, and a request whose future is dropped (a closed client, a waiting
//! sync no longer needed) is aborted rather than left open. A rejected `fetch` (no network, DNS, refused connection, CORS
//! refusal) is a [`TransportErrorKind::Connect`]: the engine reports the client offline.
//!
//! Cross-origin pages need the API to allow their origin (the edge answers CORS preflights)
//! and to expose `Retry-After`, which the engine reads on 429 and 503.

use edgesync_client::{LocalTransport, TransportError, TransportErrorKind};
use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Headers, Request, RequestInit, Response};

use crate::error::js_message;

/// How long one request may take, connection and body included.
pub const REQUEST_TIMEOUT_MS: u32 = 60_000;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.fetch`.
    #[wasm_bindgen(catch, js_name = fetch)]
    fn global_fetch(input: &Request) -> Result<Promise, JsValue>;
}

/// HTTP to the edge API at a base URL (`https://sync.example.com`, or with a path prefix).
#[derive(Debug, Clone)]
pub struct FetchTransport {
    base: String,
    max_body: usize,
}

impl FetchTransport {
    /// Checks that `base_url` is an absolute http(s) URL. Response bodies over `max_body`
    /// bytes are refused.
    pub fn new(base_url: &str, max_body: usize) -> Result<Self, String> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = web_sys::Url::new(&base).map_err(|_| format!("server URL {base_url:?} is not an absolute URL"))?;
        if !matches!(parsed.protocol().as_str(), "http:" | "https:") {
            return Err(format!("server URL {base_url:?}: expected http or https"));
        }
        Ok(Self { base, max_body })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn too_large() -> TransportError {
        TransportError::new(TransportErrorKind::TooLarge, "response body over the limit")
    }
}

/// Classifies a rejection of `fetch` or of reading the body.
fn classify(error: &JsValue) -> TransportError {
    let name = error.dyn_ref::<js_sys::Error>().map(|e| String::from(e.name())).unwrap_or_default();
    let name = if name.is_empty() {
        // DOMException is not a subclass of Error in every runtime.
        js_sys::Reflect::get(error, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default()
    } else {
        name
    };
    let kind = match name.as_str() {
        "TimeoutError" | "AbortError" => TransportErrorKind::Timeout,
        "TypeError" => TransportErrorKind::Connect,
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, js_message(error))
}

fn other(error: JsValue) -> TransportError {
    TransportError::new(TransportErrorKind::Other, js_message(&error))
}

impl LocalTransport for FetchTransport {
    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let headers = Headers::new().map_err(other)?;
        for (name, value) in &parts.headers {
            let value = value.to_str().map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))?;
            headers.append(name.as_str(), value).map_err(other)?;
        }
        let init = RequestInit::new();
        init.set_method(parts.method.as_str());
        init.set_headers(&headers);
        if !body.is_empty() {
            init.set_body(&Uint8Array::from(body.as_slice()));
        }
        let abort = AbortOnDrop::new();
        init.set_signal(Some(&abort.signal()));
        let url = format!("{}{path}", self.base);
        let request = Request::new_with_str_and_init(&url, &init).map_err(other)?;

        let promise = global_fetch(&request).map_err(|e| classify(&e))?;
        let response: Response = JsFuture::from(promise).await.map_err(|e| classify(&e))?.unchecked_into();
        let announced = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.max_body as u64) {
            return Err(Self::too_large());
        }
        let mut builder = http::Response::builder().status(response.status());
        // `Headers` iterates as [name, value] pairs (only those CORS lets the page see).
        if let Ok(Some(entries)) = js_sys::try_iter(&response.headers()) {
            for entry in entries.flatten() {
                let pair: Array = entry.unchecked_into();
                if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                    builder = builder.header(name, value);
                }
            }
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(other)?).await.map_err(|e| classify(&e))?;
        let body = Uint8Array::new(&buffer);
        if body.length() as usize > self.max_body {
            return Err(Self::too_large());
        }
        abort.disarm();
        builder.body(body.to_vec()).map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))
    }
}

/// Aborts the request when dropped before [`AbortOnDrop::disarm`]; its signal also fires after
/// [`REQUEST_TIMEOUT_MS`].
struct AbortOnDrop(Option<AbortController>);

impl AbortOnDrop {
    fn new() -> Self {
        Self(AbortController::new().ok())
    }

    fn signal(&self) -> AbortSignal {
        let timeout = AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS);
        // `AbortSignal.any` (2023 and later runtimes) combines both; without it, the timeout.
        let any = js_sys::Reflect::get(&js_sys::global(), &"AbortSignal".into())
            .and_then(|class| js_sys::Reflect::has(&class, &"any".into()))
            .unwrap_or(false);
        match &self.0 {
            Some(controller) if any => AbortSignal::any(&Array::of2(&controller.signal(), &timeout)),
            _ => timeout,
        }
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}
