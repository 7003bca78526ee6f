//! A kept tail answers the fast path's lookups exactly as the store would, or not at all.
//!
//! The store is modelled by `Found::in_history` (what the SQL store answers, checked against
//! it by the storage conformance suite); a tail is seeded from a read of an older state and
//! follows the commits after it, and at every step its answer to random lookups must equal
//! the store's.

use std::collections::{BTreeMap, BTreeSet};

use automerge::{ActorId, Automerge, Change, ChangeHash, ROOT, transaction::Transactable};
use proptest::prelude::*;
use sync_core::server::{Found, Lookup, NewChange, TAIL_ROWS, Tail};

fn edit(doc: &mut Automerge, key: u8, value: u64) {
    let mut tx = doc.transaction();
    tx.put(ROOT, format!("k{key}"), value).unwrap();
    tx.commit();
}

/// Every actor's steps, merged into a server whose storage order is the order it received
/// changes in: the history, and after which prefix each step's commit ended.
fn history(steps: &[(u8, u8, bool)]) -> (Vec<Change>, Vec<usize>, Vec<Automerge>) {
    let mut actors: Vec<Automerge> = (1..=3u8).map(|a| Automerge::new().with_actor(ActorId::from(vec![a]))).collect();
    let mut server = Automerge::new();
    let mut history = Vec::new();
    let mut commits = Vec::new();
    for (i, &(actor, key, pull)) in steps.iter().enumerate() {
        let doc = &mut actors[usize::from(actor % 3)];
        if pull {
            doc.merge(&mut server.clone()).unwrap();
        }
        edit(doc, key % 4, i as u64);
        let before = server.get_heads();
        server.merge(doc).unwrap();
        history.extend(server.get_changes(&before));
        commits.push(history.len());
    }
    (history, commits, actors)
}

fn heads_of(history: &[Change]) -> Vec<ChangeHash> {
    let deps: BTreeSet<ChangeHash> = history.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let heads: BTreeSet<ChangeHash> = history.iter().map(Change::hash).filter(|h| !deps.contains(h)).collect();
    heads.into_iter().collect()
}

/// `found` in a comparable form: sets sorted, window rows with and without their bytes.
type Shape = (Vec<ChangeHash>, bool, BTreeMap<ChangeHash, u64>, BTreeMap<ActorId, u64>, BTreeSet<Vec<u8>>, Vec<String>);

fn shape(found: &Found) -> Shape {
    let mut heads = found.heads.clone();
    heads.sort();
    let rows = found.window.iter().map(|r| format!("{}@{} {:?} {}:{} {}..{}", r.hash, r.pos, r.deps, r.actor, r.seq, r.start_op, r.last_op)).collect();
    (
        heads,
        found.complete,
        found.deps_last_op.iter().map(|(h, n)| (*h, *n)).collect(),
        found.actor_seqs.clone().into_iter().collect(),
        found.changes.iter().cloned().collect(),
        rows,
    )
}

/// The tail's answer equals the store's; a window row's bytes may be missing in the tail (rows
/// it was seeded with before the read's anchor), never different.
fn agrees(tail: &Found, store: &Found) -> Result<(), TestCaseError> {
    prop_assert_eq!(shape(tail), shape(store));
    for (t, s) in tail.window.iter().zip(&store.window) {
        if let Some(bytes) = &t.bytes {
            prop_assert_eq!(Some(bytes), s.bytes.as_ref(), "bytes of {}", t.hash);
        }
    }
    Ok(())
}

fn lookup(history: &[Change], picks: &[usize], ops: &[(u8, u64)], actors: &[u8], window: bool) -> Lookup {
    let mut deps: Vec<ChangeHash> = picks.iter().map(|&i| history[history.len() - 1 - i % history.len()].hash()).collect();
    deps.sort();
    deps.dedup();
    let mut ops: Vec<(ActorId, u64)> = ops.iter().map(|&(a, c)| (ActorId::from(vec![a % 4 + 1]), c)).collect();
    ops.sort();
    ops.dedup();
    let actors = actors.iter().map(|&a| ActorId::from(vec![a % 4 + 1])).collect::<BTreeSet<_>>().into_iter().collect();
    Lookup { deps, ops, actors, window }
}

fn new_changes(changes: &[Change]) -> Vec<NewChange> {
    changes.iter().map(NewChange::of).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_tail_answers_as_the_store_does(
        steps in prop::collection::vec((0u8..3, 0u8..8, prop::bool::weighted(0.6)), 4..80),
        seed_at in 0usize..1000,
        anchor in 0usize..12,
        reads in prop::collection::vec(prop::option::weighted(0.3, 0usize..12), 80),
        lookups in prop::collection::vec((prop::collection::vec(0usize..20, 0..4), prop::collection::vec((0u8..4, 1u64..90), 0..3), prop::collection::vec(0u8..4, 0..3), any::<bool>()), 1..6),
    ) {
        let (history, commits, mut actors) = history(&steps);
        let start = commits[seed_at % commits.len()];
        let seeded = &history[..start];
        let read = Lookup { deps: vec![seeded[seeded.len() - 1 - anchor % seeded.len()].hash()], window: true, ..Lookup::default() };
        let Some(mut tail) = Tail::seed(&Found::in_history(seeded, &read), None) else { return Err(TestCaseError::fail("a read with a window seeds a tail")) };
        let mut answered = 0;
        let mut at = start;
        for (step, &end) in commits.iter().filter(|&&end| end > start).enumerate() {
            prop_assert!(tail.advance(&heads_of(&history[..at]), &new_changes(&history[at..end])), "follows a commit on its heads");
            at = end;
            let stored = &history[..at];
            // Now and then a read of the store (another client's, anchored elsewhere) replaces it.
            if let Some(back) = reads[step % reads.len()] {
                let read = Lookup { deps: vec![stored[stored.len() - 1 - back % stored.len()].hash()], window: true, ..Lookup::default() };
                tail = Tail::seed(&Found::in_history(stored, &read), Some(&tail)).unwrap_or(tail);
            }
            prop_assert_eq!(tail.heads().to_vec(), heads_of(stored));
            for (picks, ops, authors, window) in &lookups {
                let lookup = lookup(stored, picks, ops, authors, *window);
                if let Some(found) = tail.answer(&lookup, &[]) {
                    agrees(&found, &Found::in_history(stored, &lookup))?;
                    answered += 1;
                }
            }
            // The usual push: the newest author's next change, built on the heads.
            let newest = stored[at - 1].actor_id().clone();
            let doc = actors.iter_mut().find(|d| d.get_actor() == &newest).expect("an actor");
            let mut fork = doc.fork_at(&doc.get_heads()).unwrap().with_actor(newest.clone());
            // Answered whenever the heads are rows with the window's margin before them: committed
            // after the seed, and among the rows the tail keeps.
            let kept_from = start.max(at.saturating_sub(TAIL_ROWS - 5));
            let heads_kept = heads_of(stored).iter().all(|h| stored.iter().position(|c| c.hash() == *h).is_some_and(|i| i >= kept_from));
            if fork.get_heads() == heads_of(stored) && heads_kept {
                // A value no step wrote: a put of the value a key holds makes no change.
                edit(&mut fork, 0, u64::MAX);
                let change = fork.get_last_local_change().unwrap().clone();
                let mut deps = change.deps().to_vec();
                deps.push(change.hash());
                deps.sort();
                let usual = Lookup { deps, ops: vec![], actors: vec![newest], window: true };
                let found = tail.answer(&usual, &[&change]);
                prop_assert!(found.is_some(), "the newest author's push on the heads is answered");
                agrees(&found.unwrap(), &Found::in_history(stored, &usual))?;
            }
        }
        let _ = answered;
    }
}

/// Two pushes checked on the same heads commit together: the tail follows both (the second
/// names heads it passed through), and answers at the heads the store then has.
#[test]
fn a_tail_follows_two_pushes_checked_on_the_same_heads() {
    let (history, _, _) = history(&[(0, 0, false), (1, 1, true), (0, 2, true)]);
    let read = Lookup { deps: vec![history[0].hash()], window: true, ..Lookup::default() };
    let mut tail = Tail::seed(&Found::in_history(&history, &read), None).unwrap();
    let on = heads_of(&history);
    let mut a = Automerge::new().with_actor(ActorId::from(vec![8]));
    let mut b = Automerge::new().with_actor(ActorId::from(vec![9]));
    for doc in [&mut a, &mut b] {
        for c in &history {
            doc.apply_changes([c.clone()]).unwrap();
        }
        edit(doc, 1, 7);
    }
    let (ca, cb) = (a.get_last_local_change().unwrap().clone(), b.get_last_local_change().unwrap().clone());
    assert!(tail.advance(&on, &new_changes(std::slice::from_ref(&ca))));
    assert!(tail.advance(&on, &new_changes(std::slice::from_ref(&cb))), "checked on heads it passed through");
    // The same commit again (another writer stored it too) changes nothing.
    assert!(tail.advance(&on, &new_changes(std::slice::from_ref(&cb))));
    let stored: Vec<Change> = history.iter().cloned().chain([ca.clone(), cb.clone()]).collect();
    assert_eq!(tail.heads(), heads_of(&stored).as_slice());
    let lookup = Lookup { deps: vec![ca.hash(), history[1].hash()], ops: vec![], actors: vec![ActorId::from(vec![9])], window: true };
    let found = tail.answer(&lookup, &[]).expect("answered");
    assert_eq!(shape(&found), shape(&Found::in_history(&stored, &lookup)));
    // A commit checked on heads the tail never stood at cannot be followed.
    edit(&mut a, 2, 8);
    let later = a.get_last_local_change().unwrap().clone();
    assert!(!tail.advance(&[history[0].hash()], &new_changes(&[later])));
}

/// Reads racing commits: a read that already holds a commit's changes makes following it a
/// no-op; a read older than the tail does not replace it; a tail that cannot follow a commit
/// stays exact where it stands.
#[test]
fn reads_racing_commits_keep_the_tail_exact() {
    let steps: Vec<(u8, u8, bool)> = (0..12).map(|i| (i % 3, i % 4, true)).collect();
    let (history, commits, _) = history(&steps);
    let read_at = |n: usize| Found::in_history(&history[..n], &Lookup { deps: vec![history[n - 3].hash()], window: true, ..Lookup::default() });
    let (a, b, c) = (commits[8], commits[9], commits[10]);
    let mut tail = Tail::seed(&read_at(a), None).unwrap();
    // The commit a..b lands, another request reads the store before it is followed.
    let newer = Tail::seed(&read_at(b), Some(&tail)).expect("a newer read replaces the tail");
    assert_eq!(newer.heads().to_vec(), heads_of(&history[..b]));
    tail = newer;
    assert!(tail.advance(&heads_of(&history[..a]), &new_changes(&history[a..b])), "already rows");
    assert_eq!(tail.heads().to_vec(), heads_of(&history[..b]));
    // The tail follows b..c; a read from before that commit does not take its place.
    assert!(tail.advance(&heads_of(&history[..b]), &new_changes(&history[b..c])));
    assert!(Tail::seed(&read_at(b), Some(&tail)).is_none(), "keep the newer tail");
    // A commit checked on heads it never stood at is not followed, and it stays as it was.
    let before = tail.heads().to_vec();
    assert!(!tail.advance(&[history[0].hash()], &new_changes(&history[c..])));
    assert_eq!(tail.heads().to_vec(), before);
    let lookup = Lookup { deps: vec![history[c - 1].hash()], window: true, ..Lookup::default() };
    assert_eq!(shape(&tail.answer(&lookup, &[]).unwrap()), shape(&Found::in_history(&history[..c], &lookup)));
}

/// What the rows cannot settle is left to the store: a change older than the rows, an author
/// without a row, an op older than its author's oldest row, a window reaching before them.
#[test]
fn a_tail_leaves_what_its_rows_cannot_settle_to_the_store() {
    let steps: Vec<(u8, u8, bool)> = (0..(TAIL_ROWS as u8 + 20)).map(|i| (i % 2, i % 4, true)).collect();
    let (history, _, _) = history(&steps);
    let read = Lookup { deps: vec![history[history.len() - 1].hash()], window: true, ..Lookup::default() };
    let tail = Tail::seed(&Found::in_history(&history, &read), None).unwrap();
    let newest = history.len() - 1;
    let at = |i: usize| Lookup { deps: vec![history[i].hash()], window: false, ..Lookup::default() };
    assert!(tail.answer(&at(newest), &[]).is_some(), "the newest change is a row");
    assert!(tail.answer(&at(0), &[]).is_none(), "the first change is older than the rows");
    let unknown_author = Lookup { actors: vec![ActorId::from(vec![3])], ..at(newest) };
    assert!(tail.answer(&unknown_author, &[]).is_none(), "an author without a row may have older changes");
    let old_op = Lookup { ops: vec![(ActorId::from(vec![1]), 1)], ..at(newest) };
    assert!(tail.answer(&old_op, &[]).is_none(), "op 1 is older than the author's rows");
    let reaching = Lookup { window: true, ..at(newest - WINDOW_OF_ROWS) };
    assert!(tail.answer(&reaching, &[]).is_none(), "a window from before the rows");
}

/// Rows a seed from a read of the newest change carries: that change and the margin before it.
const WINDOW_OF_ROWS: usize = 4;
