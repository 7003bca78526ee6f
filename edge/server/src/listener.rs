//! The HTTP listener of `serve`: hyper's HTTP/1 server with the limits `axum::serve` does not
//! offer. A client must send each request's headers within a deadline (so a slowloris
//! connection, or an idle keep-alive one, is closed), request bodies must keep arriving, at
//! most a fixed number of connections are open at once (further clients wait in the listen
//! backlog), and on shutdown the listener stops accepting and lets open requests finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to send a request's headers, counted from the connection (or the previous
    /// response) on.
    pub header_timeout: Duration,
    /// Time between two chunks of a request body.
    pub body_timeout: Duration,
    /// How long shutdown waits for open requests.
    pub drain_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(listener: TcpListener, app: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1).min(u32::MAX as usize)));
    // hyper-util's `GracefulShutdown` cannot watch connections that may be upgraded (the live
    // channel's WebSockets), so draining is done here: a signal every connection watches,
    // and all permits back once every connection has finished.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let max = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            // WebSocket upgrades (the live channel, `GET /v1/live`): once upgraded, the socket
            // is the live channel's, and this connection (and its permit) is done.
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Errors here are a client's (closed early, too slow, malformed): nothing to do.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    tokio::select! {
        _ = permits.acquire_many(max) => {}
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!("shutdown: requests still open after the drain timeout"),
    }
}
