//! The inspector against real automerge chunks (counts must match what automerge reports,
//! [`honest`]) and against hand-built hostile ones (bombs, disguised columns, shapes that panic
//! automerge, [`hostile`]). Shared here: budgets and chunk builders.

mod honest;
mod hostile;

use std::io::Write;
use std::ops::Range;

use automerge::transaction::Transactable;
use automerge::{Automerge, Change, ObjType, ROOT, ReadDoc};

use super::columns::{DEFLATE_BIT, NORMALIZE_MASK};
use super::spec;
use super::document::parse_doc_layout;
use super::inflate::PEAK_INFLATE_CAPACITY;
use super::reader::write_uleb;
use super::*;

fn budget() -> Budget {
    Budget {
        max_inflated_bytes: 64 << 20,
        max_ops: 1_000_000,
        max_changes: 100_000,
        max_actors: 1_000,
    }
}

fn reset_peak() {
    PEAK_INFLATE_CAPACITY.with(|p| p.set(0));
}

fn peak() -> usize {
    PEAK_INFLATE_CAPACITY.with(|p| p.get())
}

fn uleb(out: &mut Vec<u8>, v: u64) {
    write_uleb(out, v);
}

fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn chunk(ty: u8, checksum: [u8; 4], body: &[u8]) -> Vec<u8> {
    frame_chunk(ty, checksum, body)
}

/// A chunk with a correct checksum: first 4 bytes of SHA-256(type || uLEB(len) || body)
/// (`storage/chunk.rs:302-312`).
fn chunk_checksummed(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut pre = vec![ty];
    uleb(&mut pre, body.len() as u64);
    pre.extend_from_slice(body);
    let h = sha256(&pre);
    chunk(ty, [h[0], h[1], h[2], h[3]], body)
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate_zeros(n: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len());
        e.write_all(&zeros[..k]).unwrap();
        left -= k;
    }
    e.finish().unwrap()
}

/// A change body with the given op columns (fixed, valid header fields).
fn change_body(cols: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    uleb(&mut b, 0); // deps
    uleb(&mut b, 1); // actor length
    b.push(0xaa);
    uleb(&mut b, 1); // seq
    uleb(&mut b, 1); // start_op
    sleb(&mut b, 0); // time
    uleb(&mut b, 0); // message
    uleb(&mut b, 0); // other actors
    uleb(&mut b, cols.len() as u64);
    for (s, d) in cols {
        uleb(&mut b, u64::from(*s));
        uleb(&mut b, d.len() as u64);
    }
    for (_, d) in cols {
        b.extend_from_slice(d);
    }
    b
}

/// A document body with `n_actors` actors, no heads and the given columns.
fn doc_body(n_actors: usize, change_cols: &[(u32, Vec<u8>)], op_cols: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    uleb(&mut b, n_actors as u64);
    for i in 0..n_actors {
        uleb(&mut b, 16);
        b.extend_from_slice(&[i as u8; 16]);
    }
    uleb(&mut b, 0); // heads
    for cols in [change_cols, op_cols] {
        uleb(&mut b, cols.len() as u64);
        for (s, d) in cols {
            uleb(&mut b, u64::from(*s));
            uleb(&mut b, d.len() as u64);
        }
    }
    for cols in [change_cols, op_cols] {
        for (_, d) in cols {
            b.extend_from_slice(d);
        }
    }
    b
}

fn sample_doc() -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "title", "hello").unwrap();
    tx.put(ROOT, "n", 42_i64).unwrap();
    let text = tx.put_object(ROOT, "text", ObjType::Text).unwrap();
    tx.splice_text(&text, 0, 0, "hello world").unwrap();
    let _ = tx.commit();

    let mut tx = doc.transaction();
    tx.put(ROOT, "n", 43_i64).unwrap();
    let long: String = (0..600u32)
        .map(|i| char::from(b'a' + ((i * 7) % 26) as u8))
        .collect();
    tx.splice_text(&text, 5, 0, &long).unwrap();
    let _ = tx.commit();

    let mut tx = doc.transaction();
    tx.delete(ROOT, "title").unwrap();
    tx.splice_text(&text, 0, 2, "").unwrap();
    let _ = tx.commit();
    doc
}

fn two_change_doc() -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "a", 1_i64).unwrap();
    let _ = tx.commit();
    let mut tx = doc.transaction();
    tx.put(ROOT, "b", 2_i64).unwrap();
    let _ = tx.commit();
    doc
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
