//! `test-keys <dir>`: a fresh identity provider for the black-box suite. Writes the public
//! JSON Web Key Set the runtime is configured with (`<dir>/jwks.json`, keys `rs-test` RS256
//! and `es-test` ES256) and the private keys the tests sign with (`<dir>/rsa.json`, a private
//! JWK; `<dir>/es256.hex`, the P-256 scalar). Fresh keys each run: nothing secret is kept in
//! the repository. The same public keys under other key ids (`rs-url`, `es-url`) go to
//! `<dir>/url-jwks.json`, which `jwks-server` publishes as a provider's JWKS URL.

use jwt_compact::Algorithm;
use jwt_compact::alg::{Es256, ModulusBits, Rsa};
use jwt_compact::jwk::JsonWebKey;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: test-keys <dir>"));
    std::fs::create_dir_all(&dir).expect("key directory");
    let (rsa, _) = Rsa::generate(&mut rand_core::OsRng, ModulusBits::TwoKibibytes).expect("an RSA key");
    let rsa = rsa.into_inner();
    let es = <Es256 as Algorithm>::SigningKey::random(&mut rand_core::OsRng);
    let published = |jwk: JsonWebKey<'_>, kid: &str, alg: &str| {
        let mut value = serde_json::to_value(jwk).expect("a JWK");
        value["kid"] = kid.into();
        value["alg"] = alg.into();
        value["use"] = "sig".into();
        value
    };
    let jwks = serde_json::json!({"keys": [
        published(JsonWebKey::from(&rsa.to_public_key()), edgesync_blackbox::provider::RS_KID, "RS256"),
        published(JsonWebKey::from(es.verifying_key()), edgesync_blackbox::provider::ES_KID, "ES256"),
    ]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).expect("jwks.json");
    let url_jwks = serde_json::json!({"keys": [
        published(JsonWebKey::from(&rsa.to_public_key()), edgesync_blackbox::provider::RS_URL_KID, "RS256"),
        published(JsonWebKey::from(es.verifying_key()), edgesync_blackbox::provider::ES_URL_KID, "ES256"),
    ]});
    std::fs::write(dir.join("url-jwks.json"), url_jwks.to_string()).expect("url-jwks.json");
    std::fs::write(dir.join("rsa.json"), serde_json::to_string(&JsonWebKey::from(&rsa)).expect("a JWK")).expect("rsa.json");
    std::fs::write(dir.join("es256.hex"), hex::encode(es.to_bytes())).expect("es256.hex");
}
