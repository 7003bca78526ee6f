//! Bearer-token verification: header → size check → parse → server-chosen key → signature →
//! `exp`/`nbf` → `iss`/`aud` → `sub`.

use chrono::{DateTime, TimeDelta, Utc};
use jwt_compact::{Claim, Claims, TimeOptions, UntrustedToken, ValidationError};

use super::bearer::bearer_token;
use super::claims::{ADMIN_SCOPE, WireClaims, has_scope};
use super::jwks::ProviderKey;
use super::keys::VerificationKey;
use super::{AuthConfig, AuthError, Principal, UserId};
use crate::ports::UnixMillis;

/// Upper bound applied to `leeway_secs`: skew beyond an hour is a misconfiguration.
const MAX_LEEWAY_SECS: i64 = 3600;

/// Verifies an `Authorization` header value (`"Bearer <jwt>"`) at time `now`.
pub fn verify_bearer(
    header: Option<&str>,
    config: &AuthConfig,
    now: UnixMillis,
) -> Result<Principal, AuthError> {
    let token = bearer_token(header, config.max_token_bytes)?;
    let untrusted = UntrustedToken::new(token).map_err(|_| AuthError::Malformed)?;
    let key = VerificationKey::select(&untrusted, config)?;
    check(&untrusted, &key, config, now)
}

/// [`verify_bearer`], with the identity provider's JWKS URL: when the token names a key id no
/// configured key has (see `VerificationKey::remote_kid`), `provider_key(kid)` supplies the key
/// (fetched or cached by the caller). Everything else is checked exactly as there.
pub async fn verify_bearer_with_provider(
    header: Option<&str>,
    config: &AuthConfig,
    now: UnixMillis,
    provider_key: impl AsyncFnOnce(&str) -> Result<ProviderKey, AuthError>,
) -> Result<Principal, AuthError> {
    let token = bearer_token(header, config.max_token_bytes)?;
    let untrusted = UntrustedToken::new(token).map_err(|_| AuthError::Malformed)?;
    let key = match VerificationKey::remote_kid(&untrusted, config) {
        Some(kid) => VerificationKey::provider(&untrusted, provider_key(kid).await?)?,
        None => VerificationKey::select(&untrusted, config)?,
    };
    check(&untrusted, &key, config, now)
}

fn check(untrusted: &UntrustedToken<'_>, key: &VerificationKey, config: &AuthConfig, now: UnixMillis) -> Result<Principal, AuthError> {
    let claims = key.verify(untrusted)?;
    check_time(&claims, config.leeway_secs, now)?;
    principal(claims.custom, config)
}

/// The `exp` (Unix seconds) of a token [`verify_bearer`] accepted, for a connection that
/// outlives its request and must end with its token (the live channel).
pub fn verified_expiry(token: &str) -> Option<i64> {
    let untrusted = UntrustedToken::new(token).ok()?;
    let claims = untrusted.deserialize_claims_unchecked::<WireClaims>().ok()?;
    claims.expiration.map(|exp| exp.timestamp())
}

/// `exp` is required, `nbf` optional; both get `leeway_secs` of slack.
fn check_time(
    claims: &Claims<WireClaims>,
    leeway_secs: i64,
    now: UnixMillis,
) -> Result<(), AuthError> {
    // A clock outside chrono's range (±262,000 years) fails closed: every token is expired.
    let now = DateTime::from_timestamp_millis(now.0).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let leeway = TimeDelta::try_seconds(leeway_secs.clamp(0, MAX_LEEWAY_SECS)).unwrap_or_default();
    let options = TimeOptions::new(leeway, move || now);

    claims.validate_expiration(&options).map_err(|err| match err {
        ValidationError::NoClaim(Claim::Expiration) => AuthError::MissingExpiration,
        _ => AuthError::Expired,
    })?;
    // `Claims::validate_maturity` computes `nbf - leeway` unchecked, which panics for an `nbf`
    // near chrono's minimum; the same rule is applied here with checked arithmetic.
    if let Some(not_before) = claims.not_before {
        let earliest = not_before.checked_sub_signed(leeway).unwrap_or(DateTime::<Utc>::MIN_UTC);
        if now < earliest {
            return Err(AuthError::NotYetValid);
        }
    }
    Ok(())
}

fn principal(claims: WireClaims, config: &AuthConfig) -> Result<Principal, AuthError> {
    if claims.issuer.as_deref() != Some(config.issuer.as_str()) {
        return Err(AuthError::WrongIssuer);
    }
    if !claims.audience.is_some_and(|aud| aud.contains(&config.audience)) {
        return Err(AuthError::WrongAudience);
    }
    let subject = if config.user_claim == super::DEFAULT_USER_CLAIM {
        claims.subject
    } else {
        // A provider's own user id claim: a string, or a number some providers use.
        claims.other.get(&config.user_claim).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let subject = subject.ok_or(AuthError::MissingSubject)?;
    let subject = UserId::try_from(subject).map_err(|_| AuthError::InvalidSubject)?;
    Ok(Principal { subject, admin: has_scope(claims.scope.as_deref(), ADMIN_SCOPE) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::claims::Audience;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn claims(exp: Option<i64>, nbf: Option<i64>) -> Claims<WireClaims> {
        let mut claims = Claims::new(WireClaims::default());
        claims.expiration = exp.map(at);
        claims.not_before = nbf.map(at);
        claims
    }

    const NOW: UnixMillis = UnixMillis(1_000_000_000);

    #[test]
    fn expiration_is_required_and_checked_with_leeway() {
        assert_eq!(check_time(&claims(None, None), 30, NOW), Err(AuthError::MissingExpiration));
        assert_eq!(check_time(&claims(Some(1_000_000), None), 0, NOW), Ok(()));
        assert_eq!(check_time(&claims(Some(999_999), None), 0, NOW), Err(AuthError::Expired));
        assert_eq!(check_time(&claims(Some(999_970), None), 30, NOW), Ok(()));
        assert_eq!(check_time(&claims(Some(999_969), None), 30, NOW), Err(AuthError::Expired));
    }

    #[test]
    fn not_before_is_checked_with_leeway() {
        let exp = Some(2_000_000);
        assert_eq!(check_time(&claims(exp, Some(1_000_000)), 0, NOW), Ok(()));
        assert_eq!(check_time(&claims(exp, Some(1_000_001)), 0, NOW), Err(AuthError::NotYetValid));
        assert_eq!(check_time(&claims(exp, Some(1_000_030)), 30, NOW), Ok(()));
        assert_eq!(check_time(&claims(exp, Some(1_000_031)), 30, NOW), Err(AuthError::NotYetValid));
    }

    #[test]
    fn leeway_is_clamped() {
        // Negative leeway counts as zero; absurd leeway as an hour.
        assert_eq!(check_time(&claims(Some(1_000_000), None), -50, NOW), Ok(()));
        assert_eq!(check_time(&claims(Some(999_999), None), -50, NOW), Err(AuthError::Expired));
        assert_eq!(check_time(&claims(Some(996_400), None), i64::MAX, NOW), Ok(()));
        assert_eq!(
            check_time(&claims(Some(996_399), None), i64::MAX, NOW),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let mut c = claims(None, None);
        c.expiration = Some(DateTime::<Utc>::MAX_UTC);
        c.not_before = Some(DateTime::<Utc>::MIN_UTC);
        assert_eq!(check_time(&c, 30, NOW), Ok(()));
        // A clock beyond chrono's range fails closed.
        c.expiration = Some(at(4_000_000_000));
        assert_eq!(check_time(&c, 30, UnixMillis(i64::MAX)), Err(AuthError::Expired));
    }

    fn config() -> AuthConfig {
        AuthConfig::from_parts("iss", "aud", Some(&"s".repeat(32)), None).unwrap()
    }

    fn wire(iss: Option<&str>, aud: Option<Audience>, sub: Option<&str>) -> WireClaims {
        WireClaims {
            subject: sub.map(Into::into),
            issuer: iss.map(Into::into),
            audience: aud,
            scope: None,
            other: Default::default(),
        }
    }

    #[test]
    fn principal_checks_issuer_audience_subject_in_order() {
        let aud = || Some(Audience::One("aud".into()));
        let ok = principal(wire(Some("iss"), aud(), Some("u1")), &config()).unwrap();
        assert_eq!(ok, Principal { subject: "u1".parse().unwrap(), admin: false });

        let err = |w| principal(w, &config()).unwrap_err();
        assert_eq!(err(wire(None, aud(), Some("u1"))), AuthError::WrongIssuer);
        assert_eq!(err(wire(Some("ISS"), aud(), Some("u1"))), AuthError::WrongIssuer);
        assert_eq!(err(wire(Some("iss"), None, Some("u1"))), AuthError::WrongAudience);
        let many = Some(Audience::Many(vec![]));
        assert_eq!(err(wire(Some("iss"), many, Some("u1"))), AuthError::WrongAudience);
        assert_eq!(err(wire(Some("iss"), aud(), None)), AuthError::MissingSubject);
        assert_eq!(err(wire(Some("iss"), aud(), Some(""))), AuthError::InvalidSubject);
        assert_eq!(err(wire(Some("iss"), aud(), Some("a\u{0}b"))), AuthError::InvalidSubject);
    }
}
