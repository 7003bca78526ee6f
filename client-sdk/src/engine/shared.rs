//! The documents shared with the user, as the server lists them (`GET /v1/docs`): what an app
//! shows as "shared with me", including documents this client has never opened.

use serde::Deserialize;
use sync_core::DocumentId;

use super::Engine;
use crate::error::SyncError;
use crate::ports::{LocalStore, LocalTokenProvider, LocalTransport};

/// Documents per page asked for (the server's default maximum).
const PAGE: usize = 200;

/// Pages read at most (10,000 documents): a server that keeps answering with a next page
/// cannot keep the client listing forever.
const MAX_PAGES: usize = 50;

/// A document the user is a member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedDocument {
    pub id: DocumentId,
    pub title: String,
    /// The owner's user id.
    pub owner: String,
    /// The user's role: `owner`, `editor` or `viewer`.
    pub role: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Deserialize)]
struct Page {
    documents: Vec<Listed>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Listed {
    id: String,
    title: String,
    owner: String,
    role: String,
    created_at: i64,
    updated_at: i64,
}

impl<S: LocalStore, T: LocalTransport, A: LocalTokenProvider> Engine<S, T, A> {
    /// Every document the user is a member of, from the server (one request per 200), in the
    /// server's order (by id). Needs the network; open one with `open_document` to edit it.
    pub async fn shared_documents(&self) -> Result<Vec<SharedDocument>, SyncError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &cursor {
                // Cursors are document ids (hex): nothing to escape.
                Some(after) if after.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("/v1/docs?limit={PAGE}&cursor={after}"),
                Some(after) => return Err(SyncError::BadResponse(format!("unexpected cursor {after:?}"))),
                None => format!("/v1/docs?limit={PAGE}"),
            };
            let body = self.get_json(&path).await?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| SyncError::BadResponse(format!("GET /v1/docs: {e}")))?;
            for d in page.documents {
                let id = d.id.parse().map_err(|_| SyncError::BadResponse(format!("GET /v1/docs: bad document id {:?}", d.id)))?;
                all.push(SharedDocument { id, title: d.title, owner: d.owner, role: d.role, created_at: d.created_at, updated_at: d.updated_at });
            }
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => return Err(SyncError::BadResponse("GET /v1/docs: the next page cursor did not advance".into())),
                None => return Ok(all),
            }
        }
        Ok(all)
    }
}
