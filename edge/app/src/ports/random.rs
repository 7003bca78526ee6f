//! Randomness as a port, for ids and request ids; tests may substitute a seeded source.

pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// The platform's secure random source (getrandom: OS, WASI, or Web Crypto with `wasm`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the platform has no entropy source at all, which no
        // supported host lacks; a failure there is a host misconfiguration worth crashing on.
        getrandom::fill(buf).expect("the platform provides a random source");
    }
}
