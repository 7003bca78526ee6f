//! An identity provider's keys from its JWKS URL (`JWT_JWKS_URL`): fetched through the host's
//! outbound HTTP, kept for the provider's `Cache-Control: max-age` (within bounds), and
//! fetched again early only when a token names a key the set lacks — at most once per
//! `JWT_JWKS_MIN_REFRESH_SECS`, whatever the tokens say.
//!
//! Edges are many and stateless, so the set is kept in two places: in memory for as long as
//! the host keeps the [`ProviderKeyCache`] (the native server's process, a Worker isolate),
//! and in the database (`provider_keys`), which every edge shares — a new Spin instance or a
//! cold isolate reads the row instead of fetching. The row also makes the fetches
//! themselves shared: refreshing a set before it expires, or after it expired while
//! another edge is already fetching, needs the turn ([`Store::claim_provider_keys_refresh`]).
//!
//! When the provider cannot be reached, expired keys keep verifying for up to
//! [`MAX_STALE_MS`] (the provider being down must not log everyone out), fetches are retried
//! every [`RETRY_SECS`], and with no keys at all the request is a 503 to retry.
//!
//! [`Store::claim_provider_keys_refresh`]: crate::store::Store::claim_provider_keys_refresh

use std::sync::{Arc, Mutex};

use crate::auth::{AuthError, JwksKey, JwksUrl, ProviderKey, jwks_ttl_secs, parse_jwks};
use crate::ports::UnixMillis;
use crate::state::AppState;

/// Largest key-set document read (providers publish a few kilobytes).
pub const MAX_JWKS_BYTES: usize = 128 * 1024;
/// After a failed fetch, or while another edge refreshes an expired set, no edge fetches
/// again for this long; a request needing keys that nobody has gets `503` with this
/// `Retry-After`.
pub const RETRY_SECS: u64 = 5;
const RETRY_MS: i64 = RETRY_SECS as i64 * 1000;
/// How long past its expiry a set keeps verifying while the provider cannot be reached.
pub const MAX_STALE_MS: i64 = 24 * 3600 * 1000;

/// A fetched set: its usable keys and when it was fetched and stops being fresh.
#[derive(Debug)]
struct KeySet {
    keys: Vec<JwksKey>,
    fetched_at: i64,
    expires_at: i64,
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<ProviderKey> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| k.key.clone())
    }
}

#[derive(Debug, Default)]
struct Known {
    set: Option<Arc<KeySet>>,
    /// When this edge (or, as read from the row, any edge) last took or tried to take the turn.
    attempted_at: i64,
    failed_at: i64,
}

/// The keys this host has at hand. A host keeps one for as long as it lives (the native
/// server for the process, a Worker for its isolate); a fresh one per request (Spin) is
/// correct too, it just reads the database row every time.
#[derive(Debug, Default)]
pub struct ProviderKeyCache(Mutex<Known>);

impl ProviderKeyCache {
    fn snapshot(&self) -> Known {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Known { set: known.set.clone(), attempted_at: known.attempted_at, failed_at: known.failed_at }
    }

    fn update(&self, f: impl FnOnce(&mut Known)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Keeps `set` unless a set fetched later is already here.
    fn keep(&self, set: &Arc<KeySet>) {
        self.update(|k| {
            if k.set.as_ref().is_none_or(|s| s.fetched_at < set.fetched_at) {
                k.set = Some(set.clone());
            }
        });
    }
}

/// The provider's key named `kid`, for a token whose `kid` no configured key has.
pub async fn key(state: &AppState, kid: &str) -> Result<ProviderKey, AuthError> {
    let Some(source) = &state.config.auth.jwks_url else { return Err(AuthError::UnknownKey) };
    let now = state.now().0;
    let mut known = state.provider_keys.snapshot();
    if known.set.as_ref().is_none_or(|s| now >= s.expires_at) {
        read_row(state, source, &mut known).await;
    }
    match known.set.clone() {
        Some(set) if now < set.expires_at => {
            if let Some(key) = set.find(kid) {
                return Ok(key);
            }
            // A key the set lacks: the provider's new key, or a made-up one. One fetch per
            // interval across every edge answers both.
            let interval = i64::from(source.min_refresh_secs) * 1000;
            if now - known.attempted_at.max(set.fetched_at) < interval {
                return Err(AuthError::UnknownKey);
            }
            // Another edge may have fetched the new set, or be the one whose turn it is.
            read_row(state, source, &mut known).await;
            let set = known.set.clone().unwrap_or(set);
            if let Some(key) = set.find(kid) {
                return Ok(key);
            }
            if now - known.attempted_at.max(set.fetched_at) < interval || !claim(state, source, now, interval).await {
                return Err(AuthError::UnknownKey);
            }
            refresh(state, source, now).await.ok().and_then(|s| s.find(kid)).ok_or(AuthError::UnknownKey)
        }
        Some(stale) => {
            // Expired: one edge fetches, the others go on with the old keys meanwhile.
            let mut set = stale;
            if now - known.attempted_at >= RETRY_MS
                && claim(state, source, now, RETRY_MS).await
                && let Ok(fresh) = refresh(state, source, now).await
            {
                set = fresh;
            }
            if now >= set.expires_at.saturating_add(MAX_STALE_MS) {
                return Err(AuthError::KeysUnavailable);
            }
            set.find(kid).ok_or(AuthError::UnknownKey)
        }
        None => {
            // Nothing fetched yet (a new deployment): every edge may fetch, unless a fetch
            // failed a moment ago.
            if now - known.failed_at < RETRY_MS {
                return Err(AuthError::KeysUnavailable);
            }
            let set = refresh(state, source, now).await.map_err(|()| AuthError::KeysUnavailable)?;
            set.find(kid).ok_or(AuthError::UnknownKey)
        }
    }
}

/// Brings in what the database row knows: a set fetched by any edge, and the times of the
/// last turn taken and the last failure. A row that cannot be read is logged and skipped
/// (the provider is then asked directly, within the same bounds).
async fn read_row(state: &AppState, source: &JwksUrl, known: &mut Known) {
    let row = match state.store.provider_keys(&source.url).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the identity provider's cached keys");
            return;
        }
    };
    known.attempted_at = known.attempted_at.max(row.attempted_at);
    known.failed_at = known.failed_at.max(row.failed_at);
    // Remembered, so that this host does not read the row again for every request of a
    // storm of unknown key ids.
    state.provider_keys.update(|k| {
        k.attempted_at = k.attempted_at.max(row.attempted_at);
        k.failed_at = k.failed_at.max(row.failed_at);
    });
    let newer = known.set.as_ref().is_none_or(|s| s.fetched_at < row.fetched_at);
    if newer
        && !row.document.is_empty()
        && let Ok(keys) = parse_jwks(&row.document)
    {
        let set = Arc::new(KeySet { keys, fetched_at: row.fetched_at, expires_at: row.expires_at });
        state.provider_keys.keep(&set);
        known.set = Some(set);
    }
}

/// Takes the turn to fetch (see [`crate::store::Store::claim_provider_keys_refresh`]). This
/// host remembers the attempt either way, so a storm of unknown key ids costs the database
/// one statement per interval, not one per request (where the host keeps its cache).
async fn claim(state: &AppState, source: &JwksUrl, now: i64, interval_ms: i64) -> bool {
    state.provider_keys.update(|k| k.attempted_at = k.attempted_at.max(now));
    match state.store.claim_provider_keys_refresh(&source.url, UnixMillis(now), interval_ms).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(error = %e, "could not take the turn to fetch the identity provider's keys");
            false
        }
    }
}

/// Fetches, checks and keeps the set (memory and database), or records the failure.
async fn refresh(state: &AppState, source: &JwksUrl, now: i64) -> Result<Arc<KeySet>, ()> {
    let fetched = state.http.get(&source.url, MAX_JWKS_BYTES).await.and_then(|r| {
        if r.status != 200 {
            return Err(format!("status {}", r.status));
        }
        let document = String::from_utf8(r.body).map_err(|_| "the body is not UTF-8".to_owned())?;
        let keys = parse_jwks(&document).map_err(|e| e.to_string())?;
        Ok((document, keys, r.cache_control))
    });
    match fetched {
        Ok((document, keys, cache_control)) => {
            let ttl_ms = i64::try_from(jwks_ttl_secs(cache_control.as_deref())).unwrap_or(i64::MAX).saturating_mul(1000);
            let set = Arc::new(KeySet { keys, fetched_at: now, expires_at: now.saturating_add(ttl_ms) });
            tracing::info!(url = %source.url, keys = set.keys.len(), ttl_ms, "fetched the identity provider's keys");
            state.provider_keys.keep(&set);
            if let Err(e) = state.store.save_provider_keys(&source.url, &document, UnixMillis(now), UnixMillis(set.expires_at)).await {
                tracing::warn!(error = %e, "could not store the identity provider's keys");
            }
            Ok(set)
        }
        Err(reason) => {
            tracing::warn!(url = %source.url, %reason, "fetching the identity provider's keys failed");
            state.provider_keys.update(|k| k.failed_at = now);
            if let Err(e) = state.store.record_provider_keys_failure(&source.url, UnixMillis(now)).await {
                tracing::warn!(error = %e, "could not record the failed fetch");
            }
            Err(())
        }
    }
}
