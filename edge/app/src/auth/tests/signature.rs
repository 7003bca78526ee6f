//! Header parsing, token format, server-side key and algorithm choice, signatures.

use serde_json::json;

use super::*;

#[test]
fn valid_hs256_tokens_are_accepted() {
    let f = fixture();
    let minted = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    assert_eq!(verify(&minted, &f), Ok(user(false)));
    // Without a kid, the HS256 secret is the key.
    assert_eq!(verify(&hs256(&good_claims()), &f), Ok(user(false)));
}

#[test]
fn valid_ed25519_tokens_are_accepted_by_kid() {
    let f = fixture();
    let t1 = mint_ed25519(&f.k1_secret, "k1", &token_claims(None), NOW, 300);
    assert_eq!(verify(&t1, &f), Ok(user(false)));
    let t2 = mint_ed25519(&f.k2_secret, "k2", &token_claims(None), NOW, 300);
    assert_eq!(verify(&t2, &f), Ok(user(false)));
    // Ed25519 verification does not depend on HS256 being configured.
    assert_eq!(verify(&t1, &fixture_with(None)), Ok(user(false)));
}

#[test]
fn no_header() {
    assert_eq!(verify_bearer(None, &fixture().config, NOW), Err(AuthError::Missing));
    assert_eq!(verify_bearer(Some("  "), &fixture().config, NOW), Err(AuthError::Missing));
}

#[test]
fn non_bearer_scheme() {
    let f = fixture();
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    for header in [format!("Basic {token}"), format!("Token {token}"), token.clone()] {
        assert_eq!(verify_bearer(Some(&header), &f.config, NOW), Err(AuthError::UnsupportedScheme));
    }
}

#[test]
fn garbage_is_malformed() {
    let f = fixture();
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let not_json = format!("{}.{}.c2ln", b64("not json"), b64("{}"));
    let claims_not_json =
        raw_token(&json!({"alg": "HS256"}), &json!("x"), Signer::Hs256(SECRET.as_bytes()));
    for token in
        ["garbage", "a.b", "a.b.c.d", "!!!.???.***", &not_json, &claims_not_json, "Bearer x y"]
    {
        assert_eq!(verify(token, &f), Err(AuthError::Malformed), "{token}");
    }
    // Claims of the wrong type, correctly signed, are malformed too.
    for claims in [
        json!({"exp": "soon"}),
        json!({"aud": 42, "exp": NOW_SECS + 60}),
        json!({"scope": ["a"], "exp": 1}),
    ] {
        assert_eq!(verify(&hs256(&claims), &f), Err(AuthError::Malformed), "{claims}");
    }
}

#[test]
fn alg_none_is_rejected() {
    for f in [fixture(), fixture_with(None)] {
        for header in [
            json!({"alg": "none", "typ": "JWT"}),
            json!({"alg": "none", "kid": "k1"}),
            json!({"alg": "none", "kid": "hs256"}),
        ] {
            let token = raw_token(&header, &good_claims(), Signer::Unsigned);
            assert!(token.ends_with('.'));
            assert_eq!(verify(&token, &f), Err(AuthError::UnsupportedAlgorithm), "{header}");
        }
    }
}

#[test]
fn hs256_signed_with_the_ed25519_public_key_is_rejected() {
    // Only Ed25519 keys configured: the classic algorithm-confusion forgery, using the public
    // key (raw bytes or its base64url text) as the HMAC secret.
    let f = fixture_with(None);
    let entry = ed25519_key_entry("k1", &f.k1_public);
    let public_text = entry.split_once(':').unwrap().1.as_bytes().to_vec();
    for secret in [f.k1_public.clone(), public_text] {
        for header in [json!({"alg": "HS256", "kid": "k1"}), json!({"alg": "HS256"})] {
            let token = raw_token(&header, &good_claims(), Signer::Hs256(&secret));
            assert_eq!(verify(&token, &f), Err(AuthError::UnsupportedAlgorithm), "{header}");
        }
    }
}

#[test]
fn algorithm_must_match_the_key_kid_selects() {
    let f = fixture();
    // An Ed25519 signature presented under the HS256 key slot, and vice versa.
    let ed_as_hs =
        raw_token(&json!({"alg": "EdDSA"}), &good_claims(), Signer::Ed25519(&f.k1_secret));
    assert_eq!(verify(&ed_as_hs, &f), Err(AuthError::UnsupportedAlgorithm));
    let hs_as_ed = raw_token(
        &json!({"alg": "HS256", "kid": "k1"}),
        &good_claims(),
        Signer::Hs256(SECRET.as_bytes()),
    );
    assert_eq!(verify(&hs_as_ed, &f), Err(AuthError::UnsupportedAlgorithm));
    let hs512 =
        raw_token(&json!({"alg": "HS512"}), &good_claims(), Signer::Hs256(SECRET.as_bytes()));
    assert_eq!(verify(&hs512, &f), Err(AuthError::UnsupportedAlgorithm));
}

#[test]
fn flipped_signature_byte_is_a_bad_signature() {
    let f = fixture();
    let hs = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    let ed = mint_ed25519(&f.k1_secret, "k1", &token_claims(None), NOW, 300);
    for token in [hs, ed] {
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[5] ^= 0x01;
        let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(verify(&tampered, &f), Err(AuthError::BadSignature));
        // A truncated signature too.
        bytes.pop();
        let truncated = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(verify(&truncated, &f), Err(AuthError::BadSignature));
    }
}

#[test]
fn tampered_payload_or_wrong_key_is_a_bad_signature() {
    let f = fixture();
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut admin = good_claims();
    admin["scope"] = json!(ADMIN_SCOPE);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin).unwrap());
    assert_eq!(verify(&parts.join("."), &f), Err(AuthError::BadSignature));

    let other_secret = mint_hs256(&[b'x'; 32], &token_claims(None), NOW, 300);
    assert_eq!(verify(&other_secret, &f), Err(AuthError::BadSignature));
    // Signed by k2 but claiming to be k1.
    let wrong_kid = mint_ed25519(&f.k2_secret, "k1", &token_claims(None), NOW, 300);
    assert_eq!(verify(&wrong_kid, &f), Err(AuthError::BadSignature));
}

#[test]
fn unknown_kid() {
    let f = fixture();
    let (secret, _) = ed25519_keypair([33; 32]);
    let token = mint_ed25519(&secret, "k3", &token_claims(None), NOW, 300);
    assert_eq!(verify(&token, &f), Err(AuthError::UnknownKey));
    // An EdDSA token without kid cannot select an Ed25519 key.
    let no_kid = raw_token(&json!({"alg": "EdDSA"}), &good_claims(), Signer::Ed25519(&f.k1_secret));
    assert_eq!(verify(&no_kid, &fixture_with(None)), Err(AuthError::UnknownKey));
}

#[test]
fn oversized_token_is_rejected_before_parsing() {
    let f = fixture();
    let mut claims = good_claims();
    claims["pad"] = json!("x".repeat(DEFAULT_MAX_TOKEN_BYTES));
    assert_eq!(verify(&hs256(&claims), &f), Err(AuthError::TooLarge));
    // Size is checked first: even non-JWT junk of that size reports TooLarge.
    assert_eq!(verify(&"!".repeat(DEFAULT_MAX_TOKEN_BYTES + 1), &f), Err(AuthError::TooLarge));
    let mut small = fixture();
    small.config.max_token_bytes = 64;
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    assert_eq!(verify(&token, &small), Err(AuthError::TooLarge));
}

#[test]
fn hs256_is_refused_when_no_secret_is_configured() {
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, 300);
    assert_eq!(verify(&token, &fixture_with(None)), Err(AuthError::UnsupportedAlgorithm));
}
