//! Authentication: bearer JWTs (HS256, Ed25519/EdDSA, or an identity provider's RS256/ES256
//! keys from its JWKS) turned into a [`Principal`].
//!
//! The server, not the token, decides how a token is checked: the header's `kid` selects a
//! configured key (no `kid`, or `kid` = [`HS256_KID`], selects the HS256 secret), the key
//! fixes the algorithm, and a token whose `alg` disagrees is refused. A token's own key hints
//! (`jku`, `x5u`, an embedded `jwk`) are never read. `exp` is mandatory,
//! `nbf` optional, both with leeway; `iss`, `aud` and `sub` must be present and acceptable.
//!
//! Everything here is pure computation: time arrives as [`UnixMillis`](crate::ports::UnixMillis)
//! and randomness as seed bytes, so the module runs unchanged on wasm32.

mod bearer;
mod claims;
mod config;
mod error;
mod jwks;
mod keys;
mod mint;
mod principal;
mod verify;

#[cfg(test)]
mod tests;

pub use claims::{ADMIN_SCOPE, TokenClaims};
pub use config::{
    AuthConfig, AuthConfigError, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_USER_CLAIM, HS256_KID,
    KeySources, MIN_HS256_SECRET_BYTES, ed25519_key_entry,
};
pub use jwks::{JWKS_DEFAULT_TTL_SECS, JWKS_MAX_TTL_SECS, JWKS_MIN_TTL_SECS, JwksKey, JwksUrl, ProviderKey, jwks_ttl_secs, parse_jwks};
pub use error::AuthError;
pub use mint::{ed25519_keypair, mint_ed25519, mint_hs256};
pub use principal::{InvalidUserId, Principal, UserId};
pub use verify::{verified_expiry, verify_bearer, verify_bearer_with_provider};
