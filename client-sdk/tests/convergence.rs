//! Clients edit the same document offline, then reconnect in random (seeded) orders and sync
//! against the real server until quiescent: all replicas end identical, with every edit.

mod common;

use std::collections::BTreeMap;

use common::{TestServer, scalar};
use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
use edgesync_client::{Client, DocHandle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn text_of(doc: &DocHandle) -> String {
    doc.read(|d| {
        let (_, text) = d.get(ROOT, "text").unwrap().expect("the shared text exists");
        d.text(&text).unwrap()
    })
    .unwrap()
}

/// What the offline phase wrote: root keys with their values, and markers typed into the text.
#[derive(Default)]
struct Expected {
    keys: BTreeMap<String, i64>,
    markers: Vec<String>,
}

/// Character positions in `text` that are not inside a `<...>` marker.
fn boundaries(text: &str) -> Vec<usize> {
    let mut depth = 0i32;
    let mut out = vec![0];
    for (i, c) in text.chars().enumerate() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            out.push(i + 1);
        }
    }
    out
}

async fn offline_edits(doc: &DocHandle, client: usize, rng: &mut StdRng, expected: &mut Expected) {
    for n in 0..rng.random_range(3..8) {
        if rng.random_bool(0.5) {
            let key = format!("c{client}-{n}");
            let value = rng.random_range(0..1_000_000i64);
            doc.change(|tx| tx.put(ROOT, key.as_str(), value)).await.unwrap();
            expected.keys.insert(key, value);
        } else {
            let marker = format!("<{client}.{n}>");
            // Insert between markers, never inside one, so each marker stays contiguous.
            let boundaries = boundaries(&text_of(doc));
            let at = boundaries[rng.random_range(0..boundaries.len())];
            doc.change(|tx| {
                let (_, text) = tx.get(ROOT, "text")?.expect("the shared text exists");
                tx.splice_text(&text, at, 0, &marker)
            })
            .await
            .unwrap();
            expected.markers.push(marker);
        }
    }
    // A conflicting write every client makes to the same key: any one value may win, but all
    // replicas must agree on it.
    doc.change(|tx| tx.put(ROOT, "last-writer", client as i64)).await.unwrap();
}

async fn converge(users: &[&str], seed: u64, server: &TestServer) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dirs: Vec<tempfile::TempDir> = users.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let mut clients: Vec<Client> = Vec::new();
    for (dir, user) in dirs.iter().zip(users) {
        clients.push(server.client(&dir.path().join("client.db"), user, None).await);
    }

    // The first client creates the document (offline), with a shared text, and syncs it.
    let first = clients[0].create_document(&format!("shared {seed}")).await.unwrap();
    first
        .change(|tx| {
            let text = tx.put_object(ROOT, "text", ObjType::Text)?;
            tx.splice_text(&text, 0, 0, "base")
        })
        .await
        .unwrap();
    let report = clients[0].sync_now().await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.pending, 0);
    let id = first.id();
    let mut docs = vec![first];
    for (client, user) in clients.iter().zip(users).skip(1) {
        if *user != users[0] {
            server.add_member(users[0], id, user, "editor").await;
        }
        let doc = client.open_document(id).await.unwrap();
        client.sync_now().await.unwrap();
        assert_eq!(text_of(&doc), "base");
        docs.push(doc);
    }

    // Offline: everyone edits, nobody syncs.
    let mut expected = Expected::default();
    for (i, doc) in docs.iter().enumerate() {
        offline_edits(doc, i, &mut rng, &mut expected).await;
        assert!(doc.pending_changes() > 0);
    }
    // One client also creates a document while offline.
    let offline_doc = clients[1].create_document("made offline").await.unwrap();
    offline_doc.change(|tx| tx.put(ROOT, "offline", true)).await.unwrap();

    // Reconnect in random orders until quiescent.
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut order: Vec<usize> = (0..clients.len()).collect();
        order.shuffle(&mut rng);
        for i in order {
            let report = clients[i].sync_now().await.unwrap();
            assert!(report.errors.is_empty(), "seed {seed}, client {i}: {report:?}");
        }
        let heads: Vec<_> = docs.iter().map(DocHandle::heads).collect();
        let quiet = heads.iter().all(|h| *h == heads[0]) && clients.iter().all(|c| c.pending_changes() == 0);
        if quiet {
            break;
        }
        assert!(rounds < 5, "seed {seed}: not converged after {rounds} rounds");
    }

    let text = text_of(&docs[0]);
    let winner = scalar(&docs[0], "last-writer");
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(text_of(doc), text, "seed {seed}: client {i}'s text differs");
        assert_eq!(scalar(doc, "last-writer"), winner, "seed {seed}: client {i} disagrees on the conflict");
        for (key, value) in &expected.keys {
            assert_eq!(scalar(doc, key), Some(ScalarValue::Int(*value)), "seed {seed}: client {i} lacks {key}");
        }
        for marker in &expected.markers {
            assert!(text.contains(marker.as_str()), "seed {seed}: marker {marker} lost from {text:?}");
        }
    }
    assert_eq!(text.chars().count(), 4 + expected.markers.iter().map(|m| m.chars().count()).sum::<usize>());
    // The document created offline reached the server.
    let info = offline_doc.info().unwrap();
    assert!(info.registered && info.pending == 0, "{info:?}");

    for client in clients {
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_devices_of_one_user_converge() {
    let server = TestServer::start().await;
    for seed in 0..4 {
        converge(&["alice", "alice"], seed, &server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_users_converge() {
    let server = TestServer::start().await;
    for seed in 100..104 {
        converge(&["alice", "bob", "carol"], seed, &server).await;
    }
}
