//! Who a verified token speaks for: a [`UserId`] plus whether it carries the admin scope.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub subject: UserId,
    /// The token's `scope` claim contains [`super::ADMIN_SCOPE`].
    pub admin: bool,
}

/// A user identifier: the token's `sub`. 1 to [`UserId::MAX_CHARS`] characters, none of them
/// control characters (so ids are safe to log and to put in headers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

/// Why a string is not a [`UserId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUserId {
    #[error("user id is empty")]
    Empty,
    #[error("user id is longer than {} characters", UserId::MAX_CHARS)]
    TooLong,
    #[error("user id contains a control character")]
    ControlCharacter,
}

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    fn check(s: &str) -> Result<(), InvalidUserId> {
        if s.is_empty() {
            return Err(InvalidUserId::Empty);
        }
        // Bytes bound chars from above: skip the count for short ids.
        if s.len() > Self::MAX_CHARS && s.chars().count() > Self::MAX_CHARS {
            return Err(InvalidUserId::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidUserId::ControlCharacter);
        }
        Ok(())
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::check(&s)?;
        Ok(UserId(s))
    }
}

impl TryFrom<&str> for UserId {
    type Error = InvalidUserId;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::check(s)?;
        Ok(UserId(s.to_owned()))
    }
}

impl FromStr for UserId {
    type Err = InvalidUserId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserId::try_from(s)
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for s in ["u", "user-123", "auth0|5f7c8ec7c33c6c004bbafe82", "jürgen@example.com", "a b"] {
            let id: UserId = s.parse().unwrap();
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
            assert_eq!(String::from(id.clone()), s);
            assert_eq!(UserId::try_from(s.to_owned()).unwrap(), id);
        }
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(UserId::try_from("a".repeat(128)).is_ok());
        assert_eq!(UserId::try_from("a".repeat(129)), Err(InvalidUserId::TooLong));
        // 128 two-byte characters: 256 bytes, still 128 characters.
        assert!(UserId::try_from("é".repeat(128)).is_ok());
        assert_eq!(UserId::try_from("é".repeat(129)), Err(InvalidUserId::TooLong));
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        assert_eq!("".parse::<UserId>(), Err(InvalidUserId::Empty));
        for s in ["a\nb", "\0", "tab\there", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(s.parse::<UserId>(), Err(InvalidUserId::ControlCharacter), "{s:?}");
        }
    }

    #[test]
    fn serde_validates() {
        let id: UserId = serde_json::from_str(r#""user-1""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""user-1""#);
        assert!(serde_json::from_str::<UserId>(r#""""#).is_err());
        assert!(serde_json::from_str::<UserId>(r#""a\u0000""#).is_err());
    }
}
