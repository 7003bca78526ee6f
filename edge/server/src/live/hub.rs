//! The native server's fan-out for the live channel: which connection is subscribed to which
//! document, and the heads each document was last announced with.
//!
//! A watcher task feeds it: commits made in this process arrive at once (the same broadcast
//! that wakes waiting syncs; membership removals and deletions come the same way and make the
//! affected connections check their access again at once), and every `EDGESYNC_WAIT_POLL_MS` the heads of every watched
//! document are read from the database (one statement per 500 documents), which is how
//! commits made by other nodes or edges arrive. Only documents whose heads moved are sent. A
//! commit reported with its heads before and after (the automerge-repo route's) is announced
//! with those, without a read, when it starts from the heads last announced ([`LiveHub::moved`]).
//!
//! Nothing here is needed for correctness: a connection that misses a message, or a node
//! that restarts, loses nothing, since clients sync to learn changes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edge_app::AppState;
use edge_app::live::{DocHeads, ServerMessage};
use serde_json::Value;
use sync_core::automerge_repo::{EphemeralFilter, Message as RepoMessage};
use tokio::sync::{Notify, mpsc};

use crate::wakeups::{LocalWakeups, Moved, Seen};

/// Messages queued for one connection before it counts as too slow and is dropped.
const QUEUE: usize = 64;
/// The same for an automerge-repo connection, which is sent at most one pending
/// [`Queued::Changed`] per document (it then syncs the document from the store, however many
/// commits it missed), so its queue fills only with ephemeral messages it cannot keep up with.
const REPO_QUEUE: usize = edge_app::live::MAX_SUBSCRIPTIONS + QUEUE;
/// Documents read per statement when polling.
const POLL_CHUNK: usize = 500;
/// Live connections one server holds at most; more are answered 503.
pub const MAX_CONNECTIONS: usize = 20_000;
/// Live connections one user may hold on one server (tabs, devices); more are answered 429,
/// so that no member can take the server's capacity from the others.
pub use edge_app::live::MAX_CONNECTIONS_PER_USER;

/// `(senderId, sessionId)` pairs each document's ephemeral filter remembers.
const EPHEMERAL_SESSIONS: usize = 1000;

/// What a connection is sent: the JSON channel's messages as text; an automerge-repo
/// connection learns which document moved (it then generates its own sync message) and gets
/// the ephemeral messages of the other clients.
#[derive(Debug, Clone)]
pub enum Queued {
    Text(String),
    Changed(String),
    Ephemeral(Arc<RepoMessage>),
}

/// Why a connection is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    ServerFull,
    UserFull,
}

pub struct LiveHub {
    state: Mutex<HubState>,
    next_id: AtomicU64,
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self { state: Mutex::default(), next_id: AtomicU64::new(0), closing: tokio::sync::watch::channel(false).0 }
    }
}

#[derive(Default)]
struct HubState {
    conns: HashMap<u64, Conn>,
    docs: HashMap<String, Doc>,
    per_user: HashMap<String, usize>,
}

struct Conn {
    tx: mpsc::Sender<Queued>,
    /// An automerge-repo connection ([`Queued::Changed`] and [`Queued::Ephemeral`], no JSON).
    repo: bool,
    /// Documents announced to an automerge-repo connection that it has not taken yet.
    changed: HashSet<String>,
    /// Wakes the connection to check its memberships again (see [`LiveHub::recheck`]).
    recheck: Arc<Notify>,
    docs: HashSet<String>,
    user: String,
}

/// A connection admitted by [`LiveHub::connect`].
pub struct Connected {
    pub id: u64,
    pub queue: mpsc::Receiver<Queued>,
    pub recheck: Arc<Notify>,
}

/// A connection admitted by [`LiveHub::admit`], holding its place until dropped.
pub struct Admitted {
    hub: Arc<LiveHub>,
    pub conn: Connected,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.hub.disconnect(self.conn.id);
    }
}

struct Doc {
    conns: HashSet<u64>,
    heads: Vec<String>,
    /// Which automerge-repo ephemeral messages were relayed (clients relay them back).
    ephemeral: Option<EphemeralFilter>,
}

impl LiveHub {
    /// A new connection of `user`: its id and the queue of messages for it. The queue closes
    /// when the connection was too slow to keep up (it should then close; the client
    /// reconnects).
    /// `recheck` is notified when who may read one of its documents changed.
    /// `repo`: an automerge-repo connection.
    pub fn connect(&self, user: &str, repo: bool) -> Result<Connected, Refused> {
        let mut state = self.lock();
        state.admits(user)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, queue) = mpsc::channel(if repo { REPO_QUEUE } else { QUEUE });
        let recheck = Arc::new(Notify::new());
        state.conns.insert(id, Conn { tx, repo, changed: HashSet::new(), recheck: recheck.clone(), docs: HashSet::new(), user: user.to_owned() });
        *state.per_user.entry(user.to_owned()).or_default() += 1;
        Ok(Connected { id, queue, recheck })
    }

    /// Asks every connection subscribed to one of `docs` to check its memberships now.
    pub fn recheck(&self, docs: &[String]) {
        let state = self.lock();
        for doc in docs.iter().filter_map(|d| state.docs.get(d)) {
            for conn in doc.conns.iter().filter_map(|c| state.conns.get(c)) {
                conn.recheck.notify_one();
            }
        }
    }

    /// [`Self::connect`], before the WebSocket upgrade: a refusal is an HTTP answer, and the
    /// connection's place is taken at once, so the limits hold however many handshakes run at
    /// the same time. The place is given back when the returned [`Admitted`] is dropped (the
    /// connection ended, or the upgrade never happened).
    pub fn admit(self: &Arc<Self>, user: &str, repo: bool) -> Result<Admitted, Refused> {
        Ok(Admitted { hub: self.clone(), conn: self.connect(user, repo)? })
    }

    /// Tells every connection to close (the server is shutting down).
    pub fn shut_down(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Self::shut_down`] was called.
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move { drop(closing.wait_for(|c| *c).await) }
    }

    pub fn disconnect(&self, conn: u64) {
        self.lock().drop_conn(conn);
    }

    /// Subscribes `conn` to `docs`; returns how many documents it is subscribed to now.
    pub fn subscribe(&self, conn: u64, docs: &[DocHeads]) -> usize {
        let mut state = self.lock();
        let Some(c) = state.conns.get_mut(&conn) else { return 0 };
        c.docs.extend(docs.iter().map(|d| d.doc.clone()));
        let count = c.docs.len();
        for d in docs {
            let doc = state.docs.entry(d.doc.clone()).or_insert_with(|| Doc { conns: HashSet::new(), heads: d.heads.clone(), ephemeral: None });
            doc.conns.insert(conn);
        }
        count
    }

    pub fn unsubscribe(&self, conn: u64, docs: &[String]) {
        let mut state = self.lock();
        for doc in docs {
            if state.conns.get_mut(&conn).is_some_and(|c| c.docs.remove(doc)) {
                state.leave(doc, conn);
            }
        }
    }

    pub fn subscriptions(&self, conn: u64) -> Vec<String> {
        self.lock().conns.get(&conn).map(|c| c.docs.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn is_subscribed(&self, conn: u64, doc: &str) -> bool {
        self.lock().conns.get(&conn).is_some_and(|c| c.docs.contains(doc))
    }

    /// Relays a presence message to the document's other JSON subscribers.
    pub fn presence(&self, conn: u64, doc: &str, from: &str, data: &Value) {
        let text = ServerMessage::Presence { doc, from, data }.to_json();
        let mut state = self.lock();
        let targets = state.others(doc, conn, false);
        state.send(&targets, &Queued::Text(text));
    }

    /// An automerge-repo connection takes `doc`'s announcement: the next commit to it is
    /// announced again. Returns the heads last read for `doc` (a commit after them announces
    /// them again), comma-separated as [`sync_core::Heads`] prints them.
    pub fn take_changed(&self, conn: u64, doc: &str) -> Option<String> {
        let mut state = self.lock();
        state.conns.get_mut(&conn)?.changed.remove(doc);
        state.docs.get(doc).map(|d| d.heads.join(","))
    }

    /// Relays an automerge-repo `ephemeral` message to the document's other automerge-repo
    /// subscribers, once per `(senderId, sessionId, count)`.
    pub fn relay(&self, conn: u64, doc: &str, message: RepoMessage) {
        let mut state = self.lock();
        let Some(d) = state.docs.get_mut(doc) else { return };
        if !d.ephemeral.get_or_insert_with(|| EphemeralFilter::new(EPHEMERAL_SESSIONS)).admit(&message) {
            return;
        }
        let targets = state.others(doc, conn, true);
        state.send(&targets, &Queued::Ephemeral(Arc::new(message)));
    }

    /// Every document with a subscriber.
    fn watched(&self) -> Vec<String> {
        self.lock().docs.keys().cloned().collect()
    }

    /// Those of `ids` some connection watches (a commit's documents: looked up one by one, not
    /// against a copy of everything watched).
    fn watched_among(&self, ids: Vec<String>) -> Vec<String> {
        let state = self.lock();
        ids.into_iter().filter(|id| state.docs.contains_key(id)).collect()
    }

    /// Announces the documents among `heads` whose heads moved since last announced.
    fn heads_read(&self, heads: HashMap<String, Vec<String>>) {
        let mut state = self.lock();
        for (id, heads) in heads {
            state.set_heads(id, heads);
        }
    }

    /// A commit in this process moved a document's heads: announced with the heads it reports
    /// when they follow the ones last announced. `false`: they do not (another commit came in
    /// between, or this one is reported late), so the heads must be read from the database.
    ///
    /// Only a move from exactly the heads last announced is taken: of two commits that raced
    /// from the same heads, only the first reported is and the second is read, so once every
    /// commit is reported the heads last announced are the database's; and a late report of an
    /// older move cannot set the heads back (a connection last answered at those would then
    /// skip the newer ones, see `take_changed`).
    fn moved(&self, moved: &Moved) -> bool {
        let mut state = self.lock();
        let Some(doc) = state.docs.get(&moved.id) else { return true };
        if doc.heads.join(",") != moved.before {
            return false;
        }
        let heads = if moved.after.is_empty() { Vec::new() } else { moved.after.split(',').map(str::to_owned).collect() };
        state.set_heads(moved.id.clone(), heads);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HubState {
    /// Announces `id` at `heads` if they are not the ones it was last announced with.
    fn set_heads(&mut self, id: String, heads: Vec<String>) {
        let Some(doc) = self.docs.get_mut(&id) else { return };
        if doc.heads == heads {
            return;
        }
        doc.heads = heads;
        let text = Queued::Text(ServerMessage::Changed { doc: &id, heads: doc.heads.clone() }.to_json());
        let targets: Vec<u64> = doc.conns.iter().copied().collect();
        let (repo, json): (Vec<u64>, Vec<u64>) = targets.iter().partition(|c| self.conns.get(c).is_some_and(|c| c.repo));
        self.send(&json, &text);
        // Once per document until the connection takes it (see `take_changed`).
        let repo: Vec<u64> = repo.into_iter().filter(|c| self.conns.get_mut(c).is_some_and(|c| c.changed.insert(id.clone()))).collect();
        self.send(&repo, &Queued::Changed(id));
    }

    fn admits(&self, user: &str) -> Result<(), Refused> {
        if self.conns.len() >= MAX_CONNECTIONS {
            return Err(Refused::ServerFull);
        }
        if self.per_user.get(user).copied().unwrap_or(0) >= MAX_CONNECTIONS_PER_USER {
            return Err(Refused::UserFull);
        }
        Ok(())
    }

    fn drop_conn(&mut self, conn: u64) {
        let Some(c) = self.conns.remove(&conn) else { return };
        for doc in &c.docs {
            self.leave(doc, conn);
        }
        if let Some(n) = self.per_user.get_mut(&c.user) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&c.user);
            }
        }
    }

    fn leave(&mut self, doc: &str, conn: u64) {
        if let Some(d) = self.docs.get_mut(doc) {
            d.conns.remove(&conn);
            if d.conns.is_empty() {
                self.docs.remove(doc);
            }
        }
    }

    /// The document's subscribers other than `conn`, of one kind (`repo` or JSON).
    fn others(&self, doc: &str, conn: u64, repo: bool) -> Vec<u64> {
        let Some(d) = self.docs.get(doc) else { return Vec::new() };
        d.conns.iter().copied().filter(|c| *c != conn && self.conns.get(c).is_some_and(|c| c.repo == repo)).collect()
    }

    /// Queues `message` for each of `targets`; a connection whose queue is full is dropped
    /// (its queue closes, and it closes the socket).
    fn send(&mut self, targets: &[u64], message: &Queued) {
        for conn in targets {
            let full = self.conns.get(conn).is_some_and(|c| c.tx.try_send(message.clone()).is_err());
            if full {
                self.drop_conn(*conn);
            }
        }
    }
}

/// Feeds `hub` until the server shuts down: commits in this process at once, everything else
/// on the poll interval. The task ends at the shutdown.
pub fn spawn_watcher(hub: Arc<LiveHub>, state: AppState, wakeups: &LocalWakeups) -> tokio::task::JoinHandle<()> {
    let mut commits = wakeups.commits();
    let poll = Duration::from_millis(state.config.wait_poll_ms.max(1).into());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut ids = tokio::select! {
                seen = commits.next() => match seen {
                    Some(Seen::Committed(ids)) => ids,
                    Some(Seen::Moved(moved)) if hub.moved(&moved) => continue,
                    Some(Seen::Moved(moved)) => vec![moved.id.clone()],
                    Some(Seen::AccessChanged(ids)) => {
                        hub.recheck(&ids);
                        continue;
                    }
                    // Lagged behind a burst: read everything watched.
                    Some(Seen::Lagged) => hub.watched(),
                    None => return,
                },
                _ = tick.tick() => hub.watched(),
            };
            // Commits announced meanwhile (a busy server) share the read.
            while let Some(seen) = commits.try_next() {
                match seen {
                    Some(Seen::Committed(more)) => ids.extend(more),
                    Some(Seen::Moved(moved)) if hub.moved(&moved) => {}
                    Some(Seen::Moved(moved)) => ids.push(moved.id.clone()),
                    Some(Seen::AccessChanged(changed)) => hub.recheck(&changed),
                    Some(Seen::Lagged) => ids = hub.watched(),
                    // The server is shutting down (this was its one announcement).
                    None => return,
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let ids = hub.watched_among(ids);
            for chunk in ids.chunks(POLL_CHUNK) {
                match state.store.heads_of(chunk).await {
                    Ok(heads) => hub.heads_read(heads),
                    Err(e) => tracing::warn!(error = %e, "live: reading heads failed"),
                }
            }
        }
    })
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
