//! One sync run: register new documents, then batched round trips until nothing is left to
//! resend (bounded by `max_rounds`).
//!
//! Per round, the request for every target document is built from its current state and
//! acknowledged heads (`sync_core::client::build_request`); the response is applied in
//! memory (`apply_response`), and only then are the received changes and the new acked heads
//! written to the store, in one transaction. A crash anywhere in between leaves the store at
//! the previous acked heads, which only makes the next run send more, never less.

use std::collections::{BTreeMap, HashSet};

use sync_core::{DocStatus, DocumentId, Heads, SyncRequest, SyncResponse, client};

use super::Engine;
use super::http::Registration;
use crate::error::{DocSyncError, SyncError};
use crate::events::{ChangeOrigin, Event, SyncStatus};
use crate::patches::Patches;
use crate::ports::{LocalStore, LocalTokenProvider, LocalTransport, Origin};

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Request rounds sent.
    pub rounds: usize,
    /// Documents whose last round ended with status Ok.
    pub synced: usize,
    /// Documents that did not sync, and why. Their local edits are kept.
    pub errors: BTreeMap<DocumentId, DocSyncError>,
    /// Local changes the server still lacks after the run, over all documents.
    pub pending: usize,
}

impl SyncReport {
    pub fn error_for(&self, id: DocumentId) -> Option<&DocSyncError> {
        self.errors.get(&id)
    }

    /// True when some document failed in a way a later retry may fix.
    pub fn needs_retry(&self) -> bool {
        self.errors.values().any(DocSyncError::is_transient)
    }
}

/// Bookkeeping of one run.
#[derive(Default)]
pub(super) struct Run {
    created: HashSet<DocumentId>,
    exists: HashSet<DocumentId>,
    /// Registration refused: not retried in this run.
    rejected: HashSet<DocumentId>,
    /// Registered once, but the server no longer has them: registered again.
    recreate: HashSet<DocumentId>,
    ok: HashSet<DocumentId>,
    errors: BTreeMap<DocumentId, DocSyncError>,
}

impl Run {
    fn fail(&mut self, id: DocumentId, error: DocSyncError) {
        self.ok.remove(&id);
        self.errors.insert(id, error);
    }

    fn succeed(&mut self, id: DocumentId) {
        self.errors.remove(&id);
        self.ok.insert(id);
    }
}

/// The `Idempotency-Key` registering `id`. The first registration's key depends on the id
/// only, so retries (also after a restart) replay the first answer. Registering again after
/// the server lost the document must not replay that stale answer, so its key also names
/// the document's current heads: retries of one attempt share it, later attempts do not.
fn idempotency_key(id: DocumentId, again_at: Option<Heads>) -> String {
    match again_at {
        None => format!("edgesync-create-{id}"),
        Some(heads) => {
            let head = heads.as_slice().first().map_or_else(|| "empty".to_owned(), |h| h.to_string().chars().take(16).collect());
            format!("edgesync-create-{id}-{}-{head}", heads.len())
        }
    }
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Syncs every local document with the server now: pushes local changes, pulls remote
    /// ones. Runs are serialised; a call made during a run waits and then runs itself.
    pub async fn sync_now(&self) -> Result<SyncReport, SyncError> {
        let _one = self.syncing.lock().await;
        self.set_status(SyncStatus::Syncing);
        let result = self.run().await;
        self.set_status(match &result {
            Ok(_) => SyncStatus::Synced,
            Err(e) if e.is_offline() => SyncStatus::Offline,
            Err(e) => SyncStatus::Error(e.to_string()),
        });
        result
    }

    async fn run(&self) -> Result<SyncReport, SyncError> {
        let mut run = Run::default();
        let mut targets: Vec<DocumentId> = self.lock().docs.keys().copied().collect();
        let mut rounds = 0;
        while !targets.is_empty() && rounds < self.config.max_rounds.max(1) {
            rounds += 1;
            self.register_new(&mut run).await?;
            // Documents the server does not know yet (their registration failed) cannot sync.
            let ready: Vec<DocumentId> = {
                let st = self.lock();
                targets.iter().copied().filter(|id| st.docs.get(id).is_some_and(|d| d.record.registered)).collect()
            };
            let mut next = Vec::new();
            for batch in ready.chunks(self.config.limits.max_docs.max(1)) {
                next.extend(self.isolating_round(batch, &mut run).await?);
            }
            targets = next;
        }
        let mut failed = Vec::new();
        let pending = {
            let mut st = self.lock();
            for (id, d) in st.docs.iter_mut() {
                if let Some(error) = run.errors.get(id) {
                    d.last_error = Some(error.clone());
                    failed.push((*id, error.clone()));
                } else if run.ok.contains(id) {
                    d.last_error = None;
                }
            }
            st.docs.values().map(|d| d.pending()).sum()
        };
        for (doc_id, error) in failed {
            self.listeners.emit(Event::SyncFailed { doc_id, error });
        }
        Ok(SyncReport { rounds, synced: run.ok.len(), errors: run.errors, pending })
    }

    /// Registers locally created documents the server does not know yet.
    async fn register_new(&self, run: &mut Run) -> Result<(), SyncError> {
        let todo: Vec<(DocumentId, String, String)> = {
            let st = self.lock();
            st.docs
                .values()
                .filter(|d| d.record.origin == Origin::Local && !d.record.registered)
                .filter(|d| !st.conflicted.contains(&d.id()) && !run.rejected.contains(&d.id()))
                .map(|d| (d.id(), d.record.title.clone(), idempotency_key(d.id(), run.recreate.contains(&d.id()).then(|| d.heads()))))
                .collect()
        };
        let mut registered = Vec::new();
        for (id, title, key) in todo {
            match self.create_on_server(id, &title, key).await? {
                Registration::New => {
                    run.created.insert(id);
                }
                Registration::Exists => {
                    run.exists.insert(id);
                }
                Registration::Rejected { status, detail } => {
                    run.rejected.insert(id);
                    run.fail(id, DocSyncError::CreateRejected { status, detail });
                    continue;
                }
            }
            registered.push(id);
        }
        if registered.is_empty() {
            return Ok(());
        }
        {
            let mut st = self.lock();
            for id in &registered {
                if let Some(d) = st.docs.get_mut(id) {
                    d.update_record(|r| r.registered = true);
                }
            }
        }
        Ok(self.persist(&registered).await?)
    }

    /// [`Self::round`], except that a request the server cannot process as a whole (a 4xx
    /// other than auth and rate limits, a 500, an answer that does not decode) is split in
    /// halves until the document that causes it is alone: that one fails, the others sync.
    async fn isolating_round(&self, batch: &[DocumentId], run: &mut Run) -> Result<Vec<DocumentId>, SyncError> {
        let mut next = Vec::new();
        let mut todo = vec![batch.to_vec()];
        while let Some(part) = todo.pop() {
            match self.round(&part, run).await {
                Ok(again) => next.extend(again),
                Err(e) if isolates(&e) && part.len() > 1 => {
                    let (left, right) = part.split_at(part.len() / 2);
                    todo.push(right.to_vec());
                    todo.push(left.to_vec());
                }
                Err(e) if isolates(&e) => run.fail(part[0], DocSyncError::RequestFailed(e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(next)
    }

    /// One request/response for `batch`; returns the documents to send again.
    async fn round(&self, batch: &[DocumentId], run: &mut Run) -> Result<Vec<DocumentId>, SyncError> {
        let request = {
            let st = self.lock();
            let docs = batch.iter().filter_map(|id| st.docs.get(id)).map(|d| client::build_request(d.id(), &d.doc, &d.record.acked)).collect();
            SyncRequest { docs }
        };
        if request.docs.is_empty() {
            return Ok(Vec::new());
        }
        let response = self.post_sync(request.encode(), None).await?;
        self.apply_answers(batch, &request, &response, run).await
    }

    /// Applies the answer to `request` (for the documents of `batch`): received changes and
    /// new acked heads in memory, then in the store in one transaction, then `Changed` events.
    /// Returns the documents to send again.
    pub(super) async fn apply_answers(
        &self,
        batch: &[DocumentId],
        request: &SyncRequest,
        response: &SyncResponse,
        run: &mut Run,
    ) -> Result<Vec<DocumentId>, SyncError> {
        let ids_match = response.docs.len() == request.docs.len()
            && response.docs.iter().zip(&request.docs).all(|(res, req)| res.doc_id == req.doc_id);
        if !ids_match {
            return Err(SyncError::BadResponse("the response does not answer exactly the requested documents".into()));
        }

        let mut next = Vec::new();
        let mut changed = Vec::new();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            for res in &response.docs {
                let id = res.doc_id;
                let Some(d) = st.docs.get_mut(&id) else { continue };
                let before = d.doc.get_heads();
                // What the received changes do, for the `Changed` event.
                let mut log = automerge::PatchLog::active();
                match client::apply_response_logged(&mut d.doc, id, &d.record.acked, res, &mut log) {
                    Err(e) => run.fail(id, DocSyncError::BadServerData(e.to_string())),
                    Ok(applied) => {
                        if matches!(applied.status, DocStatus::Ok | DocStatus::Forbidden | DocStatus::TooLarge) {
                            d.update_record(|r| {
                                r.acked = applied.acked.clone();
                                r.registered = true;
                            });
                        }
                        if applied.status == DocStatus::NotFound {
                            st.unreachable.insert(id);
                        }
                        match applied.status {
                            DocStatus::Ok => {
                                st.unreachable.remove(&id);
                                run.succeed(id);
                                if applied.resend {
                                    next.push(id);
                                }
                            }
                            DocStatus::Forbidden => run.fail(id, DocSyncError::Forbidden),
                            DocStatus::NotFound if d.record.origin == Origin::Local => {
                                if run.exists.contains(&id) || st.conflicted.contains(&id) {
                                    // The id is taken by a document we cannot see.
                                    st.conflicted.insert(id);
                                    run.fail(id, DocSyncError::IdTaken);
                                } else if run.created.contains(&id) {
                                    run.fail(id, DocSyncError::NotFound);
                                } else {
                                    // Ours, but the server lost or deleted it: register again, then resync.
                                    d.update_record(|r| r.registered = false);
                                    run.recreate.insert(id);
                                    run.fail(id, DocSyncError::NotFound);
                                    next.push(id);
                                }
                            }
                            DocStatus::NotFound => run.fail(id, DocSyncError::NotFound),
                            DocStatus::InvalidChanges => run.fail(id, DocSyncError::InvalidChanges),
                            // Refused for the document's heads: they are merged now, go again.
                            DocStatus::TooLarge if applied.resend => next.push(id),
                            DocStatus::TooLarge => run.fail(id, DocSyncError::TooLarge),
                            DocStatus::Unavailable => run.fail(id, DocSyncError::Unavailable),
                        }
                    }
                }
                // Whatever applied (even from a response that failed part-way) is kept.
                d.track_since(&before);
                if d.doc.get_heads() != before {
                    changed.push((id, d.heads(), Patches::new(d.doc.make_patches(&mut log))));
                }
            }
        }
        let persisted = self.persist(batch).await;
        for (doc_id, heads, patches) in changed {
            self.listeners.emit(Event::Changed { doc_id, origin: ChangeOrigin::Remote, heads, patches });
        }
        persisted?;
        Ok(next)
    }
}

/// Failures that may be caused by one document of the batch rather than by the network, the
/// token or the server's load.
fn isolates(e: &SyncError) -> bool {
    match e {
        SyncError::Rejected { .. } | SyncError::Decode(_) | SyncError::BadResponse(_) => true,
        SyncError::Unavailable { status, .. } => *status == 500,
        _ => false,
    }
}
