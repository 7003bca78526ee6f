//! The membership reads of one commit's pushes to automerge-repo connections, shared.
//!
//! Every connection subscribed to a document reads its user's membership before it is sent a
//! commit (`edge_app::service::repo::announce`): a commit to a document with N connections
//! was N reads of the same document's heads. Here the connections woken by one commit read
//! together — one statement for all their users and the tip — which is still a read sent after
//! each of them was woken, so it sees the commit and every membership change before it, exactly
//! as a read of their own would.
//!
//! A connection joins a read only while it is gathering (not yet sent to the database); once it
//! is sent, later connections start the next one. A connection whose read's sender went away
//! (its connection closed first) reads on its own. Nothing here outlives a read: it is not a
//! cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use edge_app::ApiError;
use edge_app::model::Role;
use edge_app::store::Tip;
use tokio::sync::watch;

/// The user's role and the document's tip; `None` when the user may not read it (or it does
/// not exist).
pub type Membership = Option<(Role, Tip)>;

/// What one read found for the users that asked: the members' roles, and the tip.
type Found = (HashMap<String, Role>, Tip);

/// What a read found, once it did (an error as text).
type Outcome = Option<Arc<Result<Found, String>>>;

/// A read gathering its users: they learn what it found through `found`. Its entry leaves the
/// map when the read is sent (or its sender goes away before), so a read in the map is one
/// that has not been sent.
struct Gathering {
    users: HashSet<String>,
    found: watch::Receiver<Outcome>,
}

/// The reads gathering now, at most one per document.
#[derive(Default)]
pub struct PushReads {
    gathering: Mutex<HashMap<String, Gathering>>,
}

impl PushReads {
    /// `user`'s membership of `doc` and its tip, read after this call began, together with the
    /// other callers for `doc` that arrive before the read is sent. `read` reads the roles of
    /// the users it is given and the tip in one statement.
    pub async fn read<F, Fut>(&self, doc: &str, user: &str, read: F) -> Result<Membership, ApiError>
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Found, ApiError>>,
    {
        let own = |(roles, tip): Found| roles.get(user).map(|role| (*role, tip));
        let mut found = match self.join(doc, user) {
            Ok(found) => found,
            Err(send) => {
                // Should this caller go away before sending the read, its entry goes with it
                // (those who joined then read on their own).
                let unsent = Unsent { reads: self, doc };
                // The connections woken by the same commit run first, and join.
                tokio::task::yield_now().await;
                std::mem::forget(unsent);
                let users = self.take(doc);
                let result = read(users).await;
                send.send_replace(Some(Arc::new(result.as_ref().map(Clone::clone).map_err(ToString::to_string))));
                return result.map(own);
            }
        };
        let shared = found.wait_for(Option::is_some).await.ok().and_then(|found| found.clone());
        match shared.as_deref() {
            Some(Ok(found)) => Ok(own(found.clone())),
            Some(Err(e)) => Err(ApiError::Internal(format!("membership read: {e}"))),
            // The caller that sent it went away first.
            None => read(vec![user.to_owned()]).await.map(own),
        }
    }

    /// Joins the read gathering for `doc` (`Ok`: wait for what it finds), or starts one
    /// (`Err`: where to send what it finds).
    fn join(&self, doc: &str, user: &str) -> Result<watch::Receiver<Outcome>, watch::Sender<Outcome>> {
        let mut gathering = self.gathering.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = gathering.get_mut(doc)
            && g.found.has_changed().is_ok()
        {
            g.users.insert(user.to_owned());
            return Ok(g.found.clone());
        }
        let (send, found) = watch::channel(None);
        gathering.insert(doc.to_owned(), Gathering { users: HashSet::from([user.to_owned()]), found });
        Err(send)
    }

    /// The read gathering for `doc` is sent now: its users; later callers start another. (Only
    /// its starter calls this, while its sender lives, so the entry is that read's.)
    fn take(&self, doc: &str) -> Vec<String> {
        let mut gathering = self.gathering.lock().unwrap_or_else(|e| e.into_inner());
        gathering.remove(doc).map(|g| g.users.into_iter().collect()).unwrap_or_default()
    }
}

/// Removes a read's entry if its starter goes away before sending it.
struct Unsent<'a> {
    reads: &'a PushReads,
    doc: &'a str,
}

impl Drop for Unsent<'_> {
    fn drop(&mut self) {
        self.reads.take(self.doc);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Records whom each read asked for; every asked user but "stranger" is an editor. With a
    /// `gate`, a read waits for a permit first.
    #[derive(Clone, Default)]
    struct Reads {
        asked: Arc<Mutex<Vec<Vec<String>>>>,
        started: Arc<AtomicUsize>,
        gate: Option<Arc<tokio::sync::Semaphore>>,
    }

    impl Reads {
        async fn read(&self, mut users: Vec<String>) -> Result<Found, ApiError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            users.sort();
            self.asked.lock().unwrap().push(users.clone());
            Ok((users.into_iter().filter(|u| u != "stranger").map(|u| (u, Role::Editor)).collect(), Tip { heads: "h".into(), stored_bytes: 1 }))
        }

        fn asked(&self) -> Vec<Vec<String>> {
            self.asked.lock().unwrap().clone()
        }
    }

    fn role(m: Result<Membership, ApiError>) -> Option<Role> {
        m.unwrap().map(|(role, _)| role)
    }

    /// Callers arriving together share one read naming all their users, each learning only its
    /// own membership; a caller arriving after that read was sent reads again.
    #[tokio::test]
    async fn callers_arriving_together_share_one_read_and_later_ones_read_again() {
        let (pushes, reads) = (PushReads::default(), Reads::default());
        let users = ["ann", "bob", "stranger", "ann"];
        let answers = futures_util::future::join_all(users.iter().map(|u| pushes.read("d", u, |users| reads.read(users)))).await;
        assert_eq!(reads.asked(), [["ann", "bob", "stranger"]], "one read for the four");
        assert_eq!(answers.into_iter().map(role).collect::<Vec<_>>(), [Some(Role::Editor), Some(Role::Editor), None, Some(Role::Editor)]);

        assert_eq!(role(pushes.read("d", "bob", |users| reads.read(users)).await), Some(Role::Editor));
        assert_eq!(reads.asked().len(), 2, "the first read was sent: a new one");
        assert!(pushes.gathering.lock().unwrap().is_empty(), "nothing kept after a read");
    }

    /// A caller never joins a read already sent: it may have been sent before the commit that
    /// woke the caller.
    #[tokio::test]
    async fn a_read_already_sent_is_not_joined() {
        let pushes = PushReads::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let reads = Reads { gate: Some(gate.clone()), ..Reads::default() };
        let first = pushes.read("d", "ann", |users| reads.read(users));
        let second = async {
            while reads.started.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            gate.add_permits(2);
            pushes.read("d", "bob", |users| reads.read(users)).await
        };
        let (a, b) = tokio::join!(first, second);
        assert_eq!((role(a), role(b)), (Some(Role::Editor), Some(Role::Editor)));
        let mut asked = reads.asked();
        asked.sort();
        assert_eq!(asked, [vec!["ann".to_owned()], vec!["bob".to_owned()]], "two reads, each alone");
    }

    /// The caller that sent the read goes away before it answers: the one that joined reads on
    /// its own instead of waiting for ever.
    #[tokio::test]
    async fn a_caller_whose_read_went_away_reads_alone() {
        let pushes = PushReads::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let reads = Reads { gate: Some(gate.clone()), ..Reads::default() };
        let mut first = Box::pin(pushes.read("d", "ann", |users| reads.read(users)));
        let mut second = Box::pin(pushes.read("d", "bob", |users| reads.read(users)));
        while reads.started.load(Ordering::SeqCst) == 0 {
            tokio::select! { biased; _ = &mut first => unreachable!(), _ = &mut second => unreachable!(), () = tokio::task::yield_now() => {} }
        }
        drop(first);
        gate.add_permits(1);
        assert_eq!(role(second.await), Some(Role::Editor));
        assert_eq!(reads.asked(), [["bob"]], "bob read alone; ann's read never finished");
    }

    /// The caller that started a read goes away before sending it: its entry goes too, so the
    /// next caller starts afresh instead of joining a read nobody will send.
    #[tokio::test]
    async fn a_read_never_sent_leaves_nothing_behind() {
        let (pushes, reads) = (PushReads::default(), Reads::default());
        let mut first = Box::pin(pushes.read("d", "ann", |users| reads.read(users)));
        assert!(futures_util::poll!(&mut first).is_pending(), "yielding before the read");
        assert_eq!(pushes.gathering.lock().unwrap().len(), 1);
        drop(first);
        assert!(pushes.gathering.lock().unwrap().is_empty(), "the entry went with its caller");
        assert_eq!(role(pushes.read("d", "bob", |users| reads.read(users)).await), Some(Role::Editor));
        assert_eq!(reads.asked(), [["bob"]]);
    }
}
