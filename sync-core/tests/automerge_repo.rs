//! automerge-repo's wire format: frames as its encoder (cbor-x, through automerge-repo 2.5.6's
//! `cbor` helper) writes them decode; what this side encodes decodes back; hostile frames are
//! refused without panicking or allocating from declared counts; ids map 1:1.
//!
//! The hex frames were made with bench/automerge-repo's pinned packages:
//! `node --input-type=module -e 'import { cbor } from "@automerge/automerge-repo"; …cbor.encode({…})'`.

use proptest::prelude::*;
use sync_core::DocumentId;
use sync_core::automerge_repo::{DecodeError, Message, ParseRepoIdError, PeerMetadata, from_repo_document_id, repo_document_id};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A join of a client without storage: non-minimal map headers (`b9 0004`) and
/// `storageId: undefined` (`f7`).
const JOIN: &str = "b900046474797065646a6f696e6873656e646572496468636c69656e742d616c706565724d65746164617461b900026973746f726167654964f76b6973457068656d6572616cf57819737570706f7274656450726f746f636f6c56657273696f6e73816131";
const SYNC: &str = "b9000564747970656473796e636873656e646572496468636c69656e742d616874617267657449646b73796e632d7365727665726a646f63756d656e744964781c324d696542664676756a4a7872686962426436386a5779737674715a64646174614442000102";
/// An ephemeral message whose count (5,000,000,000) cbor-x wrote as a 64-bit float.
const EPHEMERAL: &str = "b90007647479706569657068656d6572616c6873656e646572496468636c69656e742d616874617267657449646b73796e632d73657276657265636f756e74fb41f2a05f200000006973657373696f6e49646273316a646f63756d656e744964781c324d696542664676756a4a7872686962426436386a5779737674715a646461746141a1";
const REMOTE_HEADS: &str = "b9000564747970657472656d6f74652d68656164732d6368616e6765646873656e646572496468636c69656e742d616874617267657449646b73796e632d7365727665726a646f63756d656e7449646178686e65774865616473b900016161b900026568656164738161686974696d657374616d70fb427a23bf1acdc000";

#[test]
fn frames_from_automerge_repo_clients_decode() {
    assert_eq!(
        Message::decode(&unhex(JOIN)).unwrap(),
        Message::Join {
            sender_id: "client-a".into(),
            peer_metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: true }),
            supported_protocol_versions: vec!["1".into()],
        }
    );
    assert_eq!(
        Message::decode(&unhex(SYNC)).unwrap(),
        Message::Sync {
            sender_id: "client-a".into(),
            target_id: "sync-server".into(),
            document_id: "2MieBfFvujJxrhibBd68jWysvtqZ".into(),
            data: vec![0x42, 0, 1, 2],
        }
    );
    let Message::Ephemeral { count, session_id, data, .. } = Message::decode(&unhex(EPHEMERAL)).unwrap() else { panic!("not ephemeral") };
    assert_eq!((count, session_id.as_str(), data.as_slice()), (5_000_000_000, "s1", &[0xa1][..]));
    // Unknown types (and their nested fields) are skipped, not errors: a server ignores them.
    assert_eq!(Message::decode(&unhex(REMOTE_HEADS)).unwrap(), Message::Other { kind: "remote-heads-changed".into() });
}

#[test]
fn what_this_side_sends_is_minimal_cbor_that_decodes_back() {
    let peer = Message::Peer {
        sender_id: "sync-server-1".into(),
        peer_metadata: Some(PeerMetadata { storage_id: Some("s".into()), is_ephemeral: false }),
        selected_protocol_version: "1".into(),
        target_id: "client-a".into(),
    };
    let bytes = peer.encode();
    assert_eq!(bytes[0], 0xa5, "a map of 5 with a minimal header");
    assert_eq!(Message::decode(&bytes).unwrap(), peer);
    let unavailable = Message::DocUnavailable { sender_id: "s".into(), target_id: "c".into(), document_id: "d".into() };
    assert_eq!(Message::decode(&unavailable.encode()).unwrap(), unavailable);
}

#[test]
fn malformed_and_hostile_frames_are_refused() {
    // Bytes after the map, a frame that is not a map, no type, a known type without its fields.
    let mut trailing = unhex(SYNC);
    trailing.push(0);
    assert_eq!(Message::decode(&trailing), Err(DecodeError::TrailingBytes));
    assert!(matches!(Message::decode(&[0x01]), Err(DecodeError::Cbor(_))));
    assert!(matches!(Message::decode(&[]), Err(DecodeError::Cbor(_))));
    assert_eq!(Message::decode(&[0xa0]), Err(DecodeError::NoType));
    let no_data = [&[0xa1u8, 0x64][..], b"type", &[0x64], b"sync"].concat();
    assert_eq!(Message::decode(&no_data), Err(DecodeError::Missing { kind: "sync", field: "senderId" }));
    // A map claiming 2^64-1 entries in a few bytes: refused at the end of the bytes.
    let huge = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(Message::decode(&huge), Err(DecodeError::Cbor(_))));
    // A deeply nested value under an unknown key (a million arrays): skipped without recursion.
    let mut deep = [&[0xa1u8, 0x61, b'x'][..]].concat();
    deep.extend(std::iter::repeat_n(0x81, 1_000_000));
    deep.push(0x00);
    assert_eq!(Message::decode(&deep), Err(DecodeError::NoType));
    // An ephemeral message's count that is negative, fractional or beyond 2^53 as a float.
    let ephemeral = |count: &[u8]| [&[0xa2u8, 0x64][..], b"type", &[0x69], b"ephemeral", &[0x65], b"count", count].concat();
    for bad in [&[0x20u8][..], &[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], &[0xfb, 0x43, 0x40, 0, 0, 0, 0, 0, 1]] {
        let reason = DecodeError::NotCount("count").to_string();
        assert_eq!(Message::decode(&ephemeral(bad)), Err(DecodeError::Field { kind: "ephemeral", field: "count".into(), reason }), "{bad:x?}");
    }
    // The same field in a message of a type this side does not know: not an error.
    let other = [&[0xa2u8, 0x64][..], b"type", &[0x63], b"new", &[0x65], b"count", &[0x61, b'x']].concat();
    assert_eq!(Message::decode(&other), Ok(Message::Other { kind: "new".into() }));
    // A sync without data (all else present).
    let fields = vec![(b"type".as_slice(), b"sync".as_slice()), (b"senderId", b"a"), (b"targetId", b"b"), (b"documentId", b"c")];
    assert_eq!(Message::decode(&text_map(&fields)), Err(DecodeError::Missing { kind: "sync", field: "data" }));
    // data as a byte string inside tag 64 (a typed array) is accepted; inside another tag not.
    let with_data = |value: &[u8]| {
        let mut frame = text_map(&fields);
        frame[0] += 1;
        frame.extend([0x64, b'd', b'a', b't', b'a']);
        frame.extend_from_slice(value);
        frame
    };
    let Ok(Message::Sync { data, .. }) = Message::decode(&with_data(&[0xd8, 0x40, 0x41, 0x07])) else { panic!("tag 64 refused") };
    assert_eq!(data, [7]);
    assert!(matches!(Message::decode(&with_data(&[0xd8, 0x41, 0x41, 0x07])), Err(DecodeError::Field { field, .. }) if field == "data"));
    // A list of protocol versions claiming 2^64-1 entries, and one of 17.
    let versions = |list: &[u8]| [&[0xa2u8, 0x64][..], b"type", &[0x64], b"join", &[0x78, 25], b"supportedProtocolVersions", list].concat();
    assert!(matches!(Message::decode(&versions(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), Err(DecodeError::Cbor(_))));
    let seventeen: Vec<u8> = std::iter::once(0x91).chain(std::iter::repeat_n(0x60, 17)).collect();
    assert!(matches!(Message::decode(&versions(&seventeen)), Err(DecodeError::Field { field, .. }) if field == "supportedProtocolVersions"));
    // Indefinite-length arrays nested a million deep under an unknown key: skipped.
    let mut deep = [&[0xa1u8, 0x61, b'x'][..]].concat();
    deep.extend(std::iter::repeat_n(0x9f, 1_000_000));
    deep.extend(std::iter::repeat_n(0xff, 1_000_000));
    assert_eq!(Message::decode(&deep), Err(DecodeError::NoType));
}

/// A CBOR map of text keys to text values.
fn text_map(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![0xa0 + fields.len() as u8];
    for (k, v) in fields {
        for t in [k, v] {
            out.push(0x60 + t.len() as u8);
            out.extend_from_slice(t);
        }
    }
    out
}

#[test]
fn document_ids_map_one_to_one() {
    // bs58check as automerge-repo's dependency (bs58check 3.0.1) writes bytes 0..16.
    let id = DocumentId::from_bytes(std::array::from_fn(|i| i as u8));
    assert_eq!(repo_document_id(&id), "1Bhh3pU9gLXZiNDL6PEa1Gs9fh");
    assert_eq!(from_repo_document_id("1Bhh3pU9gLXZiNDL6PEa1Gs9fh"), Ok(id));
    // A wrong checksum, a wrong length, and input too long to be an id (refused before decoding).
    assert!(matches!(from_repo_document_id("1Bhh3pU9gLXZiNDL6PEa1Gs9fi"), Err(ParseRepoIdError::Encoding(_))));
    let short = bs58::encode([7u8; 15]).with_check().into_string();
    assert_eq!(from_repo_document_id(&short), Err(ParseRepoIdError::Length(15)));
    assert_eq!(from_repo_document_id(&"1".repeat(10_000)), Err(ParseRepoIdError::TooLong));
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9-]{0,12}"
}

fn metadata() -> impl Strategy<Value = Option<PeerMetadata>> {
    proptest::option::of((proptest::option::of(text()), any::<bool>()).prop_map(|(storage_id, is_ephemeral)| PeerMetadata { storage_id, is_ephemeral }))
}

fn message() -> impl Strategy<Value = Message> {
    let data = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (text(), metadata(), proptest::collection::vec(text(), 0..3)).prop_map(|(sender_id, peer_metadata, supported_protocol_versions)| Message::Join {
            sender_id,
            peer_metadata,
            supported_protocol_versions
        }),
        (text(), metadata(), text(), text()).prop_map(|(sender_id, peer_metadata, selected_protocol_version, target_id)| Message::Peer {
            sender_id,
            peer_metadata,
            selected_protocol_version,
            target_id
        }),
        (proptest::option::of(text()), text(), proptest::option::of(text())).prop_map(|(sender_id, message, target_id)| Message::Error {
            sender_id,
            message,
            target_id
        }),
        (text(), text(), text(), data.clone()).prop_map(|(sender_id, target_id, document_id, data)| Message::Request {
            sender_id,
            target_id,
            document_id,
            data
        }),
        (text(), text(), text(), data.clone()).prop_map(|(sender_id, target_id, document_id, data)| Message::Sync { sender_id, target_id, document_id, data }),
        (text(), text(), any::<u64>(), text(), text(), data).prop_map(|(sender_id, target_id, count, session_id, document_id, data)| Message::Ephemeral {
            sender_id,
            target_id,
            count,
            session_id,
            document_id,
            data
        }),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
    }

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }
}

mod session {
    use sync_core::DocumentId;
    use sync_core::automerge_repo::{EphemeralFilter, Event, Message, Session, SessionLimits, repo_document_id};

    const LIMITS: SessionLimits = SessionLimits { max_documents: 2, max_ephemeral_bytes: 8 };

    fn doc(n: u8) -> (DocumentId, String) {
        let id = DocumentId::from_bytes([n; 16]);
        (id, repo_document_id(&id))
    }

    fn joined() -> Session {
        let mut s = Session::new("sync-server-test", LIMITS);
        let join = Message::Join { sender_id: "client".into(), peer_metadata: None, supported_protocol_versions: vec!["1".into()] };
        let Event::Reply(Message::Peer { sender_id, target_id, selected_protocol_version, .. }) = s.receive(join) else { panic!("no peer") };
        assert_eq!((sender_id.as_str(), target_id.as_str(), selected_protocol_version.as_str()), ("sync-server-test", "client", "1"));
        s
    }

    fn sync(sender: &str, repo_id: &str, request: bool) -> Message {
        let (sender_id, target_id, document_id, data) = (sender.into(), "sync-server-test".into(), repo_id.into(), vec![1]);
        if request { Message::Request { sender_id, target_id, document_id, data } } else { Message::Sync { sender_id, target_id, document_id, data } }
    }

    fn ephemeral(sender: &str, session: &str, count: u64, repo_id: &str, bytes: usize) -> Message {
        Message::Ephemeral {
            sender_id: sender.into(),
            target_id: "sync-server-test".into(),
            count,
            session_id: session.into(),
            document_id: repo_id.into(),
            data: vec![0; bytes],
        }
    }

    #[test]
    fn the_handshake_comes_first_and_needs_version_1() {
        let mut s = Session::new("sync-server-test", LIMITS);
        assert!(matches!(s.receive(sync("client", &doc(1).1, true)), Event::Close(Message::Error { .. })));
        let join = Message::Join { sender_id: "client".into(), peer_metadata: None, supported_protocol_versions: vec!["2".into()] };
        assert!(matches!(s.receive(join), Event::Close(Message::Error { .. })));
        assert_eq!(s.client(), None);
        let s = joined();
        assert_eq!(s.client(), Some("client"));
    }

    #[test]
    fn syncs_name_a_valid_document_from_the_joined_peer_and_the_least_recently_synced_makes_room() {
        let mut s = joined();
        let (id1, repo1) = doc(1);
        assert_eq!(s.receive(sync("client", &repo1, true)), Event::Sync { document: id1, repo_id: repo1.clone(), data: vec![1], request: true, evicted: None });
        // Another peer id than the one that joined: dropped.
        assert_eq!(s.receive(sync("someone-else", &repo1, false)), Event::Ignore);
        // A malformed id: a request is answered unavailable, a sync dropped.
        assert_eq!(s.receive(sync("client", "not-an-id", true)), Event::Reply(s.unavailable("not-an-id")));
        assert_eq!(s.receive(sync("client", "not-an-id", false)), Event::Ignore);
        // At most two documents at once: a third takes the place of the one whose last message
        // is the oldest, which stops being relayed to; a message for it again is a fresh start.
        let (id2, repo2) = doc(2);
        let (id3, repo3) = doc(3);
        assert!(matches!(s.receive(sync("client", &repo2, false)), Event::Sync { request: false, evicted: None, .. }));
        assert!(matches!(s.receive(sync("client", &repo1, false)), Event::Sync { evicted: None, .. }));
        assert_eq!(
            s.receive(sync("client", &repo3, true)),
            Event::Sync { document: id3, repo_id: repo3.clone(), data: vec![1], request: true, evicted: Some(id2) }
        );
        assert_eq!(s.documents().count(), 2);
        assert!(!s.documents().any(|d| *d == id2));
        assert_eq!(s.receive(ephemeral("client", "s", 1, &repo2, 1)), Event::Ignore, "no relays for an evicted document");
        assert!(matches!(s.receive(sync("client", &repo3, false)), Event::Sync { evicted: None, .. }));
        // An ephemeral message counts as use: 1 is now more recent than 3.
        assert!(matches!(s.receive(ephemeral("client", "s", 1, &repo1, 1)), Event::Relay { .. }));
        assert!(matches!(s.receive(sync("client", &repo2, false)), Event::Sync { evicted: Some(gone), .. } if gone == id3));
        assert_eq!(s.documents().count(), 2);
        let Message::Sync { sender_id, target_id, .. } = s.sync(&repo1, vec![2]) else { panic!() };
        assert_eq!((sender_id.as_str(), target_id.as_str()), ("sync-server-test", "client"));
    }

    #[test]
    fn ephemeral_messages_of_subscribed_documents_are_relayed_within_the_size_limit() {
        let mut s = joined();
        let (id1, repo1) = doc(1);
        // Not subscribed yet: dropped.
        assert_eq!(s.receive(ephemeral("client", "a", 1, &repo1, 4)), Event::Ignore);
        s.receive(sync("client", &repo1, false));
        let message = ephemeral("other", "b", 1, &repo1, 8);
        assert_eq!(s.receive(message.clone()), Event::Relay { document: id1, message });
        assert_eq!(s.receive(ephemeral("client", "a", 2, &repo1, 9)), Event::Ignore);
    }

    #[test]
    fn a_relayed_ephemeral_message_is_readdressed_to_the_client_never_back_to_its_sender() {
        let (_, repo1) = doc(1);
        let from_other = ephemeral("other", "b", 3, &repo1, 2);
        assert_eq!(Session::new("sync-server-test", LIMITS).readdressed(&from_other), None, "nobody to address before the join");
        let s = joined();
        let Some(Message::Ephemeral { sender_id, target_id, count, session_id, document_id, data }) = s.readdressed(&from_other) else { panic!("readdressed") };
        assert_eq!((sender_id.as_str(), target_id.as_str(), count, session_id.as_str()), ("other", "client", 3, "b"));
        assert_eq!((document_id, data), (repo1.clone(), vec![0, 0]));
        assert_eq!(s.readdressed(&ephemeral("client", "a", 1, &repo1, 2)), None, "not its own message");
        assert_eq!(s.readdressed(&sync("other", &repo1, false)), None, "ephemeral messages only");
    }

    #[test]
    fn each_ephemeral_message_passes_the_filter_once_per_count_within_its_memory() {
        let mut f = EphemeralFilter::new(2);
        let (_, repo1) = doc(1);
        assert!(f.admit(&ephemeral("a", "s", 1, &repo1, 1)));
        // The same message back from another client (clients relay too), or an older one.
        assert!(!f.admit(&ephemeral("a", "s", 1, &repo1, 1)));
        assert!(!f.admit(&ephemeral("a", "s", 0, &repo1, 1)));
        assert!(f.admit(&ephemeral("a", "s", 2, &repo1, 1)));
        assert!(f.admit(&ephemeral("b", "s", 1, &repo1, 1)));
        // A third session with two remembered: the memory starts over rather than growing.
        assert!(f.admit(&ephemeral("c", "s", 1, &repo1, 1)));
        assert!(f.admit(&ephemeral("a", "s", 2, &repo1, 1)));
        assert!(!f.admit(&sync("a", &repo1, false)));
    }

    #[test]
    fn a_second_join_starts_over() {
        let mut s = joined();
        let (_, repo1) = doc(1);
        s.receive(sync("client", &repo1, false));
        let join = Message::Join { sender_id: "client-2".into(), peer_metadata: None, supported_protocol_versions: vec!["1".into()] };
        assert!(matches!(s.receive(join), Event::Reply(Message::Peer { .. })));
        assert_eq!(s.documents().count(), 0);
        assert_eq!(s.receive(sync("client", &repo1, false)), Event::Ignore);
        assert_eq!(s.receive(ephemeral("client-2", "a", 1, &repo1, 4)), Event::Ignore);
    }
}
