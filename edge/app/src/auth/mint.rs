//! Issuing tokens (the dev CLI `edgesync token`, tests) and generating Ed25519 key pairs.
//! Production deployments usually get tokens from their identity provider instead.

use chrono::{DateTime, Utc};
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmExt as _, Claims, Header};

use super::claims::{TokenClaims, WireClaims};
use super::config::HS256_KID;
use crate::ports::UnixMillis;

type Ed25519SecretKey = <Ed25519 as Algorithm>::SigningKey;

/// An HS256 token (header `kid` = `"hs256"`) with `iat` = `now` and `exp` = `now + ttl_secs`
/// (a negative ttl yields an already expired token, which tests use).
pub fn mint_hs256(secret: &[u8], claims: &TokenClaims, now: UnixMillis, ttl_secs: i64) -> String {
    let header = Header::empty().with_key_id(HS256_KID).with_token_type("JWT");
    Hs256
        .token(&header, &timed_claims(claims, now, ttl_secs), &Hs256Key::new(secret))
        .expect("edgesync claims always serialize")
}

/// An EdDSA token whose header `kid` names the key, timed like [`mint_hs256`].
///
/// # Panics
/// If `secret_key` is not a 64-byte `seed ‖ public key` pair as [`ed25519_keypair`] returns.
pub fn mint_ed25519(
    secret_key: &[u8],
    kid: &str,
    claims: &TokenClaims,
    now: UnixMillis,
    ttl_secs: i64,
) -> String {
    let key = Ed25519SecretKey::from_slice(secret_key)
        .expect("an Ed25519 secret key is 64 bytes (seed followed by public key)");
    assert!(
        key.validate_public_key(&key.public_key()).is_ok(),
        "the Ed25519 secret key's public half does not belong to its seed"
    );
    let header = Header::empty().with_key_id(kid).with_token_type("JWT");
    Ed25519
        .token(&header, &timed_claims(claims, now, ttl_secs), &key)
        .expect("edgesync claims always serialize")
}

/// An Ed25519 key pair from 32 seed bytes (the caller supplies the randomness, e.g. from the
/// `Random` port): `(secret key: seed ‖ public key, 64 bytes; public key, 32 bytes)`.
///
/// # Panics
/// If the seed is all zeros, which only a broken random source produces.
pub fn ed25519_keypair(seed: [u8; 32]) -> (Vec<u8>, Vec<u8>) {
    assert!(seed != [0; 32], "all-zero Ed25519 seed: the random source is broken");
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    (pair.sk.to_vec(), pair.pk.to_vec())
}

fn timed_claims(claims: &TokenClaims, now: UnixMillis, ttl_secs: i64) -> Claims<WireClaims> {
    let issued = now.as_secs();
    let mut timed = Claims::new(WireClaims::from(claims));
    timed.issued_at = Some(timestamp(issued));
    timed.expiration = Some(timestamp(issued.saturating_add(ttl_secs)));
    timed
}

/// Whole seconds since the epoch, clamped to chrono's range.
fn timestamp(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    fn claims(scope: Option<&str>) -> TokenClaims {
        TokenClaims {
            subject: "user-1".into(),
            issuer: "iss".into(),
            audience: "aud".into(),
            scope: scope.map(Into::into),
        }
    }

    fn decode_part(token: &str, index: usize) -> Value {
        let part = token.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn hs256_token_layout() {
        let token = mint_hs256(
            &[7; 32],
            &claims(Some("edgesync:admin")),
            UnixMillis(1_700_000_000_999),
            600,
        );
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(decode_part(&token, 0), json!({"alg": "HS256", "kid": "hs256", "typ": "JWT"}));
        assert_eq!(
            decode_part(&token, 1),
            json!({
                "sub": "user-1", "iss": "iss", "aud": "aud", "scope": "edgesync:admin",
                "iat": 1_700_000_000, "exp": 1_700_000_600
            })
        );
    }

    #[test]
    fn ed25519_token_layout() {
        let (secret, _) = ed25519_keypair([9; 32]);
        let token = mint_ed25519(&secret, "k1", &claims(None), UnixMillis(1_000), -5);
        assert_eq!(decode_part(&token, 0), json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"}));
        let body = decode_part(&token, 1);
        assert_eq!(body["exp"], json!(-4));
        assert!(body.get("scope").is_none());
        let signature = URL_SAFE_NO_PAD.decode(token.split('.').nth(2).unwrap()).unwrap();
        assert_eq!(signature.len(), 64);
    }

    #[test]
    fn extreme_ttls_saturate() {
        let token = mint_hs256(&[7; 32], &claims(None), UnixMillis(0), i64::MAX);
        assert_eq!(decode_part(&token, 1)["exp"], json!(DateTime::<Utc>::MAX_UTC.timestamp()));
        let token = mint_hs256(&[7; 32], &claims(None), UnixMillis(0), i64::MIN);
        assert_eq!(decode_part(&token, 1)["exp"], json!(DateTime::<Utc>::MIN_UTC.timestamp()));
    }

    #[test]
    fn keypair_layout_and_determinism() {
        let (secret, public) = ed25519_keypair([3; 32]);
        assert_eq!(secret.len(), 64);
        assert_eq!(public.len(), 32);
        assert_eq!(&secret[..32], &[3; 32]);
        assert_eq!(&secret[32..], &public[..]);
        assert_eq!(ed25519_keypair([3; 32]), (secret, public.clone()));
        assert_ne!(ed25519_keypair([4; 32]).1, public);
    }

    #[test]
    fn keypairs_match_ed25519_compact_for_many_seeds() {
        // ed25519_keypair asserts agreement with ed25519-compact's derivation internally.
        for i in 1..=64u8 {
            let mut seed = [0u8; 32];
            for (j, byte) in seed.iter_mut().enumerate() {
                *byte = i.wrapping_mul(31).wrapping_add(j as u8).wrapping_mul(i | 1);
            }
            ed25519_keypair(seed);
        }
        ed25519_keypair([0xff; 32]);
    }

    #[test]
    #[should_panic(expected = "all-zero")]
    fn zero_seed_panics() {
        ed25519_keypair([0; 32]);
    }

    #[test]
    #[should_panic(expected = "64 bytes")]
    fn short_secret_key_panics() {
        mint_ed25519(&[1; 32], "k1", &claims(None), UnixMillis(0), 60);
    }

    #[test]
    #[should_panic(expected = "does not belong")]
    fn mismatched_secret_key_panics() {
        let (mut secret, _) = ed25519_keypair([5; 32]);
        secret[40] ^= 1;
        mint_ed25519(&secret, "k1", &claims(None), UnixMillis(0), 60);
    }
}
