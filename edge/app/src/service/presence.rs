//! Presence over plain HTTP (docs/protocol.md §10.1), for runtimes without inbound sockets
//! (Spin) and networks that block them: `POST /v1/docs/{id}/presence` sends a message,
//! `GET /v1/presence` reads the messages sent after a cursor, waiting for one like a waiting
//! sync (§10) waits for a change.
//!
//! Edges share nothing but the database, so a message crosses them as a row of the `presence`
//! table: read for [`TTL_MS`] after it was sent, and deleted once expired by the next send
//! (anyone's) and by the compaction pass. A row is never part of a document, never synced,
//! never in its history. The rules are the live channel's (§11): any member may send (viewers
//! too), the sender is the token's subject, at most [`MAX_PRESENCE_BYTES`] of JSON, at most
//! [`PRESENCE_PER_SECOND`] messages per second per user — counted by the same statement that
//! stores the message, so edges cannot pass the limit together. Presence never wakes a
//! waiting sync, nor a commit a presence read.

use std::time::Duration;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::live::{MAX_PRESENCE_BYTES, PRESENCE_PER_SECOND};
use crate::model::dto::{PresenceEntry, PresencePage};
use crate::ports::UnixMillis;
use crate::state::AppState;
use crate::store::NewPresence;

/// How long a message is served after it was sent.
pub const TTL_MS: i64 = 10_000;
/// Documents one read may name.
pub const MAX_DOCS: usize = 100;
/// Messages one answer carries at most (the cursor continues from the last).
pub const MAX_ENTRIES: i64 = 100;

/// Sends `data` from `user` (its client's `session`, if any) to the other readers of `doc`;
/// the message's number. `404` for a missing document and a non-member alike.
pub async fn send(state: &AppState, user: &str, session: Option<&str>, doc: &str, data: &Value) -> ApiResult<i64> {
    let session = checked_session(session)?;
    let text = data.to_string();
    if text.len() > MAX_PRESENCE_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_PRESENCE_BYTES });
    }
    crate::live::open_document(state, user, doc).await?;
    let now = state.now();
    let expired = UnixMillis(now.0 - TTL_MS);
    let message = NewPresence { doc_id: doc, sender: user, session, data: &text };
    let seq = state.store.send_presence(&message, now, PRESENCE_PER_SECOND, expired).await?;
    let seq = seq.ok_or(ApiError::RateLimited { retry_after_secs: 1 })?;
    state.wakeups.announce_presence(&[doc.to_owned()]);
    Ok(seq)
}

/// What a read asks for (`GET /v1/presence`).
pub struct Read<'a> {
    /// Comma-separated document ids.
    pub docs: &'a str,
    pub after: Option<i64>,
    /// The caller's client session: its own messages are skipped.
    pub session: Option<&'a str>,
    pub wait_ms: u32,
}

/// The messages of the documents `user` may read after `after`, sent in the last [`TTL_MS`]
/// by anyone but the caller's client session; when there is none, waits up to `wait_ms`
/// (clamped like a waiting sync's) for one, reading the database every
/// `EDGESYNC_WAIT_POLL_MS` (at once on the native server when a message is sent through it).
pub async fn read(state: &AppState, user: &str, read: Read<'_>) -> ApiResult<PresencePage> {
    let Read { docs, after, session, wait_ms } = read;
    let session = checked_session(session)?;
    let ids = parse_ids(docs)?;
    let after = after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::Invalid("after must be a cursor from an earlier answer (0 or more)".into()));
    }
    let (granted, unavailable) = crate::live::authorize(state, user, &ids).await?;
    let granted: Vec<String> = granted.into_iter().map(|d| d.doc).collect();
    let wait_ms = i64::from(wait_ms.min(state.config.max_wait_ms));
    let poll_ms = i64::from(state.config.wait_poll_ms.max(1));
    let deadline = state.now().0 + wait_ms;
    // Database reads of one request, however often it is woken early (a host whose clock
    // stands still included).
    let mut reads_left = 2 * (wait_ms / poll_ms) + 2;
    loop {
        let rows = if granted.is_empty() {
            Vec::new()
        } else {
            reads_left -= 1;
            state.store.presence_after(user, session, &granted, after, UnixMillis(state.now().0 - TTL_MS), MAX_ENTRIES).await?
        };
        let left = deadline - state.now().0;
        if !rows.is_empty() || left <= 0 || reads_left <= 0 || granted.is_empty() || !state.wakeups.can_wait() {
            let cursor = rows.last().map_or(after, |r| r.seq);
            let presence = rows
                .into_iter()
                .map(|r| {
                    let data = serde_json::from_str(&r.data).map_err(|e| ApiError::Internal(format!("stored presence {}: {e}", r.seq)))?;
                    Ok(PresenceEntry { seq: r.seq, doc: r.doc_id, from: r.sender, data })
                })
                .collect::<ApiResult<_>>()?;
            return Ok(PresencePage { cursor, presence, unavailable });
        }
        state.wakeups.wait_presence(&granted, Duration::from_millis(left.min(poll_ms) as u64)).await;
    }
}

/// A client's session id: at most 64 letters, digits, `-` and `_`; empty when there is none.
fn checked_session(session: Option<&str>) -> ApiResult<&str> {
    let session = session.unwrap_or("");
    if session.len() > 64 || !session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ApiError::Invalid("session must be at most 64 letters, digits, '-' or '_'".into()));
    }
    Ok(session)
}

/// `docs=` of a read: 1 to [`MAX_DOCS`] comma-separated document ids, each checked (counted
/// before anything is copied); a repeated id counts once.
fn parse_ids(docs: &str) -> ApiResult<Vec<String>> {
    let named: Vec<&str> = docs.split(',').filter(|s| !s.is_empty()).take(MAX_DOCS + 1).collect();
    if named.is_empty() || named.len() > MAX_DOCS {
        return Err(ApiError::Invalid(format!("docs must name 1 to {MAX_DOCS} document ids, comma-separated")));
    }
    let mut ids: Vec<String> = Vec::with_capacity(named.len());
    for id in named {
        if id.parse::<sync_core::DocumentId>().is_err() {
            return Err(ApiError::Invalid(format!("{:?} is not a document id (32 lowercase hex digits)", id.chars().take(40).collect::<String>())));
        }
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_names_one_to_a_hundred_valid_ids() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_ids(&format!("{id},{id}")).unwrap(), [id], "a repeated id counts once");
        for bad in [String::new(), ",".into(), "ABC".into(), format!("{id},{}", id.to_uppercase()), vec![id; MAX_DOCS + 1].join(",")] {
            assert!(matches!(parse_ids(&bad), Err(ApiError::Invalid(_))), "{bad:.60}");
        }
    }

    #[test]
    fn a_session_is_a_short_plain_token() {
        assert_eq!(checked_session(None).unwrap(), "");
        assert_eq!(checked_session(Some("tab-1_A")).unwrap(), "tab-1_A");
        for bad in ["x".repeat(65), "a b".into(), "' OR 1=1".into(), "é".into()] {
            assert!(checked_session(Some(&bad)).is_err(), "{bad}");
        }
    }
}
