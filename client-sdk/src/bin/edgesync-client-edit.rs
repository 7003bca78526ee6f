//! `edgesync-client-edit STORE DOC_ID [COUNT]`: opens the client store at STORE, creates the
//! document DOC_ID there if it is missing, and makes COUNT edits (default 1; 0 means until
//! stopped), each putting key `edit-N` = N. After each edit returns it prints `durable N`,
//! then it sleeps until killed. It never syncs. The crash tests use it: a line on stdout
//! means the edit had returned, so it must survive a SIGKILL.

use std::io::Write;
use std::process::ExitCode;

use edgesync_client::automerge::ROOT;
use edgesync_client::automerge::transaction::Transactable;
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
    let [store, doc, rest @ ..] = args.as_slice() else {
        return Err("usage: edgesync-client-edit STORE DOC_ID [COUNT]".into());
    };
    let count: u64 = rest.first().map(|c| c.parse()).transpose()?.unwrap_or(1);
    let id: DocumentId = doc.parse()?;
    let client = Client::builder("http://127.0.0.1:9")
        .store_path(store)
        .token_provider(|_| async { Err::<String, _>(TokenError::new("this tool never syncs")) })
        .manual_sync()
        .open()
        .await?;
    let handle = match client.document(id) {
        Some(handle) => handle,
        None => client.create_document_with_id(id, "edited offline").await?,
    };
    let mut stdout = std::io::stdout();
    let mut n: u64 = 0;
    while count == 0 || n < count {
        handle.change(|tx| tx.put(ROOT, format!("edit-{n}"), n)).await?;
        writeln!(stdout, "durable {n}")?;
        stdout.flush()?;
        n += 1;
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
