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

/// Many edges write to one primary at once; sqld answers the losers `SQLITE_BUSY` at once.
/// Every write must still land (the client waits and retries) rather than become a 503.
#[tokio::test]
async fn concurrent_writers_all_commit() {
    let Ok(url) = std::env::var("EDGESYNC_SQLD_URL") else { return eprintln!("skipped: EDGESYNC_SQLD_URL not set") };
    let run = format!("{:?}", std::time::SystemTime::now());
    let db = Arc::new(client(&url));
    db.batch(vec![Statement::new("CREATE TABLE IF NOT EXISTS busy_writers (run TEXT, writer INTEGER, n INTEGER)", [])]).await.unwrap();
    let writers: Vec<_> = (0..16_i64)
        .map(|w| {
            let (db, run) = (db.clone(), run.clone());
            tokio::spawn(async move {
                for n in 0..20_i64 {
                    // A read first, as a sync's transaction does: the write then needs the lock.
                    let count = Statement::new("SELECT COUNT(*) FROM busy_writers WHERE run = ?1", [run.as_str().into()]);
                    let insert = || Statement::new("INSERT INTO busy_writers (run, writer, n) VALUES (?1, ?2, ?3)", [run.as_str().into(), w.into(), n.into()]);
                    db.batch(vec![count, insert(), insert()]).await.expect("a busy primary is waited for");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let rows = db.query(Statement::new("SELECT COUNT(*) FROM busy_writers WHERE run = ?1", [run.as_str().into()])).await.unwrap();
    assert_eq!(rows.rows[0][0].as_i64(), Some(16 * 20 * 2));
}
