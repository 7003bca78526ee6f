//! One connection's waiting work, bounded by count and by bytes, its counts kept as items
//! come and go (a client announcing a thousand documents queues a thousand frames: nothing is
//! rescanned per item).

use std::collections::{HashSet, VecDeque};

use sync_core::DocumentId;

use super::{MAX_QUEUED, MAX_QUEUED_BYTES, Work};

pub(super) struct Queue {
    items: VecDeque<Work>,
    /// Bytes of the queued frames.
    bytes: usize,
    /// Documents with a push queued.
    changed: HashSet<DocumentId>,
}

impl Queue {
    pub fn new() -> Self {
        Self { items: VecDeque::new(), bytes: 0, changed: HashSet::new() }
    }

    /// Queues `work` behind the rest. One push per document covers every commit queued behind
    /// it (as on the native server): it reads the document as it is when its turn comes. Past
    /// [`MAX_QUEUED`] items or [`MAX_QUEUED_BYTES`] of frames (a client sending faster than its
    /// messages are handled, or a backlog of pushes) the queue holds only `TooSlow`: its
    /// memory is bounded, as on the native server.
    pub fn push(&mut self, work: Work) {
        if let Work::Changed(doc) = &work
            && self.changed.contains(doc)
        {
            return;
        }
        if matches!(self.items.back(), Some(Work::TooSlow)) {
            return;
        }
        if self.items.len() >= MAX_QUEUED || self.bytes > MAX_QUEUED_BYTES {
            *self = Self::new();
            self.items.push_back(Work::TooSlow);
            return;
        }
        match &work {
            Work::Frame(frame) => self.bytes += frame.len(),
            Work::Changed(doc) => {
                self.changed.insert(*doc);
            }
            _ => {}
        }
        self.items.push_back(work);
    }

    pub fn pop(&mut self) -> Option<Work> {
        let work = self.items.pop_front()?;
        match &work {
            Work::Frame(frame) => self.bytes -= frame.len(),
            Work::Changed(doc) => {
                self.changed.remove(doc);
            }
            _ => {}
        }
        Some(work)
    }
}
