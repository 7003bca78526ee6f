//! Interfaces the app implements (the token provider, event listeners) and how the client
//! calls them.
//!
//! Foreign code is never called on a thread that drives the client's async work: the token
//! provider and the listeners run on the runtime's blocking pool (`spawn_blocking`), so a
//! provider may block on a network call and a listener may take its time. A listener gets its
//! events one at a time, in order, on some background thread: post to the UI thread
//! (`Dispatchers.Main`, `DispatchQueue.main`) before touching views.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use edgesync_client as sdk;
use tokio::runtime::Handle;

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
use tokio::sync::Notify;

use crate::error::EdgesyncError;
use crate::types::ClientEvent;

/// Supplies bearer JWTs for the edge API (implemented by the app).
///
/// `token(refresh = false)` is asked before every request: return the current token cheaply
/// (cache it). `token(refresh = true)` is asked after the server answered 401: fetch a fresh
/// token from the identity provider; the request is retried once with it. Throwing fails the
/// sync with `EdgesyncError.TokenProvider`; nothing local is lost.
#[uniffi::export(with_foreign)]
pub trait TokenProvider: Send + Sync {
    fn token(&self, refresh: bool) -> Result<String, EdgesyncError>;
}

/// Receives client or document events (implemented by the app).
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    fn on_event(&self, event: ClientEvent);
}

/// The SDK's token port on a foreign provider: called on the blocking pool, so the provider
/// may block (e.g. on an HTTP call to the identity provider).
pub(crate) fn token_closure(
    provider: Arc<dyn TokenProvider>,
) -> impl Fn(bool) -> BoxFuture<'static, Result<String, sdk::TokenError>> + Send + Sync + 'static {
    move |refresh| {
        let provider = provider.clone();
        let call = tokio::task::spawn_blocking(move || provider.token(refresh));
        Box::pin(async move {
            match call.await {
                Ok(Ok(token)) => Ok(token),
                // The provider's own message, without this crate's "token provider:" prefix.
                Ok(Err(EdgesyncError::TokenProvider { message })) => Err(sdk::TokenError(message)),
                Ok(Err(e)) => Err(sdk::TokenError::new(e)),
                Err(e) => Err(sdk::TokenError::new(format!("the token provider panicked: {e}"))),
            }
        })
    }
}

/// A one-way stop signal any number of tasks can wait for.
#[derive(Default)]
pub(crate) struct Stop {
    stopped: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) async fn wait(&self) {
        loop {
            let mut notified = pin!(self.notify.notified());
            // Register before checking, so a stop between the check and the await is seen.
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// A running event subscription. Events keep coming until [`EventSubscription::cancel`] is called
/// or the client is closed; dropping the object does not stop them.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    stop: Arc<Stop>,
}

impl EventSubscription {
    pub(crate) fn new(stop: Arc<Stop>) -> Arc<Self> {
        Arc::new(Self { stop })
    }
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivering events (an event being delivered right now still completes).
    pub fn cancel(&self) {
        self.stop.stop();
    }

    /// True once cancelled or once its client was closed.
    pub fn is_cancelled(&self) -> bool {
        self.stop.is_stopped()
    }
}

/// Forwards `events` to `listener` until the subscription is cancelled or the client closes.
pub(crate) fn forward(
    runtime: &Handle,
    mut events: sdk::Subscription,
    listener: Arc<dyn EventListener>,
    closed: Arc<Stop>,
) -> Arc<EventSubscription> {
    let own = Arc::new(Stop::default());
    let stop = own.clone();
    runtime.spawn(async move {
        loop {
            let event = tokio::select! {
                biased;
                _ = own.wait() => break,
                _ = closed.wait() => break,
                event = events.next() => match event {
                    Some(event) => event,
                    None => break,
                },
            };
            let listener = listener.clone();
            // A listener that throws only loses that event.
            let _ = tokio::task::spawn_blocking(move || listener.on_event(event.into())).await;
        }
        own.stop();
    });
    Arc::new(EventSubscription { stop })
}
