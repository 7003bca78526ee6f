//! The changes a kept document applied last, in the order it applied them, with their
//! dependencies and (while small) their bytes: enough to list the changes outside the past of
//! heads the document had a moment ago without a pass over its history.
//!
//! automerge answers "which changes are not in the past of these heads" from vector clocks over
//! its whole change graph (its own `generate_sync_message` asks it twice per message). A peer
//! kept in sync names heads a few changes old, and those few are all here: the changes outside
//! the past of heads `x` are the logged ones that `x` does not reach through their
//! dependencies, provided `x` reaches every head the document had before the first logged
//! change (then everything older is in its past). When it does not, or names a change the
//! document lacks, [`Recent::since`] does not answer and automerge is asked.

use automerge::{Automerge, ChangeHash};

use crate::chunk::has_change;

/// Changes logged at most; at this count the older half is dropped.
pub const RECENT_CHANGES: usize = 32;
/// Change bytes kept at most: the oldest logged changes' bytes are dropped to make room for a
/// new change's (the newest are the ones peers ask for); a change larger than this is logged
/// without its bytes (a message sending it asks automerge to encode it).
pub const RECENT_BYTES: usize = 8 << 10;
/// The memory a log takes at most, bytes and bookkeeping (hashes, dependencies, the heads
/// after each change) included.
pub const RECENT_MEMORY: u64 = (RECENT_BYTES + RECENT_CHANGES * 512) as u64;
/// The heads after a logged change are kept while there are at most this many (for
/// [`Recent::since`] to stop early; a document edited by a few people at once has as many).
const KEPT_HEADS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recent {
    /// The document's heads before the first logged change (sorted, as automerge's).
    base: Vec<ChangeHash>,
    entries: Vec<Entry>,
    /// The document's heads after the last logged change.
    heads: Vec<ChangeHash>,
    bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    bytes: Option<Vec<u8>>,
    /// The document's heads once this change was applied (sorted), while few.
    heads_after: Option<Box<[ChangeHash]>>,
}

impl Recent {
    /// An empty log for a document at `heads`.
    pub(crate) fn new(heads: Vec<ChangeHash>) -> Self {
        Recent { base: heads.clone(), entries: Vec::new(), heads, bytes: 0 }
    }

    /// The heads of the document after the last logged change: the log describes a document
    /// only while these are its heads.
    pub(crate) fn heads(&self) -> &[ChangeHash] {
        &self.heads
    }

    /// Logs a change the document just applied after every change logged before (all its
    /// dependencies applied before it).
    pub(crate) fn push(&mut self, hash: ChangeHash, deps: &[ChangeHash], bytes: &[u8]) {
        if self.entries.len() >= RECENT_CHANGES {
            let dropped: Vec<Entry> = self.entries.drain(..RECENT_CHANGES / 2).collect();
            for e in dropped {
                step(&mut self.base, e.hash, &e.deps);
                self.bytes -= e.bytes.map_or(0, |b| b.len());
            }
        }
        let bytes = (bytes.len() <= RECENT_BYTES).then(|| bytes.to_vec());
        if let Some(new) = &bytes {
            let mut oldest = self.entries.iter_mut();
            while self.bytes + new.len() > RECENT_BYTES {
                let Some(entry) = oldest.next() else { break };
                self.bytes -= entry.bytes.take().map_or(0, |b| b.len());
            }
        }
        self.bytes += bytes.as_ref().map_or(0, Vec::len);
        step(&mut self.heads, hash, deps);
        let heads_after = (self.heads.len() <= KEPT_HEADS).then(|| self.heads.clone().into_boxed_slice());
        self.entries.push(Entry { hash, deps: deps.to_vec(), bytes, heads_after });
    }

    pub(crate) fn contains(&self, hash: &ChangeHash) -> bool {
        self.position(hash).is_some()
    }

    /// The logged changes outside the past of `heads` (the changes themselves excluded too),
    /// in the order applied; `None` when that takes changes older than the log (`heads` does
    /// not reach every head the document had before it), or `heads` names a change the
    /// document does not hold (`known`: whether it does).
    ///
    /// One pass from the newest change back: the log is in causal order, so a change is in
    /// the past of `heads` exactly when it is one of them or a dependency of one met before
    /// it (the frontier, a few hashes); what the frontier holds at the end is older than the
    /// log. The pass stops where the frontier holds every head the document had once the
    /// change there was applied: that change and everything before it are in the past (a peer
    /// kept in sync names such heads, a few changes back, or heads of its own whose past
    /// reaches them).
    pub(crate) fn since(&self, heads: &[ChangeHash], known: impl Fn(&ChangeHash) -> bool) -> Option<Vec<ChangeHash>> {
        if !heads.iter().all(known) {
            return None;
        }
        let mut frontier = heads.to_vec();
        let mut since = Vec::new();
        for entry in self.entries.iter().rev() {
            if let Some(after) = &entry.heads_after
                && after.len() <= frontier.len()
                && after.iter().all(|h| frontier.contains(h))
            {
                since.reverse();
                return Some(since);
            }
            match frontier.iter().position(|h| *h == entry.hash) {
                Some(at) => {
                    frontier.swap_remove(at);
                    for dep in &entry.deps {
                        if !frontier.contains(dep) {
                            frontier.push(*dep);
                        }
                    }
                }
                None => since.push(entry.hash),
            }
        }
        if !self.base.iter().all(|b| frontier.contains(b)) {
            return None;
        }
        since.reverse();
        Some(since)
    }

    /// [`Recent::since`] on `doc`, the document this log describes: a change is known when it
    /// is logged or `doc` holds it.
    pub(crate) fn since_in(&self, doc: &Automerge, heads: &[ChangeHash]) -> Option<Vec<ChangeHash>> {
        self.since(heads, |hash| self.contains(hash) || has_change(doc, hash))
    }

    /// The dependencies of a logged change.
    pub(crate) fn deps(&self, hash: &ChangeHash) -> Option<&[ChangeHash]> {
        self.position(hash).map(|i| self.entries[i].deps.as_slice())
    }

    /// The bytes of a logged change, if kept.
    pub(crate) fn bytes(&self, hash: &ChangeHash) -> Option<&[u8]> {
        self.position(hash).and_then(|i| self.entries[i].bytes.as_deref())
    }

    /// A linear search from the newest (most looked up): the log holds at most
    /// [`RECENT_CHANGES`] entries.
    fn position(&self, hash: &ChangeHash) -> Option<usize> {
        self.entries.iter().rposition(|e| e.hash == *hash)
    }
}

/// `heads` (sorted) once `hash`, whose dependencies `deps` are all applied, is applied too.
pub(super) fn step(heads: &mut Vec<ChangeHash>, hash: ChangeHash, deps: &[ChangeHash]) {
    heads.retain(|h| !deps.contains(h));
    heads.push(hash);
    heads.sort_unstable();
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn the_changes_since_heads_are_those_automerge_lists_until_the_log_no_longer_reaches() {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "a", 0).unwrap();
        doc.commit();
        let mut log = Recent::new(doc.get_heads());
        // The document's heads after each step, and (where the pass cannot stop early) heads
        // it never had: one of two concurrent changes.
        let mut seen = vec![doc.get_heads()];
        for i in 1..=40 {
            let before = doc.get_heads();
            let mut fork = doc.fork();
            doc.put(ROOT, "a", i).unwrap();
            doc.commit();
            fork.put(ROOT, "b", i).unwrap();
            fork.commit();
            seen.push(fork.get_heads());
            doc.merge(&mut fork).unwrap();
            for change in doc.get_changes(&before) {
                log.push(change.hash(), change.deps(), change.raw_bytes());
            }
            assert_eq!(log.heads(), doc.get_heads());
            seen.push(doc.get_heads());
        }
        let all = |_: &ChangeHash| true;
        for (at, heads) in seen.iter().enumerate() {
            let expected: Vec<ChangeHash> = doc.get_changes(heads).iter().map(|c| c.hash()).collect();
            match log.since(heads, all) {
                Some(since) => assert_eq!(since, expected, "since the heads after step {at}"),
                None => assert!(expected.len() > log.entries.len(), "step {at}: refused only when older changes are outside its past"),
            }
        }
        assert_eq!(log.since(&doc.get_heads(), all), Some(Vec::new()));
        assert!(log.entries.len() <= RECENT_CHANGES && log.bytes <= RECENT_BYTES);
        assert_eq!(log.bytes, log.entries.iter().filter_map(|e| e.bytes.as_ref()).map(Vec::len).sum::<usize>());
        // The newest changes keep their bytes; the oldest gave theirs up to make room.
        let last = doc.get_last_local_change().unwrap();
        assert_eq!(log.bytes(&last.hash()), Some(last.raw_bytes()));
        // A change the document lacks, and heads older than the log.
        assert_eq!(log.since(&[ChangeHash([7; 32])], |_| false), None);
        assert_eq!(log.since(&seen[0], all), None);
    }

    #[test]
    fn the_oldest_changes_give_up_their_bytes_to_the_newest() {
        let hash = |i: u8| ChangeHash([i; 32]);
        let mut log = Recent::new(Vec::new());
        for i in 1..=5u8 {
            let deps: Vec<ChangeHash> = (i > 1).then(|| hash(i - 1)).into_iter().collect();
            log.push(hash(i), &deps, &[i; 3000]);
        }
        // 8 KiB hold two changes of 3,000 bytes: the last two.
        assert_eq!(log.bytes, 6000);
        assert_eq!((1..=5).map(|i| log.bytes(&hash(i)).is_some()).collect::<Vec<_>>(), [false, false, false, true, true]);
        assert_eq!(log.bytes(&hash(5)), Some(&[5u8; 3000][..]));
        // A change larger than the whole budget is logged without its bytes, and takes none.
        log.push(hash(6), &[hash(5)], &[6; RECENT_BYTES + 1]);
        assert_eq!((log.bytes(&hash(6)), log.bytes), (None, 6000));
        assert_eq!(log.heads(), [hash(6)]);
    }
}
