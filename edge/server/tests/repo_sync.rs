//! automerge-repo's document sync through the service (`edge_app::service::repo`), driven by
//! automerge peers exactly as automerge-repo drives them: peers converge through the store,
//! with HTTP writers on the same document; a viewer is answered but stores nothing; a
//! non-member learns nothing; hostile messages are refused without harming the document for
//! its other members; and a change sent without its dependency is recovered.

mod common;

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use common::{TestApp, stored};
use edge_app::service::repo::{Answer, DocSync, announce, receive};
use sync_core::{DocumentId, Heads, SyncRequest, client};

/// One automerge-repo client's copy of a document and its sync state with the server (the
/// server's side of that connection is `server`).
struct Peer {
    user: &'static str,
    doc: Automerge,
    state: State,
    server: DocSync,
}

impl Peer {
    fn new(user: &'static str) -> Self {
        Self { user, doc: Automerge::new(), state: State::new(), server: DocSync::default() }
    }

    /// A peer of `user` that created `doc` with `k` = 1 through the server.
    async fn owning(app: &TestApp, user: &'static str, doc: DocumentId) -> Self {
        let mut peer = Self::new(user);
        peer.edit("k", 1);
        peer.sync(app, doc).await;
        peer
    }

    fn edit(&mut self, key: &str, value: i64) {
        let mut tx = self.doc.transaction();
        tx.put(ROOT, key, value).unwrap();
        tx.commit();
    }

    fn take(&mut self, answer: Answer) -> bool {
        match answer {
            Answer::Reply(Some(bytes)) | Answer::AsMissing(Some(bytes)) => {
                self.doc.receive_sync_message(&mut self.state, Message::decode(&bytes).unwrap()).unwrap();
                true
            }
            Answer::Reply(None) | Answer::AsMissing(None) => false,
            other => panic!("expected a sync message, got {other:?}"),
        }
    }

    /// Exchanges messages with the server until neither side has anything to say.
    async fn sync(&mut self, app: &TestApp, doc: DocumentId) {
        for _ in 0..20 {
            let Some(message) = self.doc.generate_sync_message(&mut self.state) else {
                let answer = announce(&app.state, self.user, doc, &mut self.server).await.unwrap();
                if !self.take(answer) {
                    return;
                }
                continue;
            };
            let answer = receive(&app.state, self.user, doc, &mut self.server, &message.encode(), false).await.unwrap();
            self.take(answer);
        }
        panic!("the sync did not settle in 20 rounds");
    }
}

fn value(doc: &Automerge, key: &str) -> Option<i64> {
    doc.get(ROOT, key).unwrap().and_then(|(v, _)| v.as_i64())
}

fn fresh_id(n: u8) -> DocumentId {
    DocumentId::from_bytes([n; 16])
}

#[tokio::test]
async fn peers_and_http_writers_converge_and_a_sync_with_changes_creates_the_document() {
    let app = TestApp::new().await;
    let doc = fresh_id(1);
    let mut alice = Peer::new("alice");
    alice.edit("a", 1);
    alice.sync(&app, doc).await;
    let r = app.call(axum::http::Method::GET, &format!("/v1/docs/{doc}"), Some(&app.token("alice")), None).await;
    assert_eq!(r.json()["role"], "owner", "the creator owns the document");
    assert_eq!(stored(&app, doc).await.get_heads(), alice.doc.get_heads());

    app.add_member("alice", &doc.to_string(), "bob", "editor").await;
    let mut bob = Peer::new("bob");
    let request = bob.doc.generate_sync_message(&mut bob.state).unwrap();
    let answer = receive(&app.state, "bob", doc, &mut bob.server, &request.encode(), true).await.unwrap();
    assert!(bob.take(answer));
    assert_eq!(value(&bob.doc, "a"), Some(1), "a request is answered with the document in one round trip");

    // Concurrent edits: both peers and an HTTP writer.
    alice.edit("a", 2);
    bob.edit("b", 3);
    http_edit(&app, doc, "http", 4).await;
    bob.sync(&app, doc).await;
    alice.sync(&app, doc).await;
    bob.sync(&app, doc).await;

    let server = stored(&app, doc).await;
    for peer in [&alice, &bob] {
        assert_eq!(peer.doc.get_heads(), server.get_heads(), "{} converged", peer.user);
    }
    assert_eq!((value(&server, "a"), value(&server, "b"), value(&server, "http")), (Some(2), Some(3), Some(4)));
}

/// automerge answers every message that carried changes (its heads moved): automerge-repo
/// clients take that answer as the server's acknowledgement. The server strips the changes
/// before automerge sees the message (they are stored already), and must answer all the same,
/// also when nothing else happened to the document.
#[tokio::test]
async fn a_writers_change_is_acknowledged_when_nothing_else_happened() {
    let app = TestApp::new().await;
    let doc = fresh_id(9);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    for n in 0..5 {
        alice.edit("n", n);
        let message = alice.doc.generate_sync_message(&mut alice.state).expect("the edit goes out");
        assert!(!message.changes.is_empty());
        let answer = receive(&app.state, "alice", doc, &mut alice.server, &message.encode(), false).await.unwrap();
        assert!(alice.take(answer), "edit {n}: answered");
        assert_eq!(alice.state.shared_heads, alice.doc.get_heads(), "edit {n}: the answer acknowledges it");
    }
}

/// automerge's V2 sync message (what it sends a peer that advertised flags, as the server's
/// answers do) carries all its changes as one concatenated entry: several edits made between two
/// syncs arrive together, and each is stored.
#[tokio::test]
async fn several_changes_in_one_v2_message_are_each_stored() {
    let app = TestApp::new().await;
    let doc = fresh_id(10);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    assert!(alice.state.their_capabilities.is_some(), "the server's answers advertise V2 messages");
    // (More than a third of the document would be sent as the whole document instead.)
    for n in 0..20 {
        alice.edit("history", n);
    }
    alice.sync(&app, doc).await;
    for n in 0..4 {
        alice.edit(&format!("k{n}"), n);
    }
    let message = alice.doc.generate_sync_message(&mut alice.state).expect("the edits go out");
    let changes: Vec<&[u8]> = message.changes.iter().collect();
    assert_eq!(changes.len(), 1, "one entry holds the four changes");
    let len = |i: usize| alice.doc.get_changes(&[]).iter().rev().take(4).map(|c| c.raw_bytes().len()).nth(i).unwrap();
    assert_eq!(changes[0].len(), (0..4).map(len).sum::<usize>(), "... concatenated, not a document");
    let answer = receive(&app.state, "alice", doc, &mut alice.server, &message.encode(), false).await.unwrap();
    assert!(alice.take(answer), "answered");
    alice.sync(&app, doc).await;
    let server = stored(&app, doc).await;
    assert_eq!(server.get_heads(), alice.doc.get_heads());
    assert_eq!((0..4).map(|n| value(&server, &format!("k{n}"))).collect::<Vec<_>>(), [Some(0), Some(1), Some(2), Some(3)]);
}

#[tokio::test]
async fn a_viewer_is_answered_but_stores_nothing_and_a_non_member_learns_nothing() {
    let app = TestApp::new().await;
    let doc = fresh_id(2);
    Peer::owning(&app, "olga", doc).await;
    let before = stored(&app, doc).await.get_heads();

    app.add_member("olga", &doc.to_string(), "vic", "viewer").await;
    let mut viewer = Peer::new("vic");
    viewer.edit("vandal", 666);
    viewer.sync(&app, doc).await;
    assert_eq!(value(&viewer.doc, "k"), Some(1), "the viewer received the document");
    assert_eq!(stored(&app, doc).await.get_heads(), before, "nothing of the viewer's was stored");

    let mut stranger = Peer::new("mallory");
    let request = stranger.doc.generate_sync_message(&mut stranger.state).unwrap();
    assert_eq!(receive(&app.state, "mallory", doc, &mut stranger.server, &request.encode(), true).await.unwrap(), Answer::Unavailable);
    stranger.edit("k", 2);
    let push = stranger.doc.generate_sync_message(&mut stranger.state).unwrap();
    let mut pushed = push.clone();
    pushed.changes = stranger.doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>().into();
    assert_eq!(receive(&app.state, "mallory", doc, &mut stranger.server, &pushed.encode(), false).await.unwrap(), Answer::Unavailable);
    assert_eq!(announce(&app.state, "mallory", doc, &mut stranger.server).await.unwrap(), Answer::Reply(None));
    // A sync without changes is answered as for a missing document (asked for its changes),
    // which does not make the document readable for relays.
    let answer = receive(&app.state, "mallory", doc, &mut stranger.server, &push.encode(), false).await.unwrap();
    assert!(matches!(answer, Answer::AsMissing(Some(_))), "{answer:?}");
    assert_eq!(stored(&app, doc).await.get_heads(), before);
}

#[tokio::test]
async fn hostile_messages_are_refused_and_the_document_stays_healthy() {
    let app = TestApp::new().await;
    let doc = fresh_id(3);
    let mut owner = Peer::owning(&app, "olga", doc).await;
    app.add_member("olga", &doc.to_string(), "eve", "editor").await;

    // A bloom filter with entries and no bits (automerge divides by zero answering it).
    let hostile = [0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
    let answer = receive(&app.state, "eve", doc, &mut DocSync::default(), &hostile, false).await.unwrap();
    assert!(matches!(answer, Answer::Refused(ref why) if why.contains("bloom")), "{answer:?}");

    // A well-formed change automerge panics applying.
    let answer = push_crafted(&app, "eve", doc).await;
    assert!(matches!(answer, Answer::Refused(_)), "{answer:?}");

    // Not an automerge message at all.
    assert!(matches!(receive(&app.state, "eve", doc, &mut DocSync::default(), b"\x42\xff", false).await.unwrap(), Answer::Refused(_)));

    // The owner still syncs, and the document is not marked damaged.
    owner.edit("k", 2);
    owner.sync(&app, doc).await;
    assert_eq!(value(&stored(&app, doc).await, "k"), Some(2));
    let r = app.call(axum::http::Method::GET, &format!("/v1/docs/{doc}/snapshot"), Some(&app.token("olga")), None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// A new document is created in the commit that stores its first changes; a first message
/// whose change lacks its dependency still creates it (empty, owned by the sender), asks for
/// the dependency, and the next message brings both.
#[tokio::test]
async fn a_new_documents_first_change_without_its_dependency_creates_it_and_is_recovered() {
    let app = TestApp::new().await;
    let doc = fresh_id(14);
    let mut alice = Peer::new("alice");
    let reply = second_of_two_edits_alone(&app, &mut alice, doc, 1).await;
    let r = app.call(axum::http::Method::GET, &format!("/v1/docs/{doc}"), Some(&app.token("alice")), None).await;
    assert_eq!((r.json()["role"].as_str(), r.json()["heads"].as_array().map(Vec::len)), (Some("owner"), Some(0)), "created, empty");
    alice.doc.receive_sync_message(&mut alice.state, reply).unwrap();
    alice.sync(&app, doc).await;
    assert_eq!(stored(&app, doc).await.get_heads(), alice.doc.get_heads());
    assert_eq!(value(&stored(&app, doc).await, "k"), Some(2));
}

#[tokio::test]
async fn a_change_sent_without_its_dependency_is_asked_for_and_recovered() {
    let app = TestApp::new().await;
    let doc = fresh_id(4);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    let reply = second_of_two_edits_alone(&app, &mut alice, doc, 2).await;
    alice.doc.receive_sync_message(&mut alice.state, reply).unwrap();
    alice.sync(&app, doc).await;
    assert_eq!(stored(&app, doc).await.get_heads(), alice.doc.get_heads());
    assert_eq!(value(&stored(&app, doc).await, "k"), Some(3));
}

#[tokio::test]
async fn a_kept_copy_catches_up_with_rows_committed_elsewhere_and_reloads_after_compaction() {
    let app = TestApp::new().await;
    let doc = fresh_id(5);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    assert_eq!(app.state.loaded.usage().0, 1, "the document is kept loaded");

    // Commits made over HTTP (another edge, say): the kept copy catches up from their rows.
    for round in 0..3 {
        http_edit(&app, doc, "http", round).await;
        alice.sync(&app, doc).await;
        assert_eq!(alice.doc.get_heads(), stored(&app, doc).await.get_heads(), "round {round}");
    }
    // Compaction folds rows the kept copy lacks into a snapshot: it cannot catch up from its
    // position, so the next answer loads the document whole, and still converges.
    http_edit(&app, doc, "before-compaction", 1).await;
    edge_app::service::compaction::compact_document(&app.state, &doc.to_string()).await.unwrap();
    http_edit(&app, doc, "after-compaction", 1).await;
    alice.sync(&app, doc).await;
    assert_eq!((value(&alice.doc, "before-compaction"), value(&alice.doc, "after-compaction")), (Some(1), Some(1)));
    assert_eq!(alice.doc.get_heads(), stored(&app, doc).await.get_heads());
}

#[tokio::test]
async fn an_acknowledgement_answered_without_reading_the_membership_carries_nothing_committed_since() {
    let app = TestApp::new().await;
    let doc = fresh_id(6);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    app.add_member("alice", &doc.to_string(), "bob", "editor").await;
    let mut bob = Peer::new("bob");
    bob.sync(&app, doc).await;
    assert_eq!(value(&bob.doc, "k"), Some(1));

    // Bob is removed, then Alice commits over HTTP (the kept copy stays where bob was last
    // answered) and through her connection (the kept copy moves on).
    let r = app.call(axum::http::Method::DELETE, &format!("/v1/docs/{doc}/members/bob"), Some(&app.token("alice")), None).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    http_edit(&app, doc, "after-removal", 1).await;
    let ack = |bob: &mut Peer| {
        // An acknowledgement as automerge-repo sends it: heads and a bloom filter, no changes.
        bob.state = State::new();
        bob.doc.generate_sync_message(&mut bob.state).unwrap().encode()
    };
    let message = ack(&mut bob);
    // Answered from the state bob was last sent, without reading the membership: nothing new.
    assert_eq!(receive(&app.state, "bob", doc, &mut bob.server, &message, false).await.unwrap(), Answer::Reply(None));
    assert_eq!(value(&bob.doc, "after-removal"), None);

    // The kept copy moves on: the next acknowledgement reads the membership, and bob is
    // answered as for a missing document.
    alice.edit("through-the-socket", 1);
    alice.sync(&app, doc).await;
    let message = ack(&mut bob);
    let answer = receive(&app.state, "bob", doc, &mut bob.server, &message, false).await.unwrap();
    let Answer::AsMissing(Some(reply)) = answer else { panic!("expected an answer as for a missing document, got {answer:?}") };
    let reply = Message::decode(&reply).unwrap();
    assert!(reply.changes.is_empty() && reply.heads.is_empty(), "{reply:?}");
    assert_eq!(announce(&app.state, "bob", doc, &mut bob.server).await.unwrap(), Answer::Reply(None), "a removed member is pushed nothing");
}

#[tokio::test]
async fn a_promoted_viewer_is_asked_for_its_changes_once_its_connection_rechecks() {
    let app = TestApp::new().await;
    let doc = fresh_id(7);
    Peer::owning(&app, "olga", doc).await;
    app.add_member("olga", &doc.to_string(), "vic", "viewer").await;
    let mut vic = Peer::new("vic");
    vic.sync(&app, doc).await;
    vic.edit("v", 1);
    vic.sync(&app, doc).await;
    assert_eq!(value(&stored(&app, doc).await, "v"), None, "a viewer's change is not stored");

    // Promoted: the connection is told to check its memberships (the server does so when the
    // role changes), and its next message reads the new role.
    app.add_member("olga", &doc.to_string(), "vic", "editor").await;
    vic.server.recheck();
    vic.state = State::new();
    vic.sync(&app, doc).await;
    assert_eq!(value(&stored(&app, doc).await, "v"), Some(1), "the editor's change is stored");
}

#[tokio::test]
async fn many_small_documents_keep_the_kept_copies_within_their_memory_budget() {
    // A member creating documents as fast as it can: each is a few hundred stored bytes, and
    // loaded takes about 17 KiB. The budget counts what they take, not what they store.
    let mut app = TestApp::new().await;
    let budget = 100 << 10;
    app.state.loaded = std::sync::Arc::new(edge_app::service::loaded::LoadedDocs::new(budget));
    let mut peers = Vec::new();
    for n in 0..24 {
        let doc = fresh_id(100 + n);
        peers.push((doc, Peer::owning(&app, "alice", doc).await));
        let (kept, memory) = app.state.loaded.usage();
        assert!(memory <= budget, "after {} documents: {kept} kept, {memory} bytes", n + 1);
    }
    let (kept, _) = app.state.loaded.usage();
    assert!((1..=6).contains(&kept), "{kept} documents kept of 24, 100 KiB at about 17 KiB each");
    // Evicted ones still sync: their next message loads them again.
    let (first, alice) = &mut peers[0];
    alice.edit("k", 2);
    alice.sync(&app, *first).await;
    assert_eq!(value(&stored(&app, *first).await, "k"), Some(2));
}

#[tokio::test]
async fn a_long_documents_pushes_are_checked_on_its_kept_copy_and_a_crafted_one_is_refused() {
    // A kept copy checks a push without a pass over its history, however long: pushes to a
    // document of 600 changes are checked on it, and what the checks refuse is refused.
    let app = TestApp::new().await;
    let doc = fresh_id(6);
    let mut alice = Peer::owning(&app, "alice", doc).await;
    let mut writer = stored(&app, doc).await.with_actor(automerge::ActorId::from(vec![0x77; 8]));
    let acked = Heads::new(writer.get_heads());
    for i in 0..600 {
        let mut tx = writer.transaction();
        tx.put(ROOT, "long", i as i64).unwrap();
        tx.commit();
    }
    let request = SyncRequest { docs: vec![client::build_request(doc, &writer, &acked)] };
    assert_eq!(app.sync_at("/v1/sync", &app.token("alice"), &request).await.status, 200);
    alice.sync(&app, doc).await;
    assert!(alice.doc.get_changes(&[]).len() > 600);

    alice.edit("k", 2);
    alice.sync(&app, doc).await;
    assert_eq!(value(&stored(&app, doc).await, "k"), Some(2));
    assert_eq!(alice.doc.get_heads(), stored(&app, doc).await.get_heads());

    app.add_member("alice", &doc.to_string(), "eve", "editor").await;
    let answer = push_crafted(&app, "eve", doc).await;
    assert!(matches!(answer, Answer::Refused(_)), "{answer:?}");
    assert_eq!(alice.doc.get_heads(), stored(&app, doc).await.get_heads(), "nothing was stored");
}

/// `user` pushes, on a fresh connection, a well-formed change on top of the stored document that
/// automerge panics applying.
async fn push_crafted(app: &TestApp, user: &str, doc: DocumentId) -> Answer {
    let crafted = common::crafted_change_on(&stored(app, doc).await);
    let mut message = Automerge::new().generate_sync_message(&mut State::new()).unwrap();
    message.heads = vec![crafted.hash()];
    message.changes = vec![crafted.raw_bytes().to_vec()].into();
    receive(&app.state, user, doc, &mut DocSync::default(), &message.encode(), false).await.unwrap()
}

/// `peer` puts `k` = `value` and then `value + 1`, and sends only the second change (as after
/// a bloom filter's false positive): the answer must ask for the first. Returns that answer.
async fn second_of_two_edits_alone(app: &TestApp, peer: &mut Peer, doc: DocumentId, value: i64) -> Message {
    peer.edit("k", value);
    let first = peer.doc.get_last_local_change().unwrap().hash();
    peer.edit("k", value + 1);
    let second = peer.doc.get_last_local_change().unwrap();
    let mut message = peer.doc.generate_sync_message(&mut peer.state).unwrap();
    message.changes = vec![second.raw_bytes().to_vec()].into();
    let answer = receive(&app.state, peer.user, doc, &mut peer.server, &message.encode(), false).await.unwrap();
    let Answer::Reply(Some(reply)) = answer else { panic!("expected an answer, got {answer:?}") };
    let reply = Message::decode(&reply).unwrap();
    assert!(reply.need.contains(&first), "the answer asks for the missing dependency: {:?}", reply.need);
    reply
}

/// One change putting `key` over HTTP, on top of the stored document.
async fn http_edit(app: &TestApp, doc: DocumentId, key: &str, value: i64) {
    let mut replica = stored(app, doc).await;
    let acked = Heads::new(replica.get_heads());
    let mut tx = replica.transaction();
    tx.put(ROOT, key, value).unwrap();
    tx.commit();
    let request = SyncRequest { docs: vec![client::build_request(doc, &replica, &acked)] };
    assert_eq!(app.sync_at("/v1/sync", &app.token("alice"), &request).await.status, 200);
}
