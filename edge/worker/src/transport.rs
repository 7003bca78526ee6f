//! The Hrana client's outbound HTTP on Workers: the global `fetch`.

use hrana_client::{HttpResponse, HttpTransport, TransportError};
use worker::{Fetch, Headers, Method, Request, RequestInit};

pub struct WorkerFetch;

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
        let mut response = Fetch::Request(request).send().await.map_err(err)?;
        Ok(HttpResponse { status: response.status_code(), body: response.bytes().await.map_err(err)? })
    }
}
