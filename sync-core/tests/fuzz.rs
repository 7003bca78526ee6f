//! Fuzz targets (bolero) for everything that reads bytes a client sent: the wire decoder, the
//! pushed-chunk reader, and the server's two merge paths.
//!
//! Under `cargo test` every target replays its committed corpus
//! (`tests/__fuzz__/<target>/corpus`) and then generates random inputs for
//! `BOLERO_RANDOM_TEST_TIME_MS` (1 s unless set; the test command sets it). The same targets
//! run under a coverage-guided engine with `cargo bolero test -p edgesync-sync-core --test fuzz
//! <target>` (docs/testing.md).
//!
//! Random bytes rarely get past an automerge chunk's checksum, so the chunk targets are
//! structure-aware: they take honest chunks (changes, a compressed change, a saved document),
//! apply generated edits to the chunk *body*, and re-frame it with the right length and
//! checksum, which is what a hostile client with a copy of automerge would send.
//!
//! The property is the server's contract: whatever arrives, reading and merging it returns a
//! per-document answer and never panics out of the call (on the wasm edges a panic aborts the
//! instance), and what the full merge accepts still loads together with what was stored.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use automerge::{ActorId, Automerge, ObjType, ROOT, transaction::Transactable};
use bolero::check;
use sha2::{Digest, Sha256};
use sync_core::chunk;
use sync_core::document::{self, StoredDoc};
use sync_core::inspect::frame_chunk;
use sync_core::server::{self, Access};
use sync_core::{DocRequest, DocResponse, DocStatus, DocumentId, Heads, Limits, SyncRequest, SyncResponse};

const ID: DocumentId = DocumentId::from_bytes([7; 16]);

/// Prints a target's executions and how many of them got through to the step under test (an
/// accepted chunk or a stored change), so a run's log (and the docs) can record them.
fn report(target: &str, runs: &AtomicU64, accepted: &AtomicU64) {
    let (runs, accepted) = (runs.load(Ordering::Relaxed), accepted.load(Ordering::Relaxed));
    eprintln!("fuzz target {target}: {runs} executions ({accepted} accepted), no crash");
}

/// The document every chunk target starts from: a map, a list, text with a mark and a
/// counter, edited by two actors.
struct Base {
    /// The stored form: the first change as a snapshot, the rest as change rows.
    snapshot: Vec<u8>,
    rows: Vec<Vec<u8>>,
    /// Every change of the document, as the store's change index holds them.
    history: Vec<automerge::Change>,
    heads: Heads,
    /// Honest chunks a client could push on top of it.
    seeds: Vec<Vec<u8>>,
}

static BASE: LazyLock<Base> = LazyLock::new(|| {
    let mut doc = Automerge::new().with_actor(ActorId::from(vec![0xaa; 16]));
    let mut tx = doc.transaction();
    let map = tx.put_object(ROOT, "m", ObjType::Map).unwrap();
    tx.put(&map, "k", "v").unwrap();
    let list = tx.put_object(ROOT, "l", ObjType::List).unwrap();
    for (i, v) in ["x", "y", "z"].into_iter().enumerate() {
        tx.insert(&list, i, v).unwrap();
    }
    let text = tx.put_object(ROOT, "t", ObjType::Text).unwrap();
    tx.splice_text(&text, 0, 0, "hello").unwrap();
    tx.put(ROOT, "c", automerge::ScalarValue::counter(1)).unwrap();
    tx.commit();
    let snapshot = doc.save();

    let mut other = doc.fork().with_actor(ActorId::from(vec![0xbb; 16]));
    let mut tx = other.transaction();
    tx.increment(ROOT, "c", 2).unwrap();
    tx.delete(&list, 1).unwrap();
    tx.mark(&text, automerge::marks::Mark::new("bold".into(), true, 1, 3), automerge::marks::ExpandMark::After).unwrap();
    tx.commit();
    doc.merge(&mut other).unwrap();
    let rows: Vec<Vec<u8>> = doc.get_changes(&[]).iter().skip(1).map(|c| c.raw_bytes().to_vec()).collect();
    let heads = Heads::new(doc.get_heads());
    let history = doc.get_changes(&[]);

    // What a client would push next: small edits of each kind, one big (compressed) change,
    // and the whole document saved with them.
    let mut client = doc.fork().with_actor(ActorId::from(vec![0xcc; 16]));
    let mut seeds = Vec::new();
    let edits: [&dyn Fn(&mut automerge::transaction::Transaction<'_>); 4] = [
        &|tx| tx.put(&map, "k", "w").map(drop).unwrap(),
        &|tx| tx.insert(&list, 1, 42).map(drop).unwrap(),
        &|tx| tx.splice_text(&text, 2, 1, "LL").map(drop).unwrap(),
        &|tx| tx.splice_text(&text, 0, 0, &"long ".repeat(80)).map(drop).unwrap(),
    ];
    for edit in edits {
        let mut tx = client.transaction();
        edit(&mut tx);
        tx.commit();
        let mut change = client.get_last_local_change().unwrap().clone();
        seeds.push(change.raw_bytes().to_vec());
        if change.bytes()[8] == 2 {
            seeds.push(change.bytes().into_owned());
        }
    }
    seeds.push(client.save());
    Base { snapshot, rows, history, heads, seeds }
});

/// One edit of a chunk body: `(where, what, byte)`.
type Edit = (u16, u8, u8);

/// What a target does with its input: the first byte picks (seed, flags), every following
/// 4 bytes are one [`Edit`] (at most [`MAX_EDITS`], so most inputs stay close to a valid chunk).
/// Inputs are plain bytes so the committed corpus and a coverage-guided engine share them.
fn plan(input: &[u8]) -> (u8, Vec<Edit>) {
    let Some((&pick, rest)) = input.split_first() else { return (0, Vec::new()) };
    let edits = rest.chunks_exact(4).take(MAX_EDITS).map(|e| (u16::from_le_bytes([e[0], e[1]]), e[2], e[3])).collect();
    (pick, edits)
}

const MAX_EDITS: usize = 6;

/// `body` with `edits` applied.
fn edited(mut body: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for &(at, what, byte) in edits {
        let at = usize::from(at) % (body.len() + 1);
        match what % 5 {
            0 if at < body.len() => body[at] = byte,
            1 => body.insert(at, byte),
            2 if at < body.len() => {
                body.remove(at);
            }
            3 if at < body.len() => body[at] ^= 1 << (byte % 8),
            // A small LEB128-looking run, the kind of value every column is made of.
            4 => body.splice(at..at, [0x80 | byte, 0x80, byte & 0x7f]).for_each(drop),
            _ => {}
        }
    }
    body
}

/// `seed` with `edits` applied to its body, re-framed with a correct length and checksum.
fn mutated(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let (chunk_type, header_len) = header(seed);
    let body = edited(seed[header_len..].to_vec(), edits);
    // Compressed changes keep their (now wrong) checksum: automerge checks it after inflating.
    let checksum = if chunk_type == 2 { seed[4..8].try_into().unwrap() } else { checksum(chunk_type, &body) };
    frame_chunk(chunk_type, checksum, &body)
}

fn header(chunk: &[u8]) -> (u8, usize) {
    let mut at = 9;
    while chunk[at] & 0x80 != 0 {
        at += 1;
    }
    (chunk[8], at + 1)
}

/// automerge's chunk checksum: the first 4 bytes of SHA-256(type || uLEB128(len) || body),
/// which is the framed chunk after its magic bytes and checksum.
fn checksum(chunk_type: u8, body: &[u8]) -> [u8; 4] {
    Sha256::digest(&frame_chunk(chunk_type, [0; 4], body)[8..])[..4].try_into().unwrap()
}

/// The chunks a plan pushes: one seed with the edits applied, and when bit 0x80 of `pick` is
/// set, a second, honest seed after it (a bad chunk must spoil the whole push).
fn pushed(pick: u8, edits: &[Edit]) -> Vec<Vec<u8>> {
    let seeds = &BASE.seeds;
    let mut chunks = vec![mutated(&seeds[usize::from(pick & 0x0f) % seeds.len()], edits)];
    if pick & 0x80 != 0 {
        chunks.push(seeds[usize::from(pick >> 4 & 0x07) % seeds.len()].clone());
    }
    chunks
}

fn small_limits() -> Limits {
    // Small budgets keep each execution fast; the limits themselves are tested elsewhere.
    Limits { max_inflated_bytes: 1 << 20, max_ops: 20_000, ..Limits::DEFAULT }
}

#[test]
fn wire_decoder() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let limits = Limits::DEFAULT;
    let doc = |chunks| DocRequest { doc_id: ID, have: BASE.heads.clone(), heads: Heads::empty(), chunks };
    let request = SyncRequest { docs: vec![doc(BASE.seeds.clone()), DocRequest { doc_id: DocumentId::from_bytes([8; 16]), ..doc(vec![]) }] };
    let response = DocResponse { doc_id: ID, status: DocStatus::Ok, heads: BASE.heads.clone(), missing: Heads::empty(), chunks: BASE.seeds.clone() };
    let honest = [request.encode(), SyncResponse { docs: vec![response] }.encode()];
    check!().for_each(|input: &[u8]| {
        RUNS.fetch_add(1, Ordering::Relaxed);
        let (pick, edits) = plan(input);
        // The input itself, and an honest message with the input's edits.
        for bytes in [input.to_vec(), edited(honest[usize::from(pick & 1)].clone(), &edits)] {
            if let Ok(request) = SyncRequest::decode(&bytes, &limits) {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                assert_eq!(SyncRequest::decode(&request.encode(), &limits).unwrap(), request);
            }
            if let Ok(response) = SyncResponse::decode(&bytes, &limits) {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                assert_eq!(SyncResponse::decode(&response.encode(), &limits).unwrap(), response);
            }
        }
    });
    report("wire_decoder", &RUNS, &ACCEPTED);
}

#[test]
fn pushed_chunks() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let limits = small_limits();
    check!().for_each(|input: &[u8]| {
        RUNS.fetch_add(1, Ordering::Relaxed);
        let (pick, edits) = plan(input);
        let chunks = pushed(pick, &edits);
        if let Ok(changes) = chunk::changes_from_chunks(&chunks, &limits) {
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            for change in changes {
                let again = automerge::Change::try_from(change.raw_bytes()).expect("an accepted change parses again");
                assert_eq!(again.hash(), change.hash());
            }
        }
    });
    report("pushed_chunks", &RUNS, &ACCEPTED);
}

#[test]
fn merge_and_append() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    check!().for_each(|input: &[u8]| {
        RUNS.fetch_add(1, Ordering::Relaxed);
        if merge_case(input) {
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
        }
    });
    report("merge_and_append", &RUNS, &ACCEPTED);
    eprintln!("  of them taken by the fast path (each also taken by the full merge): {}", FAST_PATH.load(Ordering::Relaxed));
}

/// Pushes the append fast path took.
static FAST_PATH: AtomicU64 = AtomicU64::new(0);

/// One `merge_and_append` execution; true when the full merge stored something.
fn merge_case(input: &[u8]) -> bool {
    let base = &*BASE;
    let limits = small_limits();
    let stored = StoredDoc { snapshot: Some(&base.snapshot), changes: &base.rows };
    let (pick, edits) = plan(input);
    // Bits 0x40 and 0x20 of the pick: a client whose `have` is not the heads, a viewer. With
    // 0x40 and 0x08 the client names what it pushes as its heads (the window answers it), with
    // 0x40 alone it names nothing (a fresh client: full merge only).
    let have = if pick & 0x40 != 0 { Heads::empty() } else { base.heads.clone() };
    let chunks = pushed(pick, &edits);
    let heads = if pick & 0x48 == 0x48 {
        Heads::new(chunks.iter().filter_map(|c| automerge::Change::try_from(c.as_slice()).ok()).map(|c| c.hash()).collect())
    } else {
        Heads::empty()
    };
    let request = DocRequest { doc_id: ID, have, heads, chunks };
    let access = if pick & 0x20 != 0 { Access::ReadOnly } else { Access::ReadWrite };
    // Neither path may panic out of the call, nor may automerge panic inside it (the full merge
    // catches that on native; on the wasm edges it would abort the instance).
    let appended = server::append(&base.heads, &request, access, &limits, &base.history);
    let merged = server::merge(stored, &request, access, &limits).expect("the stored document loads");
    assert_eq!(server::automerge_panics(), 0, "automerge panicked on a checked change: {:?}", merged.rejection);
    if let Some(appended) = appended {
        // Whatever the fast path stores, the full merge stores too, and nothing else.
        FAST_PATH.fetch_add(1, Ordering::Relaxed);
        assert_eq!(merged.response.status, DocStatus::Ok, "the fast path took a push the full merge refuses: {:?}", merged.rejection);
        let hashes = |c: &[server::NewChange]| c.iter().map(|c| c.hash).collect::<std::collections::BTreeSet<_>>();
        assert_eq!(hashes(&appended.new_changes), hashes(&merged.new_changes));
        assert_eq!(appended.response.heads, merged.response.heads);
        let sorted = |mut chunks: Vec<Vec<u8>>| {
            chunks.sort();
            chunks
        };
        // A client naming no heads is sent back its own changes by the full merge; on the heads
        // the fast path does not bother (it has them).
        if !request.heads.is_empty() {
            assert_eq!(sorted(appended.response.chunks), sorted(merged.response.chunks.clone()), "both send what the client lacks");
        }
    }
    if merged.new_changes.is_empty() {
        return false;
    }
    assert_eq!(access, Access::ReadWrite, "a viewer's push was accepted");
    let mut rows = base.rows.clone();
    rows.extend(merged.new_changes.iter().map(|c| c.bytes.clone()));
    let after = StoredDoc { snapshot: Some(&base.snapshot), changes: &rows };
    let reloaded = document::load(after).expect("what the merge accepted loads with what was stored");
    assert_eq!(reloaded.get_heads(), merged.doc.get_heads());
    // What compaction does next: save, and load the saved document.
    let compacted = Automerge::load(&reloaded.save()).expect("the compacted document loads");
    assert_eq!(compacted.get_heads(), merged.doc.get_heads());
    true
}


