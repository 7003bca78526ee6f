//! The protocol's promises, one scenario each: one round trip in the common case, the resend
//! path, idempotent replays, read-only callers, and cold loads.

mod support;

use automerge::{ActorId, Automerge, ReadDoc, transaction::Transactable};
use support::{Edge, Peer, base_document, obj};
use sync_core::server::{self, Access};
use sync_core::{DocStatus, DocumentId, Heads, Limits, SyncRequest, SyncResponse, client};

const DOC: DocumentId = DocumentId::from_bytes([9; 16]);

fn put(peer: &mut Peer, key: &str, value: i64) {
    let doc = &mut peer.replica(0).doc;
    let mut tx = doc.transaction();
    let map = obj(&tx, "map");
    tx.put(&map, key, value).unwrap();
    tx.commit();
}

/// Syncs a peer once; returns whether it asked for a resend.
fn sync(edge: &mut Edge, peer: &mut Peer) -> bool {
    let response = edge.handle(&peer.request());
    peer.apply(&response)
}

fn setup(n: usize) -> (Edge, Vec<Peer>) {
    let base = base_document();
    let docs = [(DOC, base.as_slice())];
    let mut edge = Edge::default();
    let mut peers: Vec<Peer> = (0..n).map(|i| Peer::new(i, &docs, 100 + i as u64)).collect();
    for p in peers.iter_mut() {
        sync(&mut edge, p);
    }
    for p in peers.iter_mut() {
        sync(&mut edge, p);
    }
    (edge, peers)
}

#[test]
fn both_sides_edited_converges_in_one_round_trip() {
    let (mut edge, mut peers) = setup(2);
    let (a, b) = peers.split_at_mut(1);
    let (a, b) = (&mut a[0], &mut b[0]);
    put(a, "from-a", 1);
    assert!(!sync(&mut edge, a));
    // b edited offline meanwhile; one request brings its edit up and a's edit down.
    put(b, "from-b", 2);
    assert!(!sync(&mut edge, b), "no resend needed");
    let server = edge.docs[&DOC].load();
    assert_eq!(b.replica(0).doc.get_heads(), server.get_heads());
    let map = obj(&b.replica(0).doc, "map");
    assert!(b.replica(0).doc.get(&map, "from-a").unwrap().is_some());
    assert!(b.replica(0).doc.get(&map, "from-b").unwrap().is_some());
    let r = b.replica(0);
    assert_eq!(client::pending_changes(&r.doc, &r.acked), 0);
}

#[test]
fn server_missing_what_the_client_thought_it_had_needs_exactly_one_resend() {
    let (mut edge, mut peers) = setup(1);
    let peer = &mut peers[0];
    put(peer, "x", 1);
    sync(&mut edge, peer);
    // The server loses its latest row (say the client's ack came from a replica that has not
    // caught up): the client's `have` now names a change the server lacks.
    edge.docs.get_mut(&DOC).unwrap().changes.pop();
    put(peer, "y", 2);
    assert!(sync(&mut edge, peer), "server reports a missing dependency");
    let stored = edge.docs[&DOC].load();
    assert!(stored.get(obj(&stored, "map"), "y").unwrap().is_none(), "unappliable change not stored");
    assert!(!sync(&mut edge, peer), "second round is accepted");
    let stored = edge.docs[&DOC].load();
    assert_eq!(stored.get_heads(), peer.replica(0).doc.get_heads());
}

#[test]
fn replaying_a_request_writes_nothing() {
    let (mut edge, mut peers) = setup(1);
    let peer = &mut peers[0];
    put(peer, "x", 1);
    let request = peer.request();
    edge.handle(&request);
    let writes = edge.writes;
    let rows = edge.docs[&DOC].changes.len();
    let again = SyncResponse::decode(&edge.handle(&request), &Limits::DEFAULT).unwrap();
    assert_eq!(edge.writes, writes);
    assert_eq!(edge.docs[&DOC].changes.len(), rows);
    assert_eq!(again.docs[0].status, DocStatus::Ok);
}

#[test]
fn read_only_callers_pull_but_their_changes_are_rejected_and_not_stored() {
    let (mut edge, mut peers) = setup(2);
    put(&mut peers[0], "from-writer", 1);
    sync(&mut edge, &mut peers[0]);
    edge.read_only = true;
    put(&mut peers[1], "from-viewer", 2);
    let response = SyncResponse::decode(&edge.handle(&peers[1].request()), &Limits::DEFAULT).unwrap();
    assert_eq!(response.docs[0].status, DocStatus::Forbidden);
    let stored = edge.docs[&DOC].load();
    assert!(stored.get(obj(&stored, "map"), "from-viewer").unwrap().is_none());
    // ...but the viewer still received the writer's edit, and its own edit stays pending.
    let bytes = response.encode();
    peers[1].apply(&bytes);
    let r = peers[1].replica(0);
    assert!(r.doc.get(obj(&r.doc, "map"), "from-writer").unwrap().is_some());
    assert_eq!(client::pending_changes(&r.doc, &r.acked), 1);
}

#[test]
fn a_fresh_client_receives_the_stored_bytes_and_an_up_to_date_one_nothing() {
    let (mut edge, mut peers) = setup(1);
    put(&mut peers[0], "x", 1);
    sync(&mut edge, &mut peers[0]);
    edge.compact_all();
    let stored = &edge.docs[&DOC];
    let fresh = client::build_request(DOC, &Automerge::new(), &Heads::empty());
    let merged = server::merge(stored.view(), &fresh, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.chunks, vec![stored.snapshot.clone().unwrap()]);
    let mut cold = Automerge::new().with_actor(ActorId::from(vec![7]));
    let applied = client::apply_response(&mut cold, DOC, &Heads::empty(), &merged.response).unwrap();
    assert_eq!(cold.get_heads(), peers[0].replica(0).doc.get_heads());

    let again = client::build_request(DOC, &cold, &applied.acked);
    assert!(server::is_up_to_date(&applied.acked, &again));
    let merged = server::merge(stored.view(), &again, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert!(merged.response.chunks.is_empty() && merged.new_changes.is_empty());
}

#[test]
fn a_fresh_client_of_an_uncompacted_document_receives_it_saved_in_one_chunk() {
    let (mut edge, mut peers) = setup(1);
    for i in 0..200 {
        put(&mut peers[0], &format!("k{}", i % 7), i);
        sync(&mut edge, &mut peers[0]);
    }
    let stored = &edge.docs[&DOC];
    assert!(stored.changes.len() >= 200, "nothing was compacted: {} rows", stored.changes.len());
    let rows: usize = stored.snapshot.iter().chain(&stored.changes).map(Vec::len).sum();
    let fresh = client::build_request(DOC, &Automerge::new(), &Heads::empty());
    let merged = server::merge(stored.view(), &fresh, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.chunks.len(), 1, "one saved document, not one chunk per row");
    let sent = merged.response.chunks[0].len();
    assert!(sent * 4 < rows, "{sent} bytes sent for {rows} stored");
    let mut cold = Automerge::new().with_actor(ActorId::from(vec![7]));
    client::apply_response(&mut cold, DOC, &Heads::empty(), &merged.response).unwrap();
    assert_eq!(cold.get_heads(), peers[0].replica(0).doc.get_heads());
    // The last write to k3 is i = 199 (199 % 7 == 3).
    assert_eq!(cold.get(obj(&cold, "map"), "k3").unwrap().unwrap().0, automerge::Value::int(199));

    // A document of one change row is smaller sent as that row.
    let (edge, _) = setup(1);
    let stored = &edge.docs[&DOC];
    assert_eq!((stored.snapshot.is_none(), stored.changes.len()), (true, 1));
    let merged = server::merge(stored.view(), &fresh, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.chunks, stored.changes, "the stored row as it is");

    // Nor is a snapshot with a small row after it saved again: both go as stored.
    let (mut edge, mut peers) = setup(1);
    put(&mut peers[0], "x", 1);
    sync(&mut edge, &mut peers[0]);
    edge.compact_all();
    put(&mut peers[0], "y", 2);
    sync(&mut edge, &mut peers[0]);
    let stored = &edge.docs[&DOC];
    assert_eq!(stored.changes.len(), 1);
    let merged = server::merge(stored.view(), &fresh, Access::ReadOnly, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.chunks, vec![stored.snapshot.clone().unwrap(), stored.changes[0].clone()]);
}

#[test]
fn a_client_that_lost_its_acked_heads_probes_and_pushes_only_what_the_server_lacks() {
    let (mut edge, mut peers) = setup(1);
    for i in 0..100 {
        put(&mut peers[0], &format!("k{i}"), i);
        sync(&mut edge, &mut peers[0]);
    }
    edge.compact_all();
    // The client keeps its document, loses `acked`, and makes one more edit offline.
    let mut doc = peers[0].replica(0).doc.fork().with_actor(ActorId::from(vec![8]));
    let mut tx = doc.transaction();
    let map = obj(&tx, "map");
    tx.put(&map, "late", 1).unwrap();
    tx.commit();
    let stored = edge.docs[&DOC].clone();
    let whole = client::build_request(DOC, &doc, &Heads::empty());

    let probe = client::build_probe_request(DOC, &doc);
    assert!(probe.chunks.is_empty() && !probe.have.is_empty() && probe.have.len() <= 64);
    let merged = server::merge(stored.view(), &probe, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert!(merged.new_changes.is_empty() && merged.response.chunks.is_empty(), "the server's changes are all below the sample");
    let applied = client::apply_response(&mut doc, DOC, &Heads::empty(), &merged.response).unwrap();
    assert_eq!((applied.pending, applied.resend), (1, true));
    assert_eq!(applied.acked, Heads::new(merged.doc.get_heads()));

    let push = client::build_request(DOC, &doc, &applied.acked);
    let sent: usize = push.chunks.iter().map(Vec::len).sum();
    let without_probe: usize = whole.chunks.iter().map(Vec::len).sum();
    assert!(sent * 4 < without_probe, "pushed {sent} bytes, the whole document is {without_probe}");
    let merged = server::merge(stored.view(), &push, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert_eq!((merged.response.status, merged.new_changes.len()), (DocStatus::Ok, 1));
    assert_eq!(merged.doc.get_heads(), doc.get_heads());
}

#[test]
fn garbage_chunks_are_rejected_without_storing_anything() {
    let (edge, _) = setup(1);
    let stored = &edge.docs[&DOC];
    let request = SyncRequest {
        docs: vec![sync_core::DocRequest {
            doc_id: DOC,
            have: Heads::empty(),
            heads: Heads::empty(),
            chunks: vec![b"not an automerge change".to_vec()],
        }],
    };
    let merged = server::merge(stored.view(), &request.docs[0], Access::ReadWrite, &Limits::DEFAULT).unwrap();
    assert_eq!(merged.response.status, DocStatus::InvalidChanges);
    assert!(merged.new_changes.is_empty());
    assert!(merged.rejection.is_some());
}
