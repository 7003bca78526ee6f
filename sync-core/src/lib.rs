//! # edgesync sync core
//!
//! The CRDT sync logic shared by the edgesync edge API (Cloudflare Workers, Spin, the native
//! server) and the client SDK (native, web, mobile). It is **sans-IO**: no network, no storage,
//! no clock, no threads. Callers pass bytes and state in and get bytes, state and effects out,
//! so the same code runs unchanged in a Worker, a WASI component, a browser and a phone, and its
//! tests are synchronous and deterministic.
//!
//! ## Pieces
//! - [`id`]: [`DocumentId`], [`ChangeHash`] and [`Heads`], with strict parsing.
//! - [`wire`]: the versioned binary protocol ([`SyncRequest`], [`SyncResponse`]) with bounded
//!   decoding ([`Limits`]).
//! - [`server`]: [`server::merge`], the edge's pure merge step: stored state + request →
//!   changes to persist + response.
//! - [`client`]: [`client::build_request`] and [`client::apply_response`], the mirror image.
//! - [`document`]: loading stored state, compaction, history and views at given heads.
//! - [`automerge_repo`]: automerge-repo's network messages and document ids, for the edge's
//!   endpoint that serves unchanged automerge-repo clients.
//! - [`inspect`]: bounded pre-flight checks of untrusted automerge chunks (inflation, op and
//!   change counts, shapes that panic automerge), run before automerge sees a pushed byte.
//!
//! ## The round trip
//! The edge keeps nothing between requests, so each request is self-describing: the client
//! says what it believes the server has (`have`: the server heads it last had acknowledged),
//! what it has itself (`heads`), and sends every change not covered by `have`. The server
//! stores what it lacks and answers with every change not covered by the client's heads.
//! When both sides edited since they last met, one round trip converges them. If the server
//! turns out to lack something the client thought it had (say it answered from a lagging
//! replica), it reports the missing dependencies and its real heads; the client resends from
//! there, and the second round converges. See `docs/protocol.md`.
//!
//! ```
//! use automerge::{transaction::Transactable, Automerge, ROOT};
//! use sync_core::{client, document::StoredDoc, server, DocumentId, Heads, Limits};
//!
//! let id = DocumentId::from_bytes([1; 16]);
//! let mut local = Automerge::new();
//! let mut tx = local.transaction();
//! tx.put(ROOT, "title", "hello").unwrap();
//! tx.commit();
//!
//! // Client: everything since the last acknowledged heads (none yet).
//! let request = client::build_request(id, &local, &Heads::empty());
//! // Edge: merge into the (empty) stored document; persist `new_changes`, then answer.
//! let merged = server::merge(StoredDoc::default(), &request, server::Access::ReadWrite, &Limits::DEFAULT).unwrap();
//! assert_eq!(merged.new_changes.len(), 1);
//! // Client: apply the answer and remember the acknowledged heads.
//! let applied = client::apply_response(&mut local, id, &Heads::empty(), &merged.response).unwrap();
//! assert_eq!(applied.pending, 0);
//! assert_eq!(applied.acked.as_slice(), local.get_heads().as_slice());
//! ```

pub mod automerge_repo;
pub mod chunk;
pub mod client;
pub mod document;
pub mod id;
pub mod inspect;
pub mod limits;
pub mod server;
pub mod wire;

pub use automerge;
pub use id::{ChangeHash, DocumentId, Heads, ParseIdError};
pub use limits::Limits;
pub use wire::{DecodeError, DocRequest, DocResponse, DocStatus, MEDIA_TYPE, PROTOCOL_VERSION, SyncRequest, SyncResponse};
