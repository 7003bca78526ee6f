//! The hub's announcements of commits reported with their heads ([`LiveHub::moved`]).

use super::*;

const DOC: &str = "doc";

fn moved(before: &str, after: &str) -> Moved {
    Moved { id: DOC.into(), before: before.into(), after: after.into() }
}

/// A hub with one automerge-repo connection subscribed to [`DOC`], last announced at `heads`.
fn watching(heads: &[&str]) -> (LiveHub, Connected) {
    let hub = LiveHub::default();
    let conn = hub.connect("u", true).unwrap();
    hub.subscribe(conn.id, &[DocHeads { doc: DOC.into(), heads: heads.iter().map(|h| h.to_string()).collect() }]);
    (hub, conn)
}

/// The announcement waiting for the connection, taken: the heads it carries.
fn taken(hub: &LiveHub, conn: &mut Connected) -> Option<String> {
    match conn.queue.try_recv() {
        Ok(Queued::Changed(doc)) => hub.take_changed(conn.id, &doc),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(_) => None,
    }
}

#[test]
fn a_move_from_the_heads_last_announced_is_announced_with_its_heads() {
    let (hub, mut conn) = watching(&["a1"]);
    assert!(hub.moved(&moved("a1", "b1,b2")));
    assert_eq!(taken(&hub, &mut conn).as_deref(), Some("b1,b2"));
    assert!(hub.moved(&moved("b1,b2", "")), "heads as the empty document's");
    assert_eq!(taken(&hub, &mut conn).as_deref(), Some(""));
}

#[test]
fn a_move_from_other_heads_is_left_to_a_read_of_the_database() {
    let (hub, mut conn) = watching(&["a1"]);
    assert!(!hub.moved(&moved("x1", "y1")), "the hub never announced x1");
    assert_eq!(taken(&hub, &mut conn), None, "nothing announced");
    hub.heads_read(HashMap::from([(DOC.to_owned(), vec!["y1".to_owned()])]));
    assert_eq!(taken(&hub, &mut conn).as_deref(), Some("y1"), "the read announces");
}

#[test]
fn of_two_commits_from_the_same_heads_only_the_first_reported_is_taken() {
    let (hub, mut conn) = watching(&["a1"]);
    assert!(hub.moved(&moved("a1", "b1")));
    assert!(!hub.moved(&moved("a1", "c1")), "raced the first: its heads are not the database's");
    assert_eq!(taken(&hub, &mut conn).as_deref(), Some("b1"));
}

#[test]
fn a_late_report_of_an_older_move_never_sets_the_heads_back() {
    let (hub, mut conn) = watching(&["a1"]);
    // The second commit (b1 → c1) is reported before the first (a1 → b1).
    assert!(!hub.moved(&moved("b1", "c1")));
    hub.heads_read(HashMap::from([(DOC.to_owned(), vec!["c1".to_owned()])]));
    assert!(!hub.moved(&moved("a1", "b1")));
    assert_eq!(taken(&hub, &mut conn).as_deref(), Some("c1"));
    assert_eq!(taken(&hub, &mut conn), None, "announced once, at the newest heads");
}

#[test]
fn a_move_of_a_document_nobody_watches_needs_no_read() {
    let hub = LiveHub::default();
    assert!(hub.moved(&moved("a1", "b1")));
}

#[test]
fn an_admitted_connection_holds_its_place_until_dropped() {
    let hub = Arc::new(LiveHub::default());
    // Admitted, not yet upgraded: the places are taken already.
    let mut admitted: Vec<Admitted> = (0..MAX_CONNECTIONS_PER_USER).map(|_| hub.admit("u", true).unwrap()).collect();
    assert_eq!(hub.admit("u", false).err(), Some(Refused::UserFull), "one more than a user may hold");
    assert!(hub.admit("v", false).is_ok(), "another user's place is their own");
    // An upgrade that never happened (or a connection that ended) gives its place back.
    drop(admitted.pop());
    let again = hub.admit("u", false).expect("a place was given back");
    assert_eq!(hub.lock().per_user["u"], MAX_CONNECTIONS_PER_USER);
    drop((admitted, again));
    assert!(!hub.lock().per_user.contains_key("u"), "every place given back");
}
