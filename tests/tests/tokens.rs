//! Identity providers' tokens on every runtime: RS256 and ES256 tokens shaped like those of
//! Auth0, Clerk, Firebase, Cognito, Supabase and Keycloak verify against the provider's JWKS
//! (`JWT_JWKS`, keys generated for this run by `test-keys`), and the attacks on asymmetric
//! keys are refused with 401.

use edgesync_blackbox::Target;
use edgesync_blackbox::provider::{ES_KID, Provider, RS_KID, Signer};
use serde_json::{Value, json};

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
