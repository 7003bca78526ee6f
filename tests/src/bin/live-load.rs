//! The live channel's cost (scripts/bench-live.sh): `live-load <label> <subscribers> <rounds>`
//! against `EDGESYNC_BASE_URL` (same variables as the black-box suite; the server's pid in
//! `EDGESYNC_SERVER_PID` for its memory). `subscribers` WebSockets subscribe to one document;
//! then, `rounds` times, a writer pushes one edit over HTTP and every subscriber waits for its
//! `changed`. Prints one Markdown table row: label, subscribers, rounds, delivery p50 / p99 /
//! max ms (from sending the edit to each subscriber's `changed`: an upper bound of
//! commit-to-event), and the server's resident memory per idle subscriber.

use std::time::{Duration, Instant};

use automerge::{ROOT, transaction::Transactable};
use edgesync_blackbox::{Replica, Target};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (label, subscribers, rounds) = match args.as_slice() {
        [_, label, s, r] => (label.clone(), s.parse::<usize>().expect("subscribers"), r.parse::<usize>().expect("rounds")),
        _ => panic!("usage: live-load <label> <subscribers> <rounds>"),
    };
    let target = Target::from_env().expect("EDGESYNC_BASE_URL");
    let (_, writer) = target.user("writer");
    let (reader, reader_token) = target.user("reader");
    let doc = target.create_doc(&writer).await;
    let r = target.http.put(target.url(&format!("/v1/docs/{doc}/members/{reader}"))).bearer_auth(&writer).json(&serde_json::json!({"role": "viewer"})).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let before = rss_kib();
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<Instant>();
    let ws_url = target.url("/v1/live").replacen("http", "ws", 1);
    for _ in 0..subscribers {
        let mut request = ws_url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {reader_token}").parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connects");
        socket.send(Message::Text(serde_json::json!({"type": "subscribe", "docs": [doc]}).to_string().into())).await.unwrap();
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
    for round in 0..rounds {
        let mut tx = replica.doc.transaction();
        tx.put(ROOT, "round", round as i64).unwrap();
        tx.commit();
        let sent = Instant::now();
        assert_eq!(replica.sync(&target, &writer).await, 200);
        for _ in 0..subscribers {
            let at = tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await.expect("every subscriber is told").unwrap();
            latencies.push(at.duration_since(sent));
        }
    }
    latencies.sort();
    let ms = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    println!("| {label} | {subscribers} | {rounds} | {:.2} | {:.2} | {:.2} | {per_subscriber} |", ms(0.5), ms(0.99), ms(1.0));
}

/// The server's resident memory (KiB), when its pid is known.
fn rss_kib() -> Option<u64> {
    let pid = std::env::var("EDGESYNC_SERVER_PID").ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
