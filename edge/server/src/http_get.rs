//! The app's outbound GET (an identity provider's keys) on `reqwest`, with a deadline and a
//! cap on the body read.

use std::time::Duration;

use edge_app::ports::{BoxFuture, Fetched, HttpGet};

/// Longest a fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct ReqwestGet(reqwest::Client);

impl ReqwestGet {
    pub fn new() -> Self {
        // Redirects are not followed: the configured URL is the one trusted.
        let client = reqwest::Client::builder().timeout(TIMEOUT).redirect(reqwest::redirect::Policy::none()).build();
        Self(client.unwrap_or_default())
    }
}

impl Default for ReqwestGet {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpGet for ReqwestGet {
    fn get(&self, url: &str, max_bytes: usize) -> BoxFuture<'_, Result<Fetched, String>> {
        let request = self.0.get(url);
        Box::pin(async move {
            let mut response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let cache_control = response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
                if body.len() + chunk.len() > max_bytes {
                    return Err(format!("the body is over {max_bytes} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched { status, cache_control, body })
        })
    }
}
