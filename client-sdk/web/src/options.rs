//! `Client.open` options, read from a JS object.

use std::time::Duration;

use edgesync_client::Backoff;
use js_sys::{Function, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::WebError;

/// Settings of the background sync loop (`backgroundSync` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopSettings {
    /// Sync at least this often (`intervalMs`, default 30 s).
    pub interval: Duration,
    /// The interval while a live socket watches every document the server knows
    /// (`liveIntervalMs`, default 300 000): an idle client's only requests.
    pub interval_while_live: Duration,
    /// After a local change, wait this long for more before syncing (`debounceMs`, 25 ms).
    pub debounce: Duration,
    /// Retry policy after failures (`initialBackoffMs` 500, `maxBackoffMs` 60 000).
    pub backoff: Backoff,
    /// Keep a waiting sync of up to this long open, so collaborators' changes arrive as they
    /// are made (`liveMs`, 25 000; 0 turns it off).
    pub live: Option<Duration>,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            interval_while_live: Duration::from_secs(300),
            debounce: Duration::from_millis(25),
            backoff: Backoff::default(),
            live: Some(Duration::from_secs(25)),
        }
    }
}

/// Everything `Client.open` needs.
pub struct ClientOptions {
    pub url: String,
    pub db_name: String,
    pub get_token: Function,
    /// `None`: no background loop (`backgroundSync: false`); sync with `syncNow()`.
    pub background: Option<LoopSettings>,
}

fn field(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(obj: &JsValue, key: &str) -> Result<String, WebError> {
    match field(obj, key).as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(WebError::invalid_config(format!("`{key}` must be a non-empty string"))),
    }
}

fn millis(obj: &JsValue, key: &str, default: Duration) -> Result<Duration, WebError> {
    let value = field(obj, key);
    if value.is_undefined() {
        return Ok(default);
    }
    match value.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Duration::from_secs_f64(ms / 1000.0)),
        _ => Err(WebError::invalid_config(format!("`backgroundSync.{key}` must be a non-negative number of milliseconds"))),
    }
}

impl ClientOptions {
    pub fn from_js(options: &JsValue) -> Result<Self, WebError> {
        if !options.is_object() {
            return Err(WebError::invalid_config("Client.open expects an options object"));
        }
        let get_token = field(options, "getToken")
            .dyn_into::<Function>()
            .map_err(|_| WebError::invalid_config("`getToken` must be a function (refresh: boolean) => Promise<string>"))?;
        let loop_option = field(options, "backgroundSync");
        let background = if loop_option.is_undefined() || loop_option.as_bool() == Some(true) {
            Some(LoopSettings::default())
        } else if loop_option.as_bool() == Some(false) {
            None
        } else if loop_option.is_object() {
            let d = LoopSettings::default();
            let backoff = Backoff {
                initial: millis(&loop_option, "initialBackoffMs", d.backoff.initial)?,
                max: millis(&loop_option, "maxBackoffMs", d.backoff.max)?,
                ..d.backoff
            };
            Some(LoopSettings {
                interval: millis(&loop_option, "intervalMs", d.interval)?,
                interval_while_live: millis(&loop_option, "liveIntervalMs", d.interval_while_live)?,
                debounce: millis(&loop_option, "debounceMs", d.debounce)?,
                backoff,
                live: Some(millis(&loop_option, "liveMs", d.live.unwrap_or_default())?).filter(|wait| !wait.is_zero()),
            })
        } else {
            return Err(WebError::invalid_config("`backgroundSync` must be a boolean or an object"));
        };
        Ok(Self { url: string(options, "url")?, db_name: string(options, "dbName")?, get_token, background })
    }
}
