//! The UniFFI bindings generator for this crate:
//! `cargo run -p edgesync-uniffi --features cli --bin uniffi-bindgen -- generate --library
//! target/debug/libedgesync_uniffi.so --language kotlin --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
