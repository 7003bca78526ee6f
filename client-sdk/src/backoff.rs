//! When to retry a failed sync: exponential backoff with jitter, or the server's
//! `Retry-After`. Pure arithmetic — the host's sync loop supplies the randomness and the timer.

use std::time::Duration;

use crate::engine::{PresenceRead, SyncReport, Waited};
use crate::error::SyncError;

/// Retry policy of the background sync loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub initial: Duration,
    /// Upper bound of the exponential delay.
    pub max: Duration,
    /// Upper bound on a server's `Retry-After` (a misconfigured server cannot park clients
    /// for days).
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(500), max: Duration::from_secs(60), max_retry_after: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The wait before the next attempt after `failures` consecutive failures (1 or more).
    ///
    /// `jitter` is a uniform random number in `[0, 1)`. Without `retry_after` the delay is
    /// `initial · 2^(failures-1)`, capped at `max`, then spread uniformly over its upper half
    /// ("equal jitter": clients that failed together do not retry together, and none retries
    /// much sooner than planned). With `retry_after` the server's delay is honoured exactly,
    /// plus up to 10 % jitter, capped at `max_retry_after`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        if let Some(wait) = retry_after {
            let wait = wait.min(self.max_retry_after);
            return wait + wait.mul_f64(0.1 * jitter);
        }
        let exponent = failures.saturating_sub(1).min(32);
        let base = self.initial.saturating_mul(1u32 << exponent.min(31)).min(self.max);
        base.mul_f64(0.5 + 0.5 * jitter)
    }
}

impl Backoff {
    /// A sync loop's step after a run: resets `failures` on success (next run after
    /// `interval`), or counts the failure and backs off, honouring the server's `Retry-After`.
    pub fn after_run(&self, outcome: &Result<SyncReport, SyncError>, failures: &mut u32, interval: Duration, jitter: f64) -> Duration {
        match outcome {
            Ok(report) if report.needs_retry() => {
                *failures = failures.saturating_add(1);
                self.delay(*failures, None, jitter)
            }
            _ => self.settle(outcome.as_ref().map(|_| interval), failures, jitter),
        }
    }
}

impl Backoff {
    /// A live loop's step after a waiting sync (docs/protocol.md §10) that took `elapsed` of
    /// its `wait`: the next one at once after news or a wait that ran its course; the
    /// `interval` after an early answer without news (a server that cannot wait) or when
    /// nothing is watched yet; after a failure, the backoff (honouring `Retry-After`).
    pub fn after_wait(
        &self,
        outcome: &Result<Waited, SyncError>,
        elapsed: Duration,
        wait: Duration,
        failures: &mut u32,
        interval: Duration,
        jitter: f64,
    ) -> Duration {
        let pause = outcome.as_ref().map(|waited| match waited {
            Waited::News => Duration::ZERO,
            Waited::Quiet if elapsed >= wait / 2 => Duration::ZERO,
            Waited::Quiet | Waited::NothingToWatch => interval,
        });
        self.settle(pause, failures, jitter)
    }

    /// `pause` after a success (the failures reset), or the backoff after a failure
    /// (honouring `Retry-After`).
    fn settle(&self, pause: Result<Duration, &SyncError>, failures: &mut u32, jitter: f64) -> Duration {
        match pause {
            Ok(pause) => {
                *failures = 0;
                pause
            }
            Err(e) => {
                *failures = failures.saturating_add(1);
                self.delay(*failures, e.retry_after(), jitter)
            }
        }
    }
}

/// Presence sends over HTTP (docs/protocol.md §10.1) go out at most this often: each is a
/// request against the API's rate limit.
pub const PRESENCE_SEND_PACE: Duration = Duration::from_millis(500);
/// How often a presence reader with nothing to read (no listener, no document) looks again;
/// looking sends no request.
pub const PRESENCE_IDLE_LOOK: Duration = Duration::from_secs(1);

impl Backoff {
    /// A presence sender's pause after a send over HTTP: the pace, or the server's
    /// `Retry-After` when it refused (a lost message is replaced by the app's next one).
    pub fn after_presence_send(&self, outcome: &Result<(), SyncError>, jitter: f64) -> Duration {
        match outcome.as_ref().err().and_then(SyncError::retry_after) {
            Some(retry_after) => self.delay(1, Some(retry_after), jitter).max(PRESENCE_SEND_PACE),
            None => PRESENCE_SEND_PACE,
        }
    }

    /// A presence reader's pause after a read that took `elapsed` of its `wait`: none after
    /// messages or a wait that ran its course; [`PRESENCE_IDLE_LOOK`] when there was nothing to
    /// read; `interval` when the server shows none of the documents (not pushed or shared yet)
    /// or answered early without news (a server that cannot wait); after a failure, the
    /// backoff (honouring `Retry-After`).
    pub fn after_presence_read(
        &self,
        outcome: &Result<Option<PresenceRead>, SyncError>,
        elapsed: Duration,
        wait: Duration,
        failures: &mut u32,
        interval: Duration,
        jitter: f64,
    ) -> Duration {
        let pause = outcome.as_ref().map(|read| match read {
            None => PRESENCE_IDLE_LOOK,
            Some(read) if read.all_unavailable => interval,
            Some(read) if !read.heard.is_empty() || elapsed >= wait / 2 => Duration::ZERO,
            Some(_) => interval,
        });
        self.settle(pause, failures, jitter)
    }
}

/// A uniform number in `[0, 1)` from 64 random bits.
pub fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Jitter for [`Backoff::delay`] from the platform's random source (0.5 if it has none).
pub fn random_jitter() -> f64 {
    getrandom::u64().map(unit_interval).unwrap_or(0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(10), max_retry_after: Duration::from_secs(60) };

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        assert_eq!(POLICY.delay(1, None, 1.0), Duration::from_millis(100));
        assert_eq!(POLICY.delay(2, None, 1.0), Duration::from_millis(200));
        assert_eq!(POLICY.delay(4, None, 1.0), Duration::from_millis(800));
        assert_eq!(POLICY.delay(20, None, 1.0), Duration::from_secs(10));
        assert_eq!(POLICY.delay(u32::MAX, None, 1.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_spreads_over_the_upper_half() {
        assert_eq!(POLICY.delay(3, None, 0.0), Duration::from_millis(200));
        assert_eq!(POLICY.delay(3, None, 0.5), Duration::from_millis(300));
        // Nonsense jitter is treated as 0, never as a panic or an endless wait.
        assert_eq!(POLICY.delay(3, None, f64::NAN), Duration::from_millis(200));
        assert_eq!(POLICY.delay(3, None, 7.0), Duration::from_millis(400));
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        assert_eq!(POLICY.delay(1, Some(Duration::from_secs(3)), 0.0), Duration::from_secs(3));
        assert_eq!(POLICY.delay(9, Some(Duration::from_secs(3)), 1.0), Duration::from_millis(3300));
        assert_eq!(POLICY.delay(1, Some(Duration::from_secs(86_400)), 0.0), Duration::from_secs(60));
    }

    #[test]
    fn a_live_loop_waits_again_at_once_polls_when_the_server_does_not_wait_and_backs_off() {
        let (wait, interval) = (Duration::from_secs(20), Duration::from_secs(30));
        let mut failures = 3;
        let step = |outcome: Result<Waited, SyncError>, elapsed: u64, failures: &mut u32| {
            POLICY.after_wait(&outcome, Duration::from_secs(elapsed), wait, failures, interval, 0.0)
        };
        assert_eq!(step(Ok(Waited::News), 1, &mut failures), Duration::ZERO);
        assert_eq!(failures, 0, "a success resets the backoff");
        assert_eq!(step(Ok(Waited::Quiet), 20, &mut failures), Duration::ZERO, "a wait that ran its course");
        assert_eq!(step(Ok(Waited::Quiet), 0, &mut failures), interval, "a server that answered at once");
        assert_eq!(step(Ok(Waited::NothingToWatch), 0, &mut failures), interval);
        let busy = SyncError::Unavailable { status: 503, retry_after: Some(Duration::from_secs(5)) };
        assert_eq!(step(Err(busy), 0, &mut failures), Duration::from_secs(5));
        assert_eq!(failures, 1);
    }

    #[test]
    fn unit_interval_stays_below_one() {
        assert_eq!(unit_interval(0), 0.0);
        assert!(unit_interval(u64::MAX) < 1.0);
    }

    #[test]
    fn presence_over_http_is_paced_and_backs_off() {
        let limited = Err(SyncError::RateLimited { retry_after: Some(Duration::from_secs(2)) });
        assert_eq!(POLICY.after_presence_send(&Ok(()), 0.0), PRESENCE_SEND_PACE);
        assert_eq!(POLICY.after_presence_send(&limited, 0.0), Duration::from_secs(2), "the server's Retry-After");
        let interval = Duration::from_secs(30);
        let wait = Duration::from_secs(20);
        let read = |heard: Vec<crate::Presence>, all_unavailable| Ok(Some(PresenceRead { heard, all_unavailable }));
        let heard = vec![crate::Presence { doc_id: sync_core::DocumentId::from_bytes([1; 16]), from: "a".into(), data: serde_json::json!(1) }];
        let mut failures = 3;
        assert_eq!(POLICY.after_presence_read(&read(heard, false), Duration::from_millis(5), wait, &mut failures, interval, 0.0), Duration::ZERO);
        assert_eq!(failures, 0, "a success resets the backoff");
        assert_eq!(POLICY.after_presence_read(&read(vec![], false), wait, wait, &mut failures, interval, 0.0), Duration::ZERO, "the wait ran its course");
        assert_eq!(
            POLICY.after_presence_read(&read(vec![], false), Duration::from_millis(5), wait, &mut failures, interval, 0.0),
            interval,
            "a server that cannot wait"
        );
        assert_eq!(POLICY.after_presence_read(&read(vec![], true), wait, wait, &mut failures, interval, 0.0), interval, "nothing the server shows");
        assert_eq!(POLICY.after_presence_read(&Ok(None), Duration::ZERO, wait, &mut failures, interval, 0.0), PRESENCE_IDLE_LOOK);
        assert_eq!(POLICY.after_presence_read(&limited.map(|()| None), Duration::ZERO, wait, &mut failures, interval, 0.0), Duration::from_secs(2));
        assert_eq!(failures, 1);
    }
}
