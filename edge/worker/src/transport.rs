//! The Hrana client's outbound HTTP on Workers: the global `fetch`, aborted after a deadline:
//! a sqld replica whose primary is down holds writes while it retries, and the client must get
//! a 503 it can retry rather than wait without end.

use hrana_client::{HttpResponse, HttpTransport, TransportError};
use worker::{Fetch, Headers, Method, Request, RequestInit};

pub struct WorkerFetch {
    /// How long to wait for the database's whole answer.
    pub timeout_ms: u32,
}

fn err(e: worker::Error) -> TransportError {
    TransportError(e.to_string())
}

impl HttpTransport for WorkerFetch {
    async fn post_json(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> Result<HttpResponse, TransportError> {
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(err)?;
        if let Some(token) = bearer {
            headers.set("authorization", &format!("Bearer {token}")).map_err(err)?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        let request = Request::new_with_init(url, &init).map_err(err)?;
        let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(self.timeout_ms));
        let mut response = Fetch::Request(request).send_with_signal(&signal).await.map_err(err)?;
        Ok(HttpResponse { status: response.status_code(), body: response.bytes().await.map_err(err)? })
    }

    async fn pause(&self, duration: std::time::Duration) {
        worker::Delay::from(duration).await;
    }
}

/// The app's outbound GET (an identity provider's keys) over the same `fetch`, aborted after
/// the deadline; redirects are not followed (the configured URL is the one trusted).
pub struct WorkerGet {
    pub timeout_ms: u32,
}

impl edge_app::ports::HttpGet for WorkerGet {
    fn get(&self, url: &str, max_bytes: usize) -> edge_app::ports::BoxFuture<'_, Result<edge_app::ports::Fetched, String>> {
        let url = url.to_owned();
        let timeout_ms = self.timeout_ms;
        Box::pin(worker::send::SendFuture::new(async move {
            let text = |e: worker::Error| e.to_string();
            let mut init = RequestInit::new();
            init.with_method(Method::Get).with_redirect(worker::RequestRedirect::Manual);
            let request = Request::new_with_init(&url, &init).map_err(text)?;
            let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_ms));
            let mut response = Fetch::Request(request).send_with_signal(&signal).await.map_err(text)?;
            let status = response.status_code();
            let cache_control = response.headers().get("cache-control").ok().flatten();
            let declared = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max_bytes as u64) {
                return Err(format!("the body is over {max_bytes} bytes"));
            }
            // `fetch` reads the body whole; a body without a length is checked once read.
            let body = response.bytes().await.map_err(text)?;
            if body.len() > max_bytes {
                return Err(format!("the body is over {max_bytes} bytes"));
            }
            Ok(edge_app::ports::Fetched { status, cache_control, body })
        }))
    }
}
