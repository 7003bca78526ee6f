//! A native host for the client (feature `reqwest`): the transport on `reqwest` and the app's
//! `Database` port on top. Native code normally uses the `libsql` crate; this exists so tests
//! and benchmarks can drive exactly the client the wasm edges run.

use edge_app::ports::{BoxFuture, Database, DbError, Rows, Statement};

use crate::{HranaClient, HttpResponse, HttpTransport, TransportError};

/// Outbound HTTP on `reqwest`.
pub struct ReqwestTransport(pub reqwest::Client);

impl HttpTransport for ReqwestTransport {
    async fn post_json(&self, url: &str, bearer: Option<&str>, body: Vec<u8>) -> Result<HttpResponse, TransportError> {
        let mut request = self.0.post(url).header("content-type", "application/json").body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| TransportError(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| TransportError(e.to_string()))?.to_vec();
        Ok(HttpResponse { status, body })
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The `Database` port over [`HranaClient`] and [`ReqwestTransport`] (natively the futures
/// are `Send`).
pub struct HranaDatabase(pub HranaClient<ReqwestTransport>);

impl HranaDatabase {
    pub fn new(url: &str, auth_token: &str) -> Result<Self, DbError> {
        HranaClient::new(url, auth_token, ReqwestTransport(reqwest::Client::new())).map(Self)
    }
}

impl Database for HranaDatabase {
    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>> {
        Box::pin(self.0.execute(statement))
    }
    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        Box::pin(self.0.batch(statements))
    }
    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(self.0.execute_script(sql))
    }
}
