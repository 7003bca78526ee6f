//! DEFLATE with a hard cap: the output buffer never grows past what the budget allows.

use std::io::Read;

use flate2::bufread::DeflateDecoder;

use super::{InspectError, Spend};

const INFLATE_STEP: usize = 16 * 1024;
const INITIAL_INFLATE_CAPACITY: usize = 64 * 1024;

#[cfg(test)]
thread_local! {
    /// Largest inflation-buffer capacity reserved on this thread (test instrumentation).
    pub(super) static PEAK_INFLATE_CAPACITY: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn note_capacity(cap: usize) {
    PEAK_INFLATE_CAPACITY.with(|p| p.set(p.get().max(cap)));
}

#[cfg(not(test))]
#[inline(always)]
fn note_capacity(_cap: usize) {}

/// Grow `out` so it can take `additional` more bytes, never reserving past `hard_cap` in total.
/// Growth is geometric (so total copying stays linear) but clamped, and uses `try_reserve_exact`
/// so an allocation failure is an error rather than an abort.
fn grow_capped(out: &mut Vec<u8>, additional: usize, hard_cap: usize) -> Result<(), InspectError> {
    let needed = out
        .len()
        .checked_add(additional)
        .ok_or(InspectError::AllocFailed)?;
    if needed <= out.capacity() {
        return Ok(());
    }
    if needed > hard_cap {
        return Err(InspectError::AllocFailed);
    }
    let target = needed.max(out.capacity().saturating_mul(2).min(hard_cap));
    let extra = target
        .checked_sub(out.len())
        .ok_or(InspectError::AllocFailed)?;
    out.try_reserve_exact(extra)
        .map_err(|_| InspectError::AllocFailed)?;
    note_capacity(out.capacity());
    Ok(())
}

/// Inflate raw DEFLATE `src` into a new buffer that starts with `prefix` zero bytes.
///
/// At most `budget_total - spend.inflated` bytes are produced; one byte more is an
/// [`InspectError::InflateLimit`]. The check happens *before* the output is appended, so the
/// buffer never holds (or reserves) more than `prefix + remaining budget` bytes; the decoder's
/// own state is a fixed ~40 KiB plus a 16 KiB stack buffer. Bytes after the end of the DEFLATE
/// stream are rejected: automerge silently ignores them, but no honest encoder writes them.
pub(super) fn inflate_capped(
    src: &[u8],
    prefix: usize,
    budget_total: usize,
    spend: &mut Spend,
) -> Result<Vec<u8>, InspectError> {
    let limit = budget_total.saturating_sub(spend.inflated);
    let hard_cap = prefix.saturating_add(limit);
    let mut out: Vec<u8> = Vec::new();
    let initial = hard_cap.min(prefix.saturating_add(INITIAL_INFLATE_CAPACITY));
    out.try_reserve_exact(initial)
        .map_err(|_| InspectError::AllocFailed)?;
    note_capacity(out.capacity());
    out.resize(prefix, 0);

    let mut produced: usize = 0;
    let outcome = inflate_into(src, &mut out, limit, hard_cap, &mut produced);
    match outcome {
        Err(InspectError::InflateLimit { .. }) => {
            // The attacker made us do `limit` bytes of work; that budget is gone.
            spend.inflated = spend.inflated.saturating_add(limit);
            Err(InspectError::InflateLimit {
                limit: budget_total,
            })
        }
        Err(e) => {
            spend.inflated = spend.inflated.saturating_add(produced);
            Err(e)
        }
        Ok(()) => {
            spend.inflated = spend.inflated.saturating_add(produced);
            Ok(out)
        }
    }
}

fn inflate_into(
    src: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    hard_cap: usize,
    produced: &mut usize,
) -> Result<(), InspectError> {
    let mut decoder = DeflateDecoder::new(src);
    let mut buf = [0u8; INFLATE_STEP];
    loop {
        let n = decoder.read(&mut buf).map_err(|_| InspectError::Deflate)?;
        if n == 0 {
            break;
        }
        let piece = buf.get(..n).ok_or(InspectError::Deflate)?;
        let total = produced
            .checked_add(n)
            .filter(|&t| t <= limit)
            .ok_or(InspectError::InflateLimit { limit })?;
        grow_capped(out, n, hard_cap)?;
        out.extend_from_slice(piece);
        *produced = total;
    }
    // `bufread::DeflateDecoder` consumes exactly the bytes of the DEFLATE stream from the
    // underlying `&[u8]`; anything left over was appended after the final block.
    if !decoder.get_ref().is_empty() {
        return Err(InspectError::DeflateTrailingData);
    }
    Ok(())
}

