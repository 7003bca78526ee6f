//! The storage conformance suite (edgesync-storage-conformance) against every libSQL backend
//! of the `libsql` crate: the local file, a sqld primary over HTTP, and an embedded replica.
//!
//! The sqld-backed runs need `EDGESYNC_SQLD_URL` (scripts/with-sqld.sh sets it; the README's
//! test command runs them). Without it they are skipped, unless `EDGESYNC_REQUIRE_SQLD` is
//! set, as in CI, where a missing server is a failure.

use std::time::Duration;

use edge_app::ports::Database;
use edgesync_server::storage::{Backend, LibsqlDatabase};
use edgesync_storage_conformance::run as conformance;

fn sqld_url() -> Option<String> {
    match std::env::var("EDGESYNC_SQLD_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("EDGESYNC_REQUIRE_SQLD").is_some() => panic!("EDGESYNC_SQLD_URL is not set but sqld is required"),
        Err(_) => {
            eprintln!("skipped: EDGESYNC_SQLD_URL not set (run through scripts/with-sqld.sh)");
            None
        }
    }
}

#[tokio::test]
async fn local_file() {
    let dir = tempfile::tempdir().unwrap();
    conformance(LibsqlDatabase::open_local(&dir.path().join("c.db")).await.unwrap()).await;
}

#[tokio::test]
async fn remote_primary_over_http() {
    let Some(url) = sqld_url() else { return };
    conformance(LibsqlDatabase::open(Backend::Remote { url, auth_token: String::new() }).await.unwrap()).await;
}

/// sqld closes a Hrana stream after 10 s without a request; the server must not be left with
/// connections that answer `STREAM_EXPIRED` from then on.
#[tokio::test]
async fn the_primary_is_still_reachable_after_an_idle_spell() {
    use edge_app::ports::Statement;
    let Some(url) = sqld_url() else { return };
    let db = LibsqlDatabase::open(Backend::Remote { url, auth_token: String::new() }).await.unwrap();
    let touch = || async {
        for _ in 0..8 {
            db.query(Statement::new("SELECT 1", [])).await.expect("a read");
        }
        db.batch(vec![Statement::new("SELECT 1", [])]).await.expect("a transaction");
    };
    touch().await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    touch().await;
}

#[tokio::test]
async fn embedded_replica_of_the_primary() {
    let Some(url) = sqld_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::Replica { path: dir.path().join("replica.db"), url, auth_token: String::new(), sync_interval: Duration::from_secs(1) };
    let db = LibsqlDatabase::open(backend).await.unwrap();
    let synced = db.replica_status().expect("an embedded replica reports its freshness");
    assert!(synced.last_sync_ms > 0, "synced once on open");
    assert_eq!(db.replica_sync_interval(), Some(Duration::from_secs(1)));
    conformance(db.clone()).await;
    // Every successful pull moves the sync time forward and keeps (or advances) the frame.
    tokio::time::sleep(Duration::from_millis(5)).await;
    db.sync_replica().await.unwrap();
    let later = db.replica_status().unwrap();
    assert!(later.last_sync_ms > synced.last_sync_ms);
    assert!(later.frame_no >= synced.frame_no && later.frame_no.is_some(), "{later:?}");
}

/// A database made before the owned-documents count (migration 7) is counted when it is
/// upgraded: the quota check then reads what the memberships say.
#[tokio::test]
async fn upgrading_counts_the_documents_owned_before() {
    use edge_app::ports::{Statement, UnixMillis, Value};
    use edge_app::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let db = LibsqlDatabase::open_local(&dir.path().join("old.db")).await.unwrap();
    let store = Store::new(db.clone());
    let now = UnixMillis(1_700_000_000_000);
    store.migrate(now).await.unwrap();
    // Back to the schema before it, with documents made then.
    db.execute_script("DROP TRIGGER owned_documents_insert; DROP TRIGGER owned_documents_delete; DROP TRIGGER owned_documents_update_old; DROP TRIGGER owned_documents_update_new; DROP TABLE owned_documents; DELETE FROM schema_migrations WHERE version = 7;").await.unwrap();
    for n in 0..3 {
        let id = format!("{n:032x}");
        db.batch(Store::create_document_statements(&id, "alice", "", now)).await.unwrap();
    }
    let members = Statement::new("INSERT INTO members (doc_id, user_id, role, added_at) VALUES (?1, 'bob', 'owner', 1)", [Value::from(format!("{:032x}", 0))]);
    db.query(members).await.unwrap();

    assert_eq!(store.migrate(now).await.unwrap(), vec![7]);
    assert_eq!((store.owned_count("alice").await.unwrap(), store.owned_count("bob").await.unwrap()), (3, 1));
    db.batch(Store::create_document_statements(&format!("{:032x}", 9), "alice", "", now)).await.unwrap();
    assert_eq!(store.owned_count("alice").await.unwrap(), 4, "and kept from then on");
}
