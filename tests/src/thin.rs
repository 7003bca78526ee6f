//! A load generator's client that does not apply what it receives.
//!
//! On one machine, eight SDK clients writing one document spend more CPU than the server:
//! each applies every other client's change (automerge's apply, ~50 µs a change) where a client
//! on a document of its own applies none, so a shared-document load measures the clients. A
//! [`ThinReplica`] stands for a client on a device of its own: it sends real changes (one map
//! put each, on keys no other client writes, with the server's last heads as dependencies, op ids past every
//! op it was sent, its own last put as the predecessor), which the server checks, stores and
//! merges like any other; of what it is sent it reads only the heads and the changes' op
//! ranges, which is what the next change needs.

use std::collections::HashMap;
use std::num::NonZeroU64;

use automerge::legacy::{Key, ObjectId, Op, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ExpandedChange, ScalarValue};
use sync_core::{DocRequest, DocStatus, DocumentId, Heads};

use crate::Target;

pub struct ThinReplica {
    pub id: DocumentId,
    actor: ActorId,
    acked: Heads,
    seq: u64,
    max_op: u64,
    /// The op id of this client's last put on each key it wrote.
    last_put: HashMap<String, u64>,
    /// The change made since the last sync the server took.
    pending: Option<Change>,
}

impl ThinReplica {
    pub fn new(id: &str, actor: u8) -> Self {
        Self {
            id: id.parse().unwrap(),
            actor: ActorId::from(vec![actor; 8]),
            acked: Heads::empty(),
            seq: 0,
            max_op: 0,
            last_put: HashMap::new(),
            pending: None,
        }
    }

    /// Puts `value` on `key` (which no other client writes): a change on the heads the server
    /// last sent, pushed by the next [`Self::sync`]. One edit per sync.
    pub fn edit(&mut self, key: &str, value: i64) {
        assert!(self.pending.is_none(), "one edit per sync");
        let start_op = self.max_op + 1;
        self.seq += 1;
        let put = Op {
            action: OpType::Put(ScalarValue::Int(value)),
            obj: ObjectId::Root,
            key: Key::Map(key.into()),
            pred: self.last_put.get(key).map(|&op| OpId(op, self.actor.clone())).into_iter().collect(),
            insert: false,
        };
        let change = ExpandedChange {
            operations: vec![put],
            actor_id: self.actor.clone(),
            hash: None,
            seq: self.seq,
            start_op: NonZeroU64::new(start_op).expect("op ids start at 1"),
            time: 0,
            message: None,
            deps: self.acked.as_slice().to_vec(),
            extra_bytes: Vec::new(),
            author: None,
        };
        self.max_op = start_op;
        self.last_put.insert(key.to_owned(), start_op);
        self.pending = Some(Change::from(change));
    }

    /// One sync round pushing the pending change: the HTTP status and the `Server-Timing`
    /// header. The change stays pending unless the server took it.
    pub async fn sync(&mut self, target: &Target, token: &str) -> (u16, String) {
        let change = self.pending.as_ref().expect("an edit to push");
        let request =
            DocRequest { doc_id: self.id, have: self.acked.clone(), heads: Heads::new(vec![change.hash()]), chunks: vec![change.raw_bytes().to_vec()] };
        let round = target.sync_doc(token, request, "").await;
        if let Some((response, _)) = round.answer {
            assert_eq!(response.status, DocStatus::Ok, "the server took the change");
            for chunk in &response.chunks {
                self.max_op = self.max_op.max(max_op(chunk));
            }
            self.acked = response.heads;
            self.pending = None;
        }
        (round.status, round.timing)
    }
}

/// The last op id in a change chunk, or in a whole document (sent to a client far behind).
fn max_op(chunk: &[u8]) -> u64 {
    match Change::try_from(chunk) {
        Ok(change) => change.max_op(),
        Err(_) => Automerge::load(chunk).expect("a change or a document").get_changes_meta(&[]).iter().map(|c| c.max_op).max().unwrap_or(0),
    }
}
