//! Logs on every host: one JSON object per line, this project's crates at `info` and every
//! dependency at `warn` unless `RUST_LOG` says otherwise. The request middleware's span puts
//! the request id, method and path into every line of a request.
//!
//! The native server writes to stdout with `tracing-subscriber`'s own writer; the wasm edges
//! have no stdout of their own, so [`install`] takes the host's line writer (`console.log`
//! on Workers, which `wrangler tail` and Workers Logs collect; stderr on Spin, which the host
//! logs).

use std::str::FromStr;
use std::sync::OnceLock;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::ChronoUtc;
use tracing_subscriber::prelude::*;

/// The default filter. Dependencies stay at `warn`: automerge opens a span for every column it
/// parses, and formatting those costs more than the merge itself (docs/benchmarks.md).
pub const DEFAULT_FILTER: &str = "warn,edge_app=info,edgesync_server=info,edgesync=info,edgesync_worker=info,edgesync_spin=info,sync_core=info";

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the process-wide (isolate-, instance-wide) subscriber writing through `write`,
/// once; later calls do nothing. `filter` is `RUST_LOG`'s `target=level,…` syntax; one that
/// does not parse falls back to [`DEFAULT_FILTER`], and the fallback is logged.
pub fn install(write: fn(&str), filter: Option<&str>) {
    INSTALLED.get_or_init(|| {
        let parsed = filter.map(Targets::from_str);
        let targets = match &parsed {
            Some(Ok(targets)) => targets.clone(),
            _ => Targets::from_str(DEFAULT_FILTER).unwrap_or_default(),
        };
        // Timestamps as the native server writes them (UTC, microseconds, `Z`).
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_timer(ChronoUtc::new("%Y-%m-%dT%H:%M:%S%.6fZ".into()))
            .with_writer(LineWriter(write))
            .with_filter(targets);
        let _ = tracing_subscriber::registry().with(layer).try_init();
        if let Some(Err(e)) = parsed {
            tracing::warn!(error = %e, "RUST_LOG does not parse; using the default filter");
        }
    });
}

/// Hands each formatted event to the host as one line.
#[derive(Clone, Copy)]
struct LineWriter(fn(&str));

/// One event's bytes, written to the host when the formatter is done with them.
struct Line {
    write: fn(&str),
    buf: Vec<u8>,
}

impl std::io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.buf);
        let line = line.trim_end();
        if !line.is_empty() {
            (self.write)(line);
        }
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { write: self.0, buf: Vec::with_capacity(256) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[test]
    fn events_become_json_lines_with_their_span_and_the_filter_applies() {
        install(|line| LINES.lock().unwrap().push(line.to_owned()), Some("warn,edge_app=info"));
        let span = tracing::info_span!("request", request_id = "r-42");
        span.in_scope(|| tracing::info!(status = 200, "handled"));
        tracing::info!(target: "automerge::columnar", "a dependency's info line");
        let lines = LINES.lock().unwrap().clone();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let event: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(event["message"], "handled");
        assert_eq!(event["status"], 200);
        assert_eq!(event["span"]["request_id"], "r-42");
        assert_eq!(event["level"], "INFO");
        assert!(event["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{event}");
    }
}
