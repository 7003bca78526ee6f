//! A deterministic in-memory edge and client peers for sync scenarios.
#![allow(dead_code)]

use std::collections::HashMap;

use automerge::{ActorId, Automerge, ROOT, ReadDoc, transaction::Transactable};
use sync_core::chunk;
use sync_core::document::{self, StoredDoc};
use sync_core::server::{self, Access};
use sync_core::{DocumentId, Heads, Limits, SyncRequest, SyncResponse, client};

/// A stored document as the edge keeps it: snapshot plus change rows.
#[derive(Default, Clone)]
pub struct Stored {
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
}

impl Stored {
    pub fn view(&self) -> StoredDoc<'_> {
        StoredDoc { snapshot: self.snapshot.as_deref(), changes: &self.changes }
    }

    pub fn load(&self) -> Automerge {
        document::load(self.view()).expect("stored state loads")
    }
}

/// The edge, reduced to what sync needs: decode, merge, persist, encode.
#[derive(Default)]
pub struct Edge {
    pub docs: HashMap<DocumentId, Stored>,
    /// Each document kept loaded as the automerge-repo route keeps it: advanced with the
    /// changes stored, loaded again when it no longer stands at the stored heads.
    pub kept: HashMap<DocumentId, server::KeptDoc>,
    pub read_only: bool,
    pub writes: usize,
    /// Requests merged by the append fast path (each one cross-checked against `merge`).
    pub appended: usize,
    /// ... of which the client was behind the server's heads (answered from the window).
    pub behind: usize,
    /// Requests whose push [`server::check_kept`] accepted (each cross-checked against `merge`,
    /// and against the same check on the kept copy).
    pub kept_checked: usize,
    /// Each document's newest changes as an HTTP edge keeps them ([`server::Tail`]): seeded
    /// from the store's reads, following the changes stored.
    pub tails: HashMap<DocumentId, server::Tail>,
    /// Requests whose fast-path read the tail answered (each answer cross-checked against the
    /// store's).
    pub tail_answered: usize,
    /// Requests where the fast path and the full merge disagreed (must stay empty).
    pub mismatches: Vec<String>,
}

impl Edge {
    pub fn handle(&mut self, request: &[u8]) -> Vec<u8> {
        let request = SyncRequest::decode(request, &Limits::DEFAULT).expect("valid request");
        let access = if self.read_only { Access::ReadOnly } else { Access::ReadWrite };
        let mut response = SyncResponse::default();
        for doc in &request.docs {
            let stored = self.docs.entry(doc.doc_id).or_default();
            let merged = server::merge(stored.view(), doc, access, &Limits::DEFAULT).expect("merge");
            let loaded = stored.load();
            let server_heads = Heads::new(loaded.get_heads());
            let history = loaded.get_changes(&[]);
            // The check on a kept copy, when it answers, must agree with the full merge on what
            // is new, the status and the heads (it pulls nothing).
            let pushed = chunk::changes_from_chunks(&doc.chunks, &Limits::DEFAULT).expect("the peers push valid changes");
            let kept = self.kept.entry(doc.doc_id).or_default();
            if kept.get_heads() != loaded.get_heads() {
                *kept = server::KeptDoc::new(loaded.clone());
            }
            let on_kept = kept.check(doc.doc_id, &pushed, access, &Limits::DEFAULT);
            let fresh = server::check_kept(&loaded, doc.doc_id, &pushed, access, &Limits::DEFAULT);
            let summary = |c: &Option<server::Checked>| c.as_ref().map(|c| (c.new_changes.iter().map(|n| n.hash).collect::<Vec<_>>(), c.response.clone()));
            if summary(&on_kept) != summary(&fresh) {
                self.mismatches.push(format!("check on the kept copy {:?} vs on the loaded document {:?}", summary(&on_kept), summary(&fresh)));
            }
            if let Some(checked) = fresh {
                let merged_heads_only = sync_core::DocResponse { chunks: Vec::new(), ..merged.response.clone() };
                let new = |cs: &[server::NewChange]| cs.iter().map(|c| c.hash).collect::<Vec<_>>();
                if new(&checked.new_changes) != new(&merged.new_changes) || checked.response != merged_heads_only {
                    self.mismatches.push(format!("check_kept {:?} vs merge {:?}", checked.response, merged_heads_only));
                }
                self.kept_checked += usize::from(!checked.new_changes.is_empty());
            }
            check_tail(&mut self.tails, &mut self.tail_answered, &mut self.mismatches, doc, &server_heads, &pushed, &history, &merged, access);
            let (new_changes, answer) = match server::append(&server_heads, doc, access, &Limits::DEFAULT, &history) {
                Some(appended) => {
                    // The fast path must agree with the full merge on what is new and on the answer.
                    // Both send changes in a causal order, not necessarily the same one.
                    let hashes = |cs: &[server::NewChange]| cs.iter().map(|c| c.hash).collect::<std::collections::BTreeSet<_>>();
                    let unordered = |r: &sync_core::DocResponse| {
                        let mut r = r.clone();
                        r.chunks.sort();
                        r
                    };
                    if hashes(&appended.new_changes) != hashes(&merged.new_changes) || unordered(&appended.response) != unordered(&merged.response) {
                        self.mismatches.push(format!("append {:?} vs merge {:?}", appended.response, merged.response));
                    }
                    self.appended += 1;
                    self.behind += usize::from(doc.have != server_heads);
                    (appended.new_changes, appended.response)
                }
                None => (merged.new_changes, merged.response),
            };
            if let Some(tail) = self.tails.get_mut(&doc.doc_id) {
                tail.advance(server_heads.as_slice(), &new_changes);
            }
            let added: Vec<Vec<u8>> = new_changes.into_iter().map(|c| c.bytes).collect();
            if let Some(kept) = self.kept.get_mut(&doc.doc_id) {
                kept.apply(&added).expect("stored changes apply to the kept copy");
            }
            self.writes += added.len();
            stored.changes.extend(added);
            response.docs.push(answer);
        }
        response.encode()
    }

    /// Folds every document's change rows into its snapshot.
    pub fn compact_all(&mut self) {
        for stored in self.docs.values_mut() {
            let compacted = document::compact(stored.view()).expect("compacts");
            let folded: std::collections::HashSet<_> = compacted.folded.into_iter().collect();
            stored.snapshot = Some(compacted.snapshot);
            stored
                .changes
                .retain(|c| !folded.contains(&automerge::Change::try_from(c.as_slice()).unwrap().hash()));
        }
    }
}

/// The fast path's read answered by the document's tail, when it answers, must lead to the
/// answer of the full merge (`merged`), as the store's read must. Otherwise the store's read
/// seeds the tail.
#[allow(clippy::too_many_arguments)]
fn check_tail(
    tails: &mut HashMap<DocumentId, server::Tail>,
    answered: &mut usize,
    mismatches: &mut Vec<String>,
    doc: &sync_core::DocRequest,
    server_heads: &Heads,
    pushed: &[automerge::Change],
    history: &[automerge::Change],
    merged: &server::Merged,
    access: Access,
) {
    let Some(mut plan) = server::plan(server_heads, doc, pushed, access, &Limits::DEFAULT) else { return };
    plan.read_window();
    let tail = tails.get(&doc.doc_id);
    let Some(found) = tail.filter(|t| t.heads() == server_heads.as_slice()).and_then(|t| t.answer(plan.lookup(), plan.pushed())) else {
        if let Some(seeded) = server::Tail::seed(&server::Found::in_history(history, plan.lookup()), tail) {
            tails.insert(doc.doc_id, seeded);
        }
        return;
    };
    *answered += 1;
    let Some(mut appended) = plan.finish(&found) else { return };
    let by_hash: HashMap<_, _> = history.iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
    let read: Option<Vec<Vec<u8>>> = appended.to_read().iter().map(|h| by_hash.get(h).cloned()).collect();
    if read.and_then(|read| appended.fill(read)).is_none() {
        mismatches.push("the tail's read named changes the store does not hold".into());
        return;
    }
    let hashes = |cs: &[server::NewChange]| cs.iter().map(|c| c.hash).collect::<std::collections::BTreeSet<_>>();
    let unordered = |r: &sync_core::DocResponse| {
        let mut r = r.clone();
        r.chunks.sort();
        r
    };
    if hashes(&appended.new_changes) != hashes(&merged.new_changes) || unordered(&appended.response) != unordered(&merged.response) {
        mismatches.push(format!("append on the tail's read {:?} vs merge {:?}", appended.response, merged.response));
    }
}

/// One local replica of a document on a client.
pub struct Replica {
    pub doc: Automerge,
    pub acked: Heads,
}

/// A client with its own replicas of some documents.
pub struct Peer {
    pub name: usize,
    pub docs: Vec<(DocumentId, Replica)>,
}

impl Peer {
    pub fn new(name: usize, docs: &[(DocumentId, &[u8])], actor_seed: u64) -> Self {
        let docs = docs
            .iter()
            .enumerate()
            .map(|(i, (id, base))| {
                let actor = ActorId::from((actor_seed * 16 + i as u64).to_be_bytes().to_vec());
                let doc = Automerge::load(base).expect("base loads").with_actor(actor);
                (*id, Replica { doc, acked: Heads::empty() })
            })
            .collect();
        Self { name, docs }
    }

    pub fn request(&self) -> Vec<u8> {
        let docs = self.docs.iter().map(|(id, r)| client::build_request(*id, &r.doc, &r.acked)).collect();
        SyncRequest { docs }.encode()
    }

    /// Applies a response; returns whether any document asks for a resend.
    pub fn apply(&mut self, response: &[u8]) -> bool {
        let response = SyncResponse::decode(response, &Limits::DEFAULT).expect("valid response");
        let mut resend = false;
        for doc_response in &response.docs {
            let (id, replica) = self.docs.iter_mut().find(|(id, _)| *id == doc_response.doc_id).expect("known doc");
            let applied = client::apply_response(&mut replica.doc, *id, &replica.acked, doc_response).expect("applies");
            replica.acked = applied.acked;
            resend |= applied.resend;
        }
        resend
    }

    pub fn replica(&mut self, i: usize) -> &mut Replica {
        &mut self.docs[i].1
    }
}

/// A base document with a map, a list and a text object, so every peer edits shared objects
/// instead of racing to create them.
pub fn base_document() -> Vec<u8> {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![0xba, 0x5e]));
    let mut tx = doc.transaction();
    tx.put_object(ROOT, "map", automerge::ObjType::Map).unwrap();
    tx.put_object(ROOT, "list", automerge::ObjType::List).unwrap();
    tx.put_object(ROOT, "text", automerge::ObjType::Text).unwrap();
    tx.commit();
    doc.save()
}

pub fn obj(doc: &impl ReadDoc, key: &str) -> automerge::ObjId {
    match doc.get(ROOT, key).unwrap() {
        Some((_, id)) => id,
        None => panic!("document has no {key}"),
    }
}
