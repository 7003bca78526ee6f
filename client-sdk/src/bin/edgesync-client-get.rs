//! `edgesync-client-get STORE URL DOC_ID [KEY=VALUE]`: opens the client store at STORE against
//! the server at URL (token from `EDGESYNC_TOKEN`), syncs document DOC_ID, optionally puts the
//! string VALUE at KEY and syncs again, then prints the document's root as one line of JSON.
//! Tests of other clients (automerge-repo's, tests/automerge-repo/) use it to see a document
//! through the Rust SDK.

use std::process::ExitCode;

use edgesync_client::automerge::transaction::Transactable;
use edgesync_client::automerge::{ObjType, ROOT};
use edgesync_client::{Client, DocumentId, TokenError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, url, doc, rest @ ..] = args.as_slice() else {
        return Err("usage: edgesync-client-get STORE URL DOC_ID [KEY=VALUE]".into());
    };
    let id: DocumentId = doc.parse()?;
    let token = std::env::var("EDGESYNC_TOKEN").map_err(|_| "set EDGESYNC_TOKEN")?;
    let client = Client::builder(url.as_str())
        .store_path(store)
        .token_provider(move |_| {
            let token = token.clone();
            async move { Ok::<_, TokenError>(token) }
        })
        .manual_sync()
        .open()
        .await?;
    let handle = client.open_document(id).await?;
    check(client.sync_now().await?, &handle)?;
    if let Some(edit) = rest.first() {
        let (key, value) = edit.split_once('=').ok_or("an edit is KEY=VALUE")?;
        handle.change(|tx| tx.put(ROOT, key, value)).await?;
        check(client.sync_now().await?, &handle)?;
    }
    let json = handle.read(|doc| edgesync_client::json::to_json(doc, &ROOT, ObjType::Map))?;
    println!("{json}");
    client.close().await;
    Ok(())
}

fn check(report: edgesync_client::SyncReport, handle: &edgesync_client::DocHandle) -> Result<(), Box<dyn std::error::Error>> {
    match handle.sync_error() {
        Some(e) => Err(format!("sync of the document failed: {e:?} ({report:?})").into()),
        None => Ok(()),
    }
}
