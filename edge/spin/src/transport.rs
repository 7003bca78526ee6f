//! The Hrana client's outbound HTTP on Spin: `spin_sdk::http::send` with an explicit
//! content type and length (its `post` helper sends a chunked body without them), and a
//! deadline for the answer: a sqld replica whose primary is down holds writes while it retries,
//! and the client must get a 503 it can retry rather than wait without end.

use hrana_client::{HttpResponse, HttpTransport, TransportError};
use http_body_util::BodyExt;
use spin_sdk::http::FullBody;
use spin_sdk::wasip3::http::types::RequestOptions;
use spin_sdk::wasip3::http_compat::RequestOptionsExtension;

pub struct SpinHttp {
    /// How long to wait for the first byte of the database's answer.
    pub timeout: std::time::Duration,
}

impl HttpTransport for SpinHttp {
    async fn post_json(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> Result<HttpResponse, TransportError> {
        let mut request = http::Request::post(url).header("content-type", "application/json").header("content-length", body.len());
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let mut request = request.body(FullBody::new(bytes::Bytes::from(body))).map_err(|e| TransportError(e.to_string()))?;
        let options = RequestOptions::new();
        let nanos = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that cannot enforce the deadline still serves the request, just without it.
        if options.set_first_byte_timeout(Some(nanos)).is_ok() {
            request.extensions_mut().insert(RequestOptionsExtension(options));
        }
        let response = spin_sdk::http::send(request).await.map_err(|e| TransportError(format!("{e:?}")))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| TransportError(format!("{e:?}")))?.to_bytes();
        Ok(HttpResponse { status, body: body.to_vec() })
    }

    async fn pause(&self, duration: std::time::Duration) {
        spin_sdk::wasip3::clocks::monotonic_clock::wait_for(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)).await;
    }
}

/// The app's outbound GET (an identity provider's keys) over the same `spin_sdk::http::send`,
/// with a deadline for the first byte; redirects are not followed (wasi:http never does).
pub struct SpinGet {
    pub timeout: std::time::Duration,
}

impl edge_app::ports::HttpGet for SpinGet {
    fn get(&self, url: &str, max_bytes: usize) -> edge_app::ports::BoxFuture<'_, Result<edge_app::ports::Fetched, String>> {
        let request = http::Request::get(url).body(FullBody::new(bytes::Bytes::new()));
        let nanos = u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX);
        Box::pin(crate::database::AssertSend(async move {
            let mut request = request.map_err(|e| e.to_string())?;
            let options = RequestOptions::new();
            if options.set_first_byte_timeout(Some(nanos)).is_ok() {
                request.extensions_mut().insert(RequestOptionsExtension(options));
            }
            let response = spin_sdk::http::send(request).await.map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let cache_control = response.headers().get(http::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let declared = response.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max_bytes as u64) {
                return Err(format!("the body is over {max_bytes} bytes"));
            }
            let body = http_body_util::Limited::new(response.into_body(), max_bytes).collect().await.map_err(|e| format!("reading the body: {e}"))?;
            Ok(edge_app::ports::Fetched { status, cache_control, body: body.to_bytes().to_vec() })
        }))
    }
}
