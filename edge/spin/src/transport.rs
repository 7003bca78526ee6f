//! The Hrana client's outbound HTTP on Spin: `spin_sdk::http::send` with an explicit
//! content type and length (its `post` helper sends a chunked body without them).

use hrana_client::{HttpResponse, HttpTransport, TransportError};
use http_body_util::BodyExt;
use spin_sdk::http::FullBody;

pub struct SpinHttp;

impl HttpTransport for SpinHttp {
    async fn post_json(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> Result<HttpResponse, TransportError> {
        let mut request = http::Request::post(url).header("content-type", "application/json").header("content-length", body.len());
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(FullBody::new(bytes::Bytes::from(body))).map_err(|e| TransportError(e.to_string()))?;
        let response = spin_sdk::http::send(request).await.map_err(|e| TransportError(format!("{e:?}")))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| TransportError(format!("{e:?}")))?.to_bytes();
        Ok(HttpResponse { status, body: body.to_vec() })
    }
}
