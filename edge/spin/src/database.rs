//! The app's `Database` port on Spin: the shared Hrana client over Spin's outbound HTTP.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use edge_app::ports::{BoxFuture, Database, DbError, Rows, Statement};
use hrana_client::HranaClient;

use crate::transport::SpinHttp;

pub struct SpinDatabase(HranaClient<SpinHttp>);

impl SpinDatabase {
    pub fn new(url: &str, auth_token: &str, timeout: std::time::Duration) -> Result<Self, DbError> {
        HranaClient::new(url, auth_token, SpinHttp { timeout }).map(Self)
    }
}

/// Lets a `!Send` WASI future cross axum's `Send` bound.
pub(crate) struct AssertSend<F>(pub(crate) F);

// SAFETY: a WASI component instance runs on exactly one thread; no value ever moves to
// another thread, so the `Send` promise can never be exercised. This wrapper stays private
// to the Spin adapter (the database and the timer).
unsafe impl<F> Send for AssertSend<F> {}

impl<F: Future> Future for AssertSend<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the only field.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx)
    }
}

impl Database for SpinDatabase {
    fn query(&self, statement: Statement) -> BoxFuture<'_, Result<Rows, DbError>> {
        Box::pin(AssertSend(self.0.execute(statement)))
    }
    fn batch(&self, statements: Vec<Statement>) -> BoxFuture<'_, Result<Vec<Rows>, DbError>> {
        Box::pin(AssertSend(self.0.batch(statements)))
    }
    fn execute_script(&self, sql: &'static str) -> BoxFuture<'_, Result<(), DbError>> {
        Box::pin(AssertSend(self.0.execute_script(sql)))
    }
}
