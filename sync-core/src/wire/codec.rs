//! Low-level reading and writing: unsigned LEB128 integers, fixed-size ids and byte strings.
//!
//! Written by hand rather than with a LEB128 crate because decoding here must be *strict*
//! (overlong and overflowing encodings are errors, so each value has one encoding) and must
//! check every count against the bytes left before allocating.

use super::DecodeError;
use crate::id::{CHANGE_HASH_LEN, ChangeHash, DOCUMENT_ID_LEN, DocumentId, Heads};

pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(version: u8, message_type: u8) -> Self {
        Self { buf: vec![version, message_type] }
    }

    pub(crate) fn uint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    pub(crate) fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    pub(crate) fn doc_id(&mut self, id: &DocumentId) {
        self.buf.extend_from_slice(id.as_bytes());
    }

    pub(crate) fn hashes(&mut self, hashes: &[ChangeHash]) {
        self.uint(hashes.len() as u64);
        for h in hashes {
            self.buf.extend_from_slice(&h.0);
        }
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) {
        self.uint(data.len() as u64);
        self.buf.extend_from_slice(data);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated(what))?;
        self.rest = rest;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub(crate) fn uint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DecodeError::BadInteger(what));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                // A zero final byte after the first is an overlong encoding.
                if i > 0 && b == 0 {
                    return Err(DecodeError::BadInteger(what));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::BadInteger(what))
    }

    /// Reads a count, checking it against `limit` and against the bytes left, given that each
    /// element takes at least `min_element_bytes`. Only then may the caller allocate for it.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        limit: usize,
        min_element_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let count = self.uint(what)?;
        if count > limit as u64 {
            return Err(DecodeError::TooMany { what, count, limit });
        }
        let count = count as usize;
        if count.saturating_mul(min_element_bytes) > self.rest.len() {
            return Err(DecodeError::Truncated(what));
        }
        Ok(count)
    }

    pub(crate) fn doc_id(&mut self) -> Result<DocumentId, DecodeError> {
        let bytes = self.take(DOCUMENT_ID_LEN, "document id")?;
        let mut id = [0u8; DOCUMENT_ID_LEN];
        id.copy_from_slice(bytes);
        Ok(DocumentId::from_bytes(id))
    }

    /// Reads a strictly sorted list of hashes (heads or missing dependencies).
    pub(crate) fn hashes(&mut self, what: &'static str, limit: usize) -> Result<Heads, DecodeError> {
        let n = self.count(what, limit, CHANGE_HASH_LEN)?;
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            let mut h = [0u8; CHANGE_HASH_LEN];
            h.copy_from_slice(self.take(CHANGE_HASH_LEN, what)?);
            hashes.push(ChangeHash(h));
        }
        Heads::from_canonical(hashes).map_err(|_| DecodeError::UnsortedHashes)
    }

    pub(crate) fn bytes(&mut self, what: &'static str, limit: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.uint(what)?;
        if len > limit as u64 {
            return Err(DecodeError::TooMany { what, count: len, limit });
        }
        self.take(len as usize, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: u64) -> Vec<u8> {
        let mut w = Writer::new(0, 0);
        w.uint(v);
        w.finish()[2..].to_vec()
    }

    #[test]
    fn uint_round_trips_at_the_edges() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let bytes = encode(v);
            let mut r = Reader::new(&bytes);
            assert_eq!(r.uint("test").unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn uint_rejects_overlong_and_overflowing_encodings() {
        for bad in [&[0x80, 0x00][..], &[0xff; 11][..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..]] {
            assert!(Reader::new(bad).uint("test").is_err(), "{bad:?}");
        }
        assert_eq!(Reader::new(&[0x80]).uint("x"), Err(DecodeError::Truncated("x")));
    }

    #[test]
    fn counts_are_bounded_by_remaining_bytes() {
        // A count of one million hashes with no bytes behind it must fail before allocating.
        let bytes = encode(1_000_000);
        let err = Reader::new(&bytes).count("hashes", usize::MAX, 32).unwrap_err();
        assert_eq!(err, DecodeError::Truncated("hashes"));
    }
}
