//! Randomised multi-peer convergence: several clients edit two documents through one stateless
//! edge under random offline periods, message loss, duplication and reordering. After the
//! faults stop and everyone syncs, every replica must be identical and hold every edit made.
//!
//! `SYNC_SCHEDULES=N` sets how many schedules run (default 1,000); `SYNC_SEED=S` replays one.

mod support;

use automerge::{ReadDoc, ScalarValue, transaction::Transactable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{Edge, Peer, base_document, obj};
use sync_core::DocumentId;

/// What a schedule expects to find at the end.
#[derive(Default)]
struct Expected {
    map_keys: Vec<Vec<String>>,
    list_values: Vec<Vec<i64>>,
    text_chars: Vec<usize>,
    hashes: Vec<automerge::ChangeHash>,
}

/// A message in flight that the network may deliver late or twice.
enum InFlight {
    Request { from: usize, bytes: Vec<u8> },
    Response { to: usize, bytes: Vec<u8> },
}

fn edit(peer: &mut Peer, doc: usize, rng: &mut StdRng, counter: &mut i64, expected: &mut Expected) {
    let name = peer.name;
    let replica = peer.replica(doc);
    let mut tx = replica.doc.transaction();
    *counter += 1;
    match rng.random_range(0..3) {
        0 => {
            let key = format!("p{}-{}", name, counter);
            let map = obj(&tx, "map");
            tx.put(&map, key.as_str(), *counter).unwrap();
            expected.map_keys[doc].push(key);
        }
        1 => {
            let list = obj(&tx, "list");
            let at = rng.random_range(0..=tx.length(&list));
            tx.insert(&list, at, *counter).unwrap();
            expected.list_values[doc].push(*counter);
        }
        _ => {
            let text = obj(&tx, "text");
            let at = rng.random_range(0..=tx.length(&text));
            let s = format!("<{}>", counter);
            tx.splice_text(&text, at, 0, &s).unwrap();
            expected.text_chars[doc] += s.chars().count();
        }
    }
    let (hash, _) = tx.commit();
    expected.hashes.push(hash.expect("edit made a change"));
}

/// Per schedule: requests the append fast path took, those behind the heads, pushes checked on
/// a kept copy, fast-path reads a kept tail answered.
type Counts = (usize, usize, usize, usize);

fn run_schedule(seed: u64) -> Result<Counts, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let base = base_document();
    let doc_ids = [DocumentId::from_bytes([1; 16]), DocumentId::from_bytes([2; 16])];
    let docs: Vec<(DocumentId, &[u8])> = doc_ids.iter().map(|id| (*id, base.as_slice())).collect();
    let n_peers = rng.random_range(3..=5);
    let mut peers: Vec<Peer> = (0..n_peers).map(|i| Peer::new(i, &docs, seed * 8 + i as u64)).collect();
    let mut online = vec![true; n_peers];
    let mut edge = Edge::default();
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut expected = Expected {
        map_keys: vec![Vec::new(); 2],
        list_values: vec![Vec::new(); 2],
        text_chars: vec![0; 2],
        hashes: Vec::new(),
    };
    let mut counter = 0;

    for _ in 0..rng.random_range(10..40) {
        let p = rng.random_range(0..n_peers);
        match rng.random_range(0..10) {
            0..=3 => {
                let doc = rng.random_range(0..2);
                edit(&mut peers[p], doc, &mut rng, &mut counter, &mut expected);
            }
            4 => online[p] = !online[p],
            5..=7 if online[p] => {
                let request = peers[p].request();
                match rng.random_range(0..10) {
                    0 => {} // request lost
                    1 => in_flight.push(InFlight::Request { from: p, bytes: request }),
                    _ => {
                        let response = edge.handle(&request);
                        if rng.random_bool(0.15) {
                            edge.handle(&request); // duplicated on the way
                        }
                        match rng.random_range(0..10) {
                            0 => {} // response lost
                            1 => in_flight.push(InFlight::Response { to: p, bytes: response }),
                            _ => {
                                peers[p].apply(&response);
                            }
                        }
                    }
                }
            }
            8 if !in_flight.is_empty() => {
                // Deliver a delayed message, out of order.
                match in_flight.swap_remove(rng.random_range(0..in_flight.len())) {
                    InFlight::Request { from, bytes } => {
                        let response = edge.handle(&bytes);
                        if online[from] && rng.random_bool(0.5) {
                            peers[from].apply(&response);
                        }
                    }
                    InFlight::Response { to, bytes } => {
                        peers[to].apply(&bytes);
                    }
                }
            }
            9 => edge.compact_all(),
            _ => {}
        }
    }

    // Faults stop: everyone comes online and syncs until quiet.
    let mut passes = 0;
    loop {
        passes += 1;
        for peer in peers.iter_mut() {
            let response = edge.handle(&peer.request());
            peer.apply(&response);
        }
        let server_heads: Vec<_> = doc_ids.iter().map(|id| edge.docs[id].load().get_heads()).collect();
        let converged = peers
            .iter()
            .all(|peer| peer.docs.iter().zip(&server_heads).all(|((_, r), h)| &r.doc.get_heads() == h));
        if converged {
            break;
        }
        if passes == 4 {
            return Err(format!("not converged after {passes} passes"));
        }
    }

    check(&mut peers, &edge, &doc_ids, &expected)
}

fn check(peers: &mut [Peer], edge: &Edge, doc_ids: &[DocumentId], expected: &Expected) -> Result<Counts, String> {
    for (d, id) in doc_ids.iter().enumerate() {
        let server = edge.docs[id].load();
        let server_value = server.hydrate(None);
        for peer in peers.iter_mut() {
            let doc = &peer.replica(d).doc;
            if doc.hydrate(None) != server_value {
                return Err(format!("peer {} doc {d} differs from the server", peer.name));
            }
        }
        let map = obj(&server, "map");
        for key in &expected.map_keys[d] {
            if server.get(&map, key.as_str()).unwrap().is_none() {
                return Err(format!("doc {d} lost map key {key}"));
            }
        }
        let list = obj(&server, "list");
        let mut values: Vec<i64> = server
            .list_range(&list, ..)
            .filter_map(|item| match item.value.into_value() {
                automerge::Value::Scalar(v) => match v.as_ref() {
                    ScalarValue::Int(i) => Some(*i),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        values.sort_unstable();
        let mut want = expected.list_values[d].clone();
        want.sort_unstable();
        if values != want {
            return Err(format!("doc {d} list has {values:?}, expected {want:?}"));
        }
        let text = obj(&server, "text");
        let chars = server.text(&text).unwrap().chars().count();
        if chars != expected.text_chars[d] {
            return Err(format!("doc {d} text has {chars} chars, expected {}", expected.text_chars[d]));
        }
    }
    let all: Vec<_> = doc_ids.iter().map(|id| edge.docs[id].load()).collect();
    for h in &expected.hashes {
        if all.iter().all(|doc| doc.get_change_meta_by_hash(h).is_none()) {
            return Err(format!("change {h} was lost"));
        }
    }
    if let Some(m) = edge.mismatches.first() {
        return Err(format!("fast path disagreed with merge: {m}"));
    }
    Ok((edge.appended, edge.behind, edge.kept_checked, edge.tail_answered))
}

#[test]
fn every_schedule_converges_without_losing_edits() {
    let seeds: Vec<u64> = match std::env::var("SYNC_SEED") {
        Ok(s) => vec![s.parse().expect("SYNC_SEED is a number")],
        Err(_) => {
            let n = std::env::var("SYNC_SCHEDULES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000);
            (0..n).collect()
        }
    };
    // Schedules are independent: spread them over the cores (each seed still replays alone).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(seeds.len().max(1));
    let results: Vec<(Counts, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let seeds = &seeds;
                scope.spawn(move || {
                    let (mut appended, mut failures) = ((0, 0, 0, 0), Vec::new());
                    for &seed in seeds.iter().skip(w).step_by(workers) {
                        match run_schedule(seed) {
                            Ok((n, behind, kept, tail)) => appended = (appended.0 + n, appended.1 + behind, appended.2 + kept, appended.3 + tail),
                            Err(e) => failures.push(format!("seed {seed}: {e} (replay: SYNC_SEED={seed})")),
                        }
                    }
                    (appended, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a schedule panicked")).collect()
    });
    let appended: usize = results.iter().map(|((n, _, _, _), _)| n).sum();
    let behind: usize = results.iter().map(|((_, b, _, _), _)| b).sum();
    let kept: usize = results.iter().map(|((_, _, k, _), _)| k).sum();
    let tail: usize = results.iter().map(|((_, _, _, t), _)| t).sum();
    let failures: Vec<String> = results.into_iter().flat_map(|(_, f)| f).collect();
    assert!(failures.is_empty(), "{} of {} schedules failed:\n{}", failures.len(), seeds.len(), failures.join("\n"));
    if seeds.len() >= 100 {
        assert!(appended >= seeds.len(), "the append fast path took only {appended} requests in {} schedules", seeds.len());
        assert!(behind >= seeds.len(), "the window answered only {behind} requests behind the heads in {} schedules", seeds.len());
        assert!(kept >= seeds.len(), "a kept copy accepted only {kept} pushes in {} schedules", seeds.len());
        assert!(tail >= seeds.len(), "a kept tail answered only {tail} reads in {} schedules", seeds.len());
    }
    println!(
        "{} schedules converged; {appended} requests took the append fast path, {behind} of them behind the heads; {kept} pushes checked on a kept copy; {tail} reads answered by a kept tail",
        seeds.len()
    );
}
