//! Where the component's settings come from: `wasi:config/store` first (Spin maps application
//! variables onto it: spin.toml `[variables]`, `spin up`'s `SPIN_VARIABLE_*`, `spin deploy
//! --variable`, SpinKube's `spec.variables`), then the environment (`[component.*.environment]`,
//! `wasmtime serve --env`).
//!
//! Spin variable names are lower case, so setting `JWT_HS256_SECRET` is the variable
//! `jwt_hs256_secret`. An empty value counts as unset: spin.toml declares optional settings
//! with `default = ""`, and the environment then still applies.
//!
//! Hosts disagree on the interface's version: Spin 3 and later serve
//! `wasi:config@0.2.0-draft-2024-09-27`, wasmtime (`-S config`) `wasi:config@0.2.0-rc.1`, and a
//! component must import one a host has. The default build imports Spin's; the `wasmtime`
//! feature imports wasmtime's (what the test suites run under `wasmtime serve`). The code
//! reading them is the same. (Bindings are generated here because spin-sdk's own variables
//! API imports `spin:variables`, which is not a `wasi:*` interface. The interface is the one of
//! the WASI proposal, whole: spin-sdk's embedded WIT carries Spin's copy, and the two must
//! agree to merge.)

use std::collections::HashMap;

#[cfg(not(feature = "wasmtime"))]
mod store {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        inline: "
            package wasi:config@0.2.0-draft-2024-09-27;
            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
            world config { import store; }
        ",
    });
    pub use self::wasi::config::store::{get_all, Error};
}

#[cfg(feature = "wasmtime")]
mod store {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        inline: "
            package wasi:config@0.2.0-rc.1;
            interface store {
                variant error { upstream(string), io(string) }
                get: func(key: string) -> result<option<string>, error>;
                get-all: func() -> result<list<tuple<string, string>>, error>;
            }
            world config { import store; }
        ",
    });
    pub use self::wasi::config::store::{get_all, Error};
}

/// The settings of this request: every `wasi:config` value (one host call), then the
/// environment for names the store leaves unset. A store that fails (a variables provider
/// such as Vault unreachable) fails the request as misconfigured rather than running with
/// settings missing.
pub struct Settings {
    store: HashMap<String, String>,
}

impl Settings {
    pub fn read() -> Result<Self, String> {
        let store = store::get_all().map_err(|e| match e {
            store::Error::Upstream(why) | store::Error::Io(why) => format!("reading wasi:config: {why}"),
        })?;
        Ok(Self { store: store.into_iter().collect() })
    }

    /// The value of setting `name` (upper case, as docs/configuration.md names it).
    pub fn get(&self, name: &str) -> Option<String> {
        let from_store = self.store.get(&name.to_ascii_lowercase()).filter(|v| !v.is_empty());
        from_store.cloned().or_else(|| std::env::var(name).ok())
    }
}
