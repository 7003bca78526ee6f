//! # edgesync client SDK
//!
//! Offline-first documents for apps: edit [Automerge](https://automerge.org) documents
//! locally, durably, with or without a network, and reconcile them with the edgesync edge API
//! in batched, one-round-trip syncs.
//!
//! ```no_run
//! use edgesync_client::{Client, TokenError};
//! use edgesync_client::automerge::{ROOT, ReadDoc, transaction::Transactable};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("https://sync.example.com")
//!     .store_path("data/edgesync.db")
//!     .token_provider(|refresh| async move {
//!         // Return the current bearer JWT; fetch a new one when `refresh` is true.
//!         let _ = refresh;
//!         Ok::<_, TokenError>("eyJ...".to_owned())
//!     })
//!     .open()
//!     .await?;
//! let doc = client.create_document("Plans").await?;          // works offline
//! doc.change(|tx| tx.put(ROOT, "title", "Trip")).await?;      // durable on return
//! let title = doc.read(|d| d.get(ROOT, "title").ok().flatten().map(|(v, _)| v.to_string()))?;
//! let report = client.sync_now().await?;                      // or let the background loop do it
//! println!("{title:?}, {} changes pending", report.pending);
//! # Ok(()) }
//! ```
//!
//! ## Architecture
//!
//! ```text
//!  app ──▶ Client / DocHandle            (native: this crate's `native` feature)
//!            │        └─ background loop (tokio: triggers, interval, backoff, Retry-After)
//!            ▼
//!          Engine<Store, Transport, TokenProvider>     no async runtime, no IO of its own
//!            ├─ documents in memory (automerge), acked heads, outbox = changes not covered
//!            ├─ sync run: register new docs ─ POST /v1/sync (batched) ─ apply ─ persist
//!            └─ events: changes (local/remote), per-document failures, status
//!            │ ports
//!            ├─ Store      ── LibsqlStore (libSQL file)      │ web: IndexedDB
//!            ├─ Transport  ── HttpTransport (reqwest+rustls) │ web: fetch
//!            └─ TokenProvider ── any async closure
//! ```
//!
//! - [`engine`]: the logic, written once over the [`ports`] (each with a `Send` flavour
//!   and a `Local` one for single-threaded wasm hosts, linked by blanket impls). It uses
//!   `sync-core` for the protocol: [`sync_core::client::build_request`] and
//!   [`sync_core::client::apply_response`].
//! - [`backoff`]: the pure retry policy that every host's sync loop shares.
//! - `native` (default feature): [`Client`], [`LibsqlStore`], [`HttpTransport`] and the
//!   tokio background loop.
//!
//! ## Durability
//!
//! - A change is written to the store before [`DocHandle::change`] returns: one transaction
//!   holding the new change row, on a libSQL file in WAL mode with `synchronous = FULL`, so it
//!   survives a crash of the process and a loss of power.
//! - Change rows are appended in the order changes were made (writes are serialised), so the
//!   stored set is always causally closed and loads completely.
//! - The outbox is not a separate queue: it is every stored change not covered by the
//!   persisted `acked` heads, the server heads last acknowledged. `acked` is written only after
//!   a response was applied, in the same transaction as the changes that response brought.
//!   After a restart the outbox is recomputed from the store and sent again; the server
//!   ignores changes it already has.
//! - Nothing is ever removed from the outbox because of an error: a refused push (read-only
//!   access), an unknown document, a 5xx or a network failure all leave local edits in place.
//!
//! ## Auth
//!
//! Every request carries `Authorization: Bearer <token>` from the [`TokenProvider`]. On 401 the
//! provider is asked once for a fresh token (`refresh = true`) and the request is retried;
//! a second 401 fails the sync with [`SyncError::Unauthorized`].

pub mod backoff;
pub mod engine;
pub mod error;
pub mod events;
pub mod json;
pub mod patches;
pub mod ports;
pub mod text;

#[cfg(feature = "native")]
mod native;

pub use automerge;
pub use sync_core;
pub use sync_core::{DocumentId, Heads};

pub use backoff::Backoff;
pub use engine::{DocumentInfo, Engine, EngineConfig, Heard, LatestPresence, Presence, PresenceCursor, PresenceRead, SharedDocument, SyncReport, Waited, new_document_id};
pub use error::{DocSyncError, DocumentError, OpenError, StoreError, SyncError, TokenError, TransportError, TransportErrorKind};
pub use events::{ChangeOrigin, Event, Subscription, SyncStatus};
pub use patches::Patches;
pub use ports::{Commit, DocRecord, LocalStore, LocalTokenProvider, LocalTransport, Origin, Store, StoredDocument, TokenProvider, Transport};

#[cfg(feature = "native")]
pub use native::{BackgroundSync, BoxedTokenProvider, Client, ClientBuilder, DocHandle, HttpTransport, LibsqlStore, LiveMode, NativeEngine, PresenceStream};
