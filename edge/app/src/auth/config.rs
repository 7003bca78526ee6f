//! Verification settings and their parsing from the strings a host reads out of its
//! environment or bindings.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::Algorithm;
use jwt_compact::alg::Ed25519;

use super::jwks::{JwksKey, JwksUrl, parse_jwks};

/// The `kid` that selects the HS256 secret (tokens may also omit `kid` for it). Reserved: no
/// Ed25519 key may use it.
pub const HS256_KID: &str = "hs256";
/// Shortest accepted HS256 secret (RFC 7518 §3.2: at least the hash output size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest accepted key id.
pub const MAX_KID_CHARS: usize = 64;

/// How bearer tokens are verified.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (or one of the `aud` array's entries).
    pub audience: String,
    /// HS256 shared secret (dev / simple deployments); tokens may omit `kid` or use kid
    /// [`HS256_KID`].
    pub hs256_secret: Option<Vec<u8>>,
    /// Ed25519 public keys (32 bytes each) selected by the token header's `kid`.
    pub ed25519_keys: Vec<(String, Vec<u8>)>,
    /// An identity provider's RS256/ES256 keys (from a JWKS document), selected by `kid`.
    pub jwks_keys: Vec<JwksKey>,
    /// An identity provider's JWKS URL: keys fetched (and cached) when a token names a `kid`
    /// no configured key has.
    pub jwks_url: Option<JwksUrl>,
    /// The claim that names the user (default `sub`).
    pub user_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (negative counts as 0).
    pub leeway_secs: i64,
    /// Longest accepted token; longer ones are rejected before parsing.
    pub max_token_bytes: usize,
}

/// Why the auth configuration is unusable. Raised at startup, so hosts can refuse to boot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    #[error("JWT issuer is empty")]
    MissingIssuer,
    #[error("JWT audience is empty")]
    MissingAudience,
    #[error("no JWT verification key: configure an HS256 secret, JWT_ED25519_PUBLIC_KEYS, JWT_JWKS or JWT_JWKS_URL")]
    NoKeys,
    #[error("JWT_JWKS: {reason}")]
    BadJwks { reason: String },
    #[error("JWT_JWKS_URL {reason}")]
    BadJwksUrl { reason: String },
    #[error("JWT_USER_CLAIM must name a claim (1 to 64 printable ASCII characters)")]
    BadUserClaim,
    #[error("HS256 secret is {len} bytes; at least {MIN_HS256_SECRET_BYTES} are required")]
    SecretTooShort { len: usize },
    /// Entry `position` (1-based) of `JWT_ED25519_PUBLIC_KEYS` lacks the `kid:` prefix.
    #[error("JWT_ED25519_PUBLIC_KEYS entry {position} is not `kid:<base64url public key>`")]
    MalformedKeyEntry { position: usize },
    #[error("JWT_ED25519_PUBLIC_KEYS key {kid:?}: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("key id {kid:?} is configured more than once (JWT_ED25519_PUBLIC_KEYS, JWT_JWKS)")]
    DuplicateKid { kid: String },
}

/// Where verification keys come from, as a host reads them from its configuration. Each is
/// optional; together they must yield at least one key.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeySources<'a> {
    /// `JWT_HS256_SECRET`: the raw secret (its UTF-8 bytes are the HMAC key).
    pub hs256_secret: Option<&'a str>,
    /// `JWT_ED25519_PUBLIC_KEYS`: `"kid1:<base64url key>,kid2:<...>"`.
    pub ed25519_public_keys: Option<&'a str>,
    /// `JWT_JWKS`: an identity provider's JSON Web Key Set (RS256 and ES256 keys).
    pub jwks: Option<&'a str>,
    /// `JWT_JWKS_URL`: where the provider publishes that set; fetched when needed.
    pub jwks_url: Option<&'a str>,
}

/// The claim that names the user unless configured otherwise.
pub const DEFAULT_USER_CLAIM: &str = "sub";

impl AuthConfig {
    /// Parses keys from the configuration strings a host reads from env/bindings.
    ///
    /// * `hs256_secret`: the raw secret (its UTF-8 bytes are the HMAC key); `None` or `""`
    ///   disables HS256.
    /// * `ed25519_public_keys`: `JWT_ED25519_PUBLIC_KEYS`, `"kid1:<base64url key>,kid2:<...>"`;
    ///   may be empty. Whitespace around entries is ignored; `=` padding is tolerated.
    ///
    /// At least one key must be configured. Leeway and size limit get their defaults.
    pub fn from_parts(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        hs256_secret: Option<&str>,
        ed25519_public_keys: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        Self::from_sources(issuer, audience, KeySources { hs256_secret, ed25519_public_keys, ..Default::default() })
    }

    /// [`Self::from_parts`] with every key source, an identity provider's JWKS included.
    pub fn from_sources(issuer: impl Into<String>, audience: impl Into<String>, sources: KeySources<'_>) -> Result<Self, AuthConfigError> {
        let KeySources { hs256_secret, ed25519_public_keys, jwks, jwks_url } = sources;
        let (issuer, audience) = (issuer.into(), audience.into());
        if issuer.trim().is_empty() {
            return Err(AuthConfigError::MissingIssuer);
        }
        if audience.trim().is_empty() {
            return Err(AuthConfigError::MissingAudience);
        }
        let hs256_secret = match hs256_secret {
            None | Some("") => None,
            Some(s) if s.len() < MIN_HS256_SECRET_BYTES => {
                return Err(AuthConfigError::SecretTooShort { len: s.len() });
            }
            Some(s) => Some(s.as_bytes().to_vec()),
        };
        let ed25519_keys = parse_ed25519_keys(ed25519_public_keys.unwrap_or(""))?;
        let jwks_keys = match jwks.map(str::trim) {
            None | Some("") => Vec::new(),
            Some(document) => parse_jwks(document)?,
        };
        if let Some(key) = jwks_keys.iter().find(|k| ed25519_keys.iter().any(|(kid, _)| *kid == k.kid)) {
            return Err(AuthConfigError::DuplicateKid { kid: key.kid.clone() });
        }
        let jwks_url = match jwks_url.map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(JwksUrl::parse(url, JwksUrl::DEFAULT_MIN_REFRESH_SECS)?),
        };
        if hs256_secret.is_none() && ed25519_keys.is_empty() && jwks_keys.is_empty() && jwks_url.is_none() {
            return Err(AuthConfigError::NoKeys);
        }
        Ok(AuthConfig {
            issuer,
            audience,
            hs256_secret,
            ed25519_keys,
            jwks_keys,
            jwks_url,
            user_claim: DEFAULT_USER_CLAIM.to_owned(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        })
    }
}

impl AuthConfig {
    /// Names the user by `claim` instead of `sub` (`JWT_USER_CLAIM`, e.g. `user_id`).
    pub fn with_user_claim(mut self, claim: &str) -> Result<Self, AuthConfigError> {
        let claim = claim.trim();
        if claim.is_empty() || claim.len() > MAX_KID_CHARS || !claim.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AuthConfigError::BadUserClaim);
        }
        self.user_claim = claim.to_owned();
        Ok(self)
    }

    /// `JWT_JWKS_MIN_REFRESH_SECS`: the least time between fetches of the JWKS URL asked for by
    /// unknown key ids (at least 1 s).
    pub fn with_jwks_min_refresh_secs(mut self, secs: u32) -> Self {
        if let Some(source) = &mut self.jwks_url {
            source.min_refresh_secs = secs.max(1);
        }
        self
    }
}

/// Formats one `JWT_ED25519_PUBLIC_KEYS` entry, the inverse of the parser (for the dev CLI).
pub fn ed25519_key_entry(kid: &str, public_key: &[u8]) -> String {
    format!("{kid}:{}", URL_SAFE_NO_PAD.encode(public_key))
}

fn parse_ed25519_keys(list: &str) -> Result<Vec<(String, Vec<u8>)>, AuthConfigError> {
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, entry) in list.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (kid, key) = entry
            .split_once(':')
            .ok_or(AuthConfigError::MalformedKeyEntry { position: index + 1 })?;
        let (kid, key) = (kid.trim(), key.trim());
        let bad = |reason: String| AuthConfigError::BadKey { kid: kid.to_owned(), reason };
        check_kid(kid).map_err(|reason| bad(reason.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(key.trim_end_matches('='))
            .map_err(|_| bad("not base64url".to_owned()))?;
        if bytes.len() != 32 {
            return Err(bad(format!("expected 32 bytes, got {}", bytes.len())));
        }
        let public_key = <Ed25519 as Algorithm>::VerifyingKey::from_slice(&bytes)
            .map_err(|_| bad("expected 32 bytes".to_owned()))?;
        if public_key.validate().is_err() {
            return Err(bad(
                "not a valid Ed25519 public key (non-canonical or weak point)".to_owned()
            ));
        }
        if keys.iter().any(|(k, _)| k == kid) {
            return Err(AuthConfigError::DuplicateKid { kid: kid.to_owned() });
        }
        keys.push((kid.to_owned(), bytes));
    }
    Ok(keys)
}

pub(super) fn check_kid(kid: &str) -> Result<(), &'static str> {
    if kid.is_empty() {
        return Err("empty key id");
    }
    if kid.len() > MAX_KID_CHARS {
        return Err("key id longer than 64 characters");
    }
    if !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("key id must be printable ASCII without spaces");
    }
    if kid.eq_ignore_ascii_case(HS256_KID) {
        return Err("key id \"hs256\" is reserved for the HS256 secret");
    }
    Ok(())
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.ed25519_keys.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("ed25519_kids", &kids)
            .field("jwks_keys", &self.jwks_keys)
            .field("user_claim", &self.user_claim)
            .field("leeway_secs", &self.leeway_secs)
            .field("max_token_bytes", &self.max_token_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ed25519_keypair;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn public_key(seed: u8) -> Vec<u8> {
        ed25519_keypair([seed; 32]).1
    }

    fn parse(keys: &str) -> Result<AuthConfig, AuthConfigError> {
        AuthConfig::from_parts("iss", "aud", None, Some(keys))
    }

    fn bad_key_reason(result: Result<AuthConfig, AuthConfigError>, want_kid: &str) -> String {
        match result {
            Err(AuthConfigError::BadKey { kid, reason }) if kid == want_kid => reason,
            other => panic!("expected BadKey for {want_kid:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_secret_and_keys_with_defaults() {
        let (k1, k2) = (public_key(1), public_key(2));
        let list =
            format!(" {} , {}=,", ed25519_key_entry("k1", &k1), ed25519_key_entry("k2", &k2));
        let config = AuthConfig::from_parts("iss", "aud", Some(SECRET), Some(&list)).unwrap();
        assert_eq!(config.issuer, "iss");
        assert_eq!(config.audience, "aud");
        assert_eq!(config.hs256_secret.as_deref(), Some(SECRET.as_bytes()));
        assert_eq!(config.ed25519_keys, vec![("k1".to_owned(), k1), ("k2".to_owned(), k2)]);
        assert_eq!(config.leeway_secs, DEFAULT_LEEWAY_SECS);
        assert_eq!(config.max_token_bytes, DEFAULT_MAX_TOKEN_BYTES);
    }

    #[test]
    fn either_kind_of_key_alone_is_enough() {
        let only_secret = AuthConfig::from_parts("iss", "aud", Some(SECRET), Some("")).unwrap();
        assert!(only_secret.ed25519_keys.is_empty());
        let only_keys = parse(&ed25519_key_entry("k1", &public_key(1))).unwrap();
        assert_eq!(only_keys.hs256_secret, None);
    }

    #[test]
    fn requires_some_key() {
        assert_eq!(AuthConfig::from_parts("iss", "aud", None, None), Err(AuthConfigError::NoKeys));
        assert_eq!(
            AuthConfig::from_parts("iss", "aud", Some(""), Some(" , ")),
            Err(AuthConfigError::NoKeys)
        );
    }

    #[test]
    fn requires_issuer_and_audience() {
        let err = AuthConfig::from_parts(" ", "aud", Some(SECRET), None);
        assert_eq!(err, Err(AuthConfigError::MissingIssuer));
        let err = AuthConfig::from_parts("iss", "", Some(SECRET), None);
        assert_eq!(err, Err(AuthConfigError::MissingAudience));
    }

    #[test]
    fn rejects_short_secret() {
        let err = AuthConfig::from_parts("iss", "aud", Some("too-short"), None);
        assert_eq!(err, Err(AuthConfigError::SecretTooShort { len: 9 }));
        let err = AuthConfig::from_parts("iss", "aud", Some(&SECRET[1..]), None);
        assert_eq!(err, Err(AuthConfigError::SecretTooShort { len: 31 }));
    }

    #[test]
    fn rejects_entry_without_kid() {
        let key = URL_SAFE_NO_PAD.encode(public_key(1));
        let list = format!("{},{key}", ed25519_key_entry("k1", &public_key(1)));
        assert_eq!(parse(&list), Err(AuthConfigError::MalformedKeyEntry { position: 2 }));
    }

    #[test]
    fn rejects_bad_key_material() {
        assert!(bad_key_reason(parse("k1:not*base64"), "k1").contains("base64url"));
        let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
        assert!(bad_key_reason(parse(&format!("k1:{short}")), "k1").contains("got 31"));
        let long = URL_SAFE_NO_PAD.encode([7u8; 64]);
        assert!(bad_key_reason(parse(&format!("k1:{long}")), "k1").contains("got 64"));
        // The identity point (small order) and a non-canonical y are not usable keys.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let identity = URL_SAFE_NO_PAD.encode(identity);
        assert!(bad_key_reason(parse(&format!("k1:{identity}")), "k1").contains("weak"));
        let non_canonical = URL_SAFE_NO_PAD.encode([0xffu8; 32]);
        assert!(bad_key_reason(parse(&format!("k1:{non_canonical}")), "k1").contains("weak"));
    }

    #[test]
    fn rejects_bad_kids() {
        let key = URL_SAFE_NO_PAD.encode(public_key(1));
        bad_key_reason(parse(&format!(":{key}")), "");
        bad_key_reason(parse(&format!("hs256:{key}")), "hs256");
        bad_key_reason(parse(&format!("HS256:{key}")), "HS256");
        bad_key_reason(parse(&format!("a b:{key}")), "a b");
        let long = "k".repeat(65);
        bad_key_reason(parse(&format!("{long}:{key}")), &long);
        assert!(parse(&format!("{}:{key}", "k".repeat(64))).is_ok());
    }

    #[test]
    fn rejects_duplicate_kids() {
        let list = format!(
            "{},{}",
            ed25519_key_entry("k1", &public_key(1)),
            ed25519_key_entry("k1", &public_key(2))
        );
        assert_eq!(parse(&list), Err(AuthConfigError::DuplicateKid { kid: "k1".into() }));
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let config = AuthConfig::from_parts("iss", "aud", Some(SECRET), None).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
