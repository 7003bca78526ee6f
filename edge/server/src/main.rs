//! `edgesync`: the native server and its maintenance commands.
//!
//! `serve` hosts the shared API router (edge/app) on tokio over an embedded libSQL file;
//! the other subcommands work on the same database.

use clap::{Parser, Subcommand};
use edgesync_server::settings::Settings;
use edgesync_server::{commands, serve};

#[derive(Debug, Parser)]
#[command(name = "edgesync", version, about = "edgesync: CRDT document sync API (native server)")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (applies migrations first).
    Serve(serve::ServeArgs),
    /// Mint a development token for a user, signed with the HS256 secret.
    Token(commands::TokenArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Compact every document whose change log reached the threshold.
    Compact,
    /// Write a document's current state (a saved automerge document) to a file.
    Export(commands::ExportArgs),
    /// Create a document from a saved automerge document or a file of changes.
    Import(commands::ImportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(&cli.settings, args).await,
            Command::Token(args) => commands::token(&cli.settings, args),
            Command::Migrate => commands::migrate(&cli.settings).await,
            Command::Compact => commands::compact(&cli.settings).await,
            Command::Export(args) => commands::export(&cli.settings, args).await,
            Command::Import(args) => commands::import(&cli.settings, args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
