//! Extracting the token from an `Authorization: Bearer <token>` header value (RFC 6750 §2.1).

use super::AuthError;

/// The token in `header`, checked against `max_token_bytes` before anything parses it.
/// The scheme is matched case-insensitively (RFC 9110 §11.1).
pub(super) fn bearer_token(
    header: Option<&str>,
    max_token_bytes: usize,
) -> Result<&str, AuthError> {
    let value = header.map(str::trim).filter(|v| !v.is_empty()).ok_or(AuthError::Missing)?;
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(AuthError::UnsupportedScheme);
    }
    let token = rest.trim_start_matches([' ', '\t']);
    if token.is_empty() {
        return Err(AuthError::Malformed);
    }
    if token.len() > max_token_bytes {
        return Err(AuthError::TooLarge);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_token() {
        assert_eq!(bearer_token(Some("Bearer abc.def.ghi"), 100), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(Some("  bearer   abc \t"), 100), Ok("abc"));
        assert_eq!(bearer_token(Some("BEARER\tabc"), 100), Ok("abc"));
    }

    #[test]
    fn missing_header_or_empty_value() {
        assert_eq!(bearer_token(None, 100), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some(""), 100), Err(AuthError::Missing));
        assert_eq!(bearer_token(Some("   "), 100), Err(AuthError::Missing));
    }

    #[test]
    fn other_schemes() {
        assert_eq!(
            bearer_token(Some("Basic dXNlcjpwYXNz"), 100),
            Err(AuthError::UnsupportedScheme)
        );
        assert_eq!(bearer_token(Some("Token abc"), 100), Err(AuthError::UnsupportedScheme));
        assert_eq!(bearer_token(Some("Bearerabc"), 100), Err(AuthError::UnsupportedScheme));
        assert_eq!(bearer_token(Some("abc.def.ghi"), 100), Err(AuthError::UnsupportedScheme));
    }

    #[test]
    fn scheme_without_token() {
        assert_eq!(bearer_token(Some("Bearer"), 100), Err(AuthError::Malformed));
        assert_eq!(bearer_token(Some("Bearer    "), 100), Err(AuthError::Malformed));
    }

    #[test]
    fn size_limit_is_inclusive() {
        let token = "a".repeat(10);
        assert_eq!(bearer_token(Some(&format!("Bearer {token}")), 10), Ok(token.as_str()));
        let token = "a".repeat(11);
        assert_eq!(bearer_token(Some(&format!("Bearer {token}")), 10), Err(AuthError::TooLarge));
    }
}
