//! Identity providers' public keys, from a JSON Web Key Set (RFC 7517, `{"keys": [...]}`): the
//! document Auth0, Clerk, Firebase/Google, Cognito, Supabase and Keycloak publish at their JWKS
//! URL. RS256 (RSA, at least 2048 bits) and ES256 (P-256) keys are used; each needs a `kid`,
//! which tokens name. Keys for encryption (`use: enc`) or other algorithms are skipped, as a
//! provider's set may hold them; a set with no usable key is an error.
//!
//! Only verification happens here, so the `rsa` crate's timing side channel in decryption and
//! signing (RUSTSEC-2023-0071) does not apply.

use std::fmt;

use jwt_compact::Algorithm;
use jwt_compact::alg::{Es256, RsaPublicKey, StrongKey};
use jwt_compact::jwk::{JsonWebKey, KeyType};
use serde::Deserialize;
use sha2::Sha256;

use super::config::{AuthConfigError, check_kid};

pub(super) type Es256PublicKey = <Es256 as Algorithm>::VerifyingKey;

/// A provider's key, with the one algorithm it verifies.
#[derive(Clone)]
pub enum ProviderKey {
    Rs256(RsaPublicKey),
    Es256(Es256PublicKey),
}

impl ProviderKey {
    pub fn algorithm(&self) -> &'static str {
        match self {
            ProviderKey::Rs256(_) => "RS256",
            ProviderKey::Es256(_) => "ES256",
        }
    }
}

/// One usable key of the set.
#[derive(Clone)]
pub struct JwksKey {
    pub kid: String,
    pub key: ProviderKey,
    /// RFC 7638 thumbprint: identifies the key material in comparisons and logs.
    thumbprint: Vec<u8>,
}

impl PartialEq for JwksKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.thumbprint == other.thumbprint
    }
}

impl Eq for JwksKey {}

impl fmt::Debug for JwksKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kid, self.key.algorithm())
    }
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document (`JWT_JWKS`).
pub fn parse_jwks(document: &str) -> Result<Vec<JwksKey>, AuthConfigError> {
    let bad = |reason: String| AuthConfigError::BadJwks { reason };
    let set: KeySet = serde_json::from_str(document).map_err(|e| bad(format!("not a JSON Web Key Set: {e}")))?;
    let mut keys: Vec<JwksKey> = Vec::new();
    for (index, entry) in set.keys.iter().enumerate() {
        let text = |name: &str| entry.get(name).and_then(serde_json::Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let Some(kid) = text("kid") else {
            return Err(bad(format!("key {} has no `kid`", index + 1)));
        };
        check_kid(kid).map_err(|reason| bad(format!("key {kid:?}: {reason}")))?;
        let jwk: JsonWebKey<'_> = serde_json::from_value(entry.clone()).map_err(|e| bad(format!("key {kid:?}: {e}")))?;
        let key = match (jwk.key_type(), text("alg")) {
            (KeyType::Rsa, None | Some("RS256")) => {
                let key = RsaPublicKey::try_from(&jwk).map_err(|e| bad(format!("key {kid:?}: {e}")))?;
                // RFC 7518 §3.3: at least 2048 bits.
                let strong = StrongKey::try_from(key).map_err(|_| bad(format!("key {kid:?}: an RSA key needs at least 2048 bits")))?;
                ProviderKey::Rs256(strong.into_inner())
            }
            (KeyType::EllipticCurve, None | Some("ES256")) => {
                ProviderKey::Es256(Es256PublicKey::try_from(&jwk).map_err(|e| bad(format!("key {kid:?}: {e}")))?)
            }
            // Other algorithms (RS512, PS256, ES384, …) and key types: not ours to verify.
            _ => continue,
        };
        if keys.iter().any(|k| k.kid == kid) {
            return Err(bad(format!("key id {kid:?} appears more than once")));
        }
        let thumbprint = jwk.thumbprint::<Sha256>().to_vec();
        keys.push(JwksKey { kid: kid.to_owned(), key, thumbprint });
    }
    if keys.is_empty() {
        return Err(bad("no RS256 or ES256 signing key with a `kid`".into()));
    }
    Ok(keys)
}

/// Where an identity provider publishes its keys (`JWT_JWKS_URL`), and how often an unknown
/// `kid` may make the edges fetch them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl {
    pub url: String,
    /// `JWT_JWKS_MIN_REFRESH_SECS`: the least time between two fetches asked for by tokens
    /// naming a key the set lacks (a provider's new key, or an attacker's made-up `kid`).
    pub min_refresh_secs: u32,
}

impl JwksUrl {
    pub const DEFAULT_MIN_REFRESH_SECS: u32 = 60;

    /// An `https://` URL (or `http://` to a loopback host, for local providers and tests):
    /// keys fetched over plain HTTP from elsewhere could be replaced on the way.
    pub fn parse(url: &str, min_refresh_secs: u32) -> Result<Self, AuthConfigError> {
        let url = url.trim();
        let bad = |reason: &str| AuthConfigError::BadJwksUrl { reason: reason.to_owned() };
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("not a URL (longer than 2048 bytes, or with spaces or control characters)"));
        }
        let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Err(bad("must start with https://")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(bad("must not carry credentials"));
        }
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if plain && !loopback {
            return Err(bad("plain http:// is accepted only for a loopback host; use https://"));
        }
        Ok(Self { url: url.to_owned(), min_refresh_secs: min_refresh_secs.max(1) })
    }
}

/// Fetched keys are kept for the provider's `Cache-Control: max-age`, within these bounds (a
/// provider saying `no-cache` or `max-age=15` would otherwise be fetched on nearly every
/// request; a key it withdraws stops being accepted within a day at most).
pub const JWKS_MIN_TTL_SECS: u64 = 5 * 60;
pub const JWKS_MAX_TTL_SECS: u64 = 24 * 3600;
/// Kept this long when the response says nothing.
pub const JWKS_DEFAULT_TTL_SECS: u64 = 3600;

/// How long a key set fetched with this `Cache-Control` stays fresh.
pub fn jwks_ttl_secs(cache_control: Option<&str>) -> u64 {
    let directives = cache_control.unwrap_or("").split(',').map(|d| d.trim().to_ascii_lowercase());
    let mut ttl = None;
    for directive in directives {
        if directive == "no-store" || directive == "no-cache" {
            return JWKS_MIN_TTL_SECS;
        }
        if let Some(secs) = directive.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse::<u64>().ok()) {
            ttl = Some(secs);
        }
    }
    ttl.unwrap_or(JWKS_DEFAULT_TTL_SECS).clamp(JWKS_MIN_TTL_SECS, JWKS_MAX_TTL_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwks_url_is_https_or_loopback_http() {
        for ok in ["https://id.example/.well-known/jwks.json", "http://127.0.0.1:9000/jwks", "http://localhost/k", "http://[::1]:8/k", "https://h"] {
            assert_eq!(JwksUrl::parse(ok, 60).map(|u| u.url), Ok(ok.to_owned()), "{ok}");
        }
        for (bad, why) in [
            ("http://id.example/jwks.json", "loopback"),
            ("http://10.0.0.1/jwks.json", "loopback"),
            ("http://localhost.attacker.example/k", "loopback"),
            ("ftp://id.example/k", "https://"),
            ("https://user:pw@id.example/k", "credentials"),
            ("https:///k", "no host"),
            ("https://id.example/a b", "spaces"),
        ] {
            match JwksUrl::parse(bad, 60) {
                Err(AuthConfigError::BadJwksUrl { reason }) => assert!(reason.contains(why), "{bad}: {reason}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(JwksUrl::parse("https://h", 0).unwrap().min_refresh_secs, 1);
    }

    #[test]
    fn fetched_keys_live_for_the_providers_max_age_within_bounds() {
        assert_eq!(jwks_ttl_secs(None), JWKS_DEFAULT_TTL_SECS);
        assert_eq!(jwks_ttl_secs(Some("public, max-age=19732, must-revalidate, no-transform")), 19732);
        assert_eq!(jwks_ttl_secs(Some("max-age=15, stale-while-revalidate=15")), JWKS_MIN_TTL_SECS);
        assert_eq!(jwks_ttl_secs(Some("Max-Age=999999")), JWKS_MAX_TTL_SECS);
        assert_eq!(jwks_ttl_secs(Some("no-store")), JWKS_MIN_TTL_SECS);
        assert_eq!(jwks_ttl_secs(Some("max-age=abc")), JWKS_DEFAULT_TTL_SECS);
    }
}
