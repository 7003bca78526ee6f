//! Fuzz target (bolero) for token parsing: whatever follows `Authorization:`, and tokens signed
//! with the server's own key whose header and claims are arbitrary bytes (what a client holding
//! a key, or a buggy identity provider, could send). The property: `verify_bearer` answers
//! `Ok` or an `AuthError` and never panics, and an accepted token's subject is its `sub`.
//! Corpus (`__fuzz__/auth__tests__fuzz__jwt_parsing/corpus`) and engines as in
//! `sync-core/tests/fuzz.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

use bolero::check;

use super::*;

/// A token over these header and payload bytes, HS256 with the server's secret.
fn signed_bytes(header: &[u8], payload: &[u8]) -> String {
    raw_token_bytes(header, payload, Signer::Hs256(SECRET.as_bytes()))
}

#[test]
fn jwt_parsing() {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    static ACCEPTED: AtomicU64 = AtomicU64::new(0);
    let f = fixture();
    let header = serde_json::to_vec(&json!({"alg": "HS256", "typ": "JWT"})).unwrap();
    let claims = serde_json::to_vec(&good_claims()).unwrap();
    check!().for_each(|input: &[u8]| {
        RUNS.fetch_add(1, Ordering::Relaxed);
        let text = String::from_utf8_lossy(input);
        let _ = verify_bearer(Some(&text), &f.config, NOW);
        // The input spliced into the honest header or claims at a position it picks, or in
        // place of them; then signed, so parsing and every claim check see it.
        let (&pick, rest) = input.split_first().unwrap_or((&0, &[]));
        let splice = |honest: &[u8]| {
            let at = usize::from(pick) % (honest.len() + 1);
            [&honest[..at], rest, &honest[at..]].concat()
        };
        let tokens = [
            signed_bytes(&header, &splice(&claims)),
            signed_bytes(&splice(&header), &claims),
            signed_bytes(&header, rest),
        ];
        for token in tokens {
            if let Ok(principal) = verify(&token, &f) {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
                let sub: Value = serde_json::from_slice::<Value>(&payload).unwrap()["sub"].clone();
                assert_eq!(Some(principal.subject.to_string().as_str()), sub.as_str());
            }
        }
    });
    let (runs, accepted) = (RUNS.load(Ordering::Relaxed), ACCEPTED.load(Ordering::Relaxed));
    eprintln!("fuzz target jwt_parsing: {runs} executions ({accepted} accepted), no crash");
}
