//! The app's `Database` port on Workers: the shared Hrana client over `fetch`.

use edge_app::ports::{BoxFuture, Database, DbError, Rows, Statement};
use hrana_client::HranaClient;
use worker::send::SendFuture;

use crate::transport::WorkerFetch;

pub struct WorkerDatabase(HranaClient<WorkerFetch>);

impl WorkerDatabase {
    pub fn new(url: &str, auth_token: &str, timeout_ms: u32) -> Result<Self, DbError> {
        HranaClient::new(url, auth_token, WorkerFetch { timeout_ms }).map(Self)
    }
}

// `fetch` futures are `!Send`; a Worker isolate is single-threaded, and workers-rs's
// `SendFuture` is the sanctioned way to cross axum's `Send` bound there.
impl Database for WorkerDatabase {
    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>> {
        Box::pin(SendFuture::new(self.0.execute(statement)))
    }
    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        Box::pin(SendFuture::new(self.0.batch(statements)))
    }
    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(SendFuture::new(self.0.execute_script(sql)))
    }
}
