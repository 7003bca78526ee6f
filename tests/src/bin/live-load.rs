//! The live channel's cost (scripts/bench-live.sh): `live-load <label> <subscribers> <rounds>
//! [channel|document]` against `EDGESYNC_BASE_URL` (same variables as the black-box suite; the
//! server's pid in `EDGESYNC_SERVER_PID` for its memory). `subscribers` WebSockets subscribe to
//! one document — on `/v1/live` (`channel`, the default) or `/v1/docs/{id}/live` (`document`,
//! the shape Workers serve), as viewers, at most 30 per user (the server's per-user cap is 32);
//! then, `rounds` times, a writer pushes one edit over HTTP and every subscriber waits for its
//! `changed`. Prints one Markdown table row: label, subscribers, rounds, delivery p50 / p99 /
//! max ms (from sending the edit to each subscriber's `changed`: an upper bound of
//! commit-to-event), the writer's sync round trip p50, the delivery after the writer had its
//! answer (p50 / p99: what the push adds once the sync is done), the delivery after the
//! writer's request had been handled (p50 / p99: from sending the edit plus the request's
//! `Server-Timing` total, which ends once the response is built, just after the commit
//! returned; a millisecond clock on Workers), and the server's resident memory per idle
//! subscriber.

use std::time::{Duration, Instant};

use automerge::{ROOT, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (label, subscribers, rounds, per_document) = match args.as_slice() {
        [_, label, s, r, rest @ ..] if rest.len() <= 1 => {
            (label.clone(), s.parse::<usize>().expect("subscribers"), r.parse::<usize>().expect("rounds"), rest.first().is_some_and(|m| m == "document"))
        }
        _ => panic!("usage: live-load <label> <subscribers> <rounds> [channel|document]"),
    };
    let target = Target::from_env().expect("EDGESYNC_BASE_URL");
    let (_, writer) = target.user("writer");
    let doc = target.create_doc(&writer).await;
    let mut readers = Vec::new();
    for _ in 0..subscribers.div_ceil(30) {
        let (reader, token) = target.user("reader");
        let r = target
            .http
            .put(target.url(&format!("/v1/docs/{doc}/members/{reader}")))
            .bearer_auth(&writer)
            .json(&serde_json::json!({"role": "viewer"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        readers.push(token);
    }

    let before = rss_kib();
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<Instant>();
    let path = if per_document { format!("/v1/docs/{doc}/live") } else { "/v1/live".to_owned() };
    let ws_url = target.url(&path).replacen("http", "ws", 1);
    for n in 0..subscribers {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {}", readers[n / 30]).parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
        if !per_document {
            socket.send(Message::Text(serde_json::json!({"type": "subscribe", "docs": [doc]}).to_string().into())).await.unwrap();
        }
        let answer = socket.next().await.expect("an answer").unwrap();
        assert!(answer.to_text().unwrap().contains("\"subscribed\""), "{answer:?}");
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if message.to_text().is_ok_and(|t| t.contains("\"changed\"")) && arrivals.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_subscriber = match (before, rss_kib()) {
        (Some(b), Some(a)) => format!("{:.1}", a.saturating_sub(b) as f64 / subscribers as f64),
        _ => "n/a".into(),
    };

    let mut replica = Replica::new(&doc, 1);
    let mut latencies = Vec::with_capacity(rounds * subscribers);
    // The writer's own sync round trip, and each arrival after the writer had its answer and
    // after the server had handled the request.
    let (mut syncs, mut after_answer) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds * subscribers));
    let mut after_handled = Vec::with_capacity(rounds * subscribers);
    for round in 0..rounds {
        let mut tx = replica.doc.transaction();
        tx.put(ROOT, "round", round as i64).unwrap();
        tx.commit();
        let sent = Instant::now();
        let (status, timing) = replica.sync_waiting(&target, &writer, 0).await;
        assert_eq!(status, 200);
        let answered = Instant::now();
        syncs.push(answered - sent);
        let handled = sent + Duration::from_secs_f64(total_ms(&timing).expect("Server-Timing total") / 1000.0);
        for _ in 0..subscribers {
            let at = tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await.expect("every subscriber is told").unwrap();
            latencies.push(at.duration_since(sent));
            after_answer.push(at.saturating_duration_since(answered));
            after_handled.push(at.saturating_duration_since(handled));
        }
    }
    let ms = |list: &mut Vec<Duration>, q: f64| {
        list.sort();
        list[((list.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0
    };
    let (p50, p99, max) = (ms(&mut latencies, 0.5), ms(&mut latencies, 0.99), ms(&mut latencies, 1.0));
    let (sync_p50, after_p50, after_p99) = (ms(&mut syncs, 0.5), ms(&mut after_answer, 0.5), ms(&mut after_answer, 0.99));
    let (handled_p50, handled_p99) = (ms(&mut after_handled, 0.5), ms(&mut after_handled, 0.99));
    println!(
        "| {label} | {subscribers} | {rounds} | {p50:.2} | {p99:.2} | {max:.2} | {sync_p50:.2} | {after_p50:.2} / {after_p99:.2} | {handled_p50:.2} / {handled_p99:.2} | {per_subscriber} |"
    );
}

/// The `total;dur=` of a `Server-Timing` header, in milliseconds.
fn total_ms(timing: &str) -> Option<f64> {
    timing.split(',').find_map(|m| m.trim().strip_prefix("total;dur=")).and_then(|d| d.trim().parse().ok())
}

/// The server's resident memory (KiB), when its pid is known.
fn rss_kib() -> Option<u64> {
    let pid = std::env::var("EDGESYNC_SERVER_PID").ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
