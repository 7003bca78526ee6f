//! edgesync's sync protocol versus automerge's own sync protocol, on the same documents.
//!
//! Run with `cargo bench -p edgesync-sync-core --bench protocol`. Prints one Markdown table per
//! measure; `ratio` is edgesync / automerge sync, so below 1 means edgesync needs less.
//!
//! Driving automerge sync over request/response: the client starts each sync from its persisted
//! `sync::State` (`encode`/`decode`: the shared heads of its last sync); the server starts from a
//! fresh `State` (stateless, like the edge) or from the state it persisted for that client. A
//! round trip is one client→server message plus the server's reply (possibly none); when only
//! the server has something to say, the client must poll, which costs a round trip with an empty
//! body. Exchanges go on until neither side generates a message. Bytes are message bodies only
//! (no HTTP framing), both directions summed, for both protocols.

use std::time::Instant;

use automerge::sync::{self, Message, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, Change, ObjType, ROOT, ReadDoc};
use sync_core::document::{self, StoredDoc};
use sync_core::server::{self, Access};
use sync_core::{DocRequest, DocumentId, Heads, Limits, SyncRequest, SyncResponse, client};

const DOC: DocumentId = DocumentId::from_bytes([0xd0; 16]);
const T0: i64 = 1_760_000_000;
const ITERATIONS: usize = 21;

// ---------------------------------------------------------------- documents

fn actor(n: u8) -> ActorId {
    ActorId::from(vec![n; 16])
}

/// Deterministic pseudo-random lowercase text with spaces (an LCG), so documents compress no
/// better than real prose.
struct Letters(u64);

impl Letters {
    fn take(&mut self, n: usize) -> String {
        let mut next = || {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            b"abcdefghijklmnopqrstuvwxyz      "[(self.0 >> 59) as usize] as char
        };
        (0..n).map(|_| next()).collect()
    }
}

/// Commits `f` as one change at a fixed time.
fn commit(doc: &mut Automerge, time: i64, f: impl FnOnce(&mut Transaction<'_>)) {
    let mut tx = doc.transaction();
    f(&mut tx);
    tx.commit_with(CommitOptions::default().with_time(time));
}

fn obj(doc: &Automerge, key: &str) -> automerge::ObjId {
    doc.get(ROOT, key).unwrap().expect("object exists").1
}

/// 100 changes by one actor: a map and a text, then alternating map puts and 6-letter inserts.
fn base_doc() -> Automerge {
    let mut doc = Automerge::new().with_actor(actor(0xba));
    commit(&mut doc, T0, |tx| {
        tx.put_object(ROOT, "map", ObjType::Map).unwrap();
        tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    });
    offline_edits(&mut doc, 99, T0 + 1, 6);
    doc
}

/// `n` changes: alternating `len`-letter inserts at the end of the text and map puts.
fn offline_edits(doc: &mut Automerge, n: usize, t0: i64, len: usize) {
    let (map, text) = (obj(doc, "map"), obj(doc, "text"));
    let mut letters = Letters(doc.get_actor().to_bytes()[0] as u64);
    for i in 0..n {
        let (at, word) = (doc.length(&text), letters.take(len));
        commit(doc, t0 + i as i64, |tx| match i % 2 {
            0 => tx.splice_text(&text, at, 0, &word).unwrap(),
            // The value never repeats one the key held before, so every put is a change.
            _ => tx.put(&map, format!("k{}", i % 50), t0 + i as i64).unwrap(),
        });
    }
}

/// A client's replica: the base under the client's own actor, plus its offline edits.
fn client_doc(base: &Automerge, id: u8, edit: impl FnOnce(&mut Automerge)) -> Automerge {
    let mut doc = Automerge::load(&base.save()).unwrap().with_actor(actor(id));
    edit(&mut doc);
    doc
}

/// 1,000 changes of 100 single-character text inserts each: 100,000 operations.
fn large_doc() -> Automerge {
    let mut doc = Automerge::new().with_actor(actor(0x1a));
    commit(&mut doc, T0, |tx| drop(tx.put_object(ROOT, "text", ObjType::Text).unwrap()));
    let (text, mut letters) = (obj(&doc, "text"), Letters(7));
    for i in 0..1_000 {
        let (at, chunk) = (doc.length(&text), letters.take(100));
        commit(&mut doc, T0 + 1 + i, |tx| tx.splice_text(&text, at, 0, &chunk).unwrap());
    }
    doc
}

// ---------------------------------------------------------------- edgesync side

/// The edge's stored state for one document: a snapshot plus change rows.
#[derive(Clone, Default)]
struct Stored {
    snapshot: Option<Vec<u8>>,
    changes: Vec<Vec<u8>>,
}

impl Stored {
    fn view(&self) -> StoredDoc<'_> {
        StoredDoc { snapshot: self.snapshot.as_deref(), changes: &self.changes }
    }
}

#[derive(Default, Clone, Copy)]
struct Traffic {
    bytes: usize,
    round_trips: usize,
    messages: usize,
    /// Round trips after which both sides had the same heads.
    converged: Option<usize>,
}

impl std::ops::Add for Traffic {
    type Output = Traffic;
    fn add(self, b: Traffic) -> Traffic {
        let converged = self.converged.zip(b.converged).map(|(x, y)| x + y);
        let (bytes, messages) = (self.bytes + b.bytes, self.messages + b.messages);
        Traffic { bytes, round_trips: self.round_trips + b.round_trips, messages, converged }
    }
}

/// One client syncing with the stateless edge until both sides have the same heads. Returns the
/// traffic and the last request the edge merged.
fn edgesync_sync(edge: &mut Stored, doc: &mut Automerge, acked: &mut Heads) -> (Traffic, DocRequest) {
    edgesync_sync_from(edge, doc, acked, false)
}

/// [`edgesync_sync`], the first request a probe when `probe` (the client lost `acked`).
fn edgesync_sync_from(edge: &mut Stored, doc: &mut Automerge, acked: &mut Heads, probe: bool) -> (Traffic, DocRequest) {
    let mut t = Traffic::default();
    loop {
        let first = probe && t.round_trips == 0;
        let request = if first { client::build_probe_request(DOC, doc) } else { client::build_request(DOC, doc, acked) };
        let request = SyncRequest { docs: vec![request] }.encode();
        let decoded = SyncRequest::decode(&request, &Limits::DEFAULT).unwrap().docs.remove(0);
        let merged = server::merge(edge.view(), &decoded, Access::ReadWrite, &Limits::DEFAULT).unwrap();
        edge.changes.extend(merged.new_changes.into_iter().map(|c| c.bytes));
        let response = SyncResponse { docs: vec![merged.response] }.encode();
        let answer = SyncResponse::decode(&response, &Limits::DEFAULT).unwrap().docs.remove(0);
        let applied = client::apply_response(doc, DOC, acked, &answer).unwrap();
        *acked = applied.acked;
        t.bytes += request.len() + response.len();
        t.round_trips += 1;
        t.messages += 2;
        if doc.get_heads() == merged.doc.get_heads() && !applied.resend {
            t.converged = Some(t.round_trips);
            return (t, decoded);
        }
        assert!(t.round_trips < 20, "edgesync sync does not converge");
    }
}

// ---------------------------------------------------------------- automerge side

/// What the automerge server saw in one session, to replay its side for timing.
struct ServerLog {
    doc: Automerge,
    state: sync::State,
    /// Each request: the decoded message, or `None` for an empty poll.
    requests: Vec<Option<Message>>,
    /// The server's doc and state just before the first message carrying changes, and that message.
    carrying: Option<(Automerge, sync::State, Message)>,
}

/// The persisted form of a sync state (what survives between sessions).
fn persisted(state: &sync::State) -> sync::State {
    sync::State::decode(&state.encode()).unwrap()
}

/// One client syncing with an automerge sync server until neither side has anything to send.
fn automerge_sync(server: &mut Automerge, ss: &mut sync::State, doc: &mut Automerge, cs: &mut sync::State) -> (Traffic, ServerLog) {
    let mut log = ServerLog { doc: server.clone(), state: ss.clone(), requests: Vec::new(), carrying: None };
    let mut t = Traffic::default();
    loop {
        let up = doc.generate_sync_message(cs).map(Message::encode);
        let down = match &up {
            Some(bytes) => {
                let message = Message::decode(bytes).unwrap();
                if !message.changes.is_empty() && log.carrying.is_none() {
                    log.carrying = Some((server.clone(), ss.clone(), message.clone()));
                }
                log.requests.push(Some(message.clone()));
                server.receive_sync_message(ss, message).unwrap();
                server.generate_sync_message(ss)
            }
            None => match server.generate_sync_message(ss) {
                None => break,
                poll_answer => {
                    log.requests.push(None);
                    poll_answer
                }
            },
        }
        .map(Message::encode);
        if let Some(bytes) = &down {
            doc.receive_sync_message(cs, Message::decode(bytes).unwrap()).unwrap();
        }
        t.messages += usize::from(up.is_some()) + usize::from(down.is_some());
        t.bytes += up.map_or(0, |b| b.len()) + down.map_or(0, |b| b.len());
        t.round_trips += 1;
        if t.converged.is_none() && doc.get_heads() == server.get_heads() {
            t.converged = Some(t.round_trips);
        }
        assert!(t.round_trips < 20, "automerge sync does not converge");
    }
    (t, log)
}

/// Replays the server's side of a logged session: every receive and generate (no decoding or
/// encoding, as `server::merge` does neither).
fn replay_server(log: &ServerLog, mut doc: Automerge) -> Vec<Option<Message>> {
    let mut state = log.state.clone();
    let mut replies = Vec::new();
    for request in &log.requests {
        if let Some(m) = request {
            doc.receive_sync_message(&mut state, m.clone()).unwrap();
        }
        replies.push(doc.generate_sync_message(&mut state));
    }
    replies
}

// ---------------------------------------------------------------- scenarios

/// scenario, edgesync, automerge sync.
type Row = (String, f64, f64);

#[derive(Default)]
struct Tables {
    bytes: Vec<Row>,
    round_trips: Vec<Row>,
    messages: Vec<Row>,
    cpu: Vec<Row>,
}

impl Tables {
    fn record(&mut self, name: &str, ours: Traffic, theirs: Traffic) {
        let row = |f: fn(&Traffic) -> usize| (name.to_string(), f(&ours) as f64, f(&theirs) as f64);
        self.bytes.push(row(|t| t.bytes));
        self.round_trips.push(row(|t| t.round_trips));
        self.messages.push(row(|t| t.messages));
        if ours.converged != Some(ours.round_trips) || theirs.converged != Some(theirs.round_trips) {
            let converged = |t: Traffic| t.converged.map_or(f64::NAN, |n| n as f64);
            self.round_trips.push((format!("{name}: until same heads"), converged(ours), converged(theirs)));
        }
    }
}

/// What (d) measures: the edge's state before the last client's sync, that client's request,
/// and the automerge server's log of the same sync.
type LastPush = (Stored, DocRequest, ServerLog);

/// Clients that share `base` with the server and edited it offline sync one after the other,
/// with both protocols. Records the last client's sync and, with several clients, the total.
fn clients_sync(tables: &mut Tables, name: &str, total: &str, base: &Automerge, clients: &[Automerge]) -> LastPush {
    let heads = base.get_heads();
    let shared = sync::State { shared_heads: heads.clone(), ..sync::State::new() };
    let mut edge = Stored { snapshot: Some(base.save()), changes: Vec::new() };
    let (mut ours, mut last) = (Vec::new(), None);
    for doc in clients {
        let stored = edge.clone();
        let (traffic, request) = edgesync_sync(&mut edge, &mut doc.clone(), &mut Heads::new(heads.clone()));
        ours.push(traffic);
        last = Some((stored, request));
    }
    let mut last_log = None;
    for (label, stateful) in [("stateless server", false), ("server keeps sync state", true)] {
        let mut server = Automerge::load(&base.save()).unwrap();
        let mut theirs = Vec::new();
        for doc in clients {
            let mut server_state = if stateful { persisted(&shared) } else { sync::State::new() };
            let (traffic, log) = automerge_sync(&mut server, &mut server_state, &mut doc.clone(), &mut persisted(&shared));
            theirs.push(traffic);
            last_log = if stateful { last_log } else { Some(log) };
        }
        assert_eq!(server.get_heads(), document::load(edge.view()).unwrap().get_heads(), "same result");
        tables.record(&format!("{name}, vs {label}"), *ours.last().unwrap(), *theirs.last().unwrap());
        if clients.len() > 1 {
            let sum = |t: &[Traffic]| t.iter().copied().reduce(|a, b| a + b).unwrap();
            tables.record(&format!("{total}, vs {label}"), sum(&ours), sum(&theirs));
        }
    }
    let (stored, request) = last.unwrap();
    (stored, request, last_log.unwrap())
}

/// A client with no sync history (no acked heads, a fresh sync state) syncs `client` with a
/// server holding `snapshot`: (c) a fresh client, (e) a client that lost its acked heads.
fn without_history(tables: &mut Tables, name: &str, snapshot: &[u8], client: &Automerge, probe: bool) {
    let mut edge = Stored { snapshot: Some(snapshot.to_vec()), changes: Vec::new() };
    let (mut ours_doc, mut theirs_doc) = (client.clone(), client.clone());
    let (ours, _) = edgesync_sync_from(&mut edge, &mut ours_doc, &mut Heads::empty(), probe);
    let mut server = Automerge::load(snapshot).unwrap();
    let (theirs, _) = automerge_sync(&mut server, &mut sync::State::new(), &mut theirs_doc, &mut sync::State::new());
    assert_eq!(ours_doc.get_heads(), theirs_doc.get_heads());
    tables.record(name, ours, theirs);
}

// ---------------------------------------------------------------- CPU

/// One sample (ms) of `work` on a fresh `input()` made outside the measurement.
fn sampler<'a, I, O>(input: impl Fn() -> I + 'a, work: impl Fn(I) -> O + 'a) -> Box<dyn Fn() -> f64 + 'a> {
    Box::new(move || {
        let input = input();
        let start = Instant::now();
        let out = work(input);
        let elapsed = start.elapsed();
        drop(std::hint::black_box(out));
        elapsed.as_secs_f64() * 1e3
    })
}

/// Median of each sampler over `ITERATIONS` rounds after a warm-up round. The samplers take
/// turns within each round, so load from other processes hits them alike.
fn medians<const N: usize>(samplers: [Box<dyn Fn() -> f64 + '_>; N]) -> [f64; N] {
    samplers.iter().for_each(|s| {
        s();
    });
    let mut samples = [(); N].map(|()| Vec::with_capacity(ITERATIONS));
    for _ in 0..ITERATIONS {
        samplers.iter().zip(&mut samples).for_each(|(s, out)| out.push(s()));
    }
    samples.map(|mut v| (v.sort_by(f64::total_cmp), v[ITERATIONS / 2]).1)
}

/// (d) Server-side CPU for B's push in scenario (b).
fn server_cpu(tables: &mut Tables, push: &LastPush) {
    let (stored, request, log) = push;
    let compacted = Stored { snapshot: Some(document::compact(stored.view()).unwrap().snapshot), changes: Vec::new() };
    let merge_once = |s: &Stored| server::merge(s.view(), request, Access::ReadWrite, &Limits::DEFAULT).unwrap();
    let loaded = document::load(stored.view()).unwrap();
    let expand = || sync_core::chunk::changes_from_chunks(&request.chunks, &Limits::DEFAULT).unwrap();
    let fresh: Vec<Change> = expand().into_iter().filter(|c| loaded.get_change_meta_by_hash(&c.hash()).is_none()).collect();
    let (doc, state, message) = log.carrying.as_ref().expect("B pushed changes");
    let merged = merge_once(stored).doc;
    let [merge_rows, merge_snap, apply, receive, session, session_rows, session_snap, load, expand_ms, save] = medians([
        sampler(|| (), |()| merge_once(stored)),
        sampler(|| (), |()| merge_once(&compacted)),
        sampler(|| (loaded.clone(), fresh.clone()), |(mut doc, changes)| doc.apply_changes(changes).unwrap()),
        sampler(|| (doc.clone(), state.clone(), message.clone()), |(mut d, mut s, m)| d.receive_sync_message(&mut s, m).unwrap()),
        sampler(|| log.doc.clone(), |d| replay_server(log, d)),
        sampler(|| (), |()| replay_server(log, document::load(stored.view()).unwrap())),
        sampler(|| (), |()| replay_server(log, document::load(compacted.view()).unwrap())),
        sampler(|| (), |()| document::load(stored.view()).unwrap()),
        sampler(|| (), |()| expand()),
        sampler(|| (), |()| merged.save()),
    ]);

    let (rows, snap) = ("snapshot + 1,000 rows", "compacted snapshot");
    let mut push = |name: String, ours: f64, theirs: f64| tables.cpu.push((name, ours, theirs));
    push(format!("(d) B's push: merge incl. load ({rows}) vs bare apply_changes on loaded doc"), merge_rows, apply);
    push(format!("(d) B's push: merge incl. load ({snap}) vs bare apply_changes on loaded doc"), merge_snap, apply);
    push(format!("(d) merge incl. load ({rows}) vs server receive_sync_message of B's changes (doc loaded)"), merge_rows, receive);
    push(format!("(d) merge incl. load ({rows}) vs whole automerge server session (doc loaded)"), merge_rows, session);
    push(format!("(d) merge vs automerge server session, both incl. load ({rows})"), merge_rows, session_rows);
    push(format!("(d) merge vs automerge server session, both incl. load ({snap})"), merge_snap, session_snap);
    println!(
        "(d) B pushes {} changes. Parts of merge: document::load ({rows}) {load:.2} ms; expanding the pushed \
         chunks into changes {expand_ms:.2} ms; save() of the merged doc for the response {save:.2} ms.\n",
        fresh.len()
    );
}

// ---------------------------------------------------------------- output

fn print_table(title: &str, ms: bool, rows: &[Row]) {
    println!("### {title}\n\n| scenario | edgesync | automerge sync | ratio |\n|---|---:|---:|---:|");
    let fmt = |v: f64| if ms { format!("{v:.2} ms") } else { format!("{v:.0}") };
    for (name, ours, theirs) in rows {
        println!("| {name} | {} | {} | {:.2} |", fmt(*ours), fmt(*theirs), ours / theirs);
    }
    println!();
}

fn main() {
    let (mut tables, base) = (Tables::default(), base_doc());
    let put_title = |doc: &mut Automerge| commit(doc, T0 + 10_000, |tx| tx.put(ROOT, "title", "hello").unwrap());
    clients_sync(&mut tables, "(a) one small edit", "", &base, &[client_doc(&base, 0xa1, put_title)]);
    let a = client_doc(&base, 0xa1, |doc| offline_edits(doc, 1_000, T0 + 20_000, 1));
    let b = client_doc(&base, 0xb2, |doc| offline_edits(doc, 1_000, T0 + 20_000, 1));
    let push = clients_sync(&mut tables, "(b) B's sync (both edited)", "(b) A then B in total", &base, &[a, b]);
    let (large, fresh) = (large_doc(), Automerge::new());
    let snapshot = large.save();
    println!("(c, e) document: 1,000 changes × 100 text inserts; compacted snapshot {} bytes.\n", snapshot.len());
    without_history(&mut tables, "(c) fresh client, 100k-op doc", &snapshot, &fresh, false);
    let lost = client_doc(&large, 0xa1, put_title);
    without_history(&mut tables, "(e) one small edit on the 100k-op doc, acked heads lost", &snapshot, &lost, false);
    without_history(&mut tables, "(e) the same, the client probes first (docs/protocol.md §4)", &snapshot, &lost, true);
    server_cpu(&mut tables, &push);

    print_table("Bytes on the wire (both directions)", false, &tables.bytes);
    print_table("HTTP round trips (until neither side has anything to send)", false, &tables.round_trips);
    print_table("Messages", false, &tables.messages);
    print_table(&format!("Server CPU, median of {ITERATIONS} runs"), true, &tables.cpu);
}
