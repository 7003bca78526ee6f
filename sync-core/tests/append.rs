//! The append fast path takes exactly the pushes (and pulls) it can prove right, and agrees
//! with the full merge on them; everything else falls back (returns `None`).

use automerge::{ActorId, Automerge, ROOT, ReadDoc, transaction::Transactable};
use sync_core::server::{self, Access};
use sync_core::{DocRequest, DocStatus, DocumentId, Heads, Limits};

const ID: DocumentId = DocumentId::from_bytes([7; 16]);

fn edit(doc: &mut Automerge, key: &str) {
    let mut tx = doc.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
}

fn request(have: Vec<automerge::ChangeHash>, doc: &Automerge, chunks: Vec<Vec<u8>>) -> DocRequest {
    DocRequest { doc_id: ID, have: Heads::new(have), heads: Heads::new(doc.get_heads()), chunks }
}

fn since(doc: &Automerge, base: &[automerge::ChangeHash]) -> Vec<Vec<u8>> {
    doc.get_changes(base).iter().map(|c| c.raw_bytes().to_vec()).collect()
}

fn server_with(n: usize) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![1]));
    for i in 0..n {
        edit(&mut doc, &format!("s{i}"));
    }
    doc
}

#[test]
fn a_push_on_the_current_heads_is_appended_and_answered_like_merge() {
    let server = server_with(3);
    let heads = server.get_heads();
    let mut client = server.fork().with_actor(ActorId::from(vec![2]));
    edit(&mut client, "a");
    edit(&mut client, "b");
    let req = request(heads.clone(), &client, since(&client, &heads));
    let appended = server::append(&Heads::new(heads), &req, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).expect("fast path");
    assert_eq!(appended.new_changes.len(), 2);
    // Causal order: the first edit before the one that depends on it.
    assert_eq!(appended.new_changes[1].deps, vec![appended.new_changes[0].hash]);
    let saved = server.save();
    let stored = sync_core::document::StoredDoc { snapshot: Some(&saved), changes: &[] };
    let merged = server::merge(stored, &req, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert_eq!(appended.response, merged.response);
    assert_eq!(appended.response.heads.as_slice(), client.get_heads().as_slice());
}

#[test]
fn an_empty_document_accepts_root_changes() {
    let mut client = Automerge::new();
    edit(&mut client, "first");
    let req = request(vec![], &client, since(&client, &[]));
    let appended = server::append(&Heads::empty(), &req, Access::ReadWrite, &Limits::DEFAULT, &[]).expect("fast path");
    assert_eq!(appended.response.status, DocStatus::Ok);
    assert_eq!(appended.new_changes.len(), 1);
}

#[test]
fn pushes_it_cannot_prove_new_fall_back_to_merge() {
    let server = server_with(2);
    let heads = server.get_heads();
    let server_heads = Heads::new(heads.clone());
    let mut client = server.fork().with_actor(ActorId::from(vec![2]));
    edit(&mut client, "c");
    let fine = request(heads.clone(), &client, since(&client, &heads));
    assert!(server::append(&server_heads, &fine, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_some());

    // Read-only callers, and fresh clients (sent the whole document by the full merge).
    assert!(server::append(&server_heads, &fine, Access::ReadOnly, &Limits::DEFAULT, &server.get_changes(&[])).is_none());
    let fresh = DocRequest { heads: Heads::empty(), ..request(vec![], &client, since(&client, &heads)) };
    assert!(server::append(&server_heads, &fresh, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_none());

    // A change the server already has: a head, or an old root change (the whole history).
    let resent_head = request(heads.clone(), &client, vec![server.get_change_by_hash(&heads[0]).unwrap().raw_bytes().to_vec()]);
    assert!(server::append(&server_heads, &resent_head, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_none());
    let everything = request(heads.clone(), &client, since(&client, &[]));
    assert!(server::append(&server_heads, &everything, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_none());

    // A change built on something the server does not have (here: another client's edit).
    let mut other = server.fork().with_actor(ActorId::from(vec![3]));
    edit(&mut other, "unseen");
    let mut builds_on_unseen = client.fork().with_actor(ActorId::from(vec![4]));
    builds_on_unseen.merge(&mut other).unwrap();
    let before = builds_on_unseen.get_heads();
    edit(&mut builds_on_unseen, "on top");
    let req = request(heads.clone(), &builds_on_unseen, since(&builds_on_unseen, &before));
    assert!(server::append(&server_heads, &req, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_none());

    // Chunks that do not parse.
    let garbage = request(heads.clone(), &client, vec![vec![1, 2, 3]]);
    assert!(server::append(&server_heads, &garbage, Access::ReadWrite, &Limits::DEFAULT, &server.get_changes(&[])).is_none());
}

#[test]
fn the_fast_path_vouches_only_for_what_the_store_found_at_the_heads_it_builds_on() {
    let server = server_with(2);
    let heads = server.get_heads();
    let server_heads = Heads::new(heads.clone());
    let mut client = server.fork().with_actor(ActorId::from(vec![2]));
    let mut tx = client.transaction();
    tx.put(ROOT, "s0", 2).unwrap();
    tx.commit();
    let req = request(heads.clone(), &client, since(&client, &heads));
    let incoming: Vec<automerge::Change> = client.get_changes(&heads);
    let history = server.get_changes(&[]);
    let plan = || server::plan(&server_heads, &req, &incoming, Access::ReadWrite, &Limits::DEFAULT).expect("a plan");
    // It overwrites s0: the lookup names the op it overwrites, the head it builds on and its actors.
    let lookup = plan().lookup().clone();
    assert_eq!(lookup.ops, vec![(ActorId::from(vec![1]), 1)]);
    assert_eq!(lookup.deps, heads);
    assert_eq!(lookup.actors, vec![ActorId::from(vec![1]), ActorId::from(vec![2])]);
    let found = server::Found::in_history(&history, &lookup);
    assert!(plan().finish(&found).is_some());
    // Not if another change landed since the heads were read, the document is not fully
    // indexed, or the op it overwrites was not found.
    let moved = server::Found { heads: vec![client.get_heads()[0]], ..found.clone() };
    assert!(plan().finish(&moved).is_none());
    let partial = server::Found { complete: false, ..found.clone() };
    assert!(plan().finish(&partial).is_none());
    let missing = server::Found { changes: Vec::new(), ..found };
    assert!(plan().finish(&missing).is_none());
}

/// The full merge's answer to `req` on `server`.
fn merged(server: &Automerge, req: &DocRequest) -> server::Merged {
    let saved = server.save();
    let stored = sync_core::document::StoredDoc { snapshot: Some(&saved), changes: &[] };
    server::merge(stored, req, Access::ReadWrite, &Limits::DEFAULT).unwrap()
}

fn hashes(chunks: &[Vec<u8>]) -> Vec<automerge::ChangeHash> {
    chunks.iter().map(|c| automerge::Change::try_from(c.as_slice()).unwrap().hash()).collect()
}

#[test]
fn a_collaborator_behind_the_heads_pushes_without_a_load_and_gets_what_it_lacks() {
    // 40 changes, then A pushes 3 while B, synced before them, edits concurrently.
    let mut server = server_with(40);
    let b_acked = server.get_heads();
    let mut a = server.fork().with_actor(ActorId::from(vec![2]));
    for k in ["a1", "a2", "a3"] {
        edit(&mut a, k);
    }
    server.merge(&mut a).unwrap();
    let server_heads = Heads::new(server.get_heads());
    let mut b = Automerge::load(&server.fork_at(&b_acked).unwrap().save()).unwrap().with_actor(ActorId::from(vec![3]));
    edit(&mut b, "b1");
    let req = request(b_acked.clone(), &b, since(&b, &b_acked));
    let history = server.get_changes(&[]);
    let appended = server::append(&server_heads, &req, Access::ReadWrite, &Limits::DEFAULT, &history).expect("answered from the window");
    assert_eq!(appended.new_changes.len(), 1);
    assert_eq!(hashes(&appended.response.chunks), a.get_changes(&b_acked).iter().map(|c| c.hash()).collect::<Vec<_>>(), "A's changes, in order");
    let full = merged(&server, &req);
    assert_eq!(appended.response, full.response);
    assert_eq!(appended.response.heads.len(), 2, "A's and B's edits are the two heads");

    // A pull by B (nothing pushed) is answered from the window too.
    let pull = request(b_acked.clone(), &server.fork_at(&b_acked).unwrap(), Vec::new());
    let pulled = server::append(&server_heads, &pull, Access::ReadOnly, &Limits::DEFAULT, &history).expect("a pull from the window");
    assert!(pulled.new_changes.is_empty());
    assert_eq!(pulled.response, merged(&server, &pull).response);
    assert_eq!(pulled.pull.len(), 3);
}

#[test]
fn a_client_far_behind_or_unknown_takes_the_full_merge() {
    let server = server_with(30);
    let history = server.get_changes(&[]);
    let server_heads = Heads::new(server.get_heads());
    // Behind by more than a third of the document: the full merge sends it whole.
    let early = history[5].hash();
    let old = server.fork_at(&[early]).unwrap();
    let pull = request(vec![early], &old, Vec::new());
    assert!(server::append(&server_heads, &pull, Access::ReadOnly, &Limits::DEFAULT, &history).is_none());
    assert_eq!(merged(&server, &pull).response.chunks.len(), 1, "a saved document");
    // Behind by a few: answered.
    let recent = history[25].hash();
    let pull = request(vec![recent], &server.fork_at(&[recent]).unwrap(), Vec::new());
    assert_eq!(server::append(&server_heads, &pull, Access::ReadOnly, &Limits::DEFAULT, &history).expect("answered").pull.len(), 4);
    // A `have` the server never stored, and nothing else: the window has nowhere to start.
    let unknown = DocRequest { have: Heads::new(vec![automerge::ChangeHash([9; 32])]), heads: Heads::empty(), ..pull.clone() };
    assert!(server::append(&server_heads, &unknown, Access::ReadOnly, &Limits::DEFAULT, &history).is_none());
}

#[test]
fn a_push_resending_stored_changes_or_missing_a_dependency_takes_the_full_merge() {
    let server = server_with(10);
    let history = server.get_changes(&[]);
    let server_heads = Heads::new(server.get_heads());
    let acked = vec![history[7].hash()];
    let mut client = server.fork_at(&acked).unwrap().with_actor(ActorId::from(vec![2]));
    edit(&mut client, "c");
    // It resends a change the server has along with its own.
    let resend = request(vec![history[6].hash()], &client, since(&client, &[history[6].hash()]));
    assert!(server::append(&server_heads, &resend, Access::ReadWrite, &Limits::DEFAULT, &history).is_none());
    // ... and that is not a window too short: the store is not read again.
    let incoming: Vec<automerge::Change> = resend.chunks.iter().map(|c| automerge::Change::try_from(c.as_slice()).unwrap()).collect();
    let mut plan = server::plan(&server_heads, &resend, &incoming, Access::ReadWrite, &Limits::DEFAULT).expect("a plan");
    let found = server::Found::in_history(&history, plan.lookup());
    assert!(plan.finish(&found).is_none());
    assert!(!plan.widen(&found), "a resent change goes to the full merge after one read");
    // It pushes only its own: fine.
    let own = request(acked.clone(), &client, since(&client, &acked));
    assert!(server::append(&server_heads, &own, Access::ReadWrite, &Limits::DEFAULT, &history).is_some());
    // It builds on a change the server never got.
    let mut other = server.fork_at(&acked).unwrap().with_actor(ActorId::from(vec![3]));
    edit(&mut other, "lost");
    let lost = other.get_heads();
    edit(&mut other, "on top");
    let req = request(acked, &other, since(&other, &lost));
    assert!(server::append(&server_heads, &req, Access::ReadWrite, &Limits::DEFAULT, &history).is_none());
}

#[test]
fn behind_the_heads_a_change_committed_since_the_plan_is_part_of_the_answer() {
    let mut server = server_with(20);
    let acked = server.get_heads();
    let planned_on = Heads::new(acked.clone());
    let mut b = server.fork().with_actor(ActorId::from(vec![3]));
    edit(&mut b, "b");
    // A's push: planned on the heads B also started from...
    let mut a = server.fork().with_actor(ActorId::from(vec![2]));
    edit(&mut a, "a");
    let req = DocRequest { have: Heads::empty(), ..request(vec![], &a, since(&a, &acked)) };
    let incoming = a.get_changes(&acked);
    let plan = || server::plan(&planned_on, &req, &incoming, Access::ReadWrite, &Limits::DEFAULT).expect("a plan");
    // ... while B's was committed before the store was read.
    server.merge(&mut b).unwrap();
    let found = server::Found::in_history(&server.get_changes(&[]), plan().lookup());
    let appended = plan().finish(&found).expect("answered from the window read with the new heads");
    assert_eq!(hashes(&appended.response.chunks), Vec::<automerge::ChangeHash>::new(), "chunks are the caller's to fill");
    assert_eq!(appended.pull, b.get_changes(&acked).iter().map(|c| c.hash()).collect::<Vec<_>>(), "B's change is sent to A");
    let mut both = server.fork();
    both.merge(&mut a).unwrap();
    assert_eq!(appended.response.heads.as_slice(), both.get_heads().as_slice(), "the heads after A's push on B's");
    // On the heads, a plan whose heads moved is not vouched for as it was planned; read again
    // behind the heads, it is answered as above.
    let on_heads = request(acked.clone(), &a, since(&a, &acked));
    let mut plan = server::plan(&planned_on, &on_heads, &incoming, Access::ReadWrite, &Limits::DEFAULT).expect("a plan");
    let history = server.get_changes(&[]);
    let found = server::Found::in_history(&history, plan.lookup());
    assert!(plan.finish(&found).is_none());
    assert!(plan.widen(&found), "read again behind the heads");
    let again = plan.finish(&server::Found::in_history(&history, plan.lookup())).expect("answered behind the heads");
    assert_eq!(again.pull, appended.pull);
    assert_eq!(again.response.heads, appended.response.heads);
}

#[test]
fn a_change_built_on_a_state_older_than_the_window_widens_it_instead_of_loading() {
    // B synced at the 60th change; then a slow collaborator's change, built on the 30th, was
    // stored: it is in B's window (which starts a few changes before B's `have`), its dependency is not,
    // and whether that lies in B's past the window alone cannot tell.
    let mut server = server_with(60);
    let b_acked = server.get_heads();
    let history = server.get_changes(&[]);
    let mut slow = server.fork_at(&[history[29].hash()]).unwrap().with_actor(ActorId::from(vec![4]));
    edit(&mut slow, "slow");
    server.merge(&mut slow).unwrap();
    let mut b = server.fork_at(&b_acked).unwrap().with_actor(ActorId::from(vec![3]));
    edit(&mut b, "b");
    let req = request(b_acked.clone(), &b, since(&b, &b_acked));
    let incoming = b.get_changes(&b_acked);
    let server_heads = Heads::new(server.get_heads());
    let history = server.get_changes(&[]);

    let mut plan = server::plan(&server_heads, &req, &incoming, Access::ReadWrite, &Limits::DEFAULT).expect("a plan");
    let first = server::Found::in_history(&history, plan.lookup());
    assert!(plan.finish(&first).is_none(), "the first window cannot tell");
    assert!(plan.widen(&first), "the window reads back to the slow change's dependency");
    let second = server::Found::in_history(&history, plan.lookup());
    assert!(second.window.len() > first.window.len());
    assert!(plan.finish(&second).is_some());

    let appended = server::append(&server_heads, &req, Access::ReadWrite, &Limits::DEFAULT, &history).expect("answered without a load");
    assert_eq!(appended.pull, vec![slow.get_heads()[0]], "B is sent the slow change");
    assert_eq!(appended.response, merged(&server, &req).response);
}
