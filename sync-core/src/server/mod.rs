//! The edge's side of a sync round: a pure function from stored state and a request to the
//! changes to persist and the response.
//!
//! The edge is stateless: it loads the document's stored state, calls [`merge`], commits
//! [`Merged::new_changes`] in one transaction and only then sends [`Merged::response`].
//! A push that extends the server's heads, or comes from a client a few changes behind, skips
//! the load: see [`append`].

use std::collections::{HashMap, HashSet};

use automerge::{Automerge, Change, ChangeHash, ReadDoc};

use crate::chunk::{self, ChunkError};
use crate::document::{self, LoadError, StoredDoc};
use crate::id::Heads;
use crate::limits::Limits;
use crate::wire::{DocRequest, DocResponse, DocStatus};

mod append;
mod causal;
pub mod graph;
mod history;
pub mod index;
mod kept;
pub(crate) mod recent;
mod tail;
mod validate;
pub use append::{Appended, MAX_READS, Plan, append, plan};
pub use graph::GraphRow;
pub use index::{Found, Lookup};
pub use history::AUTHORS_BYTES_PER_CHANGE;
pub use kept::{Checked, KeptDoc, check_kept};
pub use recent::RECENT_MEMORY;
pub use tail::{TAIL_ROWS, Tail};
pub use validate::{Known, check_changes, check_changes_strict};

/// A document request's pushed chunks, read once ([`chunk::changes_within`]) within the
/// request's budget.
pub type Pushed = Result<Vec<Change>, ChunkError>;

/// What the caller may do to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// May pull; pushing anything the server lacks yields [`DocStatus::Forbidden`].
    ReadOnly,
}

/// A change the edge must persist before answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub hash: ChangeHash,
    pub deps: Vec<ChangeHash>,
    pub bytes: Vec<u8>,
    /// Its author, its seq and the op ids it holds (`start_op..=last_op`; `last_op` is `start_op - 1`
    /// for an empty change): what the store indexes it by for the fast path's lookups.
    pub actor: automerge::ActorId,
    pub seq: u64,
    pub start_op: u64,
    pub last_op: u64,
}

impl NewChange {
    pub fn of(change: &Change) -> Self {
        NewChange {
            hash: change.hash(),
            deps: change.deps().to_vec(),
            bytes: change.raw_bytes().to_vec(),
            actor: change.actor_id().clone(),
            seq: change.seq(),
            start_op: change.start_op().get(),
            last_op: change.max_op(),
        }
    }
}

/// The outcome of [`merge`].
#[derive(Debug)]
pub struct Merged {
    /// Changes the server did not have, in causal order. Empty when nothing is to be written.
    pub new_changes: Vec<NewChange>,
    /// The answer to send once `new_changes` are durably committed.
    pub response: DocResponse,
    /// The merged document, for callers that go on to use it (e.g. metadata, compaction).
    pub doc: Automerge,
    /// Why pushed chunks were rejected, when `response.status` is `InvalidChanges`/`TooLarge`.
    pub rejection: Option<ChunkError>,
}

/// True when a request can be answered from the server's heads alone: it pushes nothing and
/// the client already has every server head, so there is nothing to send either way.
pub fn is_up_to_date(server_heads: &Heads, request: &DocRequest) -> bool {
    request.chunks.is_empty()
        && server_heads.as_slice().iter().all(|h| request.heads.contains(h) || request.have.contains(h))
}

/// The answer for an up-to-date request (see [`is_up_to_date`]), built without loading the document.
pub fn up_to_date_response(request: &DocRequest, server_heads: &Heads) -> DocResponse {
    DocResponse {
        doc_id: request.doc_id,
        status: DocStatus::Ok,
        heads: server_heads.clone(),
        missing: Heads::empty(),
        chunks: Vec::new(),
    }
}

/// Merges a client's request into a stored document.
///
/// Idempotent: changes the server already has are ignored, so replaying a request writes
/// nothing. Changes whose dependencies the server lacks are not applied and not persisted;
/// their missing dependencies are reported so the client can resend from the server's heads.
pub fn merge(stored: StoredDoc<'_>, request: &DocRequest, access: Access, limits: &Limits) -> Result<Merged, LoadError> {
    merge_pushed(stored, request, chunk::changes_from_chunks(&request.chunks, limits), access, limits)
}

/// [`merge`] with the request's chunks already read.
pub fn merge_pushed(stored: StoredDoc<'_>, request: &DocRequest, pushed: Pushed, access: Access, limits: &Limits) -> Result<Merged, LoadError> {
    merge_loaded(document::load(stored)?, stored, request, pushed, access, limits)
}

/// [`merge_pushed`] with `stored` already loaded into `doc`. Fails only when `stored` does not
/// load again after automerge refused a pushed change (the loaded copy is then reloaded).
pub fn merge_loaded(mut doc: Automerge, stored: StoredDoc<'_>, request: &DocRequest, pushed: Pushed, access: Access, limits: &Limits) -> Result<Merged, LoadError> {
    let incoming = match pushed {
        Ok(changes) => changes,
        Err(e) => {
            let response = rejected(request, &chunk::heads_of(&doc), &e);
            return Ok(Merged { new_changes: Vec::new(), response, doc, rejection: Some(e) });
        }
    };
    let before = chunk::heads_of(&doc);
    let fresh = unseen(&doc, incoming);
    let mut status = DocStatus::Ok;
    let mut new_changes = Vec::new();
    let mut missing = Heads::empty();
    if !fresh.is_empty() && access == Access::ReadOnly {
        status = DocStatus::Forbidden;
    } else if !fresh.is_empty() {
        let (ready, absent) = applicable(&doc, fresh);
        let after = heads_after(&before, &ready);
        if over_heads_limit(&before, &after, limits.max_doc_heads) {
            // Refused, but the pull goes on: with the server's changes the client can merge
            // every head into one change and push that (docs/protocol.md, §5).
            status = DocStatus::TooLarge;
            let why = ChunkError::TooManyHeads { heads: after.len(), limit: limits.max_doc_heads };
            let response = pull_response(&doc, stored, request, status, Heads::empty(), false);
            return Ok(Merged { new_changes: Vec::new(), response, doc, rejection: Some(why) });
        }
        if let Err((index, reason)) = check_changes(Known::Document(&doc), &ready) {
            let e = ChunkError::InvalidChange { index, reason };
            return Ok(Merged { new_changes: Vec::new(), response: rejected(request, &before, &e), doc, rejection: Some(e) });
        }
        missing = absent;
        new_changes = ready.iter().map(NewChange::of).collect();
        if let Some(reason) = apply_verified(&mut doc, ready, &before, &new_changes) {
            // The loaded copy may be half-updated: reload it so the answer is accurate.
            let e = ChunkError::InvalidChange { index: 0, reason };
            let doc = document::load(stored)?;
            return Ok(Merged { new_changes: Vec::new(), response: rejected(request, &before, &e), doc, rejection: Some(e) });
        }
    }

    let stored_only = new_changes.is_empty();
    let response = pull_response(&doc, stored, request, status, missing, stored_only);
    Ok(Merged { new_changes, response, doc, rejection: None })
}

/// How many times automerge panicked on a pushed change that passed [`check_changes`], in this
/// process. Each one is a gap in the checks: where panics abort (the wasm edges) it costs the
/// instance and every request in it. The test suites and fuzz targets require it to stay 0.
pub fn automerge_panics() -> usize {
    AUTOMERGE_PANICS.load(std::sync::atomic::Ordering::Relaxed)
}

static AUTOMERGE_PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_panic() {
    AUTOMERGE_PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Applies `ready` to `doc` and checks that automerge serialises every one of them back to the
/// pushed bytes; `Some(why)` when it cannot. A change that passed [`check_changes`] but that
/// automerge places wrongly shows here as a different or missing change. Should automerge
/// panic on one, where panics unwind (native) that is still an invalid push rather than a
/// failed request, and it is counted ([`automerge_panics`]).
fn apply_verified(doc: &mut Automerge, ready: Vec<Change>, before: &Heads, pushed: &[NewChange]) -> Option<String> {
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.apply_changes(ready)));
    match applied {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Some(e.to_string()),
        Err(_) => {
            count_panic();
            return Some("automerge cannot apply it".to_owned());
        }
    }
    // One pass over the document for all of them: the changes not below the old heads are
    // exactly the new ones.
    let reencoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let by_hash: HashMap<ChangeHash, &[u8]> = pushed.iter().map(|c| (c.hash, c.bytes.as_slice())).collect();
        let changes = doc.get_changes(before.as_slice());
        changes.len() == by_hash.len() && changes.iter().all(|c| by_hash.get(&c.hash()) == Some(&c.raw_bytes()))
    }));
    match reencoded {
        Ok(true) => None,
        Ok(false) => Some("automerge does not store it as pushed".to_owned()),
        Err(_) => {
            count_panic();
            Some("automerge cannot store it".to_owned())
        }
    }
}

/// The answer carrying everything the client lacks of `doc`: the chunks not covered by
/// `have ∪ heads`, and the server's heads.
fn pull_response(doc: &Automerge, stored: StoredDoc<'_>, request: &DocRequest, status: DocStatus, missing: Heads, stored_only: bool) -> DocResponse {
    let mut known: Vec<ChangeHash> = request.heads.as_slice().to_vec();
    known.extend_from_slice(request.have.as_slice());
    let base = chunk::present_in(doc, &Heads::new(known).into_vec());
    let fresh_client = request.heads.is_empty() && request.have.is_empty() && stored_only;
    let chunks = if fresh_client {
        // A fresh client gets the stored bytes as they are, or, when the change rows outweigh
        // the snapshot (an uncompacted document), the loaded document saved as one chunk if that
        // is smaller: a saved document is a fraction of many change rows (10,000 one-letter
        // edits: 1.05 MB of rows, 42 KB saved), though larger than one or two. A snapshot with a
        // few rows after it is sent as it is, without paying a save of the whole document.
        let verbatim = || stored.snapshot.into_iter().map(<[u8]>::to_vec).chain(stored.changes.iter().cloned()).collect();
        let snapshot_bytes = stored.snapshot.map_or(0, <[u8]>::len);
        let row_bytes: usize = stored.changes.iter().map(Vec::len).sum();
        if row_bytes <= snapshot_bytes {
            verbatim()
        } else {
            let saved = doc.save();
            if saved.len() < snapshot_bytes + row_bytes { vec![saved] } else { verbatim() }
        }
    } else {
        chunk::chunks_since(doc, &base)
    };
    DocResponse { doc_id: request.doc_id, status, heads: chunk::heads_of(doc), missing, chunks }
}

/// The heads of a document with heads `before` after applying `ready` (new changes whose
/// dependencies are all present): every old head and new change except those a new change
/// depends on.
pub fn heads_after<'c>(before: &Heads, ready: impl IntoIterator<Item = &'c Change> + Clone) -> Heads {
    let covered: HashSet<ChangeHash> = ready.clone().into_iter().flat_map(|c| c.deps().iter().copied()).collect();
    let old = before.as_slice().iter().filter(|h| !covered.contains(h)).copied();
    Heads::new(old.chain(ready.into_iter().map(Change::hash).filter(|h| !covered.contains(h))).collect())
}

/// Whether a push leaving a document with heads `before` at `after` goes over `max_heads`
/// (one that does not add heads never does: that is how a client merges them).
fn over_heads_limit(before: &Heads, after: &Heads, max_heads: usize) -> bool {
    after.len() > max_heads && after.len() > before.len()
}

/// The answer to a push whose chunks were refused: `TooLarge` when they are over a limit,
/// `InvalidChanges` otherwise. Nothing was stored; `heads` are the server's, nothing to pull.
pub fn rejected(request: &DocRequest, server_heads: &Heads, why: &ChunkError) -> DocResponse {
    let status = if why.is_too_large() { DocStatus::TooLarge } else { DocStatus::InvalidChanges };
    DocResponse { doc_id: request.doc_id, status, heads: server_heads.clone(), missing: Heads::empty(), chunks: Vec::new() }
}

/// Drops changes the document already has, and duplicates within the request.
fn unseen(doc: &Automerge, incoming: Vec<Change>) -> Vec<Change> {
    let hashes: Vec<ChangeHash> = incoming.iter().map(Change::hash).collect();
    // The server document's queue is empty (only applicable changes are ever applied), so
    // `get_missing_deps` returns exactly the hashes it does not have.
    let absent: HashSet<ChangeHash> = doc.get_missing_deps(&hashes).into_iter().collect();
    let mut seen = HashSet::new();
    incoming.into_iter().filter(|c| absent.contains(&c.hash()) && seen.insert(c.hash())).collect()
}

/// Splits fresh changes into those whose dependencies are all available (returned in causal
/// order) and the dependencies that are missing. Kahn's algorithm: linear in the changes.
fn applicable(doc: &Automerge, fresh: Vec<Change>) -> (Vec<Change>, Heads) {
    let index: HashMap<ChangeHash, usize> = fresh.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let external: Vec<ChangeHash> =
        fresh.iter().flat_map(|c| c.deps().iter().copied()).filter(|d| !index.contains_key(d)).collect();
    let absent: HashSet<ChangeHash> = doc.get_missing_deps(&external).into_iter().collect();

    let mut waiting_on = vec![0usize; fresh.len()];
    let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut blocked = vec![false; fresh.len()];
    for (i, c) in fresh.iter().enumerate() {
        for d in c.deps() {
            match index.get(d) {
                Some(&j) => {
                    waiting_on[i] += 1;
                    dependents.entry(j).or_default().push(i);
                }
                None if absent.contains(d) => blocked[i] = true,
                None => {}
            }
        }
    }
    let mut queue: Vec<usize> = (0..fresh.len()).filter(|&i| waiting_on[i] == 0 && !blocked[i]).collect();
    let mut order = Vec::with_capacity(fresh.len());
    while let Some(i) = queue.pop() {
        order.push(i);
        for &k in dependents.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            waiting_on[k] -= 1;
            if waiting_on[k] == 0 && !blocked[k] {
                queue.push(k);
            }
        }
    }
    let mut slots: Vec<Option<Change>> = fresh.into_iter().map(Some).collect();
    let ready = order.into_iter().filter_map(|i| slots[i].take()).collect();
    let missing = if slots.iter().any(Option::is_some) { Heads::new(absent.into_iter().collect()) } else { Heads::empty() };
    (ready, missing)
}
