//! The client: statements, atomic batches and scripts over `POST /v2/pipeline`.

use edge_app::ports::{DbError, Rows, Statement};
use libsql_hrana::proto::{
    Batch, BatchStreamReq, CloseStreamReq, ExecuteStreamReq, PipelineReqBody, PipelineRespBody, SequenceStreamReq, StreamRequest,
    StreamResponse, StreamResult,
};

use crate::convert;
use crate::transport::HttpTransport;

/// A libSQL database reached over HTTP.
pub struct HranaClient<T> {
    pipeline_url: String,
    auth_token: Option<String>,
    transport: T,
}

impl<T: HttpTransport> HranaClient<T> {
    /// `url` is the database URL as libSQL clients take it (`libsql://`, `https://` or
    /// `http://`); `auth_token` may be empty for servers without authentication.
    pub fn new(url: &str, auth_token: &str, transport: T) -> Result<Self, DbError> {
        let base = if let Some(host) = url.strip_prefix("libsql://") {
            format!("https://{host}")
        } else if url.starts_with("https://") || url.starts_with("http://") {
            url.to_owned()
        } else {
            return Err(DbError::Other(format!("unsupported database URL scheme in {url:?}: use libsql://, https:// or http://")));
        };
        let token = (!auth_token.is_empty()).then(|| auth_token.to_owned());
        Ok(Self { pipeline_url: format!("{}/v2/pipeline", base.trim_end_matches('/')), auth_token: token, transport })
    }

    /// Runs one statement.
    pub async fn execute(&self, statement: Statement) -> Result<Rows, DbError> {
        self.retry_busy(|| self.execute_once(&statement)).await
    }

    /// Runs statements atomically: all of them or none.
    pub async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<Rows>, DbError> {
        self.retry_busy(|| self.batch_once(&statements)).await
    }

    /// Runs `call` until the database is not busy, pausing 5 ms, 10 ms, … (about 1.3 s in all):
    /// sqld answers `SQLITE_BUSY` at once when another stream holds the write lock, and many
    /// edges write to one primary (8 concurrent clients of the Spin component got several 503s
    /// a minute without this). A `BEGIN IMMEDIATE` transaction instead made sqld stall whole
    /// seconds under the same load, past the 10 s deadline.
    async fn retry_busy<R, F: std::future::Future<Output = Result<R, DbError>>>(&self, call: impl Fn() -> F) -> Result<R, DbError> {
        let mut delay = std::time::Duration::from_millis(5);
        loop {
            match call().await {
                Err(DbError::Unavailable(msg)) if msg.contains("SQLITE_BUSY") && delay < std::time::Duration::from_secs(1) => {
                    self.transport.pause(delay).await;
                    delay *= 2;
                }
                result => return result,
            }
        }
    }

    async fn execute_once(&self, statement: &Statement) -> Result<Rows, DbError> {
        let want_rows = true;
        let request = StreamRequest::Execute(ExecuteStreamReq { stmt: convert::stmt(statement, want_rows) });
        match self.pipeline(request).await? {
            StreamResponse::Execute(r) => Ok(convert::rows(r.result)),
            other => Err(unexpected(&other)),
        }
    }

    async fn batch_once(&self, statements: &[Statement]) -> Result<Vec<Rows>, DbError> {
        let n = statements.len();
        let batch = Batch::transactional(statements.iter().map(|s| convert::stmt(s, true)));
        let result = match self.pipeline(StreamRequest::Batch(BatchStreamReq { batch })).await? {
            StreamResponse::Batch(r) => r.result,
            other => return Err(unexpected(&other)),
        };
        // Steps: BEGIN, the statements, COMMIT, ROLLBACK. The first error decides.
        if let Some(e) = result.step_errors.into_iter().flatten().next() {
            return Err(convert::error(e));
        }
        let mut results = result.step_results.into_iter().skip(1).take(n);
        (0..n)
            .map(|i| match results.next().flatten() {
                Some(r) => Ok(convert::rows(r)),
                None => Err(DbError::Other(format!("batch step {} has no result", i + 1))),
            })
            .collect()
    }

    /// Runs a script of statements without parameters (migrations).
    pub async fn execute_script(&self, sql: &str) -> Result<(), DbError> {
        let request = StreamRequest::Sequence(SequenceStreamReq { sql: Some(sql.to_owned()), sql_id: None, replication_index: None });
        match self.pipeline(request).await? {
            StreamResponse::Sequence(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `request` and a close in one pipeline; returns the request's response.
    async fn pipeline(&self, request: StreamRequest) -> Result<StreamResponse, DbError> {
        let body = PipelineReqBody { baton: None, requests: vec![request, StreamRequest::Close(CloseStreamReq {})] };
        let body = serde_json::to_vec(&body).map_err(|e| DbError::Other(e.to_string()))?;
        let response = self
            .transport
            .post_json(&self.pipeline_url, self.auth_token.as_deref(), body)
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        match response.status {
            200..=299 => {}
            // The server or something in front of it is down or overloaded: retry later.
            408 | 429 | 500..=599 => return Err(DbError::Unavailable(format!("libSQL server answered HTTP {}", response.status))),
            status => {
                let text = String::from_utf8_lossy(&response.body);
                return Err(DbError::Other(format!("libSQL server answered HTTP {status}: {}", text.chars().take(200).collect::<String>())));
            }
        }
        let parsed: PipelineRespBody =
            serde_json::from_slice(&response.body).map_err(|e| DbError::Other(format!("unreadable pipeline response: {e}")))?;
        match parsed.results.into_iter().next() {
            Some(StreamResult::Ok { response }) => Ok(response),
            Some(StreamResult::Error { error }) => Err(convert::error(error)),
            Some(StreamResult::None) | None => Err(DbError::Other("pipeline response has no result".into())),
        }
    }
}

fn unexpected(response: &StreamResponse) -> DbError {
    DbError::Other(format!("unexpected pipeline response {response:?}"))
}
