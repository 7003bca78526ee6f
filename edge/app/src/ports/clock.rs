//! Wall-clock time as a port: `SystemTime::now` panics on wasm32-unknown-unknown, and tests
//! want to move time by hand.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixMillis;

    /// Microseconds on a clock good enough to time a request's phases (Server-Timing).
    /// Hosts with only a millisecond clock keep this default.
    fn now_micros(&self) -> i64 {
        self.now().0 * 1000
    }
}

/// The operating system's clock (native and WASI hosts).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        UnixMillis(since.as_millis() as i64)
    }

    fn now_micros(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as i64
    }
}
