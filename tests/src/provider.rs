//! Tokens as identity providers issue them (RS256 and ES256 with a `kid`), signed with the
//! keys `test-keys` generated for this run (`EDGESYNC_TEST_KEYS`, set by scripts/blackbox.sh).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_compact::alg::{Es256, Rsa, RsaPrivateKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature as _};
use serde_json::Value;

pub const RS_KID: &str = "rs-test";
pub const ES_KID: &str = "es-test";
/// The same keys as published at the provider's JWKS URL (`jwks-server`), under other ids.
pub const RS_URL_KID: &str = "rs-url";
pub const ES_URL_KID: &str = "es-url";

pub struct Provider {
    pub rsa: RsaPrivateKey,
    pub es: <Es256 as Algorithm>::SigningKey,
}

impl Provider {
    /// The keys of this run, or `None` when the runtime was started without them.
    pub fn from_env() -> Option<Self> {
        let dir = std::path::PathBuf::from(std::env::var_os("EDGESYNC_TEST_KEYS")?);
        let jwk: JsonWebKey<'_> = serde_json::from_str(&std::fs::read_to_string(dir.join("rsa.json")).ok()?).ok()?;
        let rsa = RsaPrivateKey::try_from(&jwk).ok()?;
        let es = hex::decode(std::fs::read_to_string(dir.join("es256.hex")).ok()?.trim()).ok()?;
        let es = <Es256 as Algorithm>::SigningKey::from_slice(&es).ok()?;
        Some(Self { rsa, es })
    }

    /// A compact JWS with exactly this header and these claims, signed as `signer` says.
    pub fn sign(&self, header: &Value, claims: &Value, signer: Signer<'_>) -> String {
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = match signer {
            Signer::Rs256(key) => Rsa::rs256().sign(key.unwrap_or(&self.rsa), input.as_bytes()).as_bytes().to_vec(),
            Signer::Es256 => Es256.sign(&self.es, input.as_bytes()).as_bytes().to_vec(),
            Signer::Hs256(secret) => {
                use jwt_compact::alg::{Hs256, Hs256Key};
                Hs256.sign(&Hs256Key::new(secret), input.as_bytes()).as_bytes().to_vec()
            }
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

pub enum Signer<'a> {
    /// The provider's RSA key, or another one.
    Rs256(Option<&'a RsaPrivateKey>),
    Es256,
    Hs256(&'a [u8]),
}
