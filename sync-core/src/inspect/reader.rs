//! A bounds-checked cursor over untrusted bytes, and the two LEB128 dialects automerge uses:
//! strict in headers and column metadata, lenient (`leb128` crate) inside column data.

use super::InspectError;

/// Cursor over untrusted bytes; every access is bounds-checked and returns `None` on overrun.
#[derive(Clone)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

pub(super) enum LebFail {
    Eof,
    Invalid,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    pub(super) fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos = self.pos.saturating_add(1);
        Some(b)
    }

    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(super) fn take_u64(&mut self, n: u64) -> Option<&'a [u8]> {
        self.take(usize::try_from(n).ok()?)
    }

    /// automerge's strict header/metadata uLEB128 (`storage/parse/leb128.rs:15-40`): at most
    /// 10 bytes, no overlong encodings, value must fit in u64.
    pub(super) fn uleb_strict(&mut self) -> Result<u64, LebFail> {
        let mut res: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.byte().ok_or(LebFail::Eof)?;
            res |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift = shift.saturating_add(7);
            if byte & 0x80 == 0 {
                if shift > 64 && byte > 1 {
                    return Err(LebFail::Invalid);
                }
                if shift > 7 && byte == 0 {
                    return Err(LebFail::Invalid);
                }
                return Ok(res);
            } else if shift > 64 {
                return Err(LebFail::Invalid);
            }
        }
    }

    /// automerge's strict sLEB128 (`storage/parse/leb128.rs:42-76`), used for the timestamp.
    pub(super) fn sleb_strict(&mut self) -> Result<i64, LebFail> {
        let mut res: i64 = 0;
        let mut shift: u32 = 0;
        let mut prev: u8 = 0;
        loop {
            let byte = self.byte().ok_or(LebFail::Eof)?;
            res |= i64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift = shift.saturating_add(7);
            if byte & 0x80 == 0 {
                if shift > 64 && byte != 0 && byte != 0x7f {
                    return Err(LebFail::Invalid);
                }
                if shift > 7
                    && ((byte == 0 && prev & 0x40 == 0) || (byte == 0x7f && prev & 0x40 != 0))
                {
                    return Err(LebFail::Invalid);
                }
                if shift < 64 && byte & 0x40 != 0 {
                    res |= (-1i64).checked_shl(shift).unwrap_or(0);
                }
                return Ok(res);
            } else if shift > 64 {
                return Err(LebFail::Invalid);
            }
            prev = byte;
        }
    }

    /// uLEB128 as read inside column data by both automerge's column decoders and hexane, which
    /// both use `leb128 0.2.7` `read::unsigned`: overlong encodings accepted; the 10th byte must
    /// be 0x00 or 0x01.
    pub(super) fn uleb_col(&mut self) -> Option<u64> {
        let mut result: u64 = 0;
        let mut shift: u32 = 0;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte != 0x00 && byte != 0x01 {
                return None;
            }
            result |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Some(result);
            }
            shift = shift.checked_add(7)?;
            if shift > 63 {
                return None;
            }
        }
    }

    /// sLEB128 as read inside column data (`leb128 0.2.7` `read::signed`): the 10th byte must be
    /// 0x00 or 0x7f.
    pub(super) fn sleb_col(&mut self) -> Option<i64> {
        let mut result: i64 = 0;
        let mut shift: u32 = 0;
        let mut byte: u8;
        loop {
            byte = self.byte()?;
            if shift == 63 && byte != 0x00 && byte != 0x7f {
                return None;
            }
            result |= i64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            shift = shift.checked_add(7)?;
            if byte & 0x80 == 0 {
                break;
            }
            if shift > 63 {
                return None;
            }
        }
        if shift < 64 && byte & 0x40 != 0 {
            result |= (-1i64).checked_shl(shift).unwrap_or(0);
        }
        Some(result)
    }
}

pub(super) fn leb_err(e: LebFail, what: &'static str) -> InspectError {
    match e {
        LebFail::Eof => InspectError::Truncated(what),
        LebFail::Invalid => InspectError::BadLeb128(what),
    }
}

pub(super) fn strict_u(r: &mut Reader<'_>, what: &'static str) -> Result<u64, InspectError> {
    r.uleb_strict().map_err(|e| leb_err(e, what))
}

/// A uLEB128 count (`count_what`) of 32-byte change hashes, skipped; returns the count.
pub(super) fn skip_hashes(r: &mut Reader<'_>, count_what: &'static str, what: &'static str) -> Result<u64, InspectError> {
    let n = strict_u(r, count_what)?;
    let len = n.checked_mul(32).ok_or(InspectError::Truncated(what))?;
    r.take_u64(len).ok_or(InspectError::Truncated(what))?;
    Ok(n)
}

/// A uLEB128 length (`len_what`) and that many bytes (`what`), returned.
pub(super) fn len_prefixed<'a>(r: &mut Reader<'a>, len_what: &'static str, what: &'static str) -> Result<&'a [u8], InspectError> {
    let len = strict_u(r, len_what)?;
    r.take_u64(len).ok_or(InspectError::Truncated(what))
}

pub(super) fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

