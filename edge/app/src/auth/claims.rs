//! The JWT claim set edgesync reads and writes: `sub`, `iss`, `aud`, `scope` on top of the
//! registered time claims (`exp`, `nbf`, `iat`) that `jwt-compact` handles itself.

use serde::{Deserialize, Serialize};

/// The scope (in the space-separated `scope` claim) that makes a principal an administrator.
pub const ADMIN_SCOPE: &str = "edgesync:admin";

/// What a minted token asserts (see [`super::mint_hs256`] / [`super::mint_ed25519`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub subject: String,
    pub issuer: String,
    pub audience: String,
    /// Space-separated scopes, e.g. `"edgesync:admin"`; `None` omits the claim.
    pub scope: Option<String>,
}

/// The custom claims as they appear on the wire. Every field is optional here so that a
/// missing claim surfaces as a specific [`super::AuthError`] instead of a parse failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WireClaims {
    #[serde(rename = "sub", default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(rename = "iss", default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(rename = "aud", default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Every other claim, for a configured user claim other than `sub` (the token is at most
    /// `max_token_bytes`, so this is bounded).
    #[serde(flatten, default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

/// RFC 7519 §4.1.3: `aud` is either one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

impl From<&TokenClaims> for WireClaims {
    fn from(claims: &TokenClaims) -> Self {
        WireClaims {
            subject: Some(claims.subject.clone()),
            issuer: Some(claims.issuer.clone()),
            audience: Some(Audience::One(claims.audience.clone())),
            scope: claims.scope.clone(),
            other: Default::default(),
        }
    }
}

/// Whether the space-separated `scope` list contains `wanted` as a whole entry.
pub(super) fn has_scope(scope: Option<&str>, wanted: &str) -> bool {
    scope.is_some_and(|s| s.split_ascii_whitespace().any(|entry| entry == wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_accepts_string_or_array() {
        let one: Audience = serde_json::from_str(r#""edgesync""#).unwrap();
        assert!(one.contains("edgesync"));
        assert!(!one.contains("other"));

        let many: Audience = serde_json::from_str(r#"["a", "edgesync"]"#).unwrap();
        assert!(many.contains("edgesync"));
        assert!(!many.contains("b"));

        assert!(serde_json::from_str::<Audience>("42").is_err());
    }

    #[test]
    fn wire_claims_read_missing_fields_as_none() {
        let claims: WireClaims = serde_json::from_str(r#"{"sub": "u1", "extra": true}"#).unwrap();
        assert_eq!(claims.subject.as_deref(), Some("u1"));
        assert_eq!(claims.issuer, None);
        assert_eq!(claims.audience, None);
        assert_eq!(claims.scope, None);
    }

    #[test]
    fn wire_claims_serialize_only_present_fields() {
        let claims = WireClaims::from(&TokenClaims {
            subject: "u1".into(),
            issuer: "iss".into(),
            audience: "aud".into(),
            scope: None,
        });
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json, serde_json::json!({"sub": "u1", "iss": "iss", "aud": "aud"}));
    }

    #[test]
    fn scope_matching_is_by_whole_entry() {
        assert!(has_scope(Some("edgesync:admin"), ADMIN_SCOPE));
        assert!(has_scope(Some("read  edgesync:admin\twrite"), ADMIN_SCOPE));
        assert!(!has_scope(Some("edgesync:administrator"), ADMIN_SCOPE));
        assert!(!has_scope(Some("xedgesync:admin"), ADMIN_SCOPE));
        assert!(!has_scope(Some(""), ADMIN_SCOPE));
        assert!(!has_scope(None, ADMIN_SCOPE));
    }
}
