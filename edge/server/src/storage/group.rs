//! Group commit on a local file: atomic batches that arrive while another is committing wait
//! for it, then commit together in one transaction, one fsync for all of them.
//!
//! With `PRAGMA synchronous = FULL` every commit waits for an fsync of the write-ahead log;
//! with concurrent writers that fsync, not the statements, was most of a commit (a quarter of
//! the server's CPU with 8 writers on their own documents, docs/benchmarks.md). Each batch keeps its own
//! atomicity inside the shared transaction (a savepoint: a batch whose statement fails is
//! rolled back alone and only its caller sees the error), and no caller is answered before the
//! transaction holding its batch has committed, so an acknowledged write is as durable as
//! before. SQLite has no group commit of its own, and the `libsql` crate none either.
//!
//! A group is first run with no savepoints at all: a savepoint per batch made SQLite copy every
//! page a batch changed that an earlier batch of the group had changed too into its statement
//! journal (with the savepoints' own statements, about 3% of the server's CPU per edit on
//! shared documents, docs/benchmarks.md). Batches rarely fail (the store's writes are
//! idempotent); when one does, that transaction is rolled back and the group runs again, each
//! batch in its savepoint.
//!
//! The group runs in a task of its own: a caller that goes away (its client disconnected)
//! cannot cut short a transaction holding other callers' batches (its own batch, once queued,
//! commits too; the store's writes are idempotent, so its client's retry is harmless). What
//! ends a whole transaction — a failed COMMIT, an I/O error or a full disk in any batch —
//! fails every batch of its group, as it would each of them alone.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};

use edge_app::ports::{Committed, DbError, Rows, Statement};
use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::{Conn, LibsqlDatabase, map_err, run, run_all};

/// Batches one transaction takes at most; the rest form the next group.
const MAX_GROUP: usize = 64;

/// Batches waiting for the next group, whether a task is committing groups, and how many
/// transactions it committed.
#[derive(Default)]
pub(super) struct Queue {
    waiting: Vec<Job>,
    leading: bool,
    committed: u64,
}

struct Job {
    statements: Arc<[Statement]>,
    committed: Hook,
    reply: oneshot::Sender<Result<Vec<Rows>, DbError>>,
}

/// A batch's [`Committed`], shared by its attempts (a BUSY one is queued again) and run once,
/// by the group that commits it, before the next group's transaction.
#[derive(Clone)]
pub(super) struct Hook(Arc<std::sync::Mutex<Option<Committed>>>);

impl Hook {
    pub(super) fn new(committed: Committed) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Some(committed))))
    }

    fn run(&self) {
        let committed = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(committed) = committed {
            committed();
        }
    }
}

impl LibsqlDatabase {
    /// Runs `statements` in one transaction, together with the batches of other callers that
    /// arrived meanwhile.
    pub(super) async fn batch_grouped(&self, statements: Arc<[Statement]>, committed: Hook) -> Result<Vec<Rows>, DbError> {
        let (reply, answer) = oneshot::channel();
        let me = self.me.upgrade().ok_or_else(|| DbError::Unavailable("the database is closing".into()))?;
        let lead = {
            let mut queue = self.group.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push(Job { statements, committed, reply });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            tokio::spawn(async move { me.commit_groups().await });
        }
        answer.await.unwrap_or_else(|_| Err(DbError::Unavailable("the write group ended without an answer".into())))
    }

    /// Commits groups until no batch is waiting. The writer connection is taken first, so a
    /// group holds every batch that arrived while it was busy.
    async fn commit_groups(self: Arc<Self>) {
        loop {
            let mut conn = self.writer.lock().await;
            // Once round the scheduler first: requests about to queue a batch (already woken,
            // their push checked) join this group instead of waiting for an fsync of their own.
            // No timer, so a lone writer waits for nothing. 8 writers on one document: 1.92 →
            // 2.82 batches per transaction (0.68× the fsyncs), 0.9× the server's CPU per round.
            tokio::task::yield_now().await;
            let jobs = {
                let mut queue = self.group.lock().unwrap_or_else(|e| e.into_inner());
                if queue.waiting.is_empty() {
                    queue.leading = false;
                    return;
                }
                let n = queue.waiting.len().min(MAX_GROUP);
                queue.committed += 1;
                queue.waiting.drain(..n).collect::<Vec<_>>()
            };
            metrics::counter!("edgesync_db_write_transactions_total").increment(1);
            metrics::counter!("edgesync_db_write_batches_total").increment(jobs.len() as u64);
            // A panic (libsql's transaction panics when its rollback on drop fails) must not
            // end this task: the batches queued behind the group would wait for ever.
            let results = match AssertUnwindSafe(commit_group(&mut conn, &jobs)).catch_unwind().await {
                Ok(Ok(results)) => results,
                // Nothing of the group committed: every batch gets the error (a BUSY one is
                // retried by its caller).
                Ok(Err(e)) => jobs.iter().map(|_| Err(e.clone())).collect(),
                Err(_) => {
                    tracing::error!("a write group panicked; its batches are answered unavailable");
                    if !conn.conn.is_autocommit() {
                        conn.conn.execute("ROLLBACK", ()).await.ok();
                    }
                    jobs.iter().map(|_| Err(DbError::Unavailable("the write transaction failed".into()))).collect()
                }
            };
            // In the order the batches committed, before the writer goes to the next group (a
            // panic in one is logged; the group's callers are answered all the same).
            for (job, result) in jobs.iter().zip(&results) {
                if result.is_ok() && std::panic::catch_unwind(AssertUnwindSafe(|| job.committed.run())).is_err() {
                    tracing::error!("what follows a commit panicked");
                }
            }
            drop(conn);
            for (job, result) in jobs.into_iter().zip(results) {
                job.reply.send(result).ok();
            }
        }
    }
}

/// The group's results, each job's own; `Err` when the transaction itself failed (nothing
/// committed).
type Results = Vec<Result<Vec<Rows>, DbError>>;

/// One transaction for every job; see the module docs.
async fn commit_group(conn: &mut Conn, jobs: &[Job]) -> Result<Results, DbError> {
    match commit_together(conn, jobs).await? {
        Some(results) => Ok(results),
        None => {
            metrics::counter!("edgesync_db_write_groups_retried_total").increment(1);
            commit_apart(conn, jobs).await
        }
    }
}

/// Every job's statements in one transaction, no savepoints; `None` when a job failed in a
/// group of several (then nothing was committed). A lone job's failure is its own result.
async fn commit_together(conn: &mut Conn, jobs: &[Job]) -> Result<Option<Results>, DbError> {
    let tx = conn.conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.map_err(map_err)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match run_all(&tx, conn.prepared.as_mut(), &job.statements).await {
            Ok(rows) => results.push(Ok(rows)),
            Err(e) => {
                // Fails when SQLite already rolled the transaction back itself (an I/O error,
                // a full disk): then there is nothing left to undo.
                let _ = tx.rollback().await;
                return Ok((jobs.len() == 1).then(|| vec![Err(e)]));
            }
        }
    }
    tx.commit().await.map_err(map_err)?;
    Ok(Some(results))
}

/// One transaction for every job: each job's statements inside a savepoint, rolled back alone
/// when one of them fails.
async fn commit_apart(conn: &mut Conn, jobs: &[Job]) -> Result<Results, DbError> {
    let [savepoint, release, rollback_to] = ["SAVEPOINT batch", "RELEASE batch", "ROLLBACK TO batch"].map(|sql| Statement::new(sql, []));
    let tx = conn.conn.transaction_with_behavior(libsql::TransactionBehavior::Immediate).await.map_err(map_err)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        run(&tx, conn.prepared.as_mut(), &savepoint).await?;
        let outcome = run_all(&tx, conn.prepared.as_mut(), &job.statements).await;
        if outcome.is_err() {
            // Undoes this batch alone; if SQLite already rolled the whole transaction back
            // (an I/O error, a full disk), this fails and so does the group.
            run(&tx, conn.prepared.as_mut(), &rollback_to).await?;
        }
        run(&tx, conn.prepared.as_mut(), &release).await?;
        results.push(outcome);
    }
    tx.commit().await.map_err(map_err)?;
    Ok(results)
}

/// The weak self-reference [`LibsqlDatabase::batch_grouped`] spawns its group task with.
pub(super) type SelfRef = Weak<LibsqlDatabase>;

#[cfg(test)]
mod tests {
    use edge_app::ports::{Database, Value};

    use super::*;

    fn insert(key: &str) -> Statement {
        Statement::new("INSERT INTO t (k) VALUES (?1)", [Value::Text(key.into())])
    }

    async fn keys(db: &LibsqlDatabase) -> Vec<Value> {
        db.query(Statement::new("SELECT k FROM t ORDER BY k", [])).await.unwrap().rows.into_iter().flatten().collect()
    }

    /// Sixteen batches arrive while the writer is busy: they commit in one transaction, each
    /// answered with its own rows; the one whose second statement breaks a constraint is
    /// rolled back whole (its first row is not stored) and only its caller sees the error.
    #[tokio::test]
    async fn batches_that_wait_commit_together_and_a_failing_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = LibsqlDatabase::open_local(&dir.path().join("db")).await.unwrap();
        db.batch(vec![Statement::new("CREATE TABLE t (k TEXT PRIMARY KEY)", []), insert("taken")]).await.unwrap();
        let committed = db.group.lock().unwrap().committed;

        let busy = db.writer.lock().await;
        let mut callers = Vec::new();
        for i in 0..16 {
            let db = db.clone();
            let second = if i == 5 { "taken".to_owned() } else { format!("b{i:02}") };
            callers.push(tokio::spawn(async move { db.batch(vec![insert(&format!("a{i:02}")), insert(&second)]).await }));
        }
        while db.group.lock().unwrap().waiting.len() < 16 {
            tokio::task::yield_now().await;
        }
        drop(busy);
        for (i, caller) in callers.into_iter().enumerate() {
            match caller.await.unwrap() {
                Err(DbError::Constraint(_)) if i == 5 => {}
                Ok(rows) if i != 5 => assert_eq!(rows.iter().map(|r| r.affected).collect::<Vec<_>>(), [1, 1], "batch {i}"),
                other => panic!("batch {i}: {other:?}"),
            }
        }
        assert_eq!(db.group.lock().unwrap().committed, committed + 1, "one transaction for the sixteen");
        let mut want: Vec<String> = (0..16).filter(|&i| i != 5).flat_map(|i| [format!("a{i:02}"), format!("b{i:02}")]).collect();
        want.push("taken".into());
        want.sort();
        assert_eq!(keys(&db).await, want.into_iter().map(Value::Text).collect::<Vec<_>>());
    }

    /// A batch alone in its group that fails gets its own error, nothing of it is stored, and
    /// the writer is left ready for the next one.
    #[tokio::test]
    async fn a_lone_batch_that_fails_is_rolled_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = LibsqlDatabase::open_local(&dir.path().join("db")).await.unwrap();
        db.batch(vec![Statement::new("CREATE TABLE t (k TEXT PRIMARY KEY)", []), insert("taken")]).await.unwrap();
        let failed = db.batch(vec![insert("first"), insert("taken")]).await;
        assert!(matches!(failed, Err(DbError::Constraint(_))), "{failed:?}");
        db.batch(vec![insert("next")]).await.unwrap();
        assert_eq!(keys(&db).await, [Value::Text("next".into()), Value::Text("taken".into())]);
    }

    /// What follows a commit runs once for each batch that committed (not for one rolled back),
    /// before its caller is answered, whichever attempt committed it.
    #[tokio::test]
    async fn what_follows_a_commit_runs_once_for_each_committed_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = LibsqlDatabase::open_local(&dir.path().join("db")).await.unwrap();
        db.batch(vec![Statement::new("CREATE TABLE t (k TEXT PRIMARY KEY)", []), insert("taken")]).await.unwrap();
        let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
        let busy = db.writer.lock().await;
        let mut callers = Vec::new();
        for i in 0..8 {
            let (db, ran) = (db.clone(), ran.clone());
            let key = if i == 3 { "taken".to_owned() } else { format!("k{i}") };
            callers.push(tokio::spawn(async move {
                let seen = ran.clone();
                let result = db.batch_then(vec![insert(&key)], Box::new(move || seen.lock().unwrap().push(i))).await;
                (result.is_ok(), ran.lock().unwrap().contains(&i))
            }));
        }
        while db.group.lock().unwrap().waiting.len() < 8 {
            tokio::task::yield_now().await;
        }
        drop(busy);
        for (i, caller) in callers.into_iter().enumerate() {
            assert_eq!(caller.await.unwrap(), (i != 3, i != 3), "batch {i}: committed, and followed before its answer");
        }
        let mut ran = ran.lock().unwrap().clone();
        ran.sort();
        assert_eq!(ran, [0, 1, 2, 4, 5, 6, 7]);
    }

    /// A caller that goes away while its group waits does not take the group with it: the
    /// other batches commit and are answered.
    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_its_group_committing() {
        let dir = tempfile::tempdir().unwrap();
        let db = LibsqlDatabase::open_local(&dir.path().join("db")).await.unwrap();
        db.batch(vec![Statement::new("CREATE TABLE t (k TEXT PRIMARY KEY)", [])]).await.unwrap();
        let busy = db.writer.lock().await;
        let first = tokio::spawn({
            let db = db.clone();
            async move { db.batch(vec![insert("first")]).await }
        });
        while db.group.lock().unwrap().waiting.is_empty() {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let db = db.clone();
            async move { db.batch(vec![insert("second")]).await }
        });
        while db.group.lock().unwrap().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        first.abort();
        drop(busy);
        second.await.unwrap().unwrap();
        // The aborted caller's batch committed too (it was queued): it was never answered, so
        // its client retries, and the store's writes are idempotent.
        assert_eq!(keys(&db).await, [Value::Text("first".into()), Value::Text("second".into())]);
    }
}
