//! Sync: authorise and read every document's heads (one statement for the whole batch), append
//! (sync-core's fast path, checked against the change index) or load and merge, commit all
//! writes of a request in one transaction, and only then answer.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use sync_core::chunk;
use sync_core::server::{self, Access};
use sync_core::{DocRequest, DocResponse, DocStatus, Heads, SyncRequest, SyncResponse};

use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::ports::{Committed, DbError, Statement};
use crate::service::loaded::Shared;
use crate::service::{load, repo};
use crate::state::AppState;
use crate::store::{DocWrite, Store, Tip};

/// What a sync did, for metrics and Server-Timing.
#[derive(Debug, Default, Clone, Copy)]
pub struct SyncStats {
    pub changes_applied: usize,
    pub db_micros: i64,
    pub crdt_micros: i64,
    /// Documents merged by the append fast path (no document load).
    pub fast_path: usize,
    /// ... of which the client was behind the heads (answered from the newest changes).
    pub behind_heads: usize,
    /// Second and third reads of the fast path (the heads moved, or the window was too short).
    pub reread: usize,
    /// Reads of the fast path answered from a document's kept tail instead of the database.
    pub tail_hits: usize,
    /// Documents loaded whole to be merged (the full merge).
    pub loaded: usize,
    /// Pushes refused because they would leave a document with too many heads.
    pub refused_heads: usize,
    /// Documents that could not be loaded or merged (answered `Unavailable`).
    pub failed_docs: usize,
    /// Pushes refused because the document would outgrow its storage quota.
    pub over_quota: usize,
    /// How long a waiting sync waited for a change (`?wait_ms=`).
    pub waited_micros: i64,
}

/// Syncs every document of `request` for `user`.
pub async fn sync(state: &AppState, user: &str, request: &SyncRequest) -> ApiResult<(SyncResponse, SyncStats)> {
    let ids: Vec<String> = request.docs.iter().map(|d| d.doc_id.to_string()).collect();
    let t = state.clock.now_micros();
    let tips = state.store.roles_and_tips(user, &ids).await?;
    let db_micros = state.clock.now_micros() - t;
    let (response, mut stats, _) = sync_with_tips(state, request, &ids, &tips, Pull::Changes, None).await?;
    stats.db_micros += db_micros;
    Ok((response, stats))
}

/// The pushes [`sync_with_tips`] checked on a kept copy and committed, as their check read
/// them (by document id): the caller that advances the copy applies them without parsing their
/// bytes again.
pub type ReadChanges = Vec<(String, Vec<sync_core::automerge::Change>)>;

/// What the caller of [`sync_with_tips`] sends back for each document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// The changes the client lacks (the HTTP API).
    Changes,
    /// Only the status, heads and missing dependencies: the caller answers from a kept copy
    /// with automerge's sync protocol (the automerge-repo route), so a push may be checked on
    /// that copy ([`server::check_kept`]) instead of against rows read back from the store.
    /// The caller announces the documents whose heads moved (`Wakeups::announce`).
    HeadsOnly,
}

/// A document the request creates (the automerge-repo route's first push to a new id): its
/// push is checked against the empty document, and the statements creating it
/// ([`documents::creation`](crate::service::documents::creation)) commit in the transaction that
/// stores its changes, one commit where creating it first took two.
pub struct Creating {
    pub id: String,
    pub statements: Vec<Statement>,
}

/// [`sync`] with the user's roles and the documents' tips already read (by
/// [`Store::roles_and_tips`](crate::store::Store::roles_and_tips), just before) for `ids`, the
/// request's document ids in order: a document missing from `tips` is answered `NotFound`.
/// `creating` (whose tip is the empty document's, owned by the user): created in the same
/// commit; `ApiError::Conflict` if its id turned out to be taken (nothing was written).
pub async fn sync_with_tips(
    state: &AppState,
    request: &SyncRequest,
    ids: &[String],
    tips: &HashMap<String, (Role, Tip)>,
    pull: Pull,
    mut creating: Option<Creating>,
) -> ApiResult<(SyncResponse, SyncStats, ReadChanges)> {
    debug_assert_eq!(ids.len(), request.docs.len(), "one id per document of the request");
    let mut stats = SyncStats::default();

    let mut responses = Vec::with_capacity(request.docs.len());
    let mut writes = Vec::new();
    // One budget for everything the request pushes: inflation and op counts are bounded
    // across its documents, before automerge reads a byte of them.
    let limits = state.config.sync_limits;
    let mut budget = limits.push_budget();
    let mut full_merges = Vec::new();
    // Writes of the fast path, and the heads each was checked against: the tails follow them.
    let mut followed = Vec::new();
    let mut read = Vec::new();
    for (doc, id) in request.docs.iter().zip(ids) {
        // Not a member, or no such document: the same answer.
        let Some((role, tip)) = tips.get(id).cloned() else {
            responses.push(status_only(doc.doc_id, DocStatus::NotFound));
            continue;
        };
        let server_heads = Heads::parse_list(&tip.heads, usize::MAX).map_err(|e| ApiError::Internal(format!("stored heads of {id}: {e}")))?;
        if server::is_up_to_date(&server_heads, doc) {
            responses.push(server::up_to_date_response(doc, &server_heads));
            continue;
        }
        let access = if role.can_write() { Access::ReadWrite } else { Access::ReadOnly };
        let quota = state.config.quotas.bytes_per_document;
        let pushed_bytes: u64 = doc.chunks.iter().map(|c| c.len() as u64).sum();
        if quota > 0 && access == Access::ReadWrite && tip.stored_bytes.max(0) as u64 + pushed_bytes > quota {
            // Refused before anything is read: the document keeps what it has and stays readable.
            stats.over_quota += 1;
            tracing::info!(doc = %id, stored = tip.stored_bytes, pushed_bytes, quota, "push over the document's storage quota");
            responses.push(DocResponse { heads: server_heads, ..status_only(doc.doc_id, DocStatus::TooLarge) });
            continue;
        }
        let t = state.clock.now_micros();
        let mut pushed = match chunk::changes_within(&doc.chunks, limits.max_chunks_per_doc, &mut budget) {
            Ok(changes) => changes,
            Err(why) => {
                stats.crdt_micros += state.clock.now_micros() - t;
                tracing::info!(doc = %id, reason = %why, "rejected pushed changes");
                responses.push(server::rejected(doc, &server_heads, &why));
                continue;
            }
        };
        let new = creating.as_ref().is_some_and(|c| c.id == *id);
        if pull == Pull::HeadsOnly && !pushed.is_empty() {
            match check_kept(state, id, &tip.heads, doc, pushed, access, new).await? {
                Ok((checked, pushed)) => {
                    stats.crdt_micros += state.clock.now_micros() - t;
                    stats.fast_path += 1;
                    if let Some(why) = &checked.rejection {
                        tracing::info!(doc = %id, reason = %why, "rejected pushed changes");
                        if matches!(why, chunk::ChunkError::TooManyHeads { .. }) {
                            stats.refused_heads += 1;
                        }
                    }
                    if !checked.new_changes.is_empty() {
                        writes.push(DocWrite { doc_id: id.clone(), changes: checked.new_changes });
                        read.push((id.clone(), pushed));
                    }
                    responses.push(checked.response);
                    continue;
                }
                Err(unused) => pushed = unused,
            }
        }
        if new && let Some(first) = creating.take() {
            // The paths below read the stored document: it must exist first.
            commit(state, first.statements, true, Box::new(|| ())).await?;
        }
        // A push on the current heads, or from a client a few changes behind, needs no load
        // however long the document's history: only the stored ops it refers to and the
        // newest changes, read from the change index.
        let plan = server::plan(&server_heads, doc, &pushed, access, &limits);
        stats.crdt_micros += state.clock.now_micros() - t;
        let appended = match plan {
            Some(plan) => append(state, id, &server_heads, plan, &mut stats).await?,
            None => None,
        };
        if let Some((appended, checked_on)) = appended {
            stats.fast_path += 1;
            stats.behind_heads += usize::from(!appended.pull.is_empty() || doc.have != server_heads);
            followed.push((writes.len(), checked_on));
            writes.push(DocWrite { doc_id: id.clone(), changes: appended.new_changes });
            responses.push(appended.response);
            continue;
        }
        // The full merge: answered below, once the documents that need it are loaded.
        stats.loaded += 1;
        full_merges.push(FullMerge { at: responses.len(), id, doc, pushed, access, stored_bytes: tip.stored_bytes });
        responses.push(status_only(doc.doc_id, DocStatus::Unavailable));
    }
    // Their states are read a group at a time: one round trip per group, and the bytes held at
    // once stay bounded however many documents the request names.
    let mut rest = full_merges.as_mut_slice();
    while !rest.is_empty() {
        let n = load_group_len(rest);
        let (group, tail) = rest.split_at_mut(n);
        rest = tail;
        let ids: Vec<&str> = group.iter().map(|m| m.id).collect();
        let t = state.clock.now_micros();
        let mut loaded = state.store.load_states(&ids).await?;
        stats.db_micros += state.clock.now_micros() - t;
        for m in group.iter_mut() {
            let Some(stored) = loaded.remove(m.id) else {
                responses[m.at] = status_only(m.doc.doc_id, DocStatus::NotFound);
                continue;
            };
            let pushed = std::mem::take(&mut m.pushed);
            if let Some((response, write)) = full_merge(state, m, stored, pushed, &mut stats).await? {
                responses[m.at] = response;
                writes.extend(write);
            }
        }
    }
    // The response goes out only after every write of the request has committed.
    let t = state.clock.now_micros();
    let mut statements = creating.map(|c| c.statements).unwrap_or_default();
    let creates = !statements.is_empty();
    statements.extend(Store::sync_statements(&writes, state.now())?);
    // The kept tails follow the fast path's writes as they commit, in the database's order.
    let committed = state.tails.follow(followed.into_iter().map(|(i, checked_on)| (&writes[i].doc_id, checked_on, &writes[i].changes[..])));
    commit(state, statements, creates, committed).await?;
    stats.db_micros += state.clock.now_micros() - t;
    // `HeadsOnly`: the caller announces, once its kept copy stands at the new heads (the
    // connections woken then answer from it instead of catching up a copy of their own).
    if !writes.is_empty() && pull == Pull::Changes {
        let written: Vec<String> = writes.iter().map(|w| w.doc_id.clone()).collect();
        state.wakeups.announce(&written);
    }
    stats.changes_applied = writes.iter().map(|w| w.changes.len()).sum();
    Ok((SyncResponse { docs: responses }, stats, read))
}

/// Runs `statements` in one transaction (none: nothing to do), and `committed` once they have
/// committed. `creates`: they create a document, whose id may turn out to be taken.
async fn commit(state: &AppState, statements: Vec<Statement>, creates: bool, committed: Committed) -> ApiResult<()> {
    if statements.is_empty() {
        return Ok(());
    }
    match state.store.db().batch_then(statements, committed).await {
        Ok(_) => Ok(()),
        Err(DbError::Constraint(_)) if creates => Err(ApiError::Conflict("a document with this id already exists")),
        Err(e) => Err(e.into()),
    }
}

/// Checks `pushed` on the copy of `id` kept at exactly `heads` (just read with the user's role),
/// if one is, or on the empty document for a `new` one; `Err` inside hands the changes back
/// when there is none, it moved on meanwhile, or [`server::check_kept`] did not answer.
async fn check_kept(
    state: &AppState,
    id: &str,
    heads: &str,
    doc: &DocRequest,
    pushed: Vec<sync_core::automerge::Change>,
    access: Access,
    new: bool,
) -> ApiResult<Result<(server::Checked, Vec<sync_core::automerge::Change>), Vec<sync_core::automerge::Change>>> {
    let kept = if new { Some(Shared::default()) } else { state.loaded.get(id, heads) };
    let Some(kept) = kept else { return Ok(Err(pushed)) };
    let (doc_id, limits, expected) = (doc.doc_id, state.config.sync_limits, heads.to_owned());
    let added = doc.chunks.iter().map(|c| c.len() as u64).sum();
    let heavy = if new { repo::heavy_bytes(added) } else { repo::heavy(state, id, added) };
    let checked = repo::run(state, &kept.clone(), heavy, move || {
        let mut copy = kept.lock().unwrap_or_else(|e| e.into_inner());
        let at = Heads::new(copy.get_heads());
        if at.to_string() != expected {
            return Err(pushed);
        }
        // The copy is only read; a push whose check makes automerge panic is refused (the full
        // merge would panic on it too, and record the document as damaged for everyone). Not
        // answered there: the usual path decides (its full merge applies and verifies).
        match catch_unwind(AssertUnwindSafe(|| copy.check(doc_id, &pushed, access, &limits))) {
            Ok(Some(checked)) => Ok((checked, pushed)),
            Ok(None) => Err(pushed),
            Err(_) => {
                let why = chunk::ChunkError::InvalidChange { index: 0, reason: "automerge could not check it".into() };
                let response = DocResponse { heads: at, ..status_only(doc_id, DocStatus::InvalidChanges) };
                Ok((server::Checked { new_changes: Vec::new(), response, rejection: Some(why) }, Vec::new()))
            }
        }
    })
    .await;
    checked.ok_or_else(|| ApiError::Internal("the check of a push on a kept copy was lost".into()))
}

/// The fast path's second step: read what `plan` names (from the document's kept tail when it
/// stands at `server_heads`, just read, and settles it; otherwise from the database), check the
/// push (reading again, wider, when the plan says that might answer), and read the stored
/// changes the client lacks. `None` sends the document down the full merge; otherwise the
/// answer and the heads the push was checked against (sorted).
async fn append(
    state: &AppState,
    id: &str,
    server_heads: &Heads,
    mut plan: server::Plan<'_>,
    stats: &mut SyncStats,
) -> ApiResult<Option<(server::Appended, Vec<sync_core::automerge::ChangeHash>)>> {
    if state.tails.wants(id) {
        // A push on the heads reads no window otherwise: this one seeds the document's tail,
        // so that its next pushes (a single writer's, usually) are checked without a read.
        plan.read_window();
    }
    let mut reads = 0;
    let (mut appended, checked_on) = loop {
        let t = state.clock.now_micros();
        let found = match state.tails.answer(id, server_heads, plan.lookup(), plan.pushed()) {
            Some(found) => {
                stats.tail_hits += 1;
                found
            }
            None => {
                let found = state.store.find_ops(id, plan.lookup()).await?;
                state.tails.seed(id, &found);
                found
            }
        };
        reads += 1;
        let t2 = state.clock.now_micros();
        stats.db_micros += t2 - t;
        let appended = plan.finish(&found);
        let again = appended.is_none() && reads < server::MAX_READS && plan.widen(&found);
        stats.crdt_micros += state.clock.now_micros() - t2;
        match appended {
            Some(appended) => break (appended, Heads::new(found.heads).as_slice().to_vec()),
            None if again => stats.reread += 1,
            None => return Ok(None),
        }
    };
    // The window usually carried the changes to send; the others are read by hash.
    let to_read = appended.to_read();
    let read = if to_read.is_empty() {
        Some(Vec::new())
    } else {
        let t = state.clock.now_micros();
        let read = state.store.changes_by_hash(id, &to_read).await?;
        stats.db_micros += state.clock.now_micros() - t;
        read
    };
    Ok(read.and_then(|read| appended.fill(read)).map(|()| (appended, checked_on)))
}

/// A document of the request that the full merge answers: where its answer goes and what it
/// pushed (already read within the request's budget).
struct FullMerge<'r> {
    at: usize,
    id: &'r str,
    doc: &'r DocRequest,
    pushed: Vec<sync_core::automerge::Change>,
    access: Access,
    stored_bytes: i64,
}

/// At most this many stored bytes (the documents' own count), and this many documents, are
/// loaded by one statement; a larger document is loaded alone.
const LOAD_GROUP_BYTES: i64 = 8 << 20;
const LOAD_GROUP_DOCS: usize = 100;

/// How many of `merges` (at least one) the next state read takes.
fn load_group_len(merges: &[FullMerge<'_>]) -> usize {
    let mut bytes = 0i64;
    let mut n = 0;
    for m in merges.iter().take(LOAD_GROUP_DOCS) {
        bytes = bytes.saturating_add(m.stored_bytes.max(0));
        if n > 0 && bytes > LOAD_GROUP_BYTES {
            break;
        }
        n += 1;
    }
    n.max(1)
}

/// Loads `stored` and merges the push into it. `None` when the document cannot be loaded
/// (recorded as damaged; its answer stays `Unavailable`); otherwise the answer and what to
/// write.
async fn full_merge(
    state: &AppState,
    m: &FullMerge<'_>,
    stored: crate::store::DocState,
    pushed: Vec<sync_core::automerge::Change>,
    stats: &mut SyncStats,
) -> ApiResult<Option<(DocResponse, Option<DocWrite>)>> {
    let t = state.clock.now_micros();
    let (request, access, limits) = (m.doc.clone(), m.access, state.config.sync_limits);
    let merged =
        load::with_document(state, m.id, stored, move |loaded, stored| server::merge_loaded(loaded, stored, &request, Ok(pushed), access, &limits)).await;
    // A document that cannot be loaded (or makes automerge panic) fails alone: it is
    // recorded as damaged and the other documents of the batch are answered as usual.
    let merged = match merged {
        Ok(Ok(merged)) => merged,
        Ok(Err(reload)) => {
            load::damaged(state, m.id, &reload.to_string()).await;
            stats.failed_docs += 1;
            return Ok(None);
        }
        Err(ApiError::DocumentUnavailable(_)) => {
            stats.failed_docs += 1;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    stats.crdt_micros += state.clock.now_micros() - t;
    if let Some(why) = &merged.rejection {
        tracing::info!(doc = %m.id, reason = %why, "rejected pushed changes");
        if matches!(why, chunk::ChunkError::TooManyHeads { .. }) {
            stats.refused_heads += 1;
        }
    }
    let write = (!merged.new_changes.is_empty()).then(|| DocWrite { doc_id: m.id.to_owned(), changes: merged.new_changes });
    Ok(Some((merged.response, write)))
}

fn status_only(doc_id: sync_core::DocumentId, status: DocStatus) -> DocResponse {
    DocResponse { doc_id, status, heads: Heads::empty(), missing: Heads::empty(), chunks: Vec::new() }
}
