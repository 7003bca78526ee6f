//! What the two kinds of Durable Object say to each other for `/v1/live` on Workers
//! (docs/protocol.md §11): a document's object ([`crate::room`]) keeps, besides its own
//! per-document sockets, the users whose channel objects ([`crate::channel`]) watch the
//! document — *watchers*, in the object's SQLite storage — and relays every notice (heads moved,
//! presence, memberships changed) to them. A channel object answers `410 Gone` when none of its
//! sockets is subscribed to the document any more, and the room then forgets the watcher; so a
//! registration lost or left behind (a socket gone without its close event) costs at most one
//! relayed notice.
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
/// Users' channels one document's object relays to; more are refused (the subscriber's
/// `subscribed` lists the document as unavailable: it syncs it at its polling interval). Each
/// relayed notice is one request per watcher within the notice's invocation, so this stays
/// within the Free plan's 1,000 requests to Cloudflare services per invocation (the database
/// read is an external one). Per-document sockets, held by the object itself, cost none.
pub const MAX_WATCHERS: usize = 1_000;
/// Notices one object sends at once; the others wait for a free slot.
const CONCURRENT: usize = 32;

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

/// The room's table of watchers.
pub struct Watchers<'a>(pub &'a State);

#[derive(Deserialize)]
struct Watcher {
    user: String,
    since: i64,
}

impl Watchers<'_> {
    fn sql(&self) -> worker::SqlStorage {
        self.0.storage().sql()
    }

    fn ensure(&self) -> worker::Result<()> {
        self.sql().exec("CREATE TABLE IF NOT EXISTS watchers (user TEXT PRIMARY KEY, since INTEGER NOT NULL) WITHOUT ROWID", None)?;
        Ok(())
    }

    pub fn any(&self) -> worker::Result<bool> {
        self.ensure()?;
        Ok(!self.sql().exec("SELECT user, since FROM watchers LIMIT 1", None)?.to_array::<Watcher>()?.is_empty())
    }

    /// Registers `user` (again); false when the document has [`MAX_WATCHERS`] others.
    pub fn add(&self, user: &str) -> worker::Result<bool> {
        self.ensure()?;
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let n = self.sql().exec("SELECT count(*) AS n FROM watchers WHERE user <> ?", vec![user.into()])?.one::<Count>()?.n;
        if n >= MAX_WATCHERS as i64 {
            return Ok(false);
        }
        self.sql().exec(
            "INSERT INTO watchers (user, since) VALUES (?, (SELECT coalesce(max(since), 0) + 1 FROM watchers)) \
             ON CONFLICT (user) DO UPDATE SET since = excluded.since",
            vec![user.into()],
        )?;
        Ok(true)
    }

    fn since(&self, user: &str) -> worker::Result<Option<i64>> {
        self.ensure()?;
        Ok(self.sql().exec("SELECT user, since FROM watchers WHERE user = ?", vec![user.into()])?.to_array::<Watcher>()?.pop().map(|w| w.since))
    }

    /// Forgets `user` unless it registered again after `since`.
    fn remove(&self, user: &str, since: i64) -> worker::Result<()> {
        self.sql().exec("DELETE FROM watchers WHERE user = ? AND since = ?", vec![user.into(), since.into()])?;
        Ok(())
    }

    fn all(&self) -> worker::Result<Vec<Watcher>> {
        self.ensure()?;
        self.sql().exec("SELECT user, since FROM watchers", None)?.to_array()
    }

    /// Sends `body` to `path` of every watcher's channel; those that answer 410 are forgotten.
    pub async fn relay<B: Serialize>(&self, env: &Env, path: &str, body: &B) -> worker::Result<()> {
        let watchers = self.all()?;
        if watchers.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_string(body)?;
        let channels = env.durable_object(CHANNELS)?;
        let sends = watchers.into_iter().map(|w| {
            let (channels, body) = (&channels, &body);
            async move {
                let answer =
                    async { channels.id_from_name(&w.user)?.get_stub()?.fetch_with_request(post(&format!("https://channel{path}"), body)?).await }.await;
                match answer {
                    Ok(r) if r.status_code() == 410 => Some(w),
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "live: relaying to a user's channel failed");
                        None
                    }
                }
            }
        });
        let gone: Vec<Watcher> = futures_util::stream::iter(sends).buffer_unordered(CONCURRENT).filter_map(|w| async move { w }).collect().await;
        for w in gone {
            self.remove(&w.user, w.since)?;
        }
        Ok(())
    }

    /// `user`'s channel says it may have stopped watching: ask it, and forget it if so.
    pub async fn confirm(&self, env: &Env, user: &str, doc: &str) -> worker::Result<()> {
        let Some(since) = self.since(user)? else { return Ok(()) };
        let url = worker::Url::parse_with_params("https://channel/check", &[("doc", doc)])?;
        let answer = env.durable_object(CHANNELS)?.id_from_name(user)?.get_stub()?.fetch_with_str(url.as_str()).await?;
        if answer.status_code() == 410 {
            self.remove(user, since)?;
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

/// Asks `doc`'s object to relay to `user`'s channel (`watch`), or to check whether it still
/// should (`unwatch`). True when the room took the registration.
pub async fn tell_room(env: &Env, doc: &str, user: &str, what: &str) -> worker::Result<bool> {
    let url = worker::Url::parse_with_params(&format!("https://room/{what}"), &[("doc", doc), ("user", user)])?;
    let answer: Response = env.durable_object(crate::room::BINDING)?.id_from_name(doc)?.get_stub()?.fetch_with_str(url.as_str()).await?;
    Ok(answer.status_code() < 300)
}
