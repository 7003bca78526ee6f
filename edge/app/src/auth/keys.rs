//! Choosing the verification key, and with it the algorithm, on the server's terms.
//!
//! The token's `kid` picks a configured key; the key fixes the algorithm. The header's `alg`
//! is only compared against it, never used to choose: this is what stops `alg: none` and the
//! HS256-with-the-public-key confusion attack.

use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa};
use jwt_compact::{Algorithm, AlgorithmExt as _, Claims, UntrustedToken, ValidationError};

use super::AuthError;
use super::claims::WireClaims;
use super::config::{AuthConfig, HS256_KID};
use super::jwks::ProviderKey;

type Ed25519PublicKey = <Ed25519 as Algorithm>::VerifyingKey;

const HS256_ALG: &str = "HS256";
const ED25519_ALG: &str = "EdDSA";

/// A configured key, ready to check one token.
pub(super) enum VerificationKey {
    Hs256(Hs256Key),
    Ed25519(Ed25519PublicKey),
    Provider(ProviderKey),
}

impl VerificationKey {
    /// The key `token` names, provided its `alg` is that key's algorithm.
    pub fn select(token: &UntrustedToken<'_>, config: &AuthConfig) -> Result<Self, AuthError> {
        let alg = token.algorithm();
        if alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        let key = match token.header().key_id.as_deref() {
            None | Some(HS256_KID) => match &config.hs256_secret {
                Some(secret) => VerificationKey::Hs256(Hs256Key::new(secret)),
                // HS256 is only accepted when a secret is configured.
                None if alg == HS256_ALG => return Err(AuthError::UnsupportedAlgorithm),
                None => return Err(AuthError::UnknownKey),
            },
            Some(kid) => {
                if let Some(provider) = config.jwks_keys.iter().find(|k| k.kid == kid) {
                    VerificationKey::Provider(provider.key.clone())
                } else {
                    let (_, bytes) = config.ed25519_keys.iter().find(|(k, _)| k == kid).ok_or(AuthError::UnknownKey)?;
                    let key = Ed25519PublicKey::from_slice(bytes).map_err(|_| AuthError::UnknownKey)?;
                    VerificationKey::Ed25519(key)
                }
            }
        };
        if alg != key.algorithm() {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        Ok(key)
    }

    /// The provider key fetched for `kid` (a key id no configured key has), provided the token's
    /// `alg` is that key's algorithm.
    pub fn provider(token: &UntrustedToken<'_>, key: ProviderKey) -> Result<Self, AuthError> {
        let key = VerificationKey::Provider(key);
        if token.algorithm() != key.algorithm() {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        Ok(key)
    }

    /// The key id to look up at the provider's JWKS URL: only when one is configured, no
    /// configured key answers the token's `kid`, the `kid` is a well-formed key id and the
    /// token claims an algorithm the provider's keys have — a token claiming anything else is
    /// refused without a fetch.
    pub fn remote_kid<'t>(token: &'t UntrustedToken<'_>, config: &AuthConfig) -> Option<&'t str> {
        config.jwks_url.as_ref()?;
        let kid = token.header().key_id.as_deref()?;
        let provider_alg = matches!(token.algorithm(), "RS256" | "ES256");
        let known = kid == HS256_KID || config.jwks_keys.iter().any(|k| k.kid == kid) || config.ed25519_keys.iter().any(|(k, _)| k == kid);
        (provider_alg && !known && super::config::check_kid(kid).is_ok()).then_some(kid)
    }

    fn algorithm(&self) -> &'static str {
        match self {
            VerificationKey::Hs256(_) => HS256_ALG,
            VerificationKey::Ed25519(_) => ED25519_ALG,
            VerificationKey::Provider(key) => key.algorithm(),
        }
    }

    /// Checks the signature and decodes the claims (time claims are checked by the caller).
    pub fn verify(&self, token: &UntrustedToken<'_>) -> Result<Claims<WireClaims>, AuthError> {
        let verified = match self {
            VerificationKey::Hs256(key) => Hs256.validator::<WireClaims>(key).validate(token),
            VerificationKey::Ed25519(key) => Ed25519.validator::<WireClaims>(key).validate(token),
            VerificationKey::Provider(ProviderKey::Rs256(key)) => Rsa::rs256().validator::<WireClaims>(key).validate(token),
            VerificationKey::Provider(ProviderKey::Es256(key)) => Es256.validator::<WireClaims>(key).validate(token),
        };
        let (_, claims) = verified.map_err(validation_error)?.into_parts();
        Ok(claims)
    }
}

fn validation_error(err: ValidationError) -> AuthError {
    match err {
        ValidationError::AlgorithmMismatch { .. } => AuthError::UnsupportedAlgorithm,
        ValidationError::InvalidSignatureLen { .. }
        | ValidationError::MalformedSignature(_)
        | ValidationError::InvalidSignature => AuthError::BadSignature,
        ValidationError::Expired => AuthError::Expired,
        ValidationError::NotMature => AuthError::NotYetValid,
        _ => AuthError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ed25519_keypair;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config(secret: bool) -> AuthConfig {
        AuthConfig {
            issuer: "iss".into(),
            audience: "aud".into(),
            hs256_secret: secret.then(|| SECRET.to_vec()),
            ed25519_keys: vec![("k1".into(), ed25519_keypair([1; 32]).1)],
            jwks_keys: Vec::new(),
            jwks_url: None,
            user_claim: "sub".into(),
            leeway_secs: 30,
            max_token_bytes: 8192,
        }
    }

    /// A token with the given header; only the header matters for key selection.
    fn token(header: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.c2ln", b64(header), b64("{}"))
    }

    fn select(header: &str, secret: bool) -> Result<&'static str, AuthError> {
        let token = token(header);
        let untrusted = UntrustedToken::new(&token).unwrap();
        VerificationKey::select(&untrusted, &config(secret)).map(|k| k.algorithm())
    }

    #[test]
    fn kid_selects_the_key_and_its_algorithm() {
        assert_eq!(select(r#"{"alg":"EdDSA","kid":"k1"}"#, true), Ok(ED25519_ALG));
        assert_eq!(select(r#"{"alg":"HS256","kid":"hs256"}"#, true), Ok(HS256_ALG));
        assert_eq!(select(r#"{"alg":"HS256"}"#, true), Ok(HS256_ALG));
    }

    #[test]
    fn header_alg_must_match_the_selected_key() {
        let err = Err(AuthError::UnsupportedAlgorithm);
        assert_eq!(select(r#"{"alg":"HS256","kid":"k1"}"#, true), err);
        assert_eq!(select(r#"{"alg":"Ed25519","kid":"k1"}"#, true), err);
        assert_eq!(select(r#"{"alg":"EdDSA","kid":"hs256"}"#, true), err);
        assert_eq!(select(r#"{"alg":"HS512"}"#, true), err);
        assert_eq!(select(r#"{"alg":"hs256"}"#, true), err);
    }

    #[test]
    fn alg_none_is_refused_whatever_the_kid() {
        for header in
            [r#"{"alg":"none"}"#, r#"{"alg":"None","kid":"k1"}"#, r#"{"alg":"NONE","kid":"x"}"#]
        {
            assert_eq!(select(header, true), Err(AuthError::UnsupportedAlgorithm), "{header}");
        }
    }

    #[test]
    fn hs256_needs_a_configured_secret() {
        assert_eq!(select(r#"{"alg":"HS256"}"#, false), Err(AuthError::UnsupportedAlgorithm));
        assert_eq!(
            select(r#"{"alg":"HS256","kid":"hs256"}"#, false),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(select(r#"{"alg":"EdDSA"}"#, false), Err(AuthError::UnknownKey));
    }

    #[test]
    fn unknown_kid() {
        assert_eq!(select(r#"{"alg":"EdDSA","kid":"k2"}"#, true), Err(AuthError::UnknownKey));
        assert_eq!(select(r#"{"alg":"HS256","kid":"other"}"#, true), Err(AuthError::UnknownKey));
    }

    #[test]
    fn unusable_configured_key_is_unknown() {
        let mut config = config(false);
        config.ed25519_keys[0].1.truncate(31);
        let token = token(r#"{"alg":"EdDSA","kid":"k1"}"#);
        let untrusted = UntrustedToken::new(&token).unwrap();
        let err = VerificationKey::select(&untrusted, &config).err();
        assert_eq!(err, Some(AuthError::UnknownKey));
    }
}
