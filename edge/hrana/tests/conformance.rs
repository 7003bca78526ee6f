//! The Hrana client passes the same storage conformance suite as every other backend, here
//! against a real sqld over HTTP with a native transport (the wasm edges plug in their own).

use std::sync::Arc;

use edge_app::ports::{Database, DbError, Statement};
use hrana_client::HranaClient;
use hrana_client::native::{HranaDatabase, ReqwestTransport};

fn client(url: &str) -> HranaDatabase {
    HranaDatabase::new(url, "").unwrap()
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
    assert!(HranaClient::new("libsql://db.example", "t", ReqwestTransport(reqwest::Client::new())).is_ok());
    assert!(matches!(HranaClient::new("ftp://x", "", ReqwestTransport(reqwest::Client::new())), Err(DbError::Other(_))));
}
