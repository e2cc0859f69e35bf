//! `/healthz`'s `degraded`: whether the latest send failed for a cause the operator
//! must fix, kept under one key of KV `OTP_CODES` so every isolate and location sees it.
//!
//! Why KV and not a Durable Object: `/healthz` is polled all day and must stay cheap
//! (a KV read is served from the location's cache; a singleton object would be one
//! far-away call per poll, and per send). Writes happen only on a change (the first
//! failure of a kind, the first success after it), so a steady state writes nothing.
//! Each isolate remembers what it last saw, so a healthy isolate checks the key at
//! most every few seconds rather than after every send. KV is eventually consistent
//! (up to a minute between locations): good enough for a health report.

use std::cell::Cell;

use worker::Env;

use crate::core::cloud_api::SendFailure;
use crate::core::health::{after_send, Change, Degradation, DEGRADED_KEY};
use crate::edge::clock::now_ms;
use crate::edge::isolate::CODES_BINDING;

/// How long a healthy isolate trusts its last look before checking the key again.
const RECHECK_MS: u64 = 5_000;

thread_local! {
    /// (degraded as last seen, when): `None` until this isolate has looked.
    static LAST_SEEN: Cell<Option<(bool, u64)>> = const { Cell::new(None) };
}

/// For `/healthz`, polled all day: an isolate that saw no degradation within the last
/// `RECHECK_MS` answers from that look instead of reading KV on every poll (a KV read
/// per `/healthz` doubled its CPU in `./bench`). Its own failed send sets the look at
/// once; another isolate's shows here within `RECHECK_MS`.
pub async fn read_for_health(env: &Env) -> Option<Degradation> {
    let now = now_ms();
    if LAST_SEEN.with(|s| s.get()).is_some_and(|(degraded, at)| !degraded && now < at + RECHECK_MS) {
        return None;
    }
    read(env).await
}

pub async fn read(env: &Env) -> Option<Degradation> {
    let kv = env.kv(CODES_BINDING).ok()?;
    let state = match kv.get(DEGRADED_KEY).text().await {
        // No key is the healthy state, and must be remembered like any other look
        // (returning before noting it made every healthy poll read KV).
        Ok(text) => text.and_then(|text| serde_json::from_str::<Degradation>(&text).ok()),
        Err(e) => {
            worker::console_error!("{}", serde_json::json!({ "degraded": "unreadable", "error": e.to_string() }));
            return None;
        }
    };
    LAST_SEEN.with(|s| s.set(Some((state.is_some(), now_ms()))));
    state
}

/// After a send (`failure` is `None` when Meta took it): sets or clears the state.
/// Runs after the response (`wait_until`), never holding up the caller.
pub async fn record_send(env: Env, failure: Option<SendFailure>) {
    let now = now_ms();
    let recently_clear = LAST_SEEN.with(|s| s.get()).is_some_and(|(degraded, at)| !degraded && now < at + RECHECK_MS);
    if failure.is_none() && recently_clear {
        return;
    }
    let current = read(&env).await;
    let Ok(kv) = env.kv(CODES_BINDING) else { return };
    let written = match after_send(current.as_ref(), failure.as_ref(), now) {
        Change::Keep => return,
        Change::Clear => kv.delete(DEGRADED_KEY).await.map(|_| false),
        Change::Set(state) => match serde_json::to_string(&state) {
            Ok(value) => match kv.put(DEGRADED_KEY, value) {
                Ok(put) => put.execute().await.map(|_| true),
                Err(e) => Err(e),
            },
            Err(_) => return,
        },
    };
    match written {
        Ok(degraded) => {
            LAST_SEEN.with(|s| s.set(Some((degraded, now))));
            let cause = failure.as_ref().map(|f| f.api_error().code.as_str());
            let line = serde_json::json!({ "degraded": degraded, "cause": cause, "whatsapp_code": failure.and_then(|f| f.meta_code) });
            worker::console_log!("{line}");
        }
        Err(e) => worker::console_error!("{}", serde_json::json!({ "degraded": "not stored", "error": e.to_string() })),
    }
}
