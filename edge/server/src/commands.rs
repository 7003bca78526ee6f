//! Maintenance subcommands: token, migrate, compact, export, import.

use std::path::PathBuf;

use clap::Args;
use edge_app::auth::{self, TokenClaims};
use edge_app::ports::{Clock, SystemClock};
use edge_app::service;
use edge_app::store::{DocWrite, Store};
use indicatif::{ProgressBar, ProgressStyle};
use sync_core::document::{self, StoredDoc};
use sync_core::server::NewChange;
use sync_core::DocumentId;

use crate::serve::open_state;
use crate::settings::Settings;

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id (`sub`).
    #[arg(long)]
    pub user: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 24 * 3600)]
    pub ttl: i64,
    /// Grant the `edgesync:admin` scope (compaction endpoint).
    #[arg(long)]
    pub admin: bool,
}

pub fn token(settings: &Settings, args: TokenArgs) -> Result<(), String> {
    let (secret, _) = settings.hs256_secret().map_err(|e| e.to_string())?.ok_or(crate::settings::NO_KEY)?;
    let claims = TokenClaims {
        subject: args.user,
        issuer: settings.jwt_issuer.clone(),
        audience: settings.jwt_audience.clone(),
        scope: args.admin.then(|| "edgesync:admin".to_owned()),
    };
    println!("{}", auth::mint_hs256(secret.as_bytes(), &claims, SystemClock.now(), args.ttl));
    Ok(())
}

pub async fn migrate(settings: &Settings) -> Result<(), String> {
    let state = open_state(settings).await?;
    let versions = state.store.applied_migrations().await.map_err(|e| e.to_string())?;
    println!("schema at version {}", versions.last().copied().unwrap_or(0));
    Ok(())
}

pub async fn compact(settings: &Settings) -> Result<(), String> {
    let state = open_state(settings).await?;
    let (mut total, mut skipped) = (0, 0);
    loop {
        let report = service::compaction::run_pass(&state, 100).await.map_err(|e| e.to_string())?;
        total += report.compacted;
        skipped += report.skipped;
        if report.compacted == 0 {
            break;
        }
    }
    println!("compacted {total} documents");
    if skipped > 0 {
        println!("skipped {skipped} damaged documents (GET /v1/admin/damaged lists them)");
    }
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Document id.
    pub id: String,
    /// Output file.
    pub out: PathBuf,
}

pub async fn export(settings: &Settings, args: ExportArgs) -> Result<(), String> {
    let state = open_state(settings).await?;
    let loaded = state.store.load_state(&args.id).await.map_err(|e| e.to_string())?.ok_or("no such document")?;
    let doc = document::load(StoredDoc { snapshot: loaded.snapshot.as_deref(), changes: &loaded.changes }).map_err(|e| e.to_string())?;
    let bytes = doc.save();
    std::fs::write(&args.out, &bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("wrote {} bytes ({} changes) to {}", bytes.len(), sync_core::chunk::change_count(&doc), args.out.display());
    Ok(())
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// A saved automerge document (or concatenated changes).
    pub file: PathBuf,
    /// Owner of the new document.
    #[arg(long)]
    pub owner: String,
    /// Id for the new document (default: random).
    #[arg(long)]
    pub id: Option<String>,
    #[arg(long, default_value = "")]
    pub title: String,
}

/// Changes written per transaction while importing.
const IMPORT_BATCH: usize = 1_000;

pub async fn import(settings: &Settings, args: ImportArgs) -> Result<(), String> {
    let state = open_state(settings).await?;
    let bytes = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let mut doc = automerge::Automerge::new();
    doc.load_incremental(&bytes).map_err(|e| format!("not an automerge document: {e}"))?;
    let changes = doc.get_changes(&[]);
    let id = match args.id {
        Some(id) => id.parse::<DocumentId>().map_err(|e| format!("--id: {e}"))?.to_string(),
        None => state.random_hex(16),
    };
    let owner: auth::UserId = args.owner.parse().map_err(|e| format!("--owner: {e}"))?;
    let now = state.now();
    state.store.db().batch(Store::create_document_statements(&id, owner.as_str(), &args.title, now)).await.map_err(|e| e.to_string())?;

    let bar = ProgressBar::new(changes.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} changes {eta}").map_err(|e| e.to_string())?);
    for batch in changes.chunks(IMPORT_BATCH) {
        let write = DocWrite {
            doc_id: id.clone(),
            changes: batch.iter().map(NewChange::of).collect(),
        };
        state.store.commit_sync(&[write], state.now()).await.map_err(|e| e.to_string())?;
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    service::compaction::compact_document(&state, &id).await.map_err(|e| e.to_string())?;
    println!("imported {} changes as document {id}", changes.len());
    Ok(())
}
