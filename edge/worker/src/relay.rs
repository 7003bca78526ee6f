//! What Durable Objects say to each other for the live sockets on Workers: a document's object
//! ([`crate::room`]) keeps, besides its own per-document sockets, the objects that watch the
//! document — *watchers*, in its SQLite storage: users' channels ([`crate::channel`],
//! `/v1/live`, docs/protocol.md §11) and automerge-repo connections ([`crate::repo`], §12) —
//! and relays every notice (heads moved, presence or ephemeral messages, memberships changed)
//! to them. A watcher answers `410 Gone` when it no longer watches the document, and the room
//! then forgets it; so a registration lost or left behind (a socket gone without its close
//! event) costs at most one relayed notice.
//!
//! A watcher is removed only if it was not registered again while the room asked (each
//! registration gets a new `since`), so a channel that unsubscribes and subscribes again at
//! once is never left unwatched.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Env, Method, Request, RequestInit, Response, State};

/// The binding of the channel objects' namespace (wrangler.toml), one object per user. Without
/// it `/v1/live` answers 404 and clients use per-document sockets.
pub const CHANNELS: &str = "LIVE_CHANNELS";
/// Watchers (users' channels, automerge-repo connections) one document's object relays to;
/// more are refused (the subscriber's
/// `subscribed` lists the document as unavailable: it syncs it at its polling interval). Each
/// relayed notice is one request per watcher within the notice's invocation, so this stays
/// within the Free plan's 1,000 requests to Cloudflare services per invocation (the database
/// read is an external one). Per-document sockets, held by the object itself, cost none.
pub const MAX_WATCHERS: usize = 1_000;
/// Notices one object sends at once; the others wait for a free slot.
const CONCURRENT: usize = 32;
/// How long a polling room relays to a watcher without hearing that it still watches.
const SWEEP_MS: i64 = 5 * 60 * 1000;

/// The heads of `doc` moved (room → channel).
#[derive(Serialize, Deserialize)]
pub struct Changed {
    pub doc: String,
    pub heads: Vec<String>,
}

/// A presence message for `doc`'s subscribers (channel → room → channels). `origin`: the
/// sending socket of a channel, which must not hear its own message back.
#[derive(Serialize, Deserialize)]
pub struct Presence {
    pub doc: String,
    pub from: String,
    pub origin: Option<i64>,
    pub data: Value,
}

/// Memberships of `doc` changed: each channel checks whether its user may still read it.
#[derive(Serialize, Deserialize)]
pub struct Access {
    pub doc: String,
}

/// An automerge-repo message for `doc`'s other automerge-repo connections (connection → room
/// → the other users' objects); `origin`: the sending user.
#[derive(Serialize, Deserialize)]
pub struct Ephemeral {
    pub doc: String,
    pub origin: String,
    pub message: Vec<u8>,
}

/// A watcher's name in a room's table: `channel:<user>` or `repo:<user>` (each user's channel
/// and automerge-repo connections live in one object of each kind).
pub fn channel_target(user: &str) -> String {
    format!("channel:{user}")
}

pub fn repo_target(user: &str) -> String {
    format!("repo:{user}")
}

/// The object a watcher's name points at.
fn stub_of(env: &Env, target: &str) -> worker::Result<worker::Stub> {
    match target.split_once(':') {
        Some(("channel", user)) => env.durable_object(CHANNELS)?.id_from_name(user)?.get_stub(),
        Some(("repo", user)) => env.durable_object(crate::repo::BINDING)?.id_from_name(user)?.get_stub(),
        _ => Err(worker::Error::RustError(format!("not a watcher: {target}"))),
    }
}

/// Which watchers a notice goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum To {
    All,
    Channels,
    /// automerge-repo connections but the one named.
    ReposBut,
}

/// The room's table of watchers.
pub struct Watchers<'a>(pub &'a State);

#[derive(Deserialize)]
struct Watcher {
    target: String,
    since: i64,
}

impl Watchers<'_> {
    fn sql(&self) -> worker::SqlStorage {
        self.0.storage().sql()
    }

    fn ensure(&self) -> worker::Result<()> {
        self.sql()
            .exec("CREATE TABLE IF NOT EXISTS watchers (target TEXT PRIMARY KEY, since INTEGER NOT NULL, checked INTEGER NOT NULL) WITHOUT ROWID", None)?;
        Ok(())
    }

    pub fn any(&self) -> worker::Result<bool> {
        self.ensure()?;
        Ok(!self.sql().exec("SELECT target, since FROM watchers LIMIT 1", None)?.to_array::<Watcher>()?.is_empty())
    }

    /// Registers `target` (again); false when the document has [`MAX_WATCHERS`] others.
    pub fn add(&self, target: &str) -> worker::Result<bool> {
        self.ensure()?;
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let n = self.sql().exec("SELECT count(*) AS n FROM watchers WHERE target <> ?", vec![target.into()])?.one::<Count>()?.n;
        if n >= MAX_WATCHERS as i64 {
            return Ok(false);
        }
        self.sql().exec(
            "INSERT INTO watchers (target, since, checked) VALUES (?, (SELECT coalesce(max(since), 0) + 1 FROM watchers), ?) \
             ON CONFLICT (target) DO UPDATE SET since = excluded.since, checked = excluded.checked",
            vec![target.into(), crate::room::now_ms().into()],
        )?;
        Ok(true)
    }

    fn since(&self, target: &str) -> worker::Result<Option<i64>> {
        self.ensure()?;
        Ok(self.sql().exec("SELECT target, since FROM watchers WHERE target = ?", vec![target.into()])?.to_array::<Watcher>()?.pop().map(|w| w.since))
    }

    /// Forgets `target` unless it registered again after `since`.
    fn remove(&self, target: &str, since: i64) -> worker::Result<()> {
        self.sql().exec("DELETE FROM watchers WHERE target = ? AND since = ?", vec![target.into(), since.into()])?;
        Ok(())
    }

    fn all(&self) -> worker::Result<Vec<Watcher>> {
        self.ensure()?;
        self.sql().exec("SELECT target, since FROM watchers", None)?.to_array()
    }

    /// Sends `body` to `path` of the watchers `to` names (`but`: the one left out); those that
    /// answer 410 are forgotten.
    pub async fn relay<B: Serialize>(&self, env: &Env, path: &str, body: &B, to: To, but: Option<&str>) -> worker::Result<()> {
        let watchers: Vec<Watcher> = self
            .all()?
            .into_iter()
            .filter(|w| match to {
                To::All => true,
                To::Channels => w.target.starts_with("channel:"),
                To::ReposBut => w.target.starts_with("repo:") && Some(w.target.as_str()) != but,
            })
            .collect();
        if watchers.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_string(body)?;
        let sends = watchers.into_iter().map(|w| {
            let body = &body;
            async move {
                let answer = async { stub_of(env, &w.target)?.fetch_with_request(post(&format!("https://watcher{path}"), body)?).await }.await;
                match answer {
                    Ok(r) if r.status_code() == 410 => Some((w, true)),
                    Ok(_) => Some((w, false)),
                    Err(e) => {
                        tracing::warn!(error = %e, "live: relaying to a watcher failed");
                        None
                    }
                }
            }
        });
        let answered: Vec<(Watcher, bool)> = futures_util::stream::iter(sends).buffer_unordered(CONCURRENT).filter_map(|w| async move { w }).collect().await;
        self.settle(answered)
    }

    /// Forgets the watchers that answered `410` (`true`), and notes that the others still watch.
    fn settle(&self, answered: Vec<(Watcher, bool)>) -> worker::Result<()> {
        let now = crate::room::now_ms();
        for (w, gone) in answered {
            if gone {
                self.remove(&w.target, w.since)?;
            } else {
                self.sql().exec("UPDATE watchers SET checked = ? WHERE target = ?", vec![now.into(), w.target.as_str().into()])?;
            }
        }
        Ok(())
    }

    /// Asks the watchers not heard from for [`SWEEP_MS`] whether they still watch `doc`: a
    /// polling room (`EDGESYNC_LIVE_POLL_MS`) relays nothing while the document is idle, so a
    /// watcher left behind would otherwise keep it polling.
    pub async fn sweep(&self, env: &Env, doc: &str) -> worker::Result<()> {
        self.ensure()?;
        let before = crate::room::now_ms() - SWEEP_MS;
        let stale: Vec<Watcher> = self.sql().exec("SELECT target, since FROM watchers WHERE checked < ?", vec![before.into()])?.to_array()?;
        let url = worker::Url::parse_with_params("https://watcher/check", &[("doc", doc)])?;
        let url = url.as_str();
        let checks = stale.into_iter().map(|w| async move {
            match async { stub_of(env, &w.target)?.fetch_with_str(url).await }.await {
                Ok(r) => Some((Watcher { target: w.target, since: w.since }, r.status_code() == 410)),
                Err(_) => None,
            }
        });
        let answered: Vec<(Watcher, bool)> = futures_util::stream::iter(checks).buffer_unordered(CONCURRENT).filter_map(|w| async move { w }).collect().await;
        self.settle(answered)
    }

    /// `target` says it may have stopped watching: ask it, and forget it if so.
    pub async fn confirm(&self, env: &Env, target: &str, doc: &str) -> worker::Result<()> {
        let Some(since) = self.since(target)? else { return Ok(()) };
        let url = worker::Url::parse_with_params("https://watcher/check", &[("doc", doc)])?;
        let answer = stub_of(env, target)?.fetch_with_str(url.as_str()).await?;
        if answer.status_code() == 410 {
            self.remove(target, since)?;
        }
        Ok(())
    }
}

/// A POST of a JSON `body` to an object.
pub fn post(url: &str, body: &str) -> worker::Result<Request> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}

/// Asks `doc`'s object to relay to `target` (`watch`), or to check whether it still should
/// (`unwatch`). True when the room took the registration.
pub async fn tell_room(env: &Env, doc: &str, target: &str, what: &str) -> worker::Result<bool> {
    let url = worker::Url::parse_with_params(&format!("https://room/{what}"), &[("doc", doc), ("target", target)])?;
    let answer: Response = env.durable_object(crate::room::BINDING)?.id_from_name(doc)?.get_stub()?.fetch_with_str(url.as_str()).await?;
    Ok(answer.status_code() < 300)
}
