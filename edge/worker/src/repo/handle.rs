//! One connection's work, one item at a time: a client's frame (automerge-repo's messages,
//! handled by sync-core's `Session` and the app's sync service), a push after a commit, a
//! relayed ephemeral message, a membership check. The queue that feeds it is in `mod.rs`.

use edge_app::AppState;
use edge_app::live::{self, PRESENCE_PER_SECOND};
use edge_app::service::repo::{self as service, DocSync};
use sync_core::DocumentId;
use sync_core::automerge_repo::{Event, Message};
use worker::WebSocket;

use super::conn::{Conn, Step, answered, refuse, relayed, send};
use super::{MESSAGES_PER_SECOND, POLICY, RepoConnections, SERVER_ERROR, Work};
use crate::budget;
use crate::channel::WATCHES_PER_MINUTE;
use crate::relay::{self, Ephemeral};
use crate::room::now_ms;

impl RepoConnections {
    pub(super) async fn step(&self, ws: &WebSocket, id: i64, user: &str, conn: &mut Conn, work: Work) -> Step {
        let app = match self.app() {
            Ok(app) => app,
            Err(e) => return Step::Close(SERVER_ERROR, e.to_string()),
        };
        let step = match work {
            Work::TooSlow => return Step::Close(1008, "too slow to keep up: reconnect".into()),
            Work::Frame(bytes) => {
                // At most MESSAGES_PER_SECOND per second; the next ones wait for the next second
                // (a client announces every document it has at once when it connects). Only this
                // connection's queue waits.
                let now = now_ms();
                let second = now.div_euclid(1000);
                conn.pace = if conn.pace.0 == second { (second, conn.pace.1 + 1) } else { (second, 1) };
                if conn.pace.1 > MESSAGES_PER_SECOND {
                    worker::Delay::from(std::time::Duration::from_millis((1000 - now.rem_euclid(1000)) as u64)).await;
                    conn.pace = (second + 1, 1);
                }
                let max = app.0.config.sync_limits.max_message_bytes;
                if bytes.len() > max {
                    return Step::Close(1009, "message too large".into());
                }
                self.received(ws, id, user, conn, &app.0, &bytes).await
            }
            Work::Changed(doc) => match conn.repo_ids.get(&doc).cloned() {
                Some(repo_id) => {
                    let state = conn.states.entry(doc).or_default();
                    let answer = service::announce(&app.0, user, doc, state).await;
                    answered(ws, conn, doc, &repo_id, answer)
                }
                None => Step::Continue,
            },
            Work::Ephemeral(message) => relayed(ws, conn, &message),
            Work::Recheck => {
                conn.states.values_mut().for_each(DocSync::recheck);
                let readable: Vec<String> = conn.readable.iter().map(DocumentId::to_string).collect();
                if let Ok((_, gone)) = live::authorize(&app.0, user, &readable).await {
                    for doc in gone.iter().filter_map(|g| g.parse::<DocumentId>().ok()) {
                        conn.readable.remove(&doc);
                        conn.states.remove(&doc);
                    }
                }
                Step::Continue
            }
            Work::Access(doc) => {
                conn.states.values_mut().for_each(DocSync::recheck);
                if let Ok((_, gone)) = live::authorize(&app.0, user, &[doc.to_string()]).await
                    && !gone.is_empty()
                {
                    conn.readable.remove(&doc);
                    conn.states.remove(&doc);
                }
                Step::Continue
            }
        };
        // Commits made here reach the documents' other subscribers, as after an HTTP sync.
        // (Without waiting: the rooms relay back to this object, and this connection's queue
        // must not wait on other connections' work.)
        let announced = app.1.take();
        if !announced.committed.is_empty() || !announced.access.is_empty() {
            self.state.wait_until(crate::room::notify(self.env.clone(), announced.committed, announced.access));
        }
        step
    }

    async fn received(&self, ws: &WebSocket, id: i64, user: &str, conn: &mut Conn, app: &AppState, bytes: &[u8]) -> Step {
        let message = match Message::decode(bytes) {
            Ok(message) => message,
            Err(e) => return refuse(ws, &conn.session, POLICY, format!("not an automerge-repo message: {e}")),
        };
        if matches!(message, Message::Join { .. }) {
            // A fresh start: automerge-repo resyncs everything after a join.
            conn.states.clear();
            conn.readable.clear();
            conn.repo_ids.clear();
            self.unwatch(id, None);
        }
        match conn.session.receive(message) {
            Event::Reply(reply) => send(ws, &reply),
            Event::Close(reply) => {
                let _ = send(ws, &reply);
                Step::Close(POLICY, "protocol error".into())
            }
            Event::Sync { document, repo_id, data, request, evicted } => {
                if let Some(gone) = evicted {
                    // Its place went to this one: no more pushes until the client syncs it again.
                    conn.states.remove(&gone);
                    conn.readable.remove(&gone);
                    conn.repo_ids.remove(&gone);
                    self.unwatch(id, Some(gone));
                }
                // Watched even while unavailable: the document may appear, or be shared.
                if conn.repo_ids.insert(document, repo_id.clone()).is_none() || !self.registered.borrow().contains(&document) {
                    match self.watch(id, user, document).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(doc = %document, "automerge-repo: the document's object did not take the watch"),
                        Err(over) => return refuse(ws, &conn.session, POLICY, over),
                    }
                }
                let state = conn.states.entry(document).or_default();
                let answer = service::receive(app, user, document, state, &data, request).await;
                answered(ws, conn, document, &repo_id, answer)
            }
            Event::Relay { document, message } => {
                // Each relayed message costs a request per watching object: per user, whatever
                // the number of connections.
                if conn.readable.contains(&document) && budget::spend(&self.state, "ephemeral", 1000, PRESENCE_PER_SECOND, 1).unwrap_or(false) {
                    let e = Ephemeral { doc: document.to_string(), origin: user.to_owned(), message: message.encode() };
                    let sent = async {
                        let url = worker::Url::parse_with_params("https://room/ephemeral", &[("doc", e.doc.as_str())])?;
                        let room = self.env.durable_object(crate::room::BINDING)?.id_from_name(&e.doc)?.get_stub()?;
                        room.fetch_with_request(relay::post(url.as_str(), &serde_json::to_string(&e)?)?).await
                    };
                    if let Err(e) = sent.await {
                        tracing::warn!(error = %e, "automerge-repo: relaying an ephemeral message failed");
                    }
                    // This user's other connections of the document hear it too (the room
                    // relays to other users' objects only).
                    self.local.borrow_mut().push((document, id, message));
                }
                Step::Continue
            }
            Event::Ignore => Step::Continue,
        }
    }

    /// Registers connection `id` as syncing `doc`, and this object with the document's object
    /// unless it is registered already (a refused registration is tried again at the next sync
    /// of the document by any connection). Registering is a request to another object, for any
    /// id a client names: one user's connections may register at most
    /// [`WATCHES_PER_MINUTE`] documents per minute (past that, the error to close with).
    async fn watch(&self, id: i64, user: &str, doc: DocumentId) -> Result<bool, String> {
        self.watching.borrow_mut().entry(doc).or_default().insert(id);
        if self.registered.borrow().contains(&doc) {
            return Ok(true);
        }
        if !budget::spend(&self.state, "watch", 60_000, WATCHES_PER_MINUTE, 1).unwrap_or(false) {
            return Err(format!("over {WATCHES_PER_MINUTE} newly synced documents per minute: reconnect later"));
        }
        let taken = relay::tell_room(&self.env, &doc.to_string(), &relay::repo_target(user), "watch").await.unwrap_or(false);
        if taken {
            self.registered.borrow_mut().insert(doc);
        }
        Ok(taken)
    }
}
