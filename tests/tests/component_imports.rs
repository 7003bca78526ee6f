//! The Spin component must import only `wasi:*` interfaces: a Spin-only import (variables,
//! key-value, sqlite) would make it unusable under `wasmtime serve` and other WASI hosts. Its
//! settings come through `wasi:config/store` at the version each host serves: Spin's draft in
//! the build spin.toml ships, wasmtime's in the one the suites run (edge/spin/src/config.rs).
//! Reads the components named by `EDGESYNC_SPIN_WASM` and `EDGESYNC_SPIN_DEPLOY_WASM`
//! (scripts/blackbox.sh spin sets them).

use wasmparser::{Parser, Payload};

/// The names the outermost component imports: what the host must provide.
fn imports(path: &str) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut imports = Vec::new();
    let mut depth = 0;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("a valid component") {
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
    imports
}

fn check(variable: &str, config_store: &str) {
    let Ok(path) = std::env::var(variable) else {
        assert!(std::env::var_os("EDGESYNC_REQUIRE_TARGET").is_none() || std::env::var("EDGESYNC_BASE_URL").is_ok(), "{variable} is required");
        return eprintln!("skipped: {variable} not set");
    };
    let imports = imports(&path);
    assert!(!imports.is_empty(), "a component with no imports is not an HTTP component");
    let foreign: Vec<&String> = imports.iter().filter(|name| !name.starts_with("wasi:")).collect();
    assert!(foreign.is_empty(), "non-WASI imports: {foreign:?} (all imports: {imports:?})");
    let configs: Vec<&String> = imports.iter().filter(|name| name.starts_with("wasi:config/")).collect();
    assert_eq!(configs, [config_store], "{path}: the settings interface");
    println!("{path}: {} imports, all wasi:*: {imports:?}", imports.len());
}

#[test]
fn the_component_spin_toml_ships_imports_only_wasi_interfaces_and_spins_config_store() {
    check("EDGESYNC_SPIN_DEPLOY_WASM", "wasi:config/store@0.2.0-draft-2024-09-27");
}

#[test]
fn the_component_the_suites_run_imports_only_wasi_interfaces_and_wasmtimes_config_store() {
    check("EDGESYNC_SPIN_WASM", "wasi:config/store@0.2.0-rc.1");
}
