//! Waiting syncs on Spin: `wasi:clocks/monotonic-clock` `wait-for` (WASI 0.3). A component
//! instance shares nothing with the others serving the same API, so a waiting sync learns of
//! commits only by re-reading the database on its poll interval.

use std::time::Duration;

use edge_app::ports::{BoxFuture, Wakeups};
use spin_sdk::wasip3::clocks::monotonic_clock;

use crate::database::AssertSend;

pub struct SpinTimer;

impl Wakeups for SpinTimer {
    fn wait(&self, _doc_ids: &[String], max: Duration) -> BoxFuture<'static, ()> {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Box::pin(AssertSend(monotonic_clock::wait_for(nanos)))
    }
}
