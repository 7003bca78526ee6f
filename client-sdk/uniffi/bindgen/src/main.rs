//! The UniFFI bindings generator for `edgesync-uniffi`:
//! `cargo run -p edgesync-uniffi-bindgen -- generate --library target/debug/libedgesync_uniffi.so
//! --language kotlin --out-dir OUT`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
