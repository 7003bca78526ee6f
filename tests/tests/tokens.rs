//! Identity providers' tokens on every runtime: RS256 and ES256 tokens shaped like those of
//! Auth0, Clerk, Firebase, Cognito, Supabase and Keycloak verify against the provider's JWKS
//! (`JWT_JWKS`, keys generated for this run by `test-keys`), and the attacks on asymmetric
//! keys are refused with 401. The same keys published at a JWKS URL (`JWT_JWKS_URL`, served
//! by `jwks-server`) are fetched once, cached, and fetched again only as often as
//! `JWT_JWKS_MIN_REFRESH_SECS` (1 s in this suite) allows, whatever the tokens say.

use edgesync_blackbox::Target;
use edgesync_blackbox::provider::{ES_KID, ES_URL_KID, Provider, RS_KID, RS_URL_KID, Signer};
use serde_json::{Value, json};

/// Held by the tests that name keys the server does not know: each may make the server fetch
/// the JWKS URL, and the URL test counts those fetches.
static UNKNOWN_KEYS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn setup() -> Option<(Target, Provider)> {
    let target = Target::from_env()?;
    let provider = Provider::from_env().expect("EDGESYNC_TEST_KEYS is set by scripts/blackbox.sh");
    Some((target, provider))
}

fn claims(t: &Target, user: &str, extra: Value) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut claims = json!({"iss": t.issuer(), "aud": t.audience(), "sub": user, "iat": now, "exp": now + 600});
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    claims
}

async fn status_and_code(t: &Target, token: &str) -> (u16, Option<String>) {
    let r = t.http.get(t.url("/v1/docs")).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn identity_providers_tokens_are_accepted() {
    let Some((t, p)) = setup() else { return };
    let user = |name: &str| format!("{name}-{:016x}", rand::random::<u64>());
    let shapes = [
        ("auth0", json!({"alg": "RS256", "typ": "JWT", "kid": RS_KID}), json!({"azp": "client-id", "scope": "openid profile"}), Signer::Rs256(None)),
        ("clerk", json!({"alg": "RS256", "typ": "JWT", "kid": RS_KID}), json!({"azp": "https://app.example", "sid": "sess_2abc", "nbf": 0}), Signer::Rs256(None)),
        ("firebase", json!({"alg": "RS256", "typ": "JWT", "kid": RS_KID}), json!({"user_id": "same-as-sub", "auth_time": 1, "firebase": {"sign_in_provider": "password"}}), Signer::Rs256(None)),
        ("cognito", json!({"alg": "RS256", "kid": RS_KID}), json!({"token_use": "access", "client_id": "abc", "username": "someone"}), Signer::Rs256(None)),
        ("supabase", json!({"alg": "ES256", "typ": "JWT", "kid": ES_KID}), json!({"role": "authenticated", "email": "a@example.com", "aal": "aal1"}), Signer::Es256),
        ("keycloak", json!({"alg": "RS256", "typ": "JWT", "kid": RS_KID}), json!({"preferred_username": "someone", "realm_access": {"roles": ["user"]}, "typ": "Bearer"}), Signer::Rs256(None)),
    ];
    for (provider, header, extra, signer) in shapes {
        let me = user(provider);
        let token = p.sign(&header, &claims(&t, &me, extra), signer);
        assert_eq!(status_and_code(&t, &token).await, (200, None), "{provider}");
        // The subject is the user: a document it creates is its own.
        let id = t.create_doc(&token).await;
        let r = t.http.get(t.url(&format!("/v1/docs/{id}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["role"], "owner", "{provider}");
    }
}

#[tokio::test]
async fn attacks_on_the_providers_keys_are_refused() {
    let Some((t, p)) = setup() else { return };
    let _counted = UNKNOWN_KEYS.lock().await;
    let good = claims(&t, "victim", json!({}));
    // Algorithm confusion: HS256 keyed with what an attacker knows of the public key.
    let public = std::fs::read(std::path::Path::new(&std::env::var("EDGESYNC_TEST_KEYS").unwrap()).join("jwks.json")).unwrap();
    let confused = p.sign(&json!({"alg": "HS256", "kid": RS_KID}), &good, Signer::Hs256(&public));
    assert_eq!(status_and_code(&t, &confused).await, (401, Some("token_algorithm_unsupported".into())));
    let swapped = p.sign(&json!({"alg": "ES256", "kid": RS_KID}), &good, Signer::Es256);
    assert_eq!(status_and_code(&t, &swapped).await, (401, Some("token_algorithm_unsupported".into())));
    // The attacker's own key, offered in the header or by URL, is never used.
    let attacker = jwt_compact::alg::Rsa::generate(&mut rand_core::OsRng, jwt_compact::alg::ModulusBits::TwoKibibytes).unwrap().0.into_inner();
    let jwk = serde_json::to_value(jwt_compact::jwk::JsonWebKey::from(&attacker.to_public_key())).unwrap();
    for header in [
        json!({"alg": "RS256", "kid": RS_KID, "jwk": jwk}),
        json!({"alg": "RS256", "kid": RS_KID, "jku": "http://127.0.0.1:9/jwks.json"}),
        json!({"alg": "RS256", "kid": RS_KID, "x5u": "http://127.0.0.1:9/cert.pem"}),
    ] {
        let token = p.sign(&header, &good, Signer::Rs256(Some(&attacker)));
        assert_eq!(status_and_code(&t, &token).await, (401, Some("token_signature_invalid".into())), "{header}");
    }
    let unknown = p.sign(&json!({"alg": "RS256", "kid": "not-ours", "jwk": jwk}), &good, Signer::Rs256(Some(&attacker)));
    assert_eq!(status_and_code(&t, &unknown).await, (401, Some("token_key_unknown".into())));
}

/// The JWKS URL's request counts: (key-set fetches, requests for anything else).
async fn provider_hits(t: &Target) -> (u64, u64) {
    let dir = std::path::PathBuf::from(std::env::var("EDGESYNC_TEST_KEYS").unwrap());
    let port = std::fs::read_to_string(dir.join("jwks.port")).unwrap();
    let hits: Value = t.http.get(format!("http://127.0.0.1:{}/hits", port.trim())).send().await.unwrap().json().await.unwrap();
    (hits["jwks"].as_u64().unwrap(), hits["other"].as_u64().unwrap())
}

#[tokio::test]
async fn keys_from_the_providers_jwks_url_are_fetched_once_and_refreshed_only_within_bounds() {
    let Some((t, p)) = setup() else { return };
    let _counted = UNKNOWN_KEYS.lock().await;
    let me = format!("url-{:016x}", rand::random::<u64>());
    let good = claims(&t, &me, json!({}));
    for (kid, alg, signer) in [(RS_URL_KID, "RS256", Signer::Rs256(None)), (ES_URL_KID, "ES256", Signer::Es256)] {
        let token = p.sign(&json!({"alg": alg, "typ": "JWT", "kid": kid}), &good, signer);
        assert_eq!(status_and_code(&t, &token).await, (200, None), "{kid}");
    }
    let (fetched, _) = provider_hits(&t).await;
    assert!(fetched >= 1, "the keys came from the URL");

    // Cached (in memory, or in the database every edge shares): no fetch per request.
    let token = p.sign(&json!({"alg": "ES256", "kid": ES_URL_KID}), &good, Signer::Es256);
    for _ in 0..20 {
        assert_eq!(status_and_code(&t, &token).await, (200, None));
    }
    assert_eq!(provider_hits(&t).await.0, fetched, "20 more requests fetched the key set again");

    // A storm of made-up key ids costs at most one fetch per interval.
    let started = std::time::Instant::now();
    for _ in 0..30 {
        let made_up = p.sign(&json!({"alg": "ES256", "kid": format!("k{:016x}", rand::random::<u64>())}), &good, Signer::Es256);
        assert_eq!(status_and_code(&t, &made_up).await, (401, Some("token_key_unknown".into())));
    }
    let storm = provider_hits(&t).await.0 - fetched;
    let bound = 1 + started.elapsed().as_secs();
    assert!(storm <= bound, "{storm} fetches for 30 unknown key ids in {:?}", started.elapsed());

    // The provider rotates: its new key is accepted once the interval since the last fetch
    // has passed.
    let dir = std::path::PathBuf::from(std::env::var("EDGESYNC_TEST_KEYS").unwrap());
    let mut set: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("url-jwks.json")).unwrap()).unwrap();
    let rotated = format!("rotated-{:08x}", rand::random::<u32>());
    let mut key = set["keys"].as_array().unwrap().iter().find(|k| k["kid"] == ES_URL_KID).unwrap().clone();
    key["kid"] = json!(rotated);
    set["keys"].as_array_mut().unwrap().push(key);
    std::fs::write(dir.join("url-jwks.json"), set.to_string()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let before = provider_hits(&t).await;
    let token = p.sign(&json!({"alg": "ES256", "kid": rotated}), &good, Signer::Es256);
    assert_eq!(status_and_code(&t, &token).await, (200, None), "the rotated key");
    assert_eq!(provider_hits(&t).await.0, before.0 + 1, "one fetch for the new key");

    // A token pointing at keys of its own choosing (`jku`) never makes the server fetch them.
    let port = std::fs::read_to_string(dir.join("jwks.port")).unwrap();
    let evil = p.sign(&json!({"alg": "ES256", "kid": "evil", "jku": format!("http://127.0.0.1:{}/evil.json", port.trim())}), &good, Signer::Es256);
    assert_eq!(status_and_code(&t, &evil).await.0, 401);
    assert_eq!(provider_hits(&t).await.1, before.1, "the token's jku was fetched");
}
