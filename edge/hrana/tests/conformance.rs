//! The Hrana client passes the same storage conformance suite as every other backend, here
//! against a real sqld over HTTP with a native transport (the wasm edges plug in their own).

use std::sync::Arc;

use edge_app::ports::{BoxFuture, Database, DbError, Rows, Statement};
use hrana_client::{HranaClient, HttpResponse, HttpTransport, TransportError};

struct Reqwest(reqwest::Client);

impl HttpTransport for Reqwest {
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
}

/// The port implementation a native host would write (natively the futures are `Send`).
struct Hrana(HranaClient<Reqwest>);

impl Database for Hrana {
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

fn client(url: &str) -> Hrana {
    Hrana(HranaClient::new(url, "", Reqwest(reqwest::Client::new())).unwrap())
}

#[tokio::test]
async fn passes_the_storage_conformance_suite_against_sqld() {
    let url = match std::env::var("EDGESYNC_SQLD_URL") {
        Ok(url) => url,
        Err(_) if std::env::var_os("EDGESYNC_REQUIRE_SQLD").is_some() => panic!("EDGESYNC_SQLD_URL is not set but sqld is required"),
        Err(_) => return eprintln!("skipped: EDGESYNC_SQLD_URL not set (run through scripts/with-sqld.sh)"),
    };
    edgesync_storage_conformance::run(Arc::new(client(&url))).await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_a_panic() {
    // Port 9 on loopback: nothing listens there.
    let db = client("http://127.0.0.1:9");
    let err = db.query(Statement::new("SELECT 1", [])).await.unwrap_err();
    assert!(matches!(err, DbError::Unavailable(_)), "{err:?}");
}

#[test]
fn urls_are_normalised_and_bad_schemes_rejected() {
    assert!(HranaClient::new("libsql://db.example", "t", Reqwest(reqwest::Client::new())).is_ok());
    assert!(matches!(HranaClient::new("ftp://x", "", Reqwest(reqwest::Client::new())), Err(DbError::Other(_))));
}
