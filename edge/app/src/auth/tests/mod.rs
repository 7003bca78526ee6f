//! End-to-end checks of `verify_bearer` against tokens minted here or built by hand:
//! [`signature`] covers the header, token format, key and algorithm selection and signatures;
//! [`claims`] covers the time, issuer, audience, subject and scope claims; [`jwks`] covers an
//! identity provider's RS256/ES256 keys and the attacks on them.

mod claims;
mod fuzz;
mod jwks;
mod signature;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature as _};
use serde_json::{Value, json};

use super::*;
use crate::ports::UnixMillis;

const NOW: UnixMillis = UnixMillis(1_700_000_000_123);
const NOW_SECS: i64 = 1_700_000_000;
const SECRET: &str = "an-hs256-secret-of-at-least-32-bytes";

struct Fixture {
    config: AuthConfig,
    k1_secret: Vec<u8>,
    k1_public: Vec<u8>,
    k2_secret: Vec<u8>,
}

fn fixture_with(hs256_secret: Option<&str>) -> Fixture {
    let (k1_secret, k1_public) = ed25519_keypair([11; 32]);
    let (k2_secret, k2_public) = ed25519_keypair([22; 32]);
    let keys =
        format!("{},{}", ed25519_key_entry("k1", &k1_public), ed25519_key_entry("k2", &k2_public));
    let config =
        AuthConfig::from_parts("https://id.example", "edgesync", hs256_secret, Some(&keys))
            .unwrap();
    Fixture { config, k1_secret, k1_public, k2_secret }
}

fn fixture() -> Fixture {
    fixture_with(Some(SECRET))
}

fn token_claims(scope: Option<&str>) -> TokenClaims {
    TokenClaims {
        subject: "user-1".into(),
        issuer: "https://id.example".into(),
        audience: "edgesync".into(),
        scope: scope.map(Into::into),
    }
}

/// Claims that pass every check, for hand-built tokens to modify.
fn good_claims() -> Value {
    json!({"sub": "user-1", "iss": "https://id.example", "aud": "edgesync", "exp": NOW_SECS + 600})
}

enum Signer<'a> {
    Hs256(&'a [u8]),
    Ed25519(&'a [u8]),
    Rs256(&'a jwt_compact::alg::RsaPrivateKey),
    Es256(&'a <jwt_compact::alg::Es256 as Algorithm>::SigningKey),
    Unsigned,
}

/// A compact JWS with exactly this header and payload.
fn raw_token(header: &Value, claims: &Value, signer: Signer<'_>) -> String {
    raw_token_bytes(&serde_json::to_vec(header).unwrap(), &serde_json::to_vec(claims).unwrap(), signer)
}

/// A compact JWS over exactly these header and payload bytes (JSON or not).
fn raw_token_bytes(header: &[u8], claims: &[u8], signer: Signer<'_>) -> String {
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature = match signer {
        Signer::Hs256(secret) => {
            Hs256.sign(&Hs256Key::new(secret), signing_input.as_bytes()).as_bytes().to_vec()
        }
        Signer::Ed25519(secret) => {
            let key = <Ed25519 as Algorithm>::SigningKey::from_slice(secret).unwrap();
            Ed25519.sign(&key, signing_input.as_bytes()).as_bytes().to_vec()
        }
        Signer::Rs256(key) => jwt_compact::alg::Rsa::rs256().sign(key, signing_input.as_bytes()).as_bytes().to_vec(),
        Signer::Es256(key) => jwt_compact::alg::Es256.sign(key, signing_input.as_bytes()).as_bytes().to_vec(),
        Signer::Unsigned => Vec::new(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn hs256(claims: &Value) -> String {
    raw_token(&json!({"alg": "HS256", "typ": "JWT"}), claims, Signer::Hs256(SECRET.as_bytes()))
}

fn verify(token: &str, f: &Fixture) -> Result<Principal, AuthError> {
    verify_bearer(Some(&format!("Bearer {token}")), &f.config, NOW)
}

fn user(admin: bool) -> Principal {
    Principal { subject: "user-1".parse().unwrap(), admin }
}
