//! Prometheus metrics for the native server: request counts and latency by route and
//! status, changes applied by sync, documents merged without a load (append fast path),
//! pushes refused for a document's heads, documents that failed to merge, and (set by the
//! compaction task) how many documents are recorded as damaged.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use edge_app::api::SyncStats;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new().install_recorder().map_err(|e| e.to_string())
}

/// Route layer: runs after routing, so the matched route template labels the metrics.
pub async fn record(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("edgesync_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!("edgesync_http_request_duration_seconds", "route" => route, "method" => method).record(start.elapsed().as_secs_f64());
    if let Some(stats) = response.extensions().get::<SyncStats>() {
        metrics::counter!("edgesync_sync_changes_applied_total").increment(stats.changes_applied as u64);
        metrics::counter!("edgesync_sync_docs_appended_total").increment(stats.fast_path as u64);
        metrics::counter!("edgesync_sync_docs_behind_heads_total").increment(stats.behind_heads as u64);
        metrics::counter!("edgesync_sync_docs_loaded_total").increment(stats.loaded as u64);
        metrics::counter!("edgesync_sync_fast_path_rereads_total").increment(stats.reread as u64);
        metrics::counter!("edgesync_sync_fast_path_tail_reads_total").increment(stats.tail_hits as u64);
        metrics::counter!("edgesync_sync_heads_refused_total").increment(stats.refused_heads as u64);
        metrics::counter!("edgesync_sync_docs_failed_total").increment(stats.failed_docs as u64);
    }
    response
}
