//! Why a request's credentials were refused. Messages never echo token contents: they end up
//! in logs and problem details, and a token is attacker-controlled input.

/// A rejected `Authorization` header. Every variant means "401 Unauthorized" but
/// [`AuthError::KeysUnavailable`], which is the server's problem (503, retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (or an empty one).
    #[error("missing bearer token")]
    Missing,
    /// The header uses a scheme other than `Bearer`.
    #[error("authorization scheme is not Bearer")]
    UnsupportedScheme,
    /// Not a well-formed JWT (structure, base64url, header or claims JSON).
    #[error("malformed token")]
    Malformed,
    /// Longer than the configured `max_token_bytes`; rejected before parsing.
    #[error("token too large")]
    TooLarge,
    /// `alg` is `none`, or differs from the algorithm of the key the server selected.
    #[error("token algorithm not accepted")]
    UnsupportedAlgorithm,
    /// No configured key matches the token's `kid` (or the configured key is unusable).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid token signature")]
    BadSignature,
    /// The token has no `exp` claim.
    #[error("token has no expiration")]
    MissingExpiration,
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issuer not accepted")]
    WrongIssuer,
    #[error("token audience not accepted")]
    WrongAudience,
    #[error("token has no subject")]
    MissingSubject,
    /// `sub` is present but not a valid user id.
    #[error("token subject is not a valid user id")]
    InvalidSubject,
    /// The token names a key of the identity provider, whose JWKS URL cannot be fetched now
    /// and no copy of its keys is at hand.
    #[error("the identity provider's signing keys cannot be fetched")]
    KeysUnavailable,
}

impl AuthError {
    /// A stable snake_case identifier for logs, metrics and problem details.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::UnsupportedScheme => "auth_scheme_unsupported",
            AuthError::Malformed => "token_malformed",
            AuthError::TooLarge => "token_too_large",
            AuthError::UnsupportedAlgorithm => "token_algorithm_unsupported",
            AuthError::UnknownKey => "token_key_unknown",
            AuthError::BadSignature => "token_signature_invalid",
            AuthError::MissingExpiration => "token_expiration_missing",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongIssuer => "token_issuer_invalid",
            AuthError::WrongAudience => "token_audience_invalid",
            AuthError::MissingSubject => "token_subject_missing",
            AuthError::InvalidSubject => "token_subject_invalid",
            AuthError::KeysUnavailable => "token_keys_unavailable",
        }
    }

    /// The `WWW-Authenticate` value to send with the 401 (RFC 6750 §3): no error code when
    /// the request carried no credentials, `invalid_token` otherwise.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            AuthError::Missing | AuthError::UnsupportedScheme => r#"Bearer realm="edgesync""#,
            _ => r#"Bearer realm="edgesync", error="invalid_token""#,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const ALL: [AuthError; 15] = [
        AuthError::Missing,
        AuthError::UnsupportedScheme,
        AuthError::Malformed,
        AuthError::TooLarge,
        AuthError::UnsupportedAlgorithm,
        AuthError::UnknownKey,
        AuthError::BadSignature,
        AuthError::MissingExpiration,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::MissingSubject,
        AuthError::InvalidSubject,
        AuthError::KeysUnavailable,
    ];

    #[test]
    fn codes_are_unique_snake_case() {
        let codes: HashSet<_> = ALL.iter().map(AuthError::code).collect();
        assert_eq!(codes.len(), ALL.len());
        for code in codes {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
        assert_eq!(AuthError::Expired.code(), "token_expired");
    }

    #[test]
    fn www_authenticate_marks_invalid_tokens() {
        assert!(!AuthError::Missing.www_authenticate().contains("error="));
        assert!(AuthError::Expired.www_authenticate().contains(r#"error="invalid_token""#));
    }
}
