//! One open client per IndexedDB database (`storeInUse` for a second one): a Web Lock in
//! browsers, a registry in the module elsewhere (`src/js/lock.js`).

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{WebError, js_message};

#[wasm_bindgen(module = "/src/js/lock.js")]
extern "C" {
    #[wasm_bindgen(js_name = acquireLock)]
    fn acquire_lock(name: &str) -> Promise;
}

/// A held lock; released on drop.
pub struct DbLock {
    release: Option<Function>,
}

impl DbLock {
    /// Takes the lock of database `name`, failing with `storeInUse` if another client has it.
    pub async fn acquire(name: &str) -> Result<Self, WebError> {
        let release = JsFuture::from(acquire_lock(name)).await.map_err(|e| WebError::new("storeUnavailable", js_message(&e)))?;
        match release.dyn_into::<Function>() {
            Ok(release) => Ok(Self { release: Some(release) }),
            Err(_) => Err(WebError::new("storeInUse", format!("local store is in use by another client: {name}"))),
        }
    }
}

impl Drop for DbLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }
}
