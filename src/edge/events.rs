//! The hook every guard change goes through: the changes an operator must see (a
//! budget warning, a revocation) are logged, and, when the `EVENTS` queue is bound,
//! every change goes onto it as events in the background, so a queue that is slow or
//! down never slows or fails the request that caused them (it is logged and counted).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::json;
use worker::{Context, Env, Queue, QueueContentType, RawMessageBuilder, SendMessage};

use crate::core::events::{event_id, events_from_changes, Event, EventsConfig};
use crate::core::guard::Change;
use crate::core::phone::mask_phone;

pub const QUEUE_BINDING: &str = "EVENTS";
pub const DB_BINDING: &str = "ANALYTICS_DB";

thread_local! {
    static CONFIG: RefCell<Option<Rc<EventsConfig>>> = const { RefCell::new(None) };
    /// Events this isolate could not put on the queue.
    static UNSENT: Cell<u64> = const { Cell::new(0) };
}

/// Secrets first, then plain vars (as for the rest of the settings).
fn lookup(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

/// `ADMIN_TOKEN` and `CALLBACK_*`, read once per isolate.
pub fn config(env: &Env) -> Rc<EventsConfig> {
    if let Some(cached) = CONFIG.with(|c| c.borrow().clone()) {
        return cached;
    }
    let parsed = Rc::new(EventsConfig::from_lookup(|name| lookup(env, name)));
    if !parsed.problems.is_empty() {
        worker::console_error!("{}", json!({ "events": "settings ignored", "settings": parsed.problems }));
    }
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    parsed
}

thread_local! {
    static FEATURES: RefCell<Option<serde_json::Value>> = const { RefCell::new(None) };
}

/// What `/healthz` says about the optional features (bindings and settings do not
/// change within an isolate, so it is worked out once).
pub fn features(env: &Env) -> serde_json::Value {
    if let Some(cached) = FEATURES.with(|f| f.borrow().clone()) {
        return cached;
    }
    let body = work_out_features(env);
    FEATURES.with(|f| *f.borrow_mut() = Some(body.clone()));
    body
}

fn work_out_features(env: &Env) -> serde_json::Value {
    let config = config(env);
    let events = env.queue(QUEUE_BINDING).is_ok();
    let analytics = env.d1(DB_BINDING).is_ok();
    let mut body = json!({
        "events": events,
        "analytics": events && analytics,
        "callbacks": events && config.callback.is_some(),
        "admin": analytics && config.admin_token.is_some(),
    });
    if !config.problems.is_empty() {
        body["problems"] = json!(config.problems);
    }
    body
}

fn new_event_id() -> String {
    let mut random = [0u8; 16];
    // Without randomness the id still has to be unique: fall back to the clock.
    if getrandom::fill(&mut random).is_err() {
        random[..8].copy_from_slice(&crate::edge::now_ms().to_le_bytes());
    }
    event_id(random)
}

/// The hook the `PhoneGuard` object calls with the changes one command made to
/// `number`'s state. Returns at once; the queue send runs in the background (a
/// Durable Object stays alive while it has work in flight).
/// From the request path: the queue send is kept alive past the response.
pub fn publish_during(ctx: &Context, env: &Env, number: &str, changes: Vec<Change>) {
    let Ok(queue) = env.queue(QUEUE_BINDING) else {
        return;
    };
    let events = events_from_changes(number, &changes, crate::edge::now_ms(), new_event_id);
    ctx.wait_until(send(queue, events));
}

/// From the Durable Object, where the object outlives the command that changed it.
pub fn publish(env: &Env, number: &str, changes: Vec<Change>) {
    let masked = (!number.is_empty()).then(|| mask_phone(number));
    for change in changes.iter().filter(|c| matches!(c, Change::BudgetWarning { .. } | Change::Revoked { .. })) {
        worker::console_warn!("{}", json!({ "guard_change": change, "phone": masked }));
    }
    if changes.is_empty() {
        return;
    }
    let Ok(queue) = env.queue(QUEUE_BINDING) else {
        return;
    };
    let events = events_from_changes(number, &changes, crate::edge::now_ms(), new_event_id);
    worker::wasm_bindgen_futures::spawn_local(send(queue, events));
}

/// Puts `events` on the queue; a failure is logged and counted, never raised.
pub async fn send(queue: Queue, events: Vec<Event>) {
    if events.is_empty() {
        return;
    }
    let messages: Vec<SendMessage<worker::wasm_bindgen::JsValue>> = events
        .iter()
        .map(|event| {
            let text = serde_json::to_string(event).unwrap_or_default();
            RawMessageBuilder::new(text.into()).build_with_content_type(QueueContentType::Text)
        })
        .collect();
    if let Err(e) = queue.send_raw_batch(messages).await {
        let unsent = UNSENT.with(|c| {
            c.set(c.get() + events.len() as u64);
            c.get()
        });
        let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        worker::console_error!(
            "{}",
            json!({ "events": "not queued", "types": types, "unsent_in_isolate": unsent, "error": e.to_string() })
        );
    }
}
