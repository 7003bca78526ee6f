//! A push checked against a document the caller keeps loaded, without changing it.
//!
//! A caller that keeps a document loaded between requests (the automerge-repo route keeps one
//! per stored heads, shared by every connection that answers from it) can check a push against
//! it in memory instead of reading the stored ops and the window of newest changes back from
//! the store ([`super::append`]). The copy is shared and must only ever hold committed changes,
//! so the push is not applied here: the caller commits [`Checked::new_changes`] and then
//! applies them to its copy.
//!
//! Like the append fast path, then, it stores what automerge has not applied yet, so it accepts
//! only what the fast path would: the full merge's rules against the same document (what is
//! new, what can be applied — the rest is reported missing —, the heads limit), and every
//! pushed op checked as the fast path checks it ([`super::check_changes_strict`]). A push those
//! checks refuse is not answered here: the full merge, which applies and verifies, decides.
//! The answer holds the heads and status the full merge would send, but no changes to pull: a
//! caller that needs those takes another path.

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};

use automerge::{Automerge, AutomergeError, Change, ChangeHash, ReadDoc};

use super::history::{Authors, Beside};
use super::recent::Recent;
use super::validate::check_changes_strict_on;
use super::{Access, NewChange, applicable, heads_after, over_heads_limit, unseen};
use crate::chunk::{self, ChunkError};
use crate::id::{DocumentId, Heads};
use crate::limits::Limits;
use crate::wire::{DocResponse, DocStatus};

/// The outcome of [`check_kept`].
#[derive(Debug)]
pub struct Checked {
    /// Changes the document lacks, in causal order, to commit and then apply to the copy.
    pub new_changes: Vec<NewChange>,
    /// The full merge's answer without its pulled changes.
    pub response: DocResponse,
    /// Why the push was refused, when `response.status` is `TooLarge`.
    pub rejection: Option<ChunkError>,
}

/// Checks a push to document `doc_id` (its changes, already read) against `doc`, the stored
/// document kept loaded; see the module docs. `None`: the checks refused a pushed change, which
/// the full merge decides. Its cost grows with the document's history: it reads every change's
/// metadata (the authors' last seqs, which automerge offers no other way), 30 µs for 100
/// changes and 1.4 ms for 10,000 (`cargo bench -p edgesync-sync-core --bench kept`); a caller
/// that keeps the document checks on a [`KeptDoc`], which reads that once.
pub fn check_kept(doc: &Automerge, doc_id: DocumentId, pushed: &[Change], access: Access, limits: &Limits) -> Option<Checked> {
    check_with(doc, Beside::default(), doc_id, pushed, access, limits)
}

/// New changes applied one at a time, in the order given, so that the log knows their order.
const ONE_BY_ONE: usize = 8;

/// A document kept loaded between requests, with what [`check_kept`] reads of its history
/// every time ([`Authors`]): read at the first check and then kept at the document's heads as
/// [`KeptDoc::apply`] applies changes, so a push is checked without a pass over every change
/// (13 µs per push whatever the history, in the same benchmark). The one pass, at the first
/// check of a copy just loaded, costs less than the load did.
/// Reads go through `Deref`; a change to the document by any other means (through `DerefMut`)
/// only makes the next check read its history again.
///
/// It also logs the changes [`KeptDoc::apply`] applies last ([`Recent`]), for
/// [`crate::automerge_repo::generate_kept_sync_message`] and for its checks (the stored ops a
/// push refers to are mostly in them: parsed from the log, they cost no walk of the
/// document); a change to the document through
/// `DerefMut` ends that log for the copy's life (automerge may have queued a change then,
/// which the log cannot tell).
pub struct KeptDoc {
    doc: Automerge,
    authors: Option<Authors>,
    recent: Option<Recent>,
}

impl Default for KeptDoc {
    fn default() -> Self {
        KeptDoc::new(Automerge::new())
    }
}

impl KeptDoc {
    pub fn new(doc: Automerge) -> Self {
        // No log for a document holding changes automerge queued (their dependencies missing):
        // the messages it answers would depend on them.
        let recent = doc.get_missing_deps(&[]).is_empty().then(|| Recent::new(doc.get_heads()));
        KeptDoc { doc, authors: None, recent }
    }

    /// The log of the changes applied last, if it describes the document at `heads` (its
    /// heads now).
    pub(crate) fn recent_at(&self, heads: &[ChangeHash]) -> Option<&Recent> {
        self.recent.as_ref().filter(|recent| recent.heads() == heads)
    }

    /// Applies `chunks` (stored changes, or the chunks they were pushed in, already checked by
    /// the store) in order, as `Automerge::load_incremental` would. A chunk holding a whole
    /// document (how an automerge-repo client sends a document it made offline) is applied as
    /// its changes.
    pub fn apply(&mut self, chunks: &[Vec<u8>]) -> Result<(), AutomergeError> {
        let Some(parsed) = expand(chunks) else {
            // Chunks automerge loads but that are neither changes nor a document: the history
            // is read again at the next check, and the log ends.
            self.authors = None;
            self.recent = None;
            return chunks.iter().try_for_each(|bytes| self.doc.load_incremental(bytes).map(drop));
        };
        self.apply_changes(parsed)
    }

    /// [`KeptDoc::apply`] for changes already read (those a push's check read): without
    /// parsing their bytes again.
    pub fn apply_changes(&mut self, parsed: Vec<Change>) -> Result<(), AutomergeError> {
        let mut authors = self.authors.take().filter(|authors| authors.is_at(&self.doc));
        let new: HashSet<ChangeHash> = parsed.iter().map(Change::hash).filter(|hash| !chunk::has_change(&self.doc, hash)).collect();
        if let Some(authors) = authors.as_mut() {
            authors.extend(parsed.iter().filter(|change| new.contains(&change.hash())));
        }
        // The new changes in the order given, each once.
        let (mut fresh, mut pending): (Vec<&Change>, _) = (Vec::with_capacity(new.len()), new.clone());
        for change in &parsed {
            if pending.remove(&change.hash()) {
                fresh.push(change);
            }
        }
        // automerge applies a batch in a topological order of its own, which the log cannot
        // tell: a few changes, each after its dependencies, are applied one at a time, in the
        // order given, and logged; otherwise the log starts again after the batch.
        let in_order = |i: usize, change: &Change| fresh[i..].iter().all(|later| !change.deps().contains(&later.hash()));
        let one_by_one = fresh.len() <= ONE_BY_ONE && fresh.iter().enumerate().all(|(i, change)| in_order(i, change));
        let mut recent = self.recent.take().filter(|recent| recent.heads() == self.doc.get_heads());
        match recent.as_mut() {
            Some(recent) if one_by_one => {
                for change in fresh {
                    self.doc.apply_changes([change.clone()])?;
                    recent.push(change.hash(), change.deps(), change.raw_bytes());
                }
            }
            _ => {
                self.doc.apply_changes(parsed)?;
                recent = recent.map(|_| Recent::new(self.doc.get_heads()));
            }
        }
        // automerge queues a change whose dependencies it lacks instead of applying it.
        let applied = new.iter().all(|hash| chunk::has_change(&self.doc, hash));
        let heads = self.doc.get_heads();
        self.authors = authors.filter(|_| applied).map(|authors| authors.at(heads.clone()));
        // Something may stay queued, for good: no log then.
        self.recent = recent.filter(|recent| applied && recent.heads() == heads.as_slice());
        Ok(())
    }

    /// [`check_kept`] on this document.
    pub fn check(&mut self, doc_id: DocumentId, pushed: &[Change], access: Access, limits: &Limits) -> Option<Checked> {
        if !self.authors.as_ref().is_some_and(|authors| authors.is_at(&self.doc)) {
            self.authors = Some(Authors::read(&self.doc));
        }
        check_with(&self.doc, Beside { authors: self.authors.as_ref(), recent: self.recent.as_ref() }, doc_id, pushed, access, limits)
    }
}

/// `chunks` as changes: a change chunk as it is, a document chunk as the changes it holds.
fn expand(chunks: &[Vec<u8>]) -> Option<Vec<Change>> {
    let mut parsed = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        if let Ok(change) = Change::try_from(chunk.as_slice()) {
            parsed.push(change);
        } else if chunk.get(chunk::CHUNK_TYPE_OFFSET) == Some(&chunk::CHUNK_TYPE_DOCUMENT) {
            parsed.extend(chunk::load_document(0, chunk).ok()?);
        } else {
            return None;
        }
    }
    Some(parsed)
}

impl Deref for KeptDoc {
    type Target = Automerge;

    fn deref(&self) -> &Automerge {
        &self.doc
    }
}

impl DerefMut for KeptDoc {
    fn deref_mut(&mut self) -> &mut Automerge {
        self.recent = None;
        &mut self.doc
    }
}

fn check_with(doc: &Automerge, beside: Beside<'_>, doc_id: DocumentId, pushed: &[Change], access: Access, limits: &Limits) -> Option<Checked> {
    let before = chunk::heads_of(doc);
    let answer = |status, heads, missing| DocResponse { doc_id, status, heads, missing, chunks: Vec::new() };
    let fresh = unseen(doc, pushed.to_vec());
    if fresh.is_empty() {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Ok, before, Heads::empty()), rejection: None });
    }
    if access == Access::ReadOnly {
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::Forbidden, before, Heads::empty()), rejection: None });
    }
    let (ready, missing) = applicable(doc, fresh);
    let heads = heads_after(&before, &ready);
    if over_heads_limit(&before, &heads, limits.max_doc_heads) {
        let why = ChunkError::TooManyHeads { heads: heads.len(), limit: limits.max_doc_heads };
        return Some(Checked { new_changes: Vec::new(), response: answer(DocStatus::TooLarge, before, Heads::empty()), rejection: Some(why) });
    }
    check_changes_strict_on(doc, beside, &ready).ok()?;
    let new_changes = ready.iter().map(NewChange::of).collect();
    Some(Checked { new_changes, response: answer(DocStatus::Ok, heads, missing), rejection: None })
}

#[cfg(test)]
mod tests {
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, ROOT};

    use super::*;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).unwrap();
        tx.commit();
    }

    fn bytes_after(doc: &Automerge, heads: &[ChangeHash]) -> Vec<Vec<u8>> {
        doc.get_changes(heads).iter().map(|c| c.raw_bytes().to_vec()).collect()
    }

    #[test]
    fn the_authors_kept_beside_a_copy_are_those_a_fresh_read_finds_after_every_apply() {
        let mut a = Automerge::new().with_actor(ActorId::from(b"a".to_vec()));
        edit(&mut a, "x");
        let mut kept = KeptDoc::new(a.clone());
        assert!(kept.check(DocumentId::from_bytes([1; 16]), &[], Access::ReadWrite, &Limits::DEFAULT).is_some());
        assert!(kept.authors.is_some(), "read at the first check");
        let mut b = a.fork().with_actor(ActorId::from(b"b".to_vec()));
        let before = a.get_heads();
        // Concurrent authors, an empty change, several changes in one apply.
        edit(&mut a, "y");
        edit(&mut b, "z");
        b.empty_commit(CommitOptions::default());
        a.merge(&mut b).unwrap();
        edit(&mut a, "w");
        kept.apply(&bytes_after(&a, &before)).unwrap();
        assert_eq!(kept.get_heads(), a.get_heads());
        assert_eq!(kept.authors, Some(Authors::read(&kept)), "extended as read");
        // A change the copy holds already changes nothing.
        let again = bytes_after(&a, &before);
        kept.apply(&again[..1]).unwrap();
        assert_eq!(kept.authors, Some(Authors::read(&kept)));
        // A change whose dependency the copy lacks is queued by automerge: the authors are
        // dropped, and read again at the next check.
        let heads = a.get_heads();
        edit(&mut a, "v");
        edit(&mut a, "u");
        kept.apply(&bytes_after(&a, &heads)[1..]).unwrap();
        assert!(kept.authors.is_none());
    }

    #[test]
    fn a_document_chunk_is_applied_as_its_changes_and_logged() {
        let mut a = Automerge::new().with_actor(ActorId::from(b"a".to_vec()));
        edit(&mut a, "x");
        edit(&mut a, "y");
        let mut kept = KeptDoc::default();
        kept.apply(&[a.save()]).unwrap();
        assert_eq!(kept.get_heads(), a.get_heads());
        let recent = kept.recent_at(&a.get_heads()).expect("logged");
        let hashes: Vec<ChangeHash> = a.get_changes(&[]).iter().map(Change::hash).collect();
        assert_eq!(recent.since(&[], |_| false), Some(hashes));
        // A document holding a queued change gets no log.
        let before = a.get_heads();
        edit(&mut a, "z");
        edit(&mut a, "w");
        let mut queued = kept.doc.clone();
        queued.load_incremental(&bytes_after(&a, &before)[1]).unwrap();
        assert!(KeptDoc::new(queued).recent.is_none());
    }

    #[test]
    fn changes_already_read_apply_and_log_as_their_bytes_do() {
        let mut a = Automerge::new().with_actor(ActorId::from(b"a".to_vec()));
        edit(&mut a, "x");
        let (mut from_bytes, mut from_read) = (KeptDoc::new(a.clone()), KeptDoc::new(a.clone()));
        let before = a.get_heads();
        edit(&mut a, "y");
        edit(&mut a, "z");
        from_bytes.apply(&bytes_after(&a, &before)).unwrap();
        from_read.apply_changes(a.get_changes(&before)).unwrap();
        assert_eq!(from_read.get_heads(), a.get_heads());
        let (read, bytes) = (from_read.recent_at(&a.get_heads()).expect("logged"), from_bytes.recent_at(&a.get_heads()).expect("logged"));
        assert_eq!(read.since(&before, |_| true), bytes.since(&before, |_| true));
        let newest = a.get_heads()[0];
        assert_eq!(read.bytes(&newest), Some(a.get_change_by_hash(&newest).unwrap().raw_bytes()), "with its bytes");
    }
}
