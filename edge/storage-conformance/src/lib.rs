//! The conformance suite for the [`Database`] port: every backend (local libSQL file, sqld
//! over HTTP through the `libsql` crate, an embedded replica, and the wasm edges' own Hrana
//! client) runs exactly these checks.

use std::sync::Arc;

use automerge::{ActorId, Automerge, ROOT, transaction::Transactable};
use edge_app::ports::{Database, DbError, Statement, UnixMillis, Value};
use edge_app::store::{DocWrite, Store};
use sync_core::server::{Lookup, NewChange};
use sync_core::{DocumentId, Heads};

const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

fn unique_id() -> String {
    DocumentId::from_bytes(rand::random()).to_string()
}

/// Runs every check against `db`. Safe to run against a shared database: every check uses
/// fresh ids.
pub async fn run(db: Arc<dyn Database>) {
    let store = Store::new(db.clone());
    store.migrate(NOW).await.expect("migrates");
    assert!(store.migrate(NOW).await.unwrap().is_empty(), "second migrate applies nothing");
    let versions: Vec<i64> = edge_app::store::migrations::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(store.applied_migrations().await.unwrap(), versions);
    values_round_trip(db.as_ref()).await;
    batches_are_atomic(db.as_ref()).await;
    heads_follow_the_change_graph(&store).await;
    compaction_keeps_rows_written_after_it(&store).await;
    the_change_index_answers_the_fast_path(&store).await;
    the_change_graph_answers_the_window(&store).await;
    roles_counters_and_idempotency(&store).await;
    compaction_never_brings_a_deleted_document_back(&store).await;
    damaged_documents_are_recorded_and_skipped(&store).await;
    provider_keys_take_turns(&store).await;
    presence_is_limited_and_read_by_members_only(&store).await;
    owned_documents_are_counted_as_memberships_change(&store).await;
}

/// The documents-per-user quota reads a count the database keeps (triggers on `members`):
/// it follows creation, co-owners added and demoted, members removed and documents deleted.
async fn owned_documents_are_counted_as_memberships_change(store: &Store) {
    use edge_app::model::Role;
    let (alice, bob) = (format!("owner-{}", unique_id()), format!("owner-{}", unique_id()));
    let counted = async |user: &str| {
        let rows = store.db().query(Statement::new("SELECT COUNT(*) FROM members WHERE user_id = ?1 AND role = 'owner'", [user.into()])).await.unwrap();
        let kept = store.owned_count(user).await.unwrap();
        assert_eq!(rows.rows[0][0], Value::Integer(kept), "{user}'s kept count against the memberships");
        kept
    };
    assert_eq!(counted(&alice).await, 0);
    let (one, two) = (create(store, &alice).await, create(store, &alice).await);
    assert_eq!(counted(&alice).await, 2);
    store.set_member(&one, &bob, Role::Editor, NOW).await.unwrap();
    assert_eq!(counted(&bob).await, 0);
    store.set_member(&one, &bob, Role::Owner, NOW).await.unwrap();
    store.set_member(&one, &bob, Role::Owner, NOW).await.unwrap();
    assert_eq!(counted(&bob).await, 1, "made an owner once, however often set");
    store.set_member(&one, &bob, Role::Viewer, NOW).await.unwrap();
    assert_eq!(counted(&bob).await, 0);
    store.set_member(&two, &bob, Role::Owner, NOW).await.unwrap();
    assert!(store.remove_member(&two, &bob).await.unwrap());
    assert_eq!(counted(&bob).await, 0);
    store.delete_document(&one).await.unwrap();
    assert_eq!(counted(&alice).await, 1);
}

/// Presence over HTTP: the sender's limit is counted by the insert itself; a read joins the
/// membership, skips the reader's own session and what is older than its window. (Deleting
/// expired rows is global, so it is checked on a file of its own: edge/server's api_presence.)
async fn presence_is_limited_and_read_by_members_only(store: &Store) {
    use edge_app::store::NewPresence;
    let sender = format!("presence-{}", unique_id());
    let id = create(store, &sender).await;
    store.set_member(&id, "bob", edge_app::model::Role::Viewer, NOW).await.unwrap();
    let at = |ms: i64| UnixMillis(NOW.0 + ms);
    let nothing = UnixMillis(0);
    let message = |session| NewPresence { doc_id: &id, sender: &sender, session, data: r#"{"cursor":1}"# };
    let first = store.send_presence(&message("one"), at(0), 2, nothing).await.unwrap().expect("stored");
    let second = store.send_presence(&message("two"), at(10), 2, nothing).await.unwrap().expect("stored");
    assert!(second > first);
    assert_eq!(store.send_presence(&message("one"), at(20), 2, nothing).await.unwrap(), None, "a third within the second is refused");
    let third = store.send_presence(&message("one"), at(1_000), 2, nothing).await.unwrap().expect("the first left the last second");
    let docs = [id.clone(), unique_id()];
    let seqs = |rows: Vec<edge_app::store::PresenceRow>| rows.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(store.presence_after("bob", "", &docs, 0, at(0), 10).await.unwrap()), [first, second, third]);
    // A session hides the sender's own messages from the sender's reads naming it, only.
    let rows = store.presence_after(&sender, "one", &docs, first, at(0), 10).await.unwrap();
    assert_eq!(rows, [edge_app::store::PresenceRow { seq: second, doc_id: id.clone(), sender: sender.clone(), data: r#"{"cursor":1}"#.into() }]);
    assert_eq!(seqs(store.presence_after("bob", "one", &docs, first, at(0), 10).await.unwrap()), [second, third]);
    assert_eq!(seqs(store.presence_after("bob", "", &docs, 0, at(500), 10).await.unwrap()), [third], "older than the window");
    assert_eq!(seqs(store.presence_after("bob", "", &docs, 0, at(0), 1).await.unwrap()), [first], "at most the limit");
    assert!(store.presence_after("carol", "", &docs, 0, at(0), 10).await.unwrap().is_empty(), "members only");
}

/// The identity provider's cached key set: one turn to fetch per interval, whoever asks; a
/// set is replaced only by a newer one; a failure is recorded.
async fn provider_keys_take_turns(store: &Store) {
    let url = format!("https://id.example/{}/jwks.json", unique_id());
    let at = |secs: i64| UnixMillis(NOW.0 + secs * 1000);
    assert_eq!(store.provider_keys(&url).await.unwrap(), None);
    assert!(store.claim_provider_keys_refresh(&url, at(0), 60_000).await.unwrap(), "the first turn");
    assert!(!store.claim_provider_keys_refresh(&url, at(59), 60_000).await.unwrap(), "a second turn within the interval");
    assert!(store.claim_provider_keys_refresh(&url, at(60), 60_000).await.unwrap(), "a turn after it");
    store.save_provider_keys(&url, "{\"keys\":[1]}", at(61), at(661)).await.unwrap();
    store.save_provider_keys(&url, "{\"keys\":[0]}", at(50), at(650)).await.unwrap();
    store.record_provider_keys_failure(&url, at(70)).await.unwrap();
    let row = store.provider_keys(&url).await.unwrap().expect("the row");
    assert_eq!((row.document.as_str(), row.fetched_at, row.expires_at), ("{\"keys\":[1]}", at(61).0, at(661).0), "an older set never replaces a newer one");
    assert_eq!((row.attempted_at, row.failed_at), (at(60).0, at(70).0), "the last turn taken, the last failure");
}

async fn values_round_trip(db: &dyn Database) {
    db.execute_script("CREATE TABLE IF NOT EXISTS conformance_values (k TEXT PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n TEXT)").await.unwrap();
    let k = unique_id();
    let blob: Vec<u8> = (0..=255).collect();
    let inserted = db
        .query(Statement::new(
            "INSERT INTO conformance_values (k, i, r, t, b, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            [k.clone().into(), Value::Integer(i64::MIN), Value::Real(1.5), "héllo ✓".into(), blob.clone().into(), Value::Null],
        ))
        .await
        .unwrap();
    assert_eq!(inserted.affected, 1);
    let rows = db.query(Statement::new("SELECT i, r, t, b, n FROM conformance_values WHERE k = ?1", [k.into()])).await.unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Integer(i64::MIN), Value::Real(1.5), "héllo ✓".into(), blob.into(), Value::Null]]);
}

async fn batches_are_atomic(db: &dyn Database) {
    let k = unique_id();
    let insert = |v: i64| Statement::new("INSERT INTO conformance_values (k, i) VALUES (?1, ?2)", [k.clone().into(), Value::Integer(v)]);
    let update = Statement::new("UPDATE conformance_values SET i = 2 WHERE k = ?1", [k.clone().into()]);
    let err = db.batch(vec![insert(1), update, insert(3)]).await.unwrap_err();
    assert!(matches!(err, DbError::Constraint(_)), "duplicate key is a constraint error: {err:?}");
    let rows = db.query(Statement::new("SELECT COUNT(*) FROM conformance_values WHERE k = ?1", [k.clone().into()])).await.unwrap();
    assert_eq!(rows.rows[0][0], Value::Integer(0), "nothing of a failed batch remains");
    let ok = db.batch(vec![insert(1), Statement::new("UPDATE conformance_values SET i = i + 1 WHERE k = ?1", [k.into()])]).await.unwrap();
    assert_eq!((ok[0].affected, ok[1].affected), (1, 1));
}

fn change(doc: &mut Automerge, key: &str) -> NewChange {
    let mut tx = doc.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
    let c = doc.get_last_local_change().unwrap();
    NewChange::of(&c)
}

async fn create(store: &Store, owner: &str) -> String {
    let id = unique_id();
    store.db().batch(Store::create_document_statements(&id, owner, "", NOW)).await.unwrap();
    id
}

async fn heads_follow_the_change_graph(store: &Store) {
    let id = create(store, "alice").await;
    let mut a = Automerge::new().with_actor(ActorId::from(vec![1]));
    let a1 = change(&mut a, "a1");
    let a2 = change(&mut a, "a2");
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![a1.clone(), a2.clone()] }], NOW).await.unwrap();
    let state = store.load_state(&id).await.unwrap().unwrap();
    assert_eq!(state.heads, a2.hash.to_string());
    assert_eq!(state.changes.len(), 2);

    // A concurrent branch from a1 and a replay of a2: two heads, no duplicate rows.
    let mut b = Automerge::new().with_actor(ActorId::from(vec![2]));
    b.apply_changes([automerge::Change::try_from(a1.bytes.as_slice()).unwrap()]).unwrap();
    let b1 = change(&mut b, "b1");
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![b1.clone(), a2.clone()] }], NOW).await.unwrap();
    let state = store.load_state(&id).await.unwrap().unwrap();
    assert_eq!(state.heads, Heads::new(vec![a2.hash, b1.hash]).to_string());
    assert_eq!(state.changes.len(), 3);
    assert_eq!(store.load_heads(&id).await.unwrap(), Some(state.heads.clone()), "the heads alone read the same");
    // Counters move by what was really stored: the replayed a2 counts once.
    let row = store.document_for(&id, "alice").await.unwrap().unwrap();
    assert_eq!(row.change_rows, 3);
    assert_eq!(row.change_bytes, (a1.bytes.len() + a2.bytes.len() + b1.bytes.len()) as i64);

    // Writes to a document that does not exist store nothing.
    let ghost = unique_id();
    store.commit_sync(&[DocWrite { doc_id: ghost.clone(), changes: vec![a1.clone()] }], NOW).await.unwrap();
    assert!(store.load_state(&ghost).await.unwrap().is_none());
    assert!(store.load_heads(&ghost).await.unwrap().is_none());
    let empty = create(store, "alice").await;
    assert_eq!(store.load_heads(&empty).await.unwrap(), Some(String::new()));

    // Many documents in one read: each state as it reads alone, missing ones left out.
    let mut states = store.load_states(&[empty.as_str(), ghost.as_str(), id.as_str()]).await.unwrap();
    assert_eq!(states.len(), 2, "the missing document is left out");
    let (many, alone) = (states.remove(&id).unwrap(), store.load_state(&id).await.unwrap().unwrap());
    assert_eq!((&many.heads, &many.snapshot, &many.changes, many.max_seq), (&alone.heads, &alone.snapshot, &alone.changes, alone.max_seq));
    assert_eq!(many.changes, vec![a1.bytes.clone(), a2.bytes.clone(), b1.bytes.clone()], "in the order stored");
    let none = states.remove(&empty).unwrap();
    assert!(none.heads.is_empty() && none.changes.is_empty() && none.snapshot.is_none() && none.max_seq == 0);
}

/// What the append fast path reads (`Store::find_ops`): the changes holding the ops a push refers
/// to, its dependencies' last ops, each actor's last seq; through compaction, until deletion.
async fn the_change_index_answers_the_fast_path(store: &Store) {
    let id = create(store, "alice").await;
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![5]));
    let changes: Vec<NewChange> = (0..3).map(|i| change(&mut doc, &format!("k{i}"))).collect();
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: changes.clone() }], NOW).await.unwrap();
    let stranger = ActorId::from(vec![6]);
    let lookup = Lookup {
        deps: vec![changes[2].hash],
        ops: vec![(doc.get_actor().clone(), 2), (doc.get_actor().clone(), 3), (stranger.clone(), 1)],
        actors: vec![doc.get_actor().clone(), stranger],
        window: false,
    };
    let check = |found: sync_core::server::Found| {
        assert!(found.complete);
        assert_eq!(found.heads, vec![changes[2].hash]);
        assert_eq!(found.deps_last_op, [(changes[2].hash, 3)].into_iter().collect());
        assert_eq!(found.actor_seqs, [(doc.get_actor().clone(), 3)].into_iter().collect());
        let mut found_changes = found.changes;
        found_changes.sort();
        let mut want = vec![changes[1].bytes.clone(), changes[2].bytes.clone()];
        want.sort();
        assert_eq!(found_changes, want, "the changes holding ops 2 and 3, each once");
    };
    check(store.find_ops(&id, &lookup).await.unwrap());
    // Compaction folds the rows into a snapshot; the index keeps them.
    let state = store.load_state(&id).await.unwrap().unwrap();
    let compacted = sync_core::document::compact(sync_core::document::StoredDoc { snapshot: None, changes: &state.changes }).unwrap();
    store.commit_compaction(&id, compacted.snapshot, &compacted.heads.to_string(), state.max_seq, NOW).await.unwrap();
    check(store.find_ops(&id, &lookup).await.unwrap());
    // A deleted document leaves nothing to vouch for, even if its id comes back.
    store.delete_document(&id).await.unwrap();
    store.db().batch(Store::create_document_statements(&id, "alice", "", NOW)).await.unwrap();
    let found = store.find_ops(&id, &lookup).await.unwrap();
    assert!(found.complete && found.changes.is_empty() && found.deps_last_op.is_empty() && found.actor_seqs.is_empty());
}

/// The window of the newest changes (`Found::window`): the order changes were stored in, each
/// placed once, read from a margin before the oldest looked-up change — exactly what
/// sync-core's in-memory model of a store answers; and the bytes of the changes a pull sends.
async fn the_change_graph_answers_the_window(store: &Store) {
    let id = create(store, "alice").await;
    let mut a = Automerge::new().with_actor(ActorId::from(vec![7]));
    let first: Vec<NewChange> = (0..12).map(|i| change(&mut a, &format!("a{i}"))).collect();
    let mut b = a.fork_at(&[first[5].hash]).unwrap().with_actor(ActorId::from(vec![8]));
    let branch: Vec<NewChange> = (0..3).map(|i| change(&mut b, &format!("b{i}"))).collect();
    let more: Vec<NewChange> = (12..20).map(|i| change(&mut a, &format!("a{i}"))).collect();
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: first.clone() }], NOW).await.unwrap();
    // A replayed change, and one listed twice, are neither placed nor counted again.
    let replayed = [branch.clone(), vec![first[11].clone(), more[0].clone()], more.clone()].concat();
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: replayed }], NOW).await.unwrap();
    let history: Vec<automerge::Change> =
        [first, branch.clone(), more.clone()].concat().iter().map(|c| automerge::Change::try_from(c.bytes.as_slice()).unwrap()).collect();
    let row = store.document_for(&id, "alice").await.unwrap().unwrap();
    assert_eq!((row.change_rows, row.change_bytes), (23, history.iter().map(|c| c.raw_bytes().len() as i64).sum()));
    assert_eq!(store.load_heads(&id).await.unwrap(), Some(Heads::new(vec![more[7].hash, branch[2].hash]).to_string()));

    let lookup = Lookup { deps: vec![history[22].hash(), history[21].hash(), automerge::ChangeHash([3; 32])], window: true, ..Lookup::default() };
    let mut found = store.find_ops(&id, &lookup).await.unwrap();
    found.window.sort_by_key(|r| r.pos);
    let want = sync_core::server::Found::in_history(&history, &lookup).window;
    assert_eq!(
        found.window.iter().map(|r| r.pos).collect::<Vec<_>>(),
        (22 - sync_core::server::graph::WINDOW_MARGIN..=23).collect::<Vec<_>>(),
        "WINDOW_MARGIN before the oldest looked up (22nd stored) to the newest"
    );
    assert_eq!(found.window, want, "as sync-core's model of a store");
    let carried: Vec<u64> = found.window.iter().filter(|r| r.bytes.is_some()).map(|r| r.pos).collect();
    assert_eq!(carried, vec![23], "the bytes of the changes after the oldest looked up come along");
    // A branch's change, from a window starting at it.
    let on_branch = Lookup { deps: vec![branch[0].hash], ..lookup.clone() };
    let mut found = store.find_ops(&id, &on_branch).await.unwrap();
    found.window.sort_by_key(|r| r.pos);
    assert_eq!(found.window, sync_core::server::Found::in_history(&history, &on_branch).window);
    assert_eq!(found.window.iter().find(|r| r.hash == branch[0].hash).map(|r| r.deps.clone()), Some(vec![history[5].hash()]));
    assert_eq!(found.window.iter().find(|r| r.hash == branch[0].hash).map(|r| (r.start_op, r.last_op)), Some((7, 7)));
    // Not asked: none.
    let found = store.find_ops(&id, &Lookup { window: false, ..lookup.clone() }).await.unwrap();
    assert!(found.window.is_empty());

    let pull = [history[22].hash(), branch[1].hash];
    let bytes = store.changes_by_hash(&id, &pull).await.unwrap().expect("both stored");
    assert_eq!(bytes, vec![history[22].raw_bytes().to_vec(), branch[1].bytes.clone()], "in the order asked");
    assert_eq!(store.changes_by_hash(&id, &[automerge::ChangeHash([3; 32])]).await.unwrap(), None);
    store.delete_document(&id).await.unwrap();
    assert!(store.find_ops(&id, &lookup).await.unwrap().window.is_empty(), "deleted with the document");
}

async fn compaction_keeps_rows_written_after_it(store: &Store) {
    let id = create(store, "alice").await;
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![3]));
    let first: Vec<NewChange> = (0..3).map(|i| change(&mut doc, &format!("k{i}"))).collect();
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: first }], NOW).await.unwrap();
    let before = store.load_state(&id).await.unwrap().unwrap();
    let compacted = sync_core::document::compact(sync_core::document::StoredDoc { snapshot: None, changes: &before.changes }).unwrap();

    // A sync lands between reading and committing the compaction.
    let late = change(&mut doc, "late");
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![late.clone()] }], NOW).await.unwrap();
    store.commit_compaction(&id, compacted.snapshot.clone(), &compacted.heads.to_string(), before.max_seq, NOW).await.unwrap();

    let after = store.load_state(&id).await.unwrap().unwrap();
    assert_eq!(after.changes, vec![late.bytes.clone()], "only the late row remains");
    assert_eq!(after.snapshot.as_deref(), Some(compacted.snapshot.as_slice()));
    let loaded = sync_core::document::load(sync_core::document::StoredDoc { snapshot: after.snapshot.as_deref(), changes: &after.changes }).unwrap();
    assert_eq!(loaded.get_heads(), doc.get_heads());

    // An older compaction arriving late must not replace the newer snapshot.
    store.commit_compaction(&id, b"stale".to_vec(), "", before.max_seq - 1, NOW).await.unwrap();
    let again = store.load_state(&id).await.unwrap().unwrap();
    assert_eq!(again.snapshot.as_deref(), Some(compacted.snapshot.as_slice()));
}

async fn roles_counters_and_idempotency(store: &Store) {
    let id = create(store, "alice").await;
    store.set_member(&id, "bob", edge_app::model::Role::Viewer, NOW).await.unwrap();
    // One statement answers role and tip for each document of a batch the user is a member of.
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![6]));
    let edit = change(&mut doc, "x");
    let (hash, bytes) = (edit.hash, edit.bytes.len() as i64);
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![edit] }], NOW).await.unwrap();
    let empty = create(store, "bob").await;
    let foreign = create(store, "carol").await;
    let tips = store.roles_and_tips("bob", &[id.clone(), empty.clone(), foreign, unique_id()]).await.unwrap();
    assert_eq!(tips.len(), 2, "only documents bob is a member of: {tips:?}");
    let (role, tip) = &tips[&id];
    assert_eq!(*role, edge_app::model::Role::Viewer);
    assert_eq!(tip.heads, hash.to_string());
    assert_eq!(tip.stored_bytes, bytes);
    assert_eq!(tips[&empty], (edge_app::model::Role::Owner, edge_app::store::Tip { heads: String::new(), stored_bytes: 0 }));
    // Several heads (concurrent changes): sorted, comma-separated, as `Heads` prints them.
    let forked = create(store, "bob").await;
    let (mut a, mut b) = (Automerge::new().with_actor(ActorId::from(vec![7])), Automerge::new().with_actor(ActorId::from(vec![8])));
    let (one, two) = (change(&mut a, "y"), change(&mut b, "z"));
    let mut heads = [one.hash.to_string(), two.hash.to_string()];
    heads.sort();
    store.commit_sync(&[DocWrite { doc_id: forked.clone(), changes: vec![two, one] }], NOW).await.unwrap();
    assert_eq!(store.roles_and_tips("bob", std::slice::from_ref(&forked)).await.unwrap()[&forked].1.heads, heads.join(","));
    // Several users of one document at once (the pushes of one commit): members only, one tip.
    let users = ["alice", "bob", "carol", "nobody"].map(String::from);
    let (roles, tip) = store.roles_of_users_and_tip(&id, &users).await.unwrap();
    assert_eq!(roles, [("alice".to_owned(), edge_app::model::Role::Owner), ("bob".to_owned(), edge_app::model::Role::Viewer)].into());
    assert_eq!((tip.heads, tip.stored_bytes), (hash.to_string(), bytes));
    store.delete_document(&empty).await.unwrap();
    assert!(store.roles_and_tips("bob", &[empty.clone()]).await.unwrap().is_empty(), "a deleted document has no tip");
    assert!(store.roles_of_users_and_tip(&empty, &users).await.unwrap().0.is_empty(), "nor members");
    let key = format!("rl-{}", unique_id());
    assert_eq!(store.count_request(&key, 7).await.unwrap(), 1);
    assert_eq!(store.count_request(&key, 7).await.unwrap(), 2);
    assert_eq!(store.count_request(&key, 8).await.unwrap(), 1);
    assert!(store.remove_member(&id, "bob").await.unwrap());
    assert!(!store.remove_member(&id, "bob").await.unwrap());
}

async fn compaction_never_brings_a_deleted_document_back(store: &Store) {
    let id = create(store, "alice").await;
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![4]));
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![change(&mut doc, "gone")] }], NOW).await.unwrap();
    let before = store.load_state(&id).await.unwrap().unwrap();
    let compacted = sync_core::document::compact(sync_core::document::StoredDoc { snapshot: None, changes: &before.changes }).unwrap();
    // Deleted (and created again under the same id) while the compaction ran.
    store.delete_document(&id).await.unwrap();
    store.commit_compaction(&id, compacted.snapshot.clone(), &compacted.heads.to_string(), before.max_seq, NOW).await.unwrap();
    assert!(store.load_state(&id).await.unwrap().is_none());
    store.db().batch(Store::create_document_statements(&id, "bob", "", NOW)).await.unwrap();
    let recreated = store.load_state(&id).await.unwrap().unwrap();
    assert!(recreated.snapshot.is_none(), "the old document's snapshot came back");
    assert!(recreated.changes.is_empty() && recreated.heads.is_empty());
}

async fn damaged_documents_are_recorded_and_skipped(store: &Store) {
    let id = create(store, "alice").await;
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![5]));
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![change(&mut doc, "a"), change(&mut doc, "b")] }], NOW).await.unwrap();
    // Unfinished compactions are counted until one commits.
    assert_eq!(store.begin_compaction(&id, NOW).await.unwrap(), 1);
    assert_eq!(store.begin_compaction(&id, NOW).await.unwrap(), 2);
    let before = store.load_state(&id).await.unwrap().unwrap();
    let compacted = sync_core::document::compact(sync_core::document::StoredDoc { snapshot: None, changes: &before.changes }).unwrap();
    store.commit_compaction(&id, compacted.snapshot, &compacted.heads.to_string(), before.max_seq, NOW).await.unwrap();
    assert_eq!(store.begin_compaction(&id, NOW).await.unwrap(), 1, "a commit clears the count");

    // A damaged document is listed once, with its latest sighting, and is no candidate.
    store.commit_sync(&[DocWrite { doc_id: id.clone(), changes: vec![change(&mut doc, "c")] }], NOW).await.unwrap();
    assert!(store.compaction_candidates(1, 1_000_000).await.unwrap().contains(&id));
    let count = store.damaged_count().await.unwrap();
    store.mark_damaged(&id, "first", NOW).await.unwrap();
    store.mark_damaged(&id, "again", UnixMillis(NOW.0 + 5)).await.unwrap();
    assert_eq!(store.damaged_count().await.unwrap(), count + 1);
    let listed = store.damaged_documents(1_000_000).await.unwrap();
    let entry = listed.iter().find(|d| d.doc_id == id).expect("listed");
    assert_eq!((entry.reason.as_str(), entry.first_seen, entry.last_seen), ("again", NOW.0, NOW.0 + 5));
    assert!(!store.compaction_candidates(1, 1_000_000).await.unwrap().contains(&id));
}
