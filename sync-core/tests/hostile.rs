//! Pushes a member with write access could craft to hurt the server or other members: a
//! decompression bomb, more pushed work than a request's budget, and a flood of concurrent
//! heads. Each is refused per document, with nothing stored, and honest pushes still work.
//! Then changes that parse but refer to what the document lacks, or break a rule automerge
//! relies on without checking (docs/architecture.md, "Hostile input"): refused per document
//! with `InvalidChanges`, nothing stored, and the document still loads and compacts.

use std::io::Write;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ExpandedChange, ObjType, ROOT, ReadDoc, transaction::Transactable};
use sync_core::chunk::{self, ChunkError};
use sync_core::document::StoredDoc;
use sync_core::server::{self, Access, KeptDoc};
use sync_core::{DocRequest, DocStatus, DocumentId, Heads, Limits, client};

const ID: DocumentId = DocumentId::from_bytes([9; 16]);

/// An automerge chunk of type 2 (compressed change) whose body is raw DEFLATE of `mib` MiB of
/// zeros: about 1 KiB on the wire per MiB it inflates to.
fn bomb(mib: usize) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        deflate.write_all(&zeros).unwrap();
    }
    sync_core::inspect::frame_chunk(2, [1, 2, 3, 4], &deflate.finish().unwrap())
}

fn push(chunks: Vec<Vec<u8>>, have: &Heads) -> DocRequest {
    DocRequest { doc_id: ID, have: have.clone(), heads: Heads::empty(), chunks }
}

fn one_edit(actor: u8, key: &str, value: &str) -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![actor; 4]));
    let mut tx = doc.transaction();
    tx.put(ROOT, key, value).unwrap();
    tx.commit();
    doc
}

#[test]
fn a_decompression_bomb_is_too_large_before_it_inflates() {
    // 512 MiB of zeros in ~500 KiB; the default budget stops inflating at 32 MiB.
    let chunk = bomb(512);
    assert!(chunk.len() < 1 << 20, "{} bytes", chunk.len());
    let request = push(vec![chunk], &Heads::empty());
    assert!(server::append(&Heads::empty(), &request, Access::ReadWrite, &Limits::DEFAULT, &[]).is_none());
    let merged = server::merge(StoredDoc::default(), &request, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.status, DocStatus::TooLarge);
    assert!(merged.new_changes.is_empty());
    assert!(matches!(merged.rejection, Some(ChunkError::OverBudget { .. })), "{:?}", merged.rejection);
    // Viewers are refused the same way: the budget applies before the read-only check.
    let merged = server::merge(StoredDoc::default(), &request, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.status, DocStatus::TooLarge);
}

#[test]
fn one_budget_covers_every_document_of_a_request() {
    // Two honest changes, each carrying 600 KiB of text (compressed on the wire by automerge).
    let big = |actor| {
        let doc = one_edit(actor, "text", &"x".repeat(600 * 1024));
        let mut change = doc.get_last_local_change().unwrap().clone();
        let bytes = change.bytes().into_owned();
        assert_eq!(bytes[8], 2, "automerge compresses large changes");
        (doc.get_heads(), bytes)
    };
    let (_, a) = big(1);
    let (_, b) = big(2);
    let limits = Limits { max_inflated_bytes: 1024 * 1024, ..Limits::DEFAULT };
    // Alone, each fits.
    assert_eq!(chunk::changes_from_chunks(std::slice::from_ref(&a), &limits).unwrap().len(), 1);
    assert_eq!(chunk::changes_from_chunks(std::slice::from_ref(&b), &limits).unwrap().len(), 1);
    // In one request, the second document finds the budget spent.
    let mut budget = limits.push_budget();
    assert!(chunk::changes_within(&[a], limits.max_chunks_per_doc, &mut budget).is_ok());
    let second = chunk::changes_within(&[b], limits.max_chunks_per_doc, &mut budget).unwrap_err();
    assert!(second.is_too_large(), "{second}");
}

#[test]
fn compressed_changes_from_honest_clients_still_merge() {
    let doc = one_edit(3, "text", &"y".repeat(10_000));
    let mut change = doc.get_last_local_change().unwrap().clone();
    let compressed = change.bytes().into_owned();
    assert_eq!(compressed[8], 2);
    let merged = server::merge(StoredDoc::default(), &push(vec![compressed], &Heads::empty()), Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.status, DocStatus::Ok);
    assert_eq!(merged.new_changes.len(), 1);
    assert_eq!(merged.new_changes[0].hash, doc.get_heads()[0]);
    assert_eq!(merged.doc.get(ROOT, "text").unwrap().unwrap().0.as_str(), Some("y".repeat(10_000).as_str()));
}

#[test]
fn a_flood_of_concurrent_heads_is_refused_and_an_honest_client_merges_them() {
    let limits = Limits { max_doc_heads: 8, ..Limits::DEFAULT };
    let mut stored: Vec<Vec<u8>> = Vec::new();
    let mut server_heads = Heads::empty();
    // An attacker pushes unrelated root changes one by one: each adds a head.
    for i in 0..=limits.max_doc_heads {
        let change = one_edit(100 + i as u8, "k", "v").get_last_local_change().unwrap().raw_bytes().to_vec();
        let request = push(vec![change], &server_heads);
        let view = StoredDoc { snapshot: None, changes: &stored };
        let history: Vec<Change> = stored.iter().map(|c| Change::try_from(c.as_slice()).unwrap()).collect();
        if let Some(appended) = server::append(&server_heads, &request, Access::ReadWrite, &limits, &history) {
            stored.extend(appended.new_changes.into_iter().map(|c| c.bytes));
            server_heads = appended.response.heads;
            continue;
        }
        // Root changes on a non-empty document take the full merge.
        let merged = server::merge(view, &request, Access::ReadWrite, &limits).unwrap();
        if merged.response.status == DocStatus::Ok {
            stored.extend(merged.new_changes.into_iter().map(|c| c.bytes));
            server_heads = merged.response.heads;
            continue;
        }
        assert_eq!(i, limits.max_doc_heads, "only the push past the cap is refused");
        assert_eq!(merged.response.status, DocStatus::TooLarge);
        assert!(matches!(merged.rejection, Some(ChunkError::TooManyHeads { .. })));
        assert!(merged.new_changes.is_empty());
        assert_eq!(merged.response.heads.len(), limits.max_doc_heads);
    }
    assert_eq!(server_heads.len(), limits.max_doc_heads);

    // An honest client with an edit of its own is refused too, but gets the pull with the
    // refusal; applying it merges every head into one change, and the next round is accepted.
    let mut honest = one_edit(7, "mine", "kept");
    let acked = Heads::empty();
    let request = client::build_request(ID, &honest, &acked);
    let view = StoredDoc { snapshot: None, changes: &stored };
    let merged = server::merge(view, &request, Access::ReadWrite, &limits).unwrap();
    assert_eq!(merged.response.status, DocStatus::TooLarge);
    let applied = client::apply_response(&mut honest, ID, &acked, &merged.response).unwrap();
    assert!(applied.resend, "the client merged the heads and goes again");
    assert_eq!(honest.get_heads().len(), 1);

    let request = client::build_request(ID, &honest, &applied.acked);
    let view = StoredDoc { snapshot: None, changes: &stored };
    let merged = server::merge(view, &request, Access::ReadWrite, &limits).unwrap();
    assert_eq!(merged.response.status, DocStatus::Ok);
    assert_eq!(merged.response.heads.len(), 1, "one head after the merge");
    assert_eq!(merged.doc.get(ROOT, "mine").unwrap().unwrap().0.as_str(), Some("kept"));
}

const POISONED: DocumentId = DocumentId::from_bytes([5; 16]);


/// A document with a map `m`, a list `l` and a text `t`, and a member's next change on top of
/// it (`edit`), decoded so a test can bend one reference and re-encode it.
fn base_and_edit(edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Objs)) -> (Automerge, ExpandedChange) {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![0xaa; 16]));
    let mut tx = doc.transaction();
    let m = tx.put_object(ROOT, "m", ObjType::Map).unwrap();
    tx.put(&m, "k", "v").unwrap();
    let l = tx.put_object(ROOT, "l", ObjType::List).unwrap();
    tx.insert(&l, 0, "x").unwrap();
    let t = tx.put_object(ROOT, "t", ObjType::Text).unwrap();
    tx.splice_text(&t, 0, 0, "hi").unwrap();
    tx.put(ROOT, "c", automerge::ScalarValue::counter(1)).unwrap();
    tx.commit();
    let objs = Objs { m, l, t };
    let mut member = doc.fork().with_actor(ActorId::from(vec![0xbb; 16]));
    let mut tx = member.transaction();
    edit(&mut tx, &objs);
    tx.commit();
    let change = member.get_last_local_change().unwrap().decode();
    (doc, change)
}

struct Objs {
    m: automerge::ObjId,
    l: automerge::ObjId,
    t: automerge::ObjId,
}

fn reencode(mut expanded: ExpandedChange) -> Change {
    expanded.hash = None;
    Change::from(expanded)
}

/// Pushes `change` on top of `doc` through both merge paths; whatever the fast path takes, the
/// full merge takes too.
fn push_both(doc: &Automerge, change: &Change) -> (bool, DocStatus) {
    let snapshot = doc.save();
    let stored = StoredDoc { snapshot: Some(&snapshot), changes: &[] };
    let heads = Heads::new(doc.get_heads());
    let request = DocRequest { doc_id: POISONED, have: heads.clone(), heads: Heads::empty(), chunks: vec![change.raw_bytes().to_vec()] };
    let fast = server::append(&heads, &request, Access::ReadWrite, &Limits::DEFAULT, &doc.get_changes(&[])).is_some();
    let merged = server::merge(stored, &request, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert!(!fast || merged.response.status == DocStatus::Ok, "the fast path took what the full merge refuses");
    // The same push from a client that does not say it has the heads: answered from the window.
    let behind = DocRequest { have: Heads::empty(), heads: Heads::new(vec![change.hash()]), ..request.clone() };
    let from_window = server::append(&heads, &behind, Access::ReadWrite, &Limits::DEFAULT, &doc.get_changes(&[]));
    let merged_behind = server::merge(stored, &behind, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    if let Some(appended) = &from_window {
        assert_eq!(appended.response, merged_behind.response, "the window answered unlike the full merge");
    }
    let fast = fast && from_window.is_some();
    // Checked on a kept copy of the document, as the automerge-repo route does: what it accepts
    // (it stores without applying) the full merge accepts too, and it takes what the fast path takes.
    for (req, full) in [(&request, &merged), (&behind, &merged_behind)] {
        let pushed = sync_core::chunk::changes_from_chunks(&req.chunks, &Limits::DEFAULT).expect("well-formed changes");
        match server::check_kept(doc, req.doc_id, &pushed, Access::ReadWrite, &Limits::DEFAULT) {
            Some(checked) => {
                assert_eq!(checked.response.status, full.response.status, "a kept copy judged unlike the full merge");
                assert_eq!(checked.new_changes, full.new_changes);
            }
            None => assert!(!fast, "a kept copy refused what the fast path took"),
        }
        // A copy that applied the stored changes itself finds the ops they made in its log of
        // recent changes, not in the document: it judges the same.
        let mut kept = KeptDoc::default();
        kept.apply(&doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>()).unwrap();
        assert_eq!(kept.get_heads(), doc.get_heads());
        let logged = kept.check(req.doc_id, &pushed, Access::ReadWrite, &Limits::DEFAULT);
        let unlogged = server::check_kept(doc, req.doc_id, &pushed, Access::ReadWrite, &Limits::DEFAULT);
        assert_eq!(logged.map(|c| (c.response, c.new_changes)), unlogged.map(|c| (c.response, c.new_changes)), "the log judged unlike the document");
    }
    assert_eq!(server::automerge_panics(), 0, "automerge panicked on a checked change");
    if merged.response.status != DocStatus::Ok {
        assert!(merged.new_changes.is_empty());
        assert!(Automerge::load(&merged.doc.save()).is_ok(), "the document still compacts");
    }
    (fast, merged.response.status)
}

fn actor_a() -> ActorId {
    ActorId::from(vec![0xaa; 16])
}

#[test]
fn honest_changes_that_refer_to_stored_ops_pass_both_paths() {
    type Edit = fn(&mut automerge::transaction::Transaction<'_>, &Objs);
    let edits: [(&str, Edit); 8] = [
        ("overwrite a map key", |tx, o| tx.put(&o.m, "k", "w").unwrap()),
        ("delete a map key", |tx, o| tx.delete(&o.m, "k").unwrap()),
        ("type into text", |tx, o| tx.splice_text(&o.t, 1, 0, "ey").unwrap()),
        ("delete a character", |tx, o| tx.splice_text(&o.t, 0, 1, "").unwrap()),
        ("set a list element", |tx, o| tx.put(&o.l, 0, "y").unwrap()),
        ("insert after a list element", |tx, o| tx.insert(&o.l, 1, "z").unwrap()),
        ("increment a counter", |tx, _| tx.increment(ROOT, "c", 2).unwrap()),
        ("mark text", |tx, o| {
            tx.mark(&o.t, automerge::marks::Mark::new("b".into(), true, 0, 1), automerge::marks::ExpandMark::None).unwrap()
        }),
    ];
    for (what, edit) in edits {
        let (doc, change) = base_and_edit(edit);
        assert_eq!(push_both(&doc, &reencode(change)), (true, DocStatus::Ok), "{what}");
    }
}

#[test]
fn a_change_the_change_itself_shows_is_bad_is_refused_by_both_paths() {
    // An insert that claims to overwrite something.
    let (doc, mut change) = base_and_edit(|tx, o| tx.insert(&o.l, 1, "y").map(drop).unwrap());
    change.operations[0].pred = vec![OpId(4, actor_a())].into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    // A delete of nothing.
    let (doc, mut change) = base_and_edit(|tx, o| tx.delete(&o.m, "k").unwrap());
    change.operations[0].pred = Vec::new().into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    // An update of HEAD.
    let (doc, mut change) = base_and_edit(|tx, o| tx.put(&o.l, 0, "y").unwrap());
    change.operations[0].key = Key::Seq(ElementId::Head);
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
}

#[test]
fn references_to_what_the_document_lacks_are_refused_by_both_paths() {
    // An object that does not exist (automerge panics applying it).
    let (doc, mut change) = base_and_edit(|tx, o| tx.put(&o.m, "k", "w").map(drop).unwrap());
    change.operations[0].obj = ObjectId::Id(OpId(999, actor_a()));
    change.operations[0].pred = Vec::new().into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    // A map key in a list, and op ids below the dependencies' (automerge applies both and the
    // document no longer loads once saved).
    let (doc, mut change) = base_and_edit(|tx, o| tx.insert(&o.l, 1, "y").map(drop).unwrap());
    change.operations[0].key = Key::Map("k".into());
    change.operations[0].insert = false;
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.insert(&o.l, 1, "y").map(drop).unwrap());
    change.start_op = 1.try_into().unwrap();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    // A mark in a list.
    let (doc, mut change) = base_and_edit(|tx, o| {
        tx.mark(&o.t, automerge::marks::Mark::new("b".into(), true, 0, 1), automerge::marks::ExpandMark::None).unwrap()
    });
    for op in &mut change.operations {
        op.obj = ObjectId::Id(OpId(3, actor_a()));
        if let Key::Seq(ElementId::Id(_)) = op.key {
            op.key = Key::Seq(ElementId::Id(OpId(4, actor_a())));
        }
    }
    assert!(matches!(change.operations[0].action, OpType::MarkBegin(_)));
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    // An overwrite whose pred is an element of another object (automerge applies it and the
    // change comes back different), an insert after an element of another object (automerge
    // panics applying it), a delete whose pred is in another object, an overwrite whose pred is
    // at another key, an element or a pred that no stored op has: refused before automerge
    // sees them (push_both checks it never panicked).
    let (doc, mut change) = base_and_edit(|tx, o| tx.put(&o.m, "k", "w").map(drop).unwrap());
    change.operations[0].pred = vec![OpId(4, actor_a())].into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.splice_text(&o.t, 1, 0, "e").unwrap());
    change.operations[0].key = Key::Seq(ElementId::Id(OpId(4, actor_a())));
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.splice_text(&o.t, 0, 1, "").unwrap());
    change.operations[0].pred = vec![OpId(4, actor_a())].into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.put(&o.m, "k2", "w").unwrap());
    change.operations[0].pred = vec![OpId(2, actor_a())].into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.splice_text(&o.t, 1, 0, "e").unwrap());
    change.operations[0].key = Key::Seq(ElementId::Id(OpId(99, actor_a())));
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
    let (doc, mut change) = base_and_edit(|tx, o| tx.put(&o.m, "k", "w").map(drop).unwrap());
    change.operations[0].pred = vec![OpId(5, ActorId::from(vec![0xbb; 16]))].into();
    assert_eq!(push_both(&doc, &reencode(change)), (false, DocStatus::InvalidChanges));
}

#[test]
fn references_to_ops_a_change_has_not_seen_are_refused_by_both_paths() {
    // The server holds two concurrent overwrites of `k` (two heads): 3@bb and 3@cc.
    let actor = |b: u8| ActorId::from(vec![b; 16]);
    let mut base = Automerge::new().with_actor(actor(0xaa));
    let mut tx = base.transaction();
    let m = tx.put_object(ROOT, "m", ObjType::Map).unwrap();
    tx.put(&m, "k", "v").unwrap();
    tx.commit();
    let overwrite = |doc: &mut Automerge, value: &str| {
        let mut tx = doc.transaction();
        tx.put(&m, "k", value).unwrap();
        tx.commit();
    };
    let (mut b, mut c) = (base.fork().with_actor(actor(0xbb)), base.fork().with_actor(actor(0xcc)));
    overwrite(&mut b, "b");
    overwrite(&mut c, "c");
    let mut server = base.fork();
    server.merge(&mut b).unwrap();
    server.merge(&mut c).unwrap();
    assert_eq!(server.get_heads().len(), 2);

    // An honest member who has seen both overwrites both.
    let mut honest = server.fork().with_actor(actor(0xdd));
    overwrite(&mut honest, "d");
    let change = honest.get_last_local_change().unwrap().clone();
    assert_eq!(change.decode().operations[0].pred.len(), 2);
    assert_eq!(push_both(&server, &change), (true, DocStatus::Ok));

    // A member who has seen only b's claims to overwrite c's op as well.
    let mut partial = base.fork().with_actor(actor(0xdd));
    partial.merge(&mut b).unwrap();
    overwrite(&mut partial, "d");
    let mut change = partial.get_last_local_change().unwrap().decode();
    change.operations[0].pred = vec![OpId(3, actor(0xbb)), OpId(3, actor(0xcc))].into();
    assert_eq!(push_both(&server, &reencode(change)), (false, DocStatus::InvalidChanges));
}

#[test]
fn honest_changes_that_refer_to_their_own_ops_pass_both_paths() {
    type Edit = fn(&mut automerge::transaction::Transaction<'_>, &Objs);
    let edits: [(&str, Edit); 4] = [
        ("overwrite an incremented counter", |tx, _| {
            tx.increment(ROOT, "c", 2).unwrap();
            tx.put(ROOT, "c", 5).unwrap()
        }),
        ("delete an incremented counter", |tx, _| {
            tx.increment(ROOT, "c", 2).unwrap();
            tx.delete(ROOT, "c").unwrap()
        }),
        ("set a list element twice, then delete it", |tx, o| {
            tx.put(&o.l, 0, "y").unwrap();
            tx.put(&o.l, 0, "z").unwrap();
            tx.delete(&o.l, 0).unwrap()
        }),
        ("unmark text", |tx, o| {
            tx.mark(&o.t, automerge::marks::Mark::new("b".into(), true, 0, 2), automerge::marks::ExpandMark::None).unwrap();
            tx.unmark(&o.t, "b", 0, 1, automerge::marks::ExpandMark::None).unwrap()
        }),
    ];
    for (what, edit) in edits {
        let (doc, change) = base_and_edit(edit);
        assert_eq!(push_both(&doc, &reencode(change)), (true, DocStatus::Ok), "{what}");
    }
}

#[test]
fn honest_edits_next_to_stored_marks_are_stored() {
    use automerge::marks::{ExpandMark, Mark};
    type Edit = fn(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId);
    let mut doc = Automerge::new().with_actor(actor_a());
    let mut tx = doc.transaction();
    let t = tx.put_object(ROOT, "t", ObjType::Text).unwrap();
    tx.splice_text(&t, 0, 0, "hello world").unwrap();
    tx.commit();
    let mut tx = doc.transaction();
    tx.mark(&t, Mark::new("b".into(), true, 2, 7), ExpandMark::Both).unwrap();
    tx.commit();
    let marks: Vec<OpId> = {
        let change = doc.get_last_local_change().unwrap();
        let start = change.start_op().get();
        (0..change.len() as u64).map(|i| OpId(start + i, actor_a())).collect()
    };
    let edits: [(&str, Edit); 4] = [
        ("type at the mark's start", |tx, t| tx.splice_text(t, 2, 0, "X").unwrap()),
        ("type at the mark's end", |tx, t| tx.splice_text(t, 7, 0, "X").unwrap()),
        ("type inside the mark", |tx, t| tx.splice_text(t, 4, 0, "X").unwrap()),
        ("delete across the mark", |tx, t| tx.splice_text(t, 1, 8, "").unwrap()),
    ];
    let mut after_a_mark = 0;
    for (what, edit) in edits {
        let mut member = doc.fork().with_actor(ActorId::from(vec![0xbb; 16]));
        let mut tx = member.transaction();
        edit(&mut tx, &t);
        tx.commit();
        let change = member.get_last_local_change().unwrap().clone();
        let names_a_mark = change.decode().operations.iter().any(|op| matches!(&op.key, Key::Seq(ElementId::Id(e)) if marks.contains(e)));
        after_a_mark += usize::from(names_a_mark);
        assert_eq!(push_both(&doc, &change).1, DocStatus::Ok, "{what}");
    }
    // automerge inserts next to an expanding mark by naming the mark as the element.
    assert!(after_a_mark > 0, "no edit was placed after a mark");
}
