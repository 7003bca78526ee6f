//! A member with write access attacks the server; every runtime must refuse the attack with a
//! problem (or a per-document status), stay within a memory bound, and go on serving every
//! other user. Run with `--test-threads=1` (scripts/blackbox.sh): the memory bound reads the
//! server's peak RSS, which concurrent tests would blur.
//!
//! `EDGESYNC_SERVER_PID` (set by scripts/blackbox.sh) names the server process, so the suite
//! can read its peak resident memory (`VmHWM`) before and after the attack.

use std::io::Write;

use automerge::{ActorId, Automerge, ROOT, ReadDoc, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use serde_json::Value;
use sync_core::{DocRequest, DocStatus, Heads, Limits, MEDIA_TYPE, SyncRequest, SyncResponse};

/// Peak growth of the server's resident memory allowed while it refuses a bomb (the default
/// inflation budget is 32 MiB; the benchmark records the measured figure).
const RSS_BOUND_KIB: u64 = 160 * 1024;

/// The server's peak resident memory so far, when the suite knows its process.
fn peak_rss_kib() -> Option<u64> {
    let pid = std::env::var("EDGESYNC_SERVER_PID").ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A type-2 automerge chunk (compressed change) whose body is raw DEFLATE of `mib` MiB of
/// zeros: about 1 KiB on the wire per MiB it inflates to.
fn bomb(mib: usize) -> Vec<u8> {
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        deflate.write_all(&zeros).unwrap();
    }
    sync_core::inspect::frame_chunk(2, [0; 4], &deflate.finish().unwrap())
}

async fn post_sync(t: &Target, token: &str, path: &str, request: &SyncRequest) -> reqwest::Response {
    t.http
        .post(t.url(path))
        .bearer_auth(token)
        .header("content-type", MEDIA_TYPE)
        .body(request.encode())
        .send()
        .await
        .unwrap()
}

async fn problem_type(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    (status, body["type"].as_str().unwrap_or_default().to_owned())
}

/// Another user, on a document of their own, edits and syncs while the attack goes on.
async fn bystander_still_syncs(t: &Target, token: &str, replica: &mut Replica, round: u32) {
    let mut tx = replica.doc.transaction();
    tx.put(ROOT, "round", round as i64).unwrap();
    tx.commit();
    assert_eq!(replica.sync(t, token).await, 200, "the bystander's sync failed during the attack");
    assert!(replica.acked.as_slice().iter().all(|h| replica.doc.get_change_by_hash(h).is_some()));
    assert_eq!(replica.doc.get_heads().as_slice(), replica.acked.as_slice(), "the bystander's edit was acknowledged");
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_within_the_memory_bound() {
    let Some(t) = Target::from_env() else { return };
    let (_, attacker) = t.user("attacker");
    let (_, bystander) = t.user("bystander");
    let target = t.create_doc(&attacker).await;
    let mut other = Replica::new(&t.create_doc(&bystander).await, 3);
    bystander_still_syncs(&t, &bystander, &mut other, 0).await;

    let before = peak_rss_kib();
    // 1 GiB of zeros in about 1 MiB, pushed to the single-document route and in a batch.
    let chunk = bomb(1024);
    let doc_id = target.parse().unwrap();
    let request = SyncRequest { docs: vec![DocRequest { doc_id, have: Heads::empty(), heads: Heads::empty(), chunks: vec![chunk] }] };
    for round in 1..=3 {
        let (status, kind) = problem_type(post_sync(&t, &attacker, &format!("/v1/docs/{target}/sync"), &request).await).await;
        assert_eq!((status, kind.as_str()), (413, "urn:edgesync:problem:payload-too-large"));
        let r = post_sync(&t, &attacker, "/v1/sync", &request).await;
        assert_eq!(r.status(), 200);
        let answer = SyncResponse::decode(&r.bytes().await.unwrap(), &Limits::DEFAULT).unwrap();
        assert_eq!(answer.docs[0].status, DocStatus::TooLarge);
        bystander_still_syncs(&t, &bystander, &mut other, round).await;
    }
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        let grown = after.saturating_sub(before);
        println!("server peak RSS: {before} KiB before, {after} KiB after the bombs (+{grown} KiB)");
        assert!(grown <= RSS_BOUND_KIB, "peak RSS grew by {grown} KiB (bound {RSS_BOUND_KIB} KiB)");
    }
    // Nothing of the bomb was stored: the attacker's document is still empty and works.
    let mut fresh = Replica::new(&target, 4);
    assert_eq!(fresh.sync(&t, &attacker).await, 200);
    assert!(fresh.doc.get_heads().is_empty());
}

#[tokio::test]
async fn a_flood_of_concurrent_heads_is_refused_and_merged_away() {
    let Some(t) = Target::from_env() else { return };
    let (_, attacker) = t.user("heads-attacker");
    let (_, bystander) = t.user("heads-bystander");
    let id = t.create_doc(&attacker).await;
    let mut other = Replica::new(&t.create_doc(&bystander).await, 5);

    // Unrelated root changes, one per request: each one adds a head, until the cap.
    let cap = Limits::DEFAULT.max_doc_heads;
    let doc_id = id.parse().unwrap();
    let mut heads = Heads::empty();
    let mut refused = None;
    for i in 0..=cap {
        let mut doc = Automerge::new().with_actor(ActorId::from((i as u32 + 1).to_be_bytes().to_vec()));
        let mut tx = doc.transaction();
        tx.put(ROOT, "k", i as i64).unwrap();
        tx.commit();
        let chunk = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let request = SyncRequest { docs: vec![DocRequest { doc_id, have: heads.clone(), heads: Heads::empty(), chunks: vec![chunk] }] };
        let r = post_sync(&t, &attacker, &format!("/v1/docs/{id}/sync"), &request).await;
        if r.status() != 200 {
            refused = Some((i, problem_type(r).await));
            break;
        }
        heads = SyncResponse::decode(&r.bytes().await.unwrap(), &Limits::DEFAULT).unwrap().docs[0].heads.clone();
    }
    let (at, (status, kind)) = refused.expect("the flood was never refused");
    assert_eq!((at, status, kind.as_str()), (cap, 409, "urn:edgesync:problem:too-many-heads"));
    assert_eq!(heads.len(), cap);
    bystander_still_syncs(&t, &bystander, &mut other, 1).await;

    // A collaborator with an edit of their own syncs through the batch route: refused with the
    // pull, merges every head into one change, and the next round is accepted.
    let mut honest = Replica::new(&id, 6);
    let mut tx = honest.doc.transaction();
    tx.put(ROOT, "honest", "kept").unwrap();
    tx.commit();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 3, "the heads were never merged");
        let request = SyncRequest { docs: vec![sync_core::client::build_request(honest.id, &honest.doc, &honest.acked)] };
        let r = post_sync(&t, &attacker, "/v1/sync", &request).await;
        assert_eq!(r.status(), 200);
        let answer = SyncResponse::decode(&r.bytes().await.unwrap(), &Limits::DEFAULT).unwrap();
        let applied = sync_core::client::apply_response(&mut honest.doc, honest.id, &honest.acked, &answer.docs[0]).unwrap();
        honest.acked = applied.acked;
        if answer.docs[0].status == DocStatus::Ok && !applied.resend {
            break;
        }
    }
    assert_eq!(honest.acked.len(), 1, "one head after the merge");
    assert_eq!(honest.doc.get(ROOT, "honest").unwrap().unwrap().0.as_str(), Some("kept"));
}

#[tokio::test]
async fn a_slow_client_is_cut_off_and_others_are_served() {
    let Some(t) = Target::from_env() else { return };
    // The native server's own listener; Spin and Workers leave connections to their host.
    if std::env::var("EDGESYNC_TARGET").as_deref() != Ok("native") {
        return eprintln!("skipped: connection limits are the host's on this runtime");
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_, bystander) = t.user("slow-bystander");
    let mut other = Replica::new(&t.create_doc(&bystander).await, 7);
    let addr = t.base.trim_start_matches("http://").to_owned();
    // Twenty connections that send half a request line each, then nothing.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"POST /v1/sync HTTP/1.1\r\nHost: x\r\nContent-Le").await.unwrap();
        slow.push(stream);
    }
    bystander_still_syncs(&t, &bystander, &mut other, 1).await;
    // The header deadline (2 s in the test command) closes them: reads end, no response.
    let deadline = std::time::Duration::from_secs(15);
    for stream in &mut slow {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(deadline, stream.read(&mut buf)).await.expect("the slow connection was never closed");
        assert!(matches!(read, Ok(0) | Err(_)) || buf.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&buf));
    }
    bystander_still_syncs(&t, &bystander, &mut other, 2).await;
}

#[tokio::test]
async fn knowing_a_document_id_reveals_nothing_but_that_it_is_taken() {
    let Some(t) = Target::from_env() else { return };
    let (_, owner) = t.user("id-owner");
    let (_, prober) = t.user("id-prober");
    let id = t.create_doc(&owner).await;
    // The documented rule (docs/protocol.md, §9): creating an id that exists answers 409 to
    // anyone, since the id cannot be used twice; every other route answers as if it did not
    // exist, and the create reveals nothing of the document.
    let r = t.http.post(t.url("/v1/docs")).bearer_auth(&prober).json(&serde_json::json!({"id": id, "title": "mine"})).send().await.unwrap();
    let (status, kind) = problem_type(r).await;
    assert_eq!((status, kind.as_str()), (409, "urn:edgesync:problem:conflict"));
    for path in [format!("/v1/docs/{id}"), format!("/v1/docs/{id}/members"), format!("/v1/docs/{id}/snapshot"), format!("/v1/docs/{id}/history")] {
        let r = t.http.get(t.url(&path)).bearer_auth(&prober).send().await.unwrap();
        assert_eq!(problem_type(r).await, (404, "urn:edgesync:problem:not-found".to_owned()), "{path}");
    }
    let mut probe = Replica::new(&id, 8);
    assert_eq!(probe.sync(&t, &prober).await, 404);
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_being_kept() {
    let Some(t) = Target::from_env() else { return };
    let (_, member) = t.user("big-body");
    let (_, bystander) = t.user("big-bystander");
    let mut other = Replica::new(&t.create_doc(&bystander).await, 9);
    let before = peak_rss_kib();
    // 40 MiB, over the 32 MiB a sync body may have.
    let body = vec![0x01u8; 40 * 1024 * 1024];
    // Without a token, nothing of it is needed: 401 (a host may also cut the upload short).
    let anonymous = t.http.post(t.url("/v1/sync")).header("content-type", MEDIA_TYPE).body(body.clone()).send().await;
    if let Ok(r) = anonymous {
        assert_eq!(r.status(), 401);
    }
    // A member gets the 413 problem every time: the rest of the body is drained, not cut,
    // so the client is not left with a broken pipe.
    for round in 0..4 {
        let r = t.http.post(t.url("/v1/sync")).bearer_auth(&member).header("content-type", MEDIA_TYPE).body(body.clone()).send().await;
        let r = r.unwrap_or_else(|e| panic!("round {round}: the 413 never arrived: {e}"));
        assert_eq!(problem_type(r).await, (413, "urn:edgesync:problem:payload-too-large".to_owned()), "round {round}");
        bystander_still_syncs(&t, &bystander, &mut other, round).await;
    }
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        let grown = after.saturating_sub(before);
        println!("server peak RSS: +{grown} KiB after 5 bodies of 40 MiB");
        assert!(grown <= RSS_BOUND_KIB, "peak RSS grew by {grown} KiB (bound {RSS_BOUND_KIB} KiB)");
    }
}

/// `member`'s next change to `replica` (made by `edit`), with one reference bent by `bend`,
/// re-encoded with a valid hash: what a member with a patched automerge could push.
fn bent_change(
    replica: &Replica,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
    bend: impl FnOnce(&mut automerge::ExpandedChange),
) -> Vec<u8> {
    let mut fork = replica.doc.fork().with_actor(ActorId::from(vec![0xee; 8]));
    let mut tx = fork.transaction();
    edit(&mut tx);
    tx.commit();
    let mut expanded = fork.get_last_local_change().unwrap().decode();
    bend(&mut expanded);
    expanded.hash = None;
    automerge::Change::from(expanded).raw_bytes().to_vec()
}

#[tokio::test]
async fn changes_that_refer_to_what_the_document_lacks_are_refused() {
    use automerge::legacy::{ObjectId, OpId};
    let Some(t) = Target::from_env() else { return };
    let (_, attacker) = t.user("poison-attacker");
    let (_, bystander) = t.user("poison-bystander");
    let id = t.create_doc(&attacker).await;
    let mut other = Replica::new(&t.create_doc(&bystander).await, 10);
    let mut mine = Replica::new(&id, 11);
    let (map, list) = {
        let mut tx = mine.doc.transaction();
        let map = tx.put_object(ROOT, "m", automerge::ObjType::Map).unwrap();
        tx.put(&map, "k", "v").unwrap();
        let list = tx.put_object(ROOT, "l", automerge::ObjType::List).unwrap();
        tx.insert(&list, 0, "x").unwrap();
        let text = tx.put_object(ROOT, "t", automerge::ObjType::Text).unwrap();
        tx.splice_text(&text, 0, 0, "hi").unwrap();
        tx.commit();
        (map, list)
    };
    assert_eq!(mine.sync(&t, &attacker).await, 200);
    let doc_id = id.parse().unwrap();
    let actor = mine.doc.get_actor().clone();

    // automerge panics applying a put into an object that does not exist, or an insert after
    // an element of another object (a wasm edge would abort); an insert that claims to
    // overwrite something breaks the document once saved.
    // Each is pushed through the full merge (a fresh client), on the current heads and behind
    // them (a `have` that is not the heads, answered from the newest stored changes), where the
    // append fast path checks it against the stored ops it refers to.
    let no_such_object = bent_change(&mine, |tx| tx.put(&map, "k", "w").map(drop).unwrap(), |c| {
        c.operations[0].obj = ObjectId::Id(OpId(999, actor.clone()));
        c.operations[0].pred = Vec::new().into();
    });
    let insert_with_pred = bent_change(&mine, |tx| tx.put(ROOT, "x", 1).unwrap(), |c| {
        c.operations[0].pred = vec![OpId(1, actor.clone())].into();
        c.operations[0].insert = true;
        c.operations[0].key = automerge::legacy::Key::Seq(automerge::legacy::ElementId::Head);
    });
    // Ops 1..=7 of the honest change: m, k, l, x, t, h, i; the insert into `l` names `h`.
    let element_of_another_object = bent_change(&mine, |tx| tx.insert(&list, 1, "y").unwrap(), |c| {
        c.operations[0].key = automerge::legacy::Key::Seq(automerge::legacy::ElementId::Id(OpId(6, actor.clone())));
    });
    let hash = |c: &[u8]| Heads::new(vec![automerge::Change::try_from(c).unwrap().hash()]);
    let rounds = [no_such_object, insert_with_pred, element_of_another_object].into_iter().flat_map(|c| {
        [(c.clone(), Heads::empty(), Heads::empty()), (c.clone(), mine.acked.clone(), Heads::empty()), (c.clone(), Heads::empty(), hash(&c))]
    });
    for (round, (chunk, have, heads)) in rounds.enumerate() {
        let request = SyncRequest { docs: vec![DocRequest { doc_id, have, heads, chunks: vec![chunk] }] };
        let r = post_sync(&t, &attacker, "/v1/sync", &request).await;
        assert_eq!(r.status(), 200, "round {round}");
        let answer = SyncResponse::decode(&r.bytes().await.unwrap(), &Limits::DEFAULT).unwrap();
        assert_eq!(answer.docs[0].status, DocStatus::InvalidChanges, "round {round}");
        let r = post_sync(&t, &attacker, &format!("/v1/docs/{id}/sync"), &request).await;
        assert_eq!(problem_type(r).await, (400, "urn:edgesync:problem:malformed-body".to_owned()), "round {round}");
        bystander_still_syncs(&t, &bystander, &mut other, round as u32).await;
    }
    // Nothing was stored: a fresh copy holds exactly the honest edit, and the document still
    // serves its snapshot.
    let mut fresh = Replica::new(&id, 12);
    assert_eq!(fresh.sync(&t, &attacker).await, 200);
    assert_eq!(fresh.doc.get_heads(), mine.doc.get_heads());
    let r = t.http.get(t.url(&format!("/v1/docs/{id}/snapshot"))).bearer_auth(&attacker).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
