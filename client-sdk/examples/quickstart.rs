//! The quick start of docs/sdk-rust.md: open a store, create a document, change it, sync,
//! and watch events. Run a server and mint a token first:
//!
//! ```sh
//! cargo run -p edgesync-server -- --dev serve &
//! export EDGESYNC_TOKEN=$(cargo run -q -p edgesync-server -- --dev token --user alice)
//! cargo run -p edgesync-client --example quickstart
//! ```
//!
//! Run it again: the document and its counter come back from the local store.

use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::automerge::{ROOT, ReadDoc, ScalarValue};
use edgesync_client::{Client, Event, TokenError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("EDGESYNC_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".into());
    let token = std::env::var("EDGESYNC_TOKEN").map_err(|_| "set EDGESYNC_TOKEN (see the top of this file)")?;

    let client = Client::builder(url)
        .store_path("quickstart-data/client.db")
        .token_provider(move |refresh| {
            // A real app asks its identity provider here, for a new token when `refresh` is true.
            let token = token.clone();
            async move {
                if refresh {
                    eprintln!("the server refused the token; a real provider would fetch a new one");
                }
                Ok::<_, TokenError>(token)
            }
        })
        .open()
        .await?;

    // Events: local and remote changes, per-document sync failures, status.
    let mut events = client.subscribe();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let Event::Status { status, pending } = &event {
                println!("status: {status:?} ({pending} pending)");
            }
        }
    });

    // The first run creates the document (offline is fine); later runs find it locally.
    let doc = match client.documents().first() {
        Some(info) => client.document(info.id).ok_or("document vanished")?,
        None => {
            let doc = client.create_document("Quick start").await?;
            doc.change(|tx| tx.put(ROOT, "runs", ScalarValue::counter(0))).await?;
            doc
        }
    };
    // Durable in the local store when `change` returns; synced in the background.
    doc.change(|tx| {
        tx.put(ROOT, "greeting", "hello from the Rust SDK")?;
        tx.increment(ROOT, "runs", 1)
    })
    .await?;
    let runs = doc.read(|d| d.get(ROOT, "runs").ok().flatten().and_then(|(v, _)| v.as_i64()))?;
    println!("document {} has run {} times", doc.id(), runs.unwrap_or(0));

    // Or sync right away and look at the outcome.
    let report = client.sync_now().await?;
    println!("synced: {} documents, {} changes pending, errors: {:?}", report.synced, report.pending, report.errors);
    client.close().await;
    Ok(())
}
