//! Identifiers: document ids, change hashes and sets of heads, with strict parsing.

use std::fmt;
use std::str::FromStr;

pub use automerge::ChangeHash;

/// Length in bytes of a [`DocumentId`].
pub const DOCUMENT_ID_LEN: usize = 16;
/// Length in bytes of a [`ChangeHash`].
pub const CHANGE_HASH_LEN: usize = 32;

/// A document's identity: 16 random bytes, written as 32 lowercase hex digits.
///
/// Ids are minted by whoever creates the document (a client offline, or the edge), from a
/// randomness source passed in by the caller — this crate never draws randomness itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId([u8; DOCUMENT_ID_LEN]);

/// Why a string or byte slice is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    #[error("expected {expected} hex digits, got {actual} characters")]
    Length { expected: usize, actual: usize },
    #[error("only lowercase hex digits 0-9 and a-f are allowed")]
    NotLowercaseHex,
    #[error("heads must be sorted and free of duplicates")]
    HeadsNotCanonical,
    #[error("too many heads: {count} (limit {limit})")]
    TooManyHeads { count: usize, limit: usize },
}

impl DocumentId {
    /// Builds an id from 16 bytes (for example from a random source).
    pub const fn from_bytes(bytes: [u8; DOCUMENT_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The id's bytes.
    pub const fn as_bytes(&self) -> &[u8; DOCUMENT_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

impl FromStr for DocumentId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(parse_hex::<DOCUMENT_ID_LEN>(s)?))
    }
}

/// Parses a change hash from 64 lowercase hex digits (stricter than automerge, which also takes
/// uppercase, so that one hash has exactly one spelling in URLs and cache keys).
pub fn parse_change_hash(s: &str) -> Result<ChangeHash, ParseIdError> {
    Ok(ChangeHash(parse_hex::<CHANGE_HASH_LEN>(s)?))
}

/// The heads of a document: the hashes of the changes nothing else depends on.
///
/// Always sorted and free of duplicates, so equal sets compare equal and encode identically.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Heads(Vec<ChangeHash>);

impl Heads {
    /// The empty set (a document with no changes, or a peer that has nothing).
    pub const fn empty() -> Self {
        Self(Vec::new())
    }

    /// Builds heads from any list of hashes, sorting and de-duplicating it.
    pub fn new(mut hashes: Vec<ChangeHash>) -> Self {
        hashes.sort_unstable();
        hashes.dedup();
        Self(hashes)
    }

    /// Builds heads from a list that must already be canonical (sorted, no duplicates).
    pub fn from_canonical(hashes: Vec<ChangeHash>) -> Result<Self, ParseIdError> {
        if hashes.windows(2).all(|w| w[0] < w[1]) {
            Ok(Self(hashes))
        } else {
            Err(ParseIdError::HeadsNotCanonical)
        }
    }

    /// Parses a comma-separated list of hex hashes (the `?heads=` query form), at most `limit`.
    pub fn parse_list(s: &str, limit: usize) -> Result<Self, ParseIdError> {
        if s.is_empty() {
            return Ok(Self::empty());
        }
        let count = s.split(',').count();
        if count > limit {
            return Err(ParseIdError::TooManyHeads { count, limit });
        }
        let hashes = s.split(',').map(parse_change_hash).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(hashes))
    }

    pub fn as_slice(&self) -> &[ChangeHash] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, hash: &ChangeHash) -> bool {
        self.0.binary_search(hash).is_ok()
    }

    pub fn into_vec(self) -> Vec<ChangeHash> {
        self.0
    }
}

impl fmt::Display for Heads {
    /// Comma-separated hex hashes: the inverse of [`Heads::parse_list`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, h) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_hex(f, &h.0)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Heads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Heads[{self}]")
    }
}

impl From<Vec<ChangeHash>> for Heads {
    fn from(hashes: Vec<ChangeHash>) -> Self {
        Self::new(hashes)
    }
}

/// Lowercase hex, written 32 bytes at a time: a `write!` per byte was most of the cost of
/// formatting heads, which the server does for every sync message it answers.
fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        let digits = &mut buf[..chunk.len() * 2];
        hex::encode_to_slice(chunk, digits).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(digits).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let digits = s.as_bytes();
    if digits.len() != N * 2 {
        return Err(ParseIdError::Length { expected: N * 2, actual: digits.len() });
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Result<u8, ParseIdError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(ParseIdError::NotLowercaseHex),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_id_round_trips_through_text() {
        let id = DocumentId::from_bytes([0xab; 16]);
        let text = id.to_string();
        assert_eq!(text, "ab".repeat(16));
        assert_eq!(text.parse::<DocumentId>().unwrap(), id);
    }

    #[test]
    fn document_id_rejects_bad_text() {
        assert!(matches!("abc".parse::<DocumentId>(), Err(ParseIdError::Length { .. })));
        assert_eq!("AB".repeat(16).parse::<DocumentId>(), Err(ParseIdError::NotLowercaseHex));
        assert_eq!("zz".repeat(16).parse::<DocumentId>(), Err(ParseIdError::NotLowercaseHex));
        // Multi-byte characters must not slip through a byte-length check.
        assert!("é".repeat(16).parse::<DocumentId>().is_err());
    }

    #[test]
    fn heads_are_canonical() {
        let a = ChangeHash([1; 32]);
        let b = ChangeHash([2; 32]);
        let heads = Heads::new(vec![b, a, b]);
        assert_eq!(heads.as_slice(), &[a, b]);
        assert!(Heads::from_canonical(vec![b, a]).is_err());
        assert!(Heads::from_canonical(vec![a, a]).is_err());
        let parsed = Heads::parse_list(&heads.to_string(), 8).unwrap();
        assert_eq!(parsed, heads);
        assert!(matches!(Heads::parse_list(&heads.to_string(), 1), Err(ParseIdError::TooManyHeads { .. })));
        assert_eq!(Heads::parse_list("", 1).unwrap(), Heads::empty());
        // The text form is automerge's own for each hash (the store compares the two).
        let varied = ChangeHash(std::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        let heads = Heads::new(vec![varied, a]);
        assert_eq!(heads.to_string(), format!("{varied},{a}"));
    }
}
