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
