//! The Spin component must import only `wasi:*` interfaces: a Spin-only import (variables,
//! key-value, sqlite) would make it unusable under `wasmtime serve` and other WASI hosts.
//! Reads the component named by `EDGESYNC_SPIN_WASM` (scripts/blackbox.sh spin sets it).

use wasmparser::{Parser, Payload};

#[test]
fn the_spin_component_imports_only_wasi_interfaces() {
    let Ok(path) = std::env::var("EDGESYNC_SPIN_WASM") else {
        assert!(std::env::var_os("EDGESYNC_REQUIRE_TARGET").is_none() || std::env::var("EDGESYNC_BASE_URL").is_ok(), "EDGESYNC_SPIN_WASM is required");
        return eprintln!("skipped: EDGESYNC_SPIN_WASM not set");
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut imports = Vec::new();
    let mut depth = 0;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("a valid component") {
            // Only the outermost component's imports are what the host must provide.
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.expect("readable import").name.0.to_owned());
                }
            }
            _ => {}
        }
    }
    assert!(!imports.is_empty(), "a component with no imports is not an HTTP component");
    let foreign: Vec<&String> = imports.iter().filter(|name| !name.starts_with("wasi:")).collect();
    assert!(foreign.is_empty(), "non-WASI imports: {foreign:?} (all imports: {imports:?})");
    println!("{} imports, all wasi:*: {imports:?}", imports.len());
}
