//! Requests of an idle SDK client (issue: ≤ 1 per minute for 100 open documents), against a
//! running server: `scripts/with-sqld.sh scripts/bench-idle.sh [docs] [seconds]` starts the
//! native server and the Worker in workerd and runs this against both at once.
//!
//! A first client creates `docs` documents and pushes them; a second one, with the SDK's
//! default background settings (30 s interval, 5 min while its live channel watches every
//! document), opens them all and waits until it has pulled them and its live mode settled.
//! Then, for `seconds`, it does nothing: every HTTP request it makes is a sync (counted from
//! its `Status { Syncing }` events) or a socket (re)connect (counted from its live mode leaving
//! and coming back). Prints one Markdown row.
//!
//! Environment: `EDGESYNC_BASE_URL`, `EDGESYNC_TEST_HS256_SECRET`, `EDGESYNC_TEST_ISSUER`,
//! `EDGESYNC_TEST_AUDIENCE`; arguments: `label docs seconds`.

use std::time::{Duration, Instant};

use edge_app::auth::{self, TokenClaims};
use edge_app::ports::{Clock, SystemClock};
use edgesync_client::automerge::{ROOT, ReadDoc, transaction::Transactable};
use edgesync_client::{BackgroundSync, Client, Event, LiveMode, SyncStatus, TokenError};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

async fn client(base: &str, dir: &std::path::Path, name: &str, token: &str, background: Option<BackgroundSync>) -> Client {
    let token = token.to_owned();
    let builder = Client::builder(base.to_owned()).store_path(dir.join(name)).token_provider(move |_refresh| {
        let token = token.clone();
        async move { Ok::<_, TokenError>(token) }
    });
    match background {
        Some(settings) => builder.background_sync(settings),
        None => builder.manual_sync(),
    }
    .open()
    .await
    .expect("the client opens")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let label = args.first().cloned().unwrap_or_else(|| "server".into());
    let docs: usize = args.get(1).map_or(100, |a| a.parse().expect("docs"));
    let seconds: u64 = args.get(2).map_or(360, |a| a.parse().expect("seconds"));
    let base = env("EDGESYNC_BASE_URL");
    let user = format!("idle-{:016x}", rand::random::<u64>());
    let claims = TokenClaims { subject: user, issuer: env("EDGESYNC_TEST_ISSUER"), audience: env("EDGESYNC_TEST_AUDIENCE"), scope: None };
    let token = auth::mint_hs256(env("EDGESYNC_TEST_HS256_SECRET").as_bytes(), &claims, SystemClock.now(), 3600);
    let dir = tempfile::tempdir().unwrap();

    let writer = client(&base, dir.path(), "writer.db", &token, None).await;
    let mut ids = Vec::new();
    for i in 0..docs {
        let doc = writer.create_document(&format!("idle {i}")).await.unwrap();
        doc.change(|tx| tx.put(ROOT, "n", i as i64)).await.unwrap();
        ids.push(doc.id());
    }
    writer.sync_now().await.unwrap();
    writer.close().await;

    let idle = client(&base, dir.path(), "idle.db", &token, Some(BackgroundSync::default())).await;
    let mut handles = Vec::new();
    for id in &ids {
        handles.push(idle.open_document(*id).await.unwrap());
    }
    let started = Instant::now();
    while !handles.iter().all(|d| d.read(|d| d.get(ROOT, "n").ok().flatten().is_some()).unwrap_or(false)) || idle.live_mode() == LiveMode::Off {
        assert!(started.elapsed() < Duration::from_secs(120), "the idle client pulls every document");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the first subscription's answer and any sync it causes go by.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mode = idle.live_mode();
    let mut events = idle.subscribe();
    let (mut syncs, mut reconnects, mut was) = (0u32, 0u32, mode);
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Some(event) = events.try_next() {
            syncs += u32::from(matches!(event, Event::Status { status: SyncStatus::Syncing, .. }));
        }
        let now = idle.live_mode();
        reconnects += u32::from(was == LiveMode::Off && now != LiveMode::Off);
        was = now;
    }
    idle.close().await;
    let per_minute = f64::from(syncs + 2 * reconnects) * 60.0 / seconds as f64;
    println!("| {label} | {docs} | {mode:?} | {seconds} | {syncs} | {reconnects} | {per_minute:.2} |");
}
