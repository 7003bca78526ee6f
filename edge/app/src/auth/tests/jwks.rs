//! An identity provider's keys (`JWT_JWKS`): RS256 and ES256 tokens verify by `kid`, and the
//! attacks on asymmetric keys fail — algorithm confusion, keys the token carries or points
//! to, unknown key ids — as do unusable key sets.

use std::sync::OnceLock;

use jwt_compact::alg::{Es256, ModulusBits, Rsa, RsaPrivateKey, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;

use super::*;

type EsSigningKey = <Es256 as Algorithm>::SigningKey;

/// RSA keys are slow to generate: two per test binary.
fn rsa_keys() -> &'static (RsaPrivateKey, RsaPrivateKey) {
    static KEYS: OnceLock<(RsaPrivateKey, RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = || Rsa::generate(&mut rand_core::OsRng, ModulusBits::TwoKibibytes).unwrap().0.into_inner();
        (key(), key())
    })
}

fn es_key(seed: u8) -> EsSigningKey {
    EsSigningKey::from_slice(&[seed; 32]).unwrap()
}

/// A JWK as a provider publishes it: the public key plus `kid`, `alg` and `use`.
fn published(jwk: JsonWebKey<'_>, kid: &str, alg: &str) -> Value {
    let mut value = serde_json::to_value(jwk).unwrap();
    value["kid"] = json!(kid);
    value["alg"] = json!(alg);
    value["use"] = json!("sig");
    value
}

fn rsa_public(key: &RsaPrivateKey) -> RsaPublicKey {
    key.to_public_key()
}

/// The provider's set: an RS256 key `rs-1` and an ES256 key `es-1`.
fn provider_jwks() -> String {
    let rs = rsa_public(&rsa_keys().0);
    let es = *es_key(1).verifying_key();
    json!({"keys": [published(JsonWebKey::from(&rs), "rs-1", "RS256"), published(JsonWebKey::from(&es), "es-1", "ES256")]}).to_string()
}

fn provider_config() -> AuthConfig {
    AuthConfig::from_sources("https://id.example", "edgesync", KeySources { jwks: Some(&provider_jwks()), ..Default::default() }).unwrap()
}

fn verify_with(token: &str, config: &AuthConfig) -> Result<Principal, AuthError> {
    verify_bearer(Some(&format!("Bearer {token}")), config, NOW)
}

#[test]
fn rs256_and_es256_tokens_from_the_providers_keys_verify() {
    let config = provider_config();
    let rs = raw_token(&json!({"alg": "RS256", "kid": "rs-1", "typ": "JWT"}), &good_claims(), Signer::Rs256(&rsa_keys().0));
    assert_eq!(verify_with(&rs, &config), Ok(user(false)));
    let es = raw_token(&json!({"alg": "ES256", "kid": "es-1"}), &good_claims(), Signer::Es256(&es_key(1)));
    assert_eq!(verify_with(&es, &config), Ok(user(false)));
    // Signed by another key under a known kid.
    let forged = raw_token(&json!({"alg": "RS256", "kid": "rs-1"}), &good_claims(), Signer::Rs256(&rsa_keys().1));
    assert_eq!(verify_with(&forged, &config), Err(AuthError::BadSignature));
    let forged = raw_token(&json!({"alg": "ES256", "kid": "es-1"}), &good_claims(), Signer::Es256(&es_key(2)));
    assert_eq!(verify_with(&forged, &config), Err(AuthError::BadSignature));
}

#[test]
fn the_key_fixes_the_algorithm_so_key_confusion_fails() {
    let config = provider_config();
    // HS256 keyed with the RSA public key's bytes, as a verifier that trusts `alg` would check.
    let public_json = serde_json::to_vec(&JsonWebKey::from(&rsa_public(&rsa_keys().0))).unwrap();
    let confused = raw_token(&json!({"alg": "HS256", "kid": "rs-1"}), &good_claims(), Signer::Hs256(&public_json));
    assert_eq!(verify_with(&confused, &config), Err(AuthError::UnsupportedAlgorithm));
    // The other asymmetric algorithm under each kid, and RSA with another hash or padding.
    let es_as_rs = raw_token(&json!({"alg": "ES256", "kid": "rs-1"}), &good_claims(), Signer::Es256(&es_key(1)));
    assert_eq!(verify_with(&es_as_rs, &config), Err(AuthError::UnsupportedAlgorithm));
    let rs_as_es = raw_token(&json!({"alg": "RS256", "kid": "es-1"}), &good_claims(), Signer::Rs256(&rsa_keys().0));
    assert_eq!(verify_with(&rs_as_es, &config), Err(AuthError::UnsupportedAlgorithm));
    for alg in ["RS512", "PS256", "none"] {
        let token = raw_token(&json!({"alg": alg, "kid": "rs-1"}), &good_claims(), Signer::Rs256(&rsa_keys().0));
        assert_eq!(verify_with(&token, &config), Err(AuthError::UnsupportedAlgorithm), "{alg}");
    }
}

#[test]
fn keys_a_token_carries_or_points_to_are_never_used() {
    let config = provider_config();
    let attacker = rsa_public(&rsa_keys().1);
    let embedded = serde_json::to_value(JsonWebKey::from(&attacker)).unwrap();
    let hints = [
        json!({"alg": "RS256", "kid": "rs-1", "jwk": embedded}),
        json!({"alg": "RS256", "kid": "rs-1", "jku": "https://attacker.example/jwks.json"}),
        json!({"alg": "RS256", "kid": "rs-1", "x5u": "https://attacker.example/cert.pem"}),
    ];
    for header in hints {
        let token = raw_token(&header, &good_claims(), Signer::Rs256(&rsa_keys().1));
        assert_eq!(verify_with(&token, &config), Err(AuthError::BadSignature), "{header}");
    }
    // No kid the server knows: the embedded key does not stand in.
    for header in [json!({"alg": "RS256", "jwk": embedded}), json!({"alg": "RS256", "kid": "attacker", "jwk": embedded})] {
        let token = raw_token(&header, &good_claims(), Signer::Rs256(&rsa_keys().1));
        assert_eq!(verify_with(&token, &config), Err(AuthError::UnknownKey), "{header}");
    }
}

#[test]
fn the_user_claim_is_configurable() {
    let config = provider_config().with_user_claim("user_id").unwrap();
    let sign = |claims: &Value| raw_token(&json!({"alg": "ES256", "kid": "es-1"}), claims, Signer::Es256(&es_key(1)));
    let mut claims = good_claims();
    claims["user_id"] = json!("u-7");
    assert_eq!(verify_with(&sign(&claims), &config).map(|p| p.subject.to_string()), Ok("u-7".into()));
    claims["user_id"] = json!(42);
    assert_eq!(verify_with(&sign(&claims), &config).map(|p| p.subject.to_string()), Ok("42".into()));
    // `sub` alone no longer names anyone.
    assert_eq!(verify_with(&sign(&good_claims()), &config), Err(AuthError::MissingSubject));
    assert_eq!(provider_config().with_user_claim(" "), Err(AuthConfigError::BadUserClaim));
}

fn jwks_error(document: &str) -> String {
    match AuthConfig::from_sources("iss", "aud", KeySources { jwks: Some(document), ..Default::default() }) {
        Err(AuthConfigError::BadJwks { reason }) => reason,
        other => panic!("expected BadJwks for {document}, got {other:?}"),
    }
}

#[test]
fn unusable_key_sets_are_configuration_errors_and_foreign_keys_are_skipped() {
    let es = || serde_json::to_value(JsonWebKey::from(es_key(1).verifying_key())).unwrap();
    let with = |fields: Value| {
        let mut key = es();
        key.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        key
    };
    assert!(jwks_error("not json").contains("not a JSON Web Key Set"));
    assert!(jwks_error(r#"{"keys": []}"#).contains("no RS256 or ES256"));
    assert!(jwks_error(&json!({"keys": [es()]}).to_string()).contains("no `kid`"));
    let twice = json!({"keys": [with(json!({"kid": "a"})), with(json!({"kid": "a"}))]});
    assert!(jwks_error(&twice.to_string()).contains("more than once"));
    // Encryption keys, other algorithms and symmetric keys are not ours: skipped.
    let mixed = json!({"keys": [
        with(json!({"kid": "enc", "use": "enc"})),
        with(json!({"kid": "es384", "alg": "ES384"})),
        {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
        with(json!({"kid": "ok", "alg": "ES256"})),
    ]});
    let config = AuthConfig::from_sources("iss", "aud", KeySources { jwks: Some(&mixed.to_string()), ..Default::default() }).unwrap();
    assert_eq!(config.jwks_keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["ok"]);
    // A kid both an Ed25519 key and the provider use is ambiguous.
    let (_, ed) = ed25519_keypair([3; 32]);
    let sources = KeySources { ed25519_public_keys: Some(&ed25519_key_entry("ok", &ed)), jwks: Some(&mixed.to_string()), ..Default::default() };
    assert_eq!(AuthConfig::from_sources("iss", "aud", sources), Err(AuthConfigError::DuplicateKid { kid: "ok".into() }));
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    // A 1032-bit modulus: the first 129 bytes of a real one, made odd (a well-formed but weak
    // key).
    let mut jwk = serde_json::to_value(JsonWebKey::from(&rsa_public(&rsa_keys().0))).unwrap();
    let mut n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    n.truncate(129);
    n[128] |= 1;
    jwk["n"] = json!(URL_SAFE_NO_PAD.encode(n));
    jwk["kid"] = json!("weak");
    let reason = jwks_error(&json!({"keys": [jwk]}).to_string());
    assert!(reason.contains("2048 bits"), "{reason}");
}
