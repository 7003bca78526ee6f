//! `exp`/`nbf` with leeway, `iss`, `aud`, `sub`, `scope`, and configuration errors.

use serde_json::json;

use super::*;

#[test]
fn expired() {
    let f = fixture();
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, -31);
    assert_eq!(verify(&token, &f), Err(AuthError::Expired));
    let token = mint_ed25519(&f.k1_secret, "k1", &token_claims(None), NOW, -3600);
    assert_eq!(verify(&token, &f), Err(AuthError::Expired));
}

#[test]
fn expiration_is_required() {
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(verify(&hs256(&claims), &fixture()), Err(AuthError::MissingExpiration));
}

#[test]
fn not_yet_valid() {
    let mut claims = good_claims();
    claims["nbf"] = json!(NOW_SECS + 31);
    assert_eq!(verify(&hs256(&claims), &fixture()), Err(AuthError::NotYetValid));
}

#[test]
fn within_leeway_is_accepted() {
    let f = fixture();
    let token = mint_hs256(SECRET.as_bytes(), &token_claims(None), NOW, -29);
    assert_eq!(verify(&token, &f), Ok(user(false)));
    let mut claims = good_claims();
    claims["nbf"] = json!(NOW_SECS + 29);
    assert_eq!(verify(&hs256(&claims), &f), Ok(user(false)));
    // With zero leeway the same tokens fail.
    let mut strict = fixture();
    strict.config.leeway_secs = 0;
    assert_eq!(verify(&token, &strict), Err(AuthError::Expired));
    assert_eq!(verify(&hs256(&claims), &strict), Err(AuthError::NotYetValid));
}

#[test]
fn wrong_issuer() {
    let f = fixture();
    let mut claims = token_claims(None);
    claims.issuer = "https://evil.example".into();
    let token = mint_hs256(SECRET.as_bytes(), &claims, NOW, 300);
    assert_eq!(verify(&token, &f), Err(AuthError::WrongIssuer));
    let mut missing = good_claims();
    missing.as_object_mut().unwrap().remove("iss");
    assert_eq!(verify(&hs256(&missing), &f), Err(AuthError::WrongIssuer));
}

#[test]
fn wrong_audience() {
    let f = fixture();
    let mut claims = token_claims(None);
    claims.audience = "other-api".into();
    let token = mint_ed25519(&f.k1_secret, "k1", &claims, NOW, 300);
    assert_eq!(verify(&token, &f), Err(AuthError::WrongAudience));
    for aud in [json!(["a", "b"]), json!([]), json!(null), json!("EDGESYNC")] {
        let mut claims = good_claims();
        claims["aud"] = aud.clone();
        assert_eq!(verify(&hs256(&claims), &f), Err(AuthError::WrongAudience), "{aud}");
    }
}

#[test]
fn audience_array_containing_ours_is_accepted() {
    let mut claims = good_claims();
    claims["aud"] = json!(["other-api", "edgesync"]);
    assert_eq!(verify(&hs256(&claims), &fixture()), Ok(user(false)));
}

#[test]
fn missing_or_invalid_subject() {
    let f = fixture();
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove("sub");
    assert_eq!(verify(&hs256(&claims), &f), Err(AuthError::MissingSubject));
    for sub in [json!(""), json!("a\nb"), json!("x".repeat(129))] {
        claims["sub"] = sub;
        assert_eq!(verify(&hs256(&claims), &f), Err(AuthError::InvalidSubject));
    }
}

#[test]
fn admin_scope_detection() {
    let f = fixture();
    let cases = [
        (Some("edgesync:admin"), true),
        (Some("read edgesync:admin write"), true),
        (Some("edgesync:administrator"), false),
        (Some("read write"), false),
        (None, false),
    ];
    for (scope, admin) in cases {
        let hs = mint_hs256(SECRET.as_bytes(), &token_claims(scope), NOW, 300);
        assert_eq!(verify(&hs, &f), Ok(user(admin)), "{scope:?}");
        let ed = mint_ed25519(&f.k2_secret, "k2", &token_claims(scope), NOW, 300);
        assert_eq!(verify(&ed, &f), Ok(user(admin)), "{scope:?}");
    }
}

#[test]
fn config_errors_surface_from_from_parts() {
    assert_eq!(AuthConfig::from_parts("i", "a", None, Some("")), Err(AuthConfigError::NoKeys));
    assert_eq!(
        AuthConfig::from_parts("i", "a", Some("short"), None),
        Err(AuthConfigError::SecretTooShort { len: 5 })
    );
    assert!(matches!(
        AuthConfig::from_parts("i", "a", None, Some("k1:AAAA")),
        Err(AuthConfigError::BadKey { kid, .. }) if kid == "k1"
    ));
    assert!(matches!(
        AuthConfig::from_parts("i", "a", None, Some("no-colon")),
        Err(AuthConfigError::MalformedKeyEntry { position: 1 })
    ));
}
